"""The demo's children's collection: INVENTED records, imported like any MARC export.

The shared MARC files (jazz recordings, French 19th-century books, UNIMARC pamphlets)
hold no children's book, so the Jeunesse department, browsing by age and kind, the
surprise bags and the pick lists' children's shelves had nothing true to show. This
module writes a small children's catalogue instead: about seventy MARC21 records built
here with pymarc, every title, author, publisher and summary made up for the demo (a
500 note on each record says so; their source is ``demo-jeunesse``). They are written
to a temporary ISO 2709 file and go through the real importer with the SirsiDynix 949
preset, as the shared files do, so a re-import updates them and never duplicates them.

What the importer reads, and nothing else, carries the audience: 008/22 (``a`` 0–5,
``b`` 6–8, ``c`` 9–13, ``d`` 14–17; see ``marcdata._MARC21_AUDIENCE``; 521 is not read,
so none is written). The call numbers are those of a French children's library
(``TP``, ``A``/``E A/``, ``J PL``, ``J R``, ``J 843``, ``ADO``, ``BD``, ``MANGA``,
``J 590``, ``DVD J``): ``imported.spread_copies`` then shelves the copies in the
Jeunesse department of branches of the network, seeded by barcode like the others.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pymarc
from pymarc import Field, Indicators, Subfield

from emporter.catalogue.importer import ImportReport, import_marc
from emporter.catalogue.models import Record

SOURCE = "demo-jeunesse"
CENTRAL = "PDI"
# 14 digits like the shared files' barcodes; no shared or synthetic ("99…") one starts so.
BARCODE_PREFIX = "2070"
NOTE = "Notice inventée pour la démonstration d'Emporter : ce document n'existe pas."


@dataclass(frozen=True)
class Kind:
    leader: str  # leader 06-07
    item_type: str  # 949 $t (item_mappings.DEFAULT_TYPES)
    form: str  # 008/33: literary form (books), type of visual material (films)
    copies: int


KINDS = {
    "tout-petits": Kind("am", "BOOK", "1", 2),
    "album": Kind("am", "BOOK", "1", 3),
    "premiere-lecture": Kind("am", "BOOK", "1", 2),
    "roman": Kind("am", "BOOK", "1", 2),
    "ado": Kind("am", "BOOK", "1", 2),
    "bd": Kind("am", "BD", "c", 3),
    "manga": Kind("am", "MANGA", "c", 2),
    "documentaire": Kind("am", "BOOK", "0", 2),
    "film": Kind("gm", "VIDEO", "v", 1),
}

PUBLISHERS = {
    "tout-petits": "Éditions Petite Ourse",
    "album": "La Marelle",
    "premiere-lecture": "Éditions Pirouette",
    "roman": "Le Grenier bleu",
    "ado": "Éditions Vent debout",
    "bd": "Bulles d'encre",
    "manga": "Sakura Jeunesse",
    "documentaire": "Éditions Pourquoi-Comment",
    "film": "Lanterne Films",
}


@dataclass(frozen=True)
class Book:
    kind: str
    audience: str  # 008/22
    call_number: str
    title: str
    author: str  # "Surname, First name" (100 $a)
    subjects: tuple[str, ...]
    summary: str
    credits: str = ""  # the rest of 245 $c: "illustrations de …"
    subtitle: str = ""
    series: str = ""  # 490 $a
    volume: str = ""  # 490 $v


def _b(kind, audience, call_number, title, author, subjects, summary, **more) -> Book:
    return Book(kind, audience, call_number, title, author, tuple(subjects.split(";")), summary, **more)


# fmt: off
BOOKS = (
    # --- Tout-petits (0–3): TP, 008/22 a ---
    _b("tout-petits", "a", "TP LUC", "Coucou, petit hérisson", "Lucchesi, Margaux",
       "Hérissons;Livres à rabats",
       "Un hérisson se cache sous les feuilles : soulève les rabats pour le retrouver."),
    _b("tout-petits", "a", "TP BEL", "Où dort la petite chouette ?", "Belin, Clémence",
       "Chouettes;Sommeil",
       "La nuit tombe sur la forêt et chaque animal cherche son lit. Et la petite chouette ?"),
    _b("tout-petits", "a", "TP NOE", "Mes premiers mots de la ferme", "Noël, Agathe",
       "Animaux de la ferme;Imagiers",
       "Un imagier cartonné : la vache, le cochon, la poule et leurs petits."),
    _b("tout-petits", "a", "TP PIC", "Bain, bulle, bateau", "Picard, Jules",
       "Bains;Comptines", "Une comptine à lire dans le bain, avec des pages qui ne craignent pas l'eau."),
    _b("tout-petits", "a", "TP MAR", "Petit pois rouge, petit pois bleu", "Marchal, Inès",
       "Couleurs;Livres-jeux", "Les couleurs pour les tout-petits, un petit pois à la fois."),
    _b("tout-petits", "a", "TP ABE", "Tout doux, mon doudou", "Abel, Romane",
       "Doudous;Tendresse", "Le doudou de Lou a disparu : le chat l'a-t-il emporté ?"),
    # --- Albums (3–6): A / E A/, 008/22 a ---
    _b("album", "a", "A DON", "Le renard qui comptait les étoiles", "Donnadieu, Léa",
       "Renards;Étoiles;Nuit",
       "Chaque nuit, un renard compte les étoiles pour être sûr qu'aucune ne se perd.",
       credits="illustrations de Paul Vernier"),
    _b("album", "a", "E A/SEN", "Une baleine dans la baignoire", "Senet, Hugo",
       "Baleines;Humour", "Ce soir, une baleine a pris le bain d'Oscar. Comment la faire sortir ?"),
    _b("album", "a", "A GAR", "Mamie Rose plante des nuages", "Garnier, Louise",
       "Grands-parents;Jardinage", "Dans le jardin de Mamie Rose, on sème des graines et parfois des nuages.",
       credits="illustrations d'Alix Morand"),
    _b("album", "a", "E A/BRU", "Le grand voyage de Pépin l'escargot", "Brunet, Élise",
       "Escargots;Voyages", "Pépin veut voir la mer. Il part, lentement, très lentement."),
    _b("album", "a", "A FAU", "Pas de dragon sous mon lit", "Faure, Noémie",
       "Dragons;Peur du noir",
       "Jeanne est sûre qu'un dragon dort sous son lit. Et si elle allait lui dire bonsoir ?"),
    _b("album", "a", "E A/LEM", "Gaspard n'a pas sommeil", "Lemaire, Théo",
       "Ours;Sommeil", "L'hiver arrive, tous les ours dorment, sauf Gaspard qui a mille choses à faire."),
    _b("album", "a", "A CHA", "La maison des quatre saisons", "Chauvin, Anna",
       "Saisons;Maisons", "Une maison au bord d'un champ, au printemps, en été, en automne et en hiver."),
    _b("album", "a", "E A/ROU", "Le jour où papa a rétréci", "Rousseau, Maxime",
       "Pères et enfants;Humour", "Ce matin, papa tient dans une tasse à café. La journée va être longue."),
    _b("album", "a", "A VIL", "Zébulon cherche ses rayures", "Villeneuve, Chloé",
       "Zèbres;Identité",
       "Zébulon le zèbre a perdu ses rayures. Les animaux de la savane l'aident à les retrouver."),
    _b("album", "a", "E A/PER", "Un manteau pour Madame Neige", "Perrin, Sacha",
       "Hiver;Solidarité", "Madame Neige a froid. Les enfants du village lui tricotent un manteau."),
    _b("album", "a", "A BOI", "Trois carottes pour Monsieur Lapin", "Boileau, Margot",
       "Lapins;Partage", "Monsieur Lapin a trois carottes et quatre amis. Comment partager ?"),
    _b("album", "a", "E A/MOR", "Capucine et la vague", "Morel, Juliette",
       "Mer;Peur", "Capucine a peur des vagues. Un été à la plage pour apprivoiser la mer."),
    _b("album", "a", "A TES", "Un crocodile à la crèche", "Tessier, Rémi",
       "Crocodiles;Crèches;Humour",
       "Un nouveau est arrivé à la crèche. Il a de grandes dents et il est très poli."),
    _b("album", "a", "E A/DUV", "Nina et les couleurs du marché", "Duval, Salomé",
       "Marchés;Couleurs",
       "Le samedi, Nina accompagne son grand-père au marché et nomme toutes les couleurs."),
    _b("album", "a", "A HEN", "Le secret de la tortue Ernestine", "Henry, Bastien",
       "Tortues;Amitié", "Ernestine la tortue garde un secret sous sa carapace depuis cent ans."),
    # --- Premières lectures (6–8): J PL, 008/22 b ---
    _b("premiere-lecture", "b", "J PL OSB", "Mila et le chat voleur", "Osbert, Camille",
       "Chats;Enquêtes", "Quelqu'un vole les chaussettes du quartier. Mila mène l'enquête.",
       series="Je lis déjà", volume="4"),
    _b("premiere-lecture", "b", "J PL FOU", "Le robot de Timéo", "Fournier, Nathan",
       "Robots;Amitié", "Timéo a construit un robot avec des boîtes de conserve. Le robot s'est réveillé.",
       series="Je lis déjà", volume="7"),
    _b("premiere-lecture", "b", "J PL LAC", "Panique à la cantine", "Lacroix, Emma",
       "École;Humour", "Le cuisinier de l'école a disparu et il reste trois cents crêpes à faire."),
    _b("premiere-lecture", "b", "J PL GIR", "Atchoum le dragon", "Girard, Zoé",
       "Dragons;Humour", "Atchoum éternue des flammes dès qu'il voit une fleur. Embêtant, au printemps."),
    _b("premiere-lecture", "b", "J PL MEY", "Une sorcière à la piscine", "Meyer, Lucie",
       "Sorcières;Piscines", "La sorcière Berthe veut apprendre à nager. Son balai n'est pas d'accord."),
    _b("premiere-lecture", "b", "J PL ROC", "Le trésor du square Marcel", "Roche, Adam",
       "Trésors;Amitié", "Sous le toboggan du square, Sami et Inès trouvent une vieille carte."),
    _b("premiere-lecture", "b", "J PL BAR", "Léon veut un chien", "Barbier, Jade",
       "Chiens;Familles", "Léon veut un chien. Ses parents disent non. Léon a un plan."),
    _b("premiere-lecture", "b", "J PL NIC", "La plus petite pirate du monde", "Nicolas, Manon",
       "Pirates;Aventures", "Lili est trop petite pour être pirate, disent-ils. Ils vont voir."),
    _b("premiere-lecture", "b", "J PL COL", "Rémi et la fusée en carton", "Colin, Arthur",
       "Espace;Imagination",
       "Une fusée en carton, un casque de vélo, et Rémi part pour la Lune avant le goûter."),
    # --- Romans (9–12): J R, J 843, 008/22 c ---
    _b("roman", "c", "J R MOU", "Le mystère de la péniche rouge", "Mouret, Aurélien",
       "Romans policiers;Lyon (Rhône)",
       "Sur les quais de Saône, une péniche rouge arrive chaque nuit et repart avant l'aube."),
    _b("roman", "c", "J R BER", "Sept jours sur l'île aux Mouettes", "Bertrand, Olivia",
       "Îles;Vacances;Aventures",
       "Quatre cousins, une île sans réseau et une tempête qui les y retient une semaine."),
    _b("roman", "c", "J R LEF", "Le cheval aux yeux d'argent", "Lefèvre, Marius",
       "Chevaux;Fantastique", "Dans le pré derrière l'école paraît un cheval que seule Maud peut voir."),
    _b("roman", "c", "J R DUB", "Le carnet secret de Lila", "Dubois, Capucine",
       "Journaux intimes;École;Amitié",
       "Le journal de Lila, en CM2, entre une meilleure amie qui déménage et une pièce de théâtre."),
    _b("roman", "c", "J R MAR", "Opération Hérisson", "Martel, Samuel",
       "Protection de l'environnement;Hérissons",
       "Un chantier menace le parc où vivent les hérissons. La classe de Yanis s'en mêle."),
    _b("roman", "c", "J R GAU", "Le dernier loup du Vercors", "Gauthier, Lina",
       "Loups;Montagne",
       "Un hiver dans le Vercors, Tom suit des traces dans la neige qui ne sont pas celles d'un chien."),
    _b("roman", "c", "J R SIM", "Une fusée pour Mamie Odette", "Simon, Eliott",
       "Grands-parents;Espace;Humour",
       "Mamie Odette a quatre-vingt-dix ans et veut voir la Terre d'en haut. Ses petits-enfants "
       "cherchent une fusée."),
    _b("roman", "c", "J R CLE", "La clé du grenier aux horloges", "Clément, Iris",
       "Fantastique;Temps",
       "Chez sa tante, Jules trouve un grenier plein d'horloges arrêtées à la même heure."),
    _b("roman", "c", "J 843 GOS", "Contes du pays des brumes", "Gosselin, Armand",
       "Contes", "Douze contes d'un pays où le brouillard garde les secrets des villages.",
       credits="illustrations de Nadia Ferreira"),
    _b("roman", "c", "J 843 PRE", "Histoires à lire sous la couette", "Prévost, Hélène",
       "Récits;Humour", "Dix histoires courtes, drôles ou un peu effrayantes, à lire à la lampe de poche."),
    # --- Adolescents (12–17): ADO, 008/22 d ---
    _b("ado", "d", "ADO RIV", "Ce que l'été emporte", "Rivière, Anouk",
       "Adolescence;Amitié;Deuil",
       "Le dernier été avant le lycée, trois amis et un secret que l'un d'eux ne dit pas."),
    _b("ado", "d", "ADO KEB", "Nos ailes de papier", "Kebir, Yasmine",
       "Harcèlement;Réseaux sociaux",
       "Une vidéo a circulé, et Salomé n'ose plus aller au collège. Elle décide de répondre."),
    _b("ado", "d", "ADO LEG", "Ville Zéro", "Legrand, Noah",
       "Science-fiction;Dystopies",
       "Dans une ville où tout est noté, Elio, seize ans, voit sa note tomber à zéro."),
    _b("ado", "d", "ADO FER", "Quinze ans et des poussières", "Ferrand, Maëlle",
       "Adolescence;Familles recomposées",
       "Une nouvelle maison, un demi-frère du même âge et une année de troisième à réussir."),
    _b("ado", "d", "ADO TRA", "La promesse de Lisbonne", "Tran, Lucas",
       "Voyages;Amour",
       "Un voyage scolaire à Lisbonne, une lettre à remettre et quatre jours pour la porter."),
    _b("ado", "d", "ADO HAM", "Les veilleurs de la cité d'ombre", "Hamel, Victor",
       "Fantasy", "Sous la ville, une cité oubliée attend que quelqu'un rallume ses lanternes."),
    _b("ado", "d", "ADO CAR", "Sous la glace, le silence", "Caron, Élina",
       "Romans policiers;Montagne",
       "Une station de ski fermée, une disparition et une lycéenne qui ne croit pas à l'accident."),
    # --- Bandes dessinées and mangas: BD, MANGA ---
    _b("bd", "b", "BD AST 1", "Décollage immédiat", "Astruc, Félix",
       "Bandes dessinées;Espace;Humour",
       "Trois enfants transforment le grenier en vaisseau spatial. Et il décolle.",
       credits="dessin de Lou Chenu", series="Les astronautes du grenier", volume="1"),
    _b("bd", "b", "BD AST 2", "Panne sèche sur la Lune", "Astruc, Félix",
       "Bandes dessinées;Espace;Humour", "Plus de carburant : il faut trouver du jus de pomme sur la Lune.",
       credits="dessin de Lou Chenu", series="Les astronautes du grenier", volume="2"),
    _b("bd", "b", "BD AST 3", "Le chat de l'espace", "Astruc, Félix",
       "Bandes dessinées;Espace;Chats",
       "Un chat clandestin s'est glissé à bord. Il a des idées sur la navigation.",
       credits="dessin de Lou Chenu", series="Les astronautes du grenier", volume="3"),
    _b("bd", "c", "BD PIM 1", "Le vol du gland d'or", "Delorme, Sarah",
       "Bandes dessinées;Romans policiers;Forêts",
       "Pimprenelle l'écureuil, détective des bois, cherche le gland d'or volé au concours.",
       series="Les enquêtes de Pimprenelle", volume="1"),
    _b("bd", "b", "BD MOU 2", "Vacances à la ferme", "Marchand, Hugo",
       "Bandes dessinées;Souris;Fermes", "Moustache la souris et Grignote le hamster découvrent la campagne.",
       series="Moustache et Grignote", volume="2"),
    _b("bd", "c", "BD CHE", "Le chevalier Pâquerette", "Chenu, Lou",
       "Bandes dessinées;Chevaliers;Humour",
       "Le plus petit chevalier du royaume n'a ni cheval ni épée, mais il a une idée."),
    _b("manga", "c", "MANGA KAZ 1", "Le jardin de Kazumi", "Kazama, Rei",
       "Mangas;Jardinage;Amitié", "Kazumi hérite du jardin de sa grand-mère et d'un esprit qui l'habite.",
       series="Le jardin de Kazumi", volume="1"),
    _b("manga", "c", "MANGA KAZ 2", "Le jardin de Kazumi", "Kazama, Rei",
       "Mangas;Jardinage;Amitié",
       "L'automne arrive et l'esprit du jardin s'affaiblit. Kazumi cherche un remède.",
       series="Le jardin de Kazumi", volume="2"),
    _b("manga", "d", "MANGA NAK 1", "Sora, gardienne des vents", "Nakamori, Yuna",
       "Mangas;Fantasy",
       "Sora, quinze ans, entend les vents parler. L'un d'eux annonce une tempête sans fin.",
       series="Sora, gardienne des vents", volume="1"),
    # --- Documentaires: J + Dewey ---
    _b("documentaire", "b", "J 590 ANI", "Animaux de la nuit", "Renaud, Pauline",
       "Animaux nocturnes",
       "Chouettes, chauves-souris, hérissons : qui sort quand nous dormons, et pourquoi ?"),
    _b("documentaire", "c", "J 523.1 SOL", "Le système solaire en 20 questions", "Lebrun, Marc",
       "Système solaire;Planètes",
       "Pourquoi Mars est rouge, combien de temps pour aller sur Neptune : vingt questions, vingt réponses."),
    _b("documentaire", "b", "J 641.5 AUB", "Cuisine des petits chefs", "Aubert, Claire",
       "Cuisine;Recettes", "Trente recettes faciles, salées et sucrées, à faire avec un adulte.",
       subtitle="30 recettes faciles"),
    _b("documentaire", "b", "J 612 FLE", "Mon corps, comment ça marche ?", "Fleury, Jean",
       "Corps humain", "Le cœur, les os, les muscles et le cerveau expliqués avec des schémas simples."),
    _b("documentaire", "c", "J 944 VAS", "L'histoire de France racontée aux curieux", "Vasseur, Denis",
       "France -- Histoire",
       "Des Gaulois à aujourd'hui, les grands moments de l'histoire de France en courts chapitres."),
    _b("documentaire", "c", "J 551.2 MAS", "Volcans et tremblements de terre", "Masson, Sophie",
       "Volcans;Séismes", "Ce qui se passe sous nos pieds, et comment les scientifiques le surveillent."),
    _b("documentaire", "c", "J 333.7 BEN", "Sauver la planète", "Benoît, Anaïs",
       "Protection de l'environnement;Écologie",
       "L'eau, l'énergie, les déchets : comprendre et agir à sa mesure.",
       subtitle="les gestes qui comptent"),
    # --- Films: DVD J ---
    _b("film", "a", "DVD J BAT", "Le petit bateau de papier", "Lambert, Odile",
       "Films d'animation;Mer",
       "Un bateau de papier descend le ruisseau jusqu'à la mer. Film d'animation sans paroles, 35 minutes.",
       credits="réalisé par Odile Lambert"),
    _b("film", "b", "DVD J HIB", "Hibou, lanterne et compagnie", "Fabre, Jeanne",
       "Films d'animation;Courts métrages",
       "Cinq courts métrages d'animation sur la nuit et la lumière, 45 minutes.",
       credits="réalisé par Jeanne Fabre et Karim Saadi"),
    _b("film", "b", "DVD J CIR", "Le cirque des nuages", "Morin, Pierre",
       "Films d'animation;Cirque",
       "Un cirque s'installe dans le ciel au-dessus de la ville. Film d'animation, 70 minutes.",
       credits="réalisé par Pierre Morin"),
    _b("film", "c", "DVD J GAR", "Les gardiens du marais", "Delmas, Fabien",
       "Films d'aventures;Marais",
       "Trois enfants veillent sur un marais que l'on veut assécher. Film, 90 minutes.",
       credits="réalisé par Fabien Delmas"),
)
# fmt: on


def _first_name_last(name: str) -> str:
    surname, _, first = name.partition(", ")
    return f"{first} {surname}".strip()


def record_for(index: int, book: Book) -> pymarc.Record:
    """The MARC21 record of ``BOOKS[index]``: 001, 008, 100, 245, 264, 490, 500, 520, 650, 949s."""
    kind = KINDS[book.kind]
    record = pymarc.Record(force_utf8=True, leader=f"00000n{kind.leader} a2200000 i 4500")
    year = 2012 + (index * 7) % 13
    record.add_field(pymarc.Field(tag="001", data=f"EMPJ{index + 1:04d}"))
    record.add_field(pymarc.Field(tag="003", data="EMPORTER-DEMO"))
    head = f"200101s{year}    fr "  # 00-17: entered, dates, place
    if kind.leader.startswith("g"):  # visual materials: running time 18-20, type 33, technique 34
        minutes = next((w for w in book.summary.split() if w.isdigit()), "000").zfill(3)
        technique = "a" if "animation" in book.summary else "l"
        f008 = f"{head}{minutes} {book.audience}{' ' * 10}{kind.form}{technique}fre d"
    else:  # books: illustrations 18-21, audience 22, literary form 33
        f008 = f"{head}a   {book.audience}{' ' * 6}000 {kind.form} fre d"
    record.add_field(pymarc.Field(tag="008", data=f008))
    record.add_field(Field("100", Indicators("1", " "), [Subfield("a", book.author)]))
    statement = _first_name_last(book.author)
    if book.kind == "film":
        statement = book.credits
    elif book.credits:
        statement = f"{statement} ; {book.credits}"
    title = [Subfield("a", f"{book.title} :" if book.subtitle else f"{book.title} /")]
    if book.subtitle:
        title.append(Subfield("b", f"{book.subtitle} /"))
    if book.volume and book.series == book.title:  # a manga: the volume is in the title
        title[-1] = Subfield(title[-1].code, title[-1].value.removesuffix(" /") + ".")
        title.append(Subfield("n", f"{book.volume} /"))
    record.add_field(Field("245", Indicators("1", "0"), [*title, Subfield("c", f"{statement}.")]))
    record.add_field(
        Field(
            "264",
            Indicators(" ", "1"),
            [Subfield("a", "Lyon :"), Subfield("b", f"{PUBLISHERS[book.kind]},"), Subfield("c", str(year))],
        )
    )
    if book.series:
        record.add_field(
            Field(
                "490", Indicators("1", " "), [Subfield("a", f"{book.series} ;"), Subfield("v", book.volume)]
            )
        )
    record.add_field(Field("500", Indicators(" ", " "), [Subfield("a", NOTE)]))
    record.add_field(Field("520", Indicators(" ", " "), [Subfield("a", book.summary)]))
    for subject in book.subjects:
        topic, *subdivisions = subject.split(" -- ")
        subfields = [Subfield("a", topic), *(Subfield("x", s) for s in subdivisions)]
        if book.kind not in ("film", "bd", "manga") and topic not in ("Contes",):
            subfields.append(Subfield("v", "Ouvrages pour la jeunesse"))
        record.add_field(Field("650", Indicators(" ", "4"), subfields))
    for copy in range(kind.copies):
        record.add_field(
            Field(
                "949",
                Indicators(" ", " "),
                [
                    Subfield("a", book.call_number),
                    Subfield("i", barcode(index, copy)),
                    Subfield("l", "JEUNESSE"),
                    Subfield("m", CENTRAL),
                    Subfield("t", kind.item_type),
                ],
            )
        )
    return record


def barcode(index: int, copy: int) -> str:
    return f"{BARCODE_PREFIX}{index + 1:08d}{copy + 1:02d}"


def write_marc(path: Path) -> Path:
    with open(path, "wb") as out:
        writer = pymarc.MARCWriter(out)
        for index, book in enumerate(BOOKS):
            writer.write(record_for(index, book))
        writer.close(close_fh=False)
    return path


def import_children(*, stdout=None) -> ImportReport:
    """Write the invented records to a temporary file and import it: created the first
    time, updated (never duplicated) the next ones."""
    with tempfile.TemporaryDirectory(prefix="emporter-demo-") as folder:
        path = write_marc(Path(folder) / f"{SOURCE}.mrc")
        return import_marc(
            path, source=SOURCE, preset="sirsi", default_branch=CENTRAL, progress=False, stdout=stdout
        )


def records():
    return Record.objects.filter(source_key__startswith=f"{SOURCE}:")


def is_imported() -> bool:
    """Whether every invented record is here already (seed_demo then skips the import)."""
    return records().count() >= len(BOOKS)
