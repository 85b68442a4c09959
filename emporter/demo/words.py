"""French words, names and topics the synthetic catalogue is built from.

Real words with their accents, so that search benchmarks exercise stemming and
accent folding as a real French catalogue would ("étrangère", "forêt", "été").
"""

# (noun, gender, plural) — plural None means "add s".
NOUNS = (
    ("jardin", "m", None), ("été", "m", None), ("hiver", "m", None), ("secret", "m", None),
    ("silence", "m", None), ("voyage", "m", None), ("chemin", "m", None), ("fleuve", "m", None),
    ("rivage", "m", None), ("souvenir", "m", None), ("enfant", "m", None), ("frère", "m", None),
    ("père", "m", None), ("oiseau", "m", "oiseaux"), ("château", "m", "châteaux"), ("miroir", "m", None),
    ("royaume", "m", None), ("ciel", "m", "cieux"), ("vent", "m", None), ("orage", "m", None),
    ("navire", "m", None), ("phare", "m", None), ("désert", "m", None), ("village", "m", None),
    ("pont", "m", None), ("quartier", "m", None), ("regard", "m", None), ("mensonge", "m", None),
    ("cœur", "m", None), ("soir", "m", None), ("matin", "m", None), ("printemps", "m", "printemps"),
    ("automne", "m", None), ("pays", "m", "pays"), ("exil", "m", None), ("retour", "m", None),
    ("départ", "m", None), ("héritage", "m", None), ("destin", "m", None), ("songe", "m", None),
    ("rêve", "m", None), ("loup", "m", None), ("renard", "m", None), ("cheval", "m", "chevaux"),
    ("piano", "m", None), ("violon", "m", None), ("carnet", "m", None), ("journal", "m", "journaux"),
    ("labyrinthe", "m", None), ("théâtre", "m", None), ("musée", "m", None), ("océan", "m", None),
    ("hôtel", "m", None), ("train", "m", None), ("bal", "m", None), ("crépuscule", "m", None),
    ("mystère", "m", None), ("trésor", "m", None), ("dragon", "m", None), ("géant", "m", None),
    ("marché", "m", None), ("verger", "m", None), ("sentier", "m", None), ("grenier", "m", None),
    ("naufrage", "m", None), ("passage", "m", None), ("visage", "m", None), ("murmure", "m", None),
    ("maison", "f", None), ("forêt", "f", None), ("nuit", "f", None), ("mer", "f", None),
    ("île", "f", None), ("ville", "f", None), ("lumière", "f", None), ("mémoire", "f", None),
    ("route", "f", None), ("fenêtre", "f", None), ("saison", "f", None), ("fille", "f", None),
    ("mère", "f", None), ("sœur", "f", None), ("femme", "f", None), ("étoile", "f", None),
    ("montagne", "f", None), ("plage", "f", None), ("rivière", "f", None), ("frontière", "f", None),
    ("guerre", "f", None), ("paix", "f", "paix"), ("colère", "f", None), ("promesse", "f", None),
    ("lettre", "f", None), ("chambre", "f", None), ("fête", "f", None), ("neige", "f", None),
    ("pluie", "f", None), ("tempête", "f", None), ("vallée", "f", None), ("vie", "f", None),
    ("absence", "f", None), ("ombre", "f", None), ("voix", "f", "voix"), ("musique", "f", None),
    ("chanson", "f", None), ("danse", "f", None), ("histoire", "f", None), ("légende", "f", None),
    ("enquête", "f", None), ("disparition", "f", None), ("vérité", "f", None), ("liberté", "f", None),
    ("jeunesse", "f", None), ("solitude", "f", None), ("rencontre", "f", None), ("passion", "f", None),
    ("fuite", "f", None), ("cabane", "f", None), ("gare", "f", None), ("forteresse", "f", None),
    ("bibliothèque", "f", None), ("horloge", "f", None), ("clé", "f", None), ("porte", "f", None),
    ("source", "f", None), ("terre", "f", None), ("lune", "f", None), ("aube", "f", None),
    ("boussole", "f", None), ("baleine", "f", None), ("traversée", "f", None), ("cicatrice", "f", None),
)  # fmt: skip

# (masculine, feminine) adjectives placed after the noun.
ADJECTIVES = (
    ("étranger", "étrangère"), ("noir", "noire"), ("blanc", "blanche"), ("rouge", "rouge"),
    ("bleu", "bleue"), ("vert", "verte"), ("perdu", "perdue"), ("oublié", "oubliée"),
    ("secret", "secrète"), ("lointain", "lointaine"), ("éternel", "éternelle"), ("sauvage", "sauvage"),
    ("immobile", "immobile"), ("invisible", "invisible"), ("profond", "profonde"), ("brûlé", "brûlée"),
    ("endormi", "endormie"), ("silencieux", "silencieuse"), ("heureux", "heureuse"), ("amer", "amère"),
    ("fragile", "fragile"), ("inachevé", "inachevée"), ("intérieur", "intérieure"), ("ancien", "ancienne"),
    ("sombre", "sombre"), ("clair", "claire"), ("désert", "déserte"), ("interdit", "interdite"),
    ("dernier", "dernière"), ("infini", "infinie"), ("fidèle", "fidèle"), ("cruel", "cruelle"),
)  # fmt: skip

# (masculine, feminine) adjectives placed before the noun.
PRE_ADJECTIVES = (
    ("dernier", "dernière"), ("premier", "première"), ("petit", "petite"), ("grand", "grande"),
    ("long", "longue"), ("vieux", "vieille"), ("jeune", "jeune"), ("nouveau", "nouvelle"),
)  # fmt: skip

PLACES = (
    "Lyon", "Paris", "Marseille", "Fourvière", "la Croix-Rousse", "la Guillotière", "Vaise",
    "Bretagne", "Provence", "Venise", "Alger", "Montréal", "Dakar", "Saïgon", "Valparaíso", "Tanger",
    "Séville", "Naples", "Brême", "la Saône", "Cracovie", "Beyrouth", "Istanbul", "Tombouctou",
    "Québec", "Lisbonne", "Oran", "Pondichéry", "Bamako", "Hanoï", "Trieste", "Corfou", "Ouessant",
)  # fmt: skip

REGIONS = {"Bretagne", "Provence"}  # "en Bretagne", not "à Bretagne"

FIRST_NAMES = (
    "Hélène", "Élise", "Amélie", "Cécile", "Agnès", "Béatrice", "Françoise", "Joëlle", "Maëlle",
    "Anaïs", "Noémie", "Léa", "Chloé", "Inès", "Zoé", "Marie", "Anne", "Claire", "Sophie", "Julie",
    "Nathalie", "Isabelle", "Sylvie", "Valérie", "Laure", "Maryse", "Annie", "Christine", "Yasmina",
    "Leïla", "Fatou", "Mariama", "Linh", "Ana", "Lucía", "Ingrid", "Dominique", "Camille",
    "François", "Jérôme", "Stéphane", "Frédéric", "Grégoire", "Rémi", "Loïc", "Benoît", "Noël",
    "Éric", "André", "Jean", "Pierre", "Michel", "Philippe", "Alain", "Patrick", "Olivier", "Marc",
    "Thierry", "Laurent", "Hervé", "Joël", "Gaël", "Raphaël", "Mathieu", "Théo", "Hugo", "Jules",
    "Karim", "Mehdi", "Amadou", "Ousmane", "Minh", "Diego", "Tomás", "Sven", "Yves", "Gilles",
)  # fmt: skip

LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert",
    "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin",
    "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier",
    "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson", "Sanchez", "Gérard", "Nguyen",
    "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche", "Roy", "Noël",
    "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand", "Dufour", "Blanchard", "Barbier",
    "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Pierre", "Renard",
    "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud",
    "Lemoine", "Picard", "Gaillard", "Philippe", "Leclercq", "Lacroix", "Fabre", "Dupuis", "Olivier",
    "Rodriguez", "Da Silva", "Hubert", "Louis", "Charles", "Guillot", "Rivière", "Le Gall", "Guillaume",
    "Adam", "Rey", "Moulin", "Gonzalez", "Berger", "Lecomte", "Menard", "Fleury", "Deschamps",
    "Carpentier", "Julien", "Benoît", "Paris", "Maillard", "Marchal", "Aubry", "Vasseur", "Le Roux",
    "Renault", "Jacquet", "Collet", "Prévost", "Poirier", "Charpentier", "Royer", "Huet", "Baron",
    "Dupuy", "Pons", "Paul", "Laine", "Carré", "Bréton", "Rémy", "Schneider", "Perrot", "Guyot",
    "Barré", "Marty", "Cousin", "Benaïssa", "Diallo", "Traoré", "Haddad", "Nguyễn", "Pélissier",
    "Desbordes", "Chabert", "Joubert", "Berthelot", "Desgranges", "Sarrazin", "Goscinny", "Hitier",
)  # fmt: skip

FICTION_GENRES = (
    "Roman", "Roman policier", "Roman historique", "Roman d'amour", "Science-fiction", "Fantasy",
    "Roman psychologique", "Récit de voyage", "Roman épistolaire", "Thriller", "Nouvelles",
)  # fmt: skip

FICTION_PUBLISHERS = (
    "Gallimard", "Actes Sud", "Le Seuil", "Albin Michel", "Grasset", "Flammarion", "P.O.L",
    "Éditions de Minuit", "Stock", "Robert Laffont", "Rivages", "Zulma", "Verdier", "L'Olivier",
    "Sabine Wespieser", "Le Tripode", "Buchet-Chastel", "Phébus", "Liana Levi", "Denoël",
)  # fmt: skip
NONFICTION_PUBLISHERS = (
    "La Découverte",
    "Presses universitaires de France",
    "Belin",
    "Odile Jacob",
    "Fayard",
    "Larousse",
    "Dunod",
    "Armand Colin",
    "CNRS Éditions",
    "Eyrolles",
    "Le Pommier",
    "Autrement",
    "Perrin",
    "Éditions du Rouergue",
    "Hachette pratique",
    "Marabout",
    "Glénat",
    "Éditions Lyonnaises d'Art et d'Histoire",
)
YOUTH_PUBLISHERS = (
    "L'École des loisirs", "Gallimard Jeunesse", "Didier Jeunesse", "Nathan", "Thierry Magnier",
    "Flammarion Jeunesse", "Rue du monde", "Hélium", "Actes Sud Junior", "Milan", "Bayard Jeunesse",
    "Casterman", "Père Castor", "Sarbacane", "Albin Michel Jeunesse", "Les Éditions du Rouergue",
)  # fmt: skip
COMIC_PUBLISHERS = (
    "Dargaud",
    "Dupuis",
    "Casterman",
    "Delcourt",
    "Glénat",
    "Futuropolis",
    "L'Association",
    "Rue de Sèvres",
)
FILM_PUBLISHERS = (
    "Pathé",
    "Gaumont",
    "MK2",
    "Arte Éditions",
    "Wild Side",
    "Carlotta Films",
    "Potemkine",
    "Diaphana",
)
MUSIC_LABELS = (
    "Naïve",
    "Harmonia Mundi",
    "Tôt ou tard",
    "Because Music",
    "Universal",
    "Alpha",
    "Wagram",
    "Buda Musique",
)
SCORE_PUBLISHERS = ("Durand", "Henle", "Bärenreiter", "Lemoine", "Billaudot", "Leduc", "Salabert")

LANGUAGES_FOREIGN = ("eng", "eng", "eng", "spa", "spa", "ger", "ita", "por", "ara")
FOREIGN_TITLES = {
    "eng": ("The {n} of the {n2}", "A {n} in {p}", "The last {n}", "Beyond the {n}"),
    "spa": ("La casa del {n}", "El silencio de {p}", "Cien {n}s", "Memoria del {n}"),
    "ger": ("Das {n} von {p}", "Der letzte {n}", "Die {n}e"),
    "ita": ("La notte di {p}", "Il {n} perduto", "Le città del {n}"),
    "por": ("O {n} de {p}", "A última {n}"),
    "ara": ("Layali {p}", "Bab al-{n}"),
}
FOREIGN_NOUNS = {
    "eng": ("garden", "river", "house", "winter", "silence", "stranger", "orchard", "lighthouse"),
    "spa": ("viento", "mar", "tiempo", "olvido", "verano", "camino"),
    "ger": ("Haus", "Land", "Wasser", "Licht", "Winter"),
    "ita": ("giardino", "mare", "tempo", "sogno"),
    "por": ("mar", "tempo", "vento"),
    "ara": ("shams", "bahr", "layl"),
}

# (Dewey number, topic with its article, subject heading)
TOPICS = (
    ("004.678", "l'internet", "Internet"),
    ("005.133", "la programmation", "Programmation (informatique)"),
    ("027.4", "les bibliothèques publiques", "Bibliothèques publiques"),
    ("070.4", "le journalisme", "Journalisme"),
    ("133.3", "l'astrologie", "Astrologie"),
    ("152.4", "les émotions", "Émotions"),
    ("158.1", "la confiance en soi", "Développement personnel"),
    ("170", "la morale", "Morale"),
    ("194", "la philosophie française", "Philosophie française"),
    ("200.9", "les religions", "Religions"),
    ("297", "l'islam", "Islam"),
    ("220.6", "la Bible", "Bible"),
    ("294.3", "le bouddhisme", "Bouddhisme"),
    ("303.4", "la mondialisation", "Mondialisation"),
    ("305.4", "les femmes", "Femmes"),
    ("306.8", "la famille", "Famille"),
    ("320.944", "la vie politique française", "Politique -- France"),
    ("330.9", "l'économie mondiale", "Économie mondiale"),
    ("333.7", "l'environnement", "Environnement"),
    ("344.01", "le droit du travail", "Droit du travail"),
    ("362.1", "la santé publique", "Santé publique"),
    ("370.1", "l'éducation", "Éducation"),
    ("394.1", "la gastronomie", "Gastronomie"),
    ("398.2", "les contes", "Contes"),
    ("440", "la langue française", "Français (langue)"),
    ("448.2", "la grammaire française", "Français (langue) -- Grammaire"),
    ("420", "l'anglais", "Anglais (langue)"),
    ("460", "l'espagnol", "Espagnol (langue)"),
    ("510", "les mathématiques", "Mathématiques"),
    ("520", "l'astronomie", "Astronomie"),
    ("523.8", "les étoiles", "Étoiles"),
    ("530", "la physique", "Physique"),
    ("540", "la chimie", "Chimie"),
    ("551.6", "le climat", "Climat"),
    ("553.8", "les pierres précieuses", "Minéraux"),
    ("560", "les fossiles", "Paléontologie"),
    ("567.9", "les dinosaures", "Dinosaures"),
    ("576.8", "l'évolution", "Évolution"),
    ("581", "les plantes", "Botanique"),
    ("591", "les animaux", "Zoologie"),
    ("598", "les oiseaux", "Oiseaux"),
    ("599.7", "les loups", "Loups"),
    ("610", "la médecine", "Médecine"),
    ("613.2", "la nutrition", "Nutrition"),
    ("629.13", "l'aviation", "Aéronautique"),
    ("635", "le jardinage", "Jardinage"),
    ("636.7", "les chiens", "Chiens"),
    ("641.5", "la cuisine", "Cuisine"),
    ("641.594 458", "la cuisine lyonnaise", "Cuisine lyonnaise"),
    ("646.4", "la couture", "Couture"),
    ("658", "la gestion", "Gestion"),
    ("690", "la construction", "Construction"),
    ("704.9", "le portrait", "Portraits"),
    ("709.04", "l'art contemporain", "Art contemporain"),
    ("720", "l'architecture", "Architecture"),
    ("741.5", "la bande dessinée", "Bande dessinée"),
    ("745.5", "les loisirs créatifs", "Loisirs créatifs"),
    ("750", "la peinture", "Peinture"),
    ("759.4", "la peinture française", "Peinture française"),
    ("770", "la photographie", "Photographie"),
    ("780.9", "la musique", "Musique -- Histoire"),
    ("781.65", "le jazz", "Jazz"),
    ("782.1", "l'opéra", "Opéra"),
    ("791.43", "le cinéma", "Cinéma"),
    ("792", "le théâtre", "Théâtre"),
    ("793.7", "les jeux", "Jeux"),
    ("796.33", "le football", "Football"),
    ("796.52", "la randonnée", "Randonnée"),
    ("796.6", "le cyclisme", "Cyclisme"),
    ("809", "la littérature", "Littérature -- Histoire et critique"),
    ("841", "la poésie française", "Poésie française"),
    ("842", "le théâtre français", "Théâtre français"),
    ("843.914", "le roman français", "Roman français"),
    ("848", "les écrivains voyageurs", "Récits de voyage"),
    ("909", "l'histoire du monde", "Histoire universelle"),
    ("910.4", "les grands voyages", "Voyages"),
    ("914.4", "la France", "France -- Descriptions et voyages"),
    ("930", "l'Antiquité", "Antiquité"),
    ("932", "l'Égypte ancienne", "Égypte -- Antiquités"),
    ("937", "Rome", "Rome -- Histoire"),
    ("940.1", "le Moyen Âge", "Moyen Âge"),
    ("940.3", "la Première Guerre mondiale", "Guerre mondiale (1914-1918)"),
    ("940.53", "la Seconde Guerre mondiale", "Guerre mondiale (1939-1945)"),
    ("944.04", "la Révolution française", "France -- 1789-1799 (Révolution)"),
    ("944.58", "l'histoire de Lyon", "Lyon (Rhône) -- Histoire"),
    ("951", "la Chine", "Chine -- Histoire"),
    ("956", "le Proche-Orient", "Moyen-Orient -- Histoire"),
    ("960", "l'Afrique", "Afrique -- Histoire"),
    ("972", "le Mexique", "Mexique -- Histoire"),
    ("973", "les États-Unis", "États-Unis -- Histoire"),
)

NONFICTION_TEMPLATES = (
    "Histoire de {t}",
    "Comprendre {t}",
    "Petit guide de {t}",
    "{T} : une introduction",
    "Tout savoir sur {t}",
    "{T} au XXe siècle",
    "Atlas de {t}",
    "{T} expliqué à tous",
    "Dictionnaire de {t}",
    "{T} : enjeux et débats",
    "Les secrets de {t}",
    "Initiation à {t}",
    "{T} en 100 questions",
    "Regards sur {t}",
    "Découvrir {t}",
)
YOUTH_NONFICTION_TEMPLATES = (
    "Mon premier livre sur {t}", "{T} pour les enfants", "À la découverte de {t}", "C'est quoi, {t} ?",
    "Le grand imagier de {t}", "Mes petites questions sur {t}", "{T} en BD",
)  # fmt: skip

REGIONAL_TITLES = (
    "Les traboules de Lyon", "La Croix-Rousse et les canuts", "Fourvière, colline qui prie",
    "Les bouchons lyonnais", "Le Rhône et la Saône", "Lyon, ville lumière", "La révolte des canuts, 1831",
    "Guignol et son théâtre", "Les quais du Rhône", "Histoire du Vieux-Lyon", "La Part-Dieu, un quartier",
    "Les soyeux lyonnais", "Lyon sous l'Occupation", "Gerland, des abattoirs à la Halle Tony-Garnier",
    "La Guillotière, terre d'accueil", "Vaise, faubourg industriel", "Les ponts de Lyon",
)  # fmt: skip

COMIC_HEROES = (
    "Lou", "Anatole", "Zélie", "Bastien", "Capitaine Marlène", "Les Mousquetaires", "Inspecteur Gravier",
    "Aglaé", "Les Naufragés", "Timothée", "La Brigade des Traboules", "Mélusine", "Ernest et Rebecca",
)  # fmt: skip
MAGAZINES = (
    ("Télérama", "TEL"), ("Le Monde diplomatique", "MON"), ("Lire", "LIR"), ("Géo", "GEO"),
    ("Sciences et Avenir", "SCI"), ("Causette", "CAU"), ("Le 1", "UN"), ("Alternatives économiques", "ALT"),
    ("J'aime lire", "JAI"), ("Okapi", "OKA"), ("Pomme d'Api", "POM"), ("Images Doc", "IMA"),
    ("Lyon Capitale", "LYO"), ("La Revue dessinée", "REV"), ("Philosophie magazine", "PHI"),
)  # fmt: skip
COMPOSERS = (
    "Claude Debussy", "Maurice Ravel", "Gabriel Fauré", "Erik Satie", "Frédéric Chopin",
    "Jean-Sébastien Bach", "Wolfgang Amadeus Mozart", "Ludwig van Beethoven", "Francis Poulenc",
    "Hector Berlioz", "Camille Saint-Saëns", "Lili Boulanger", "Cécile Chaminade", "Olivier Messiaen",
)  # fmt: skip
SCORE_TITLES = (
    "Sonate pour {i} n° {n}", "Nocturnes pour {i}", "Pièces faciles pour {i}", "Études pour {i}, op. {n}",
    "Suite pour {i}", "Méthode de {i}", "Préludes, livre {n}", "Mélodies pour voix et {i}",
)  # fmt: skip
INSTRUMENTS = (
    ("piano", "786.2"),
    ("violon", "787.2"),
    ("flûte", "788.3"),
    ("guitare", "787.87"),
    ("violoncelle", "787.4"),
)
MUSIC_GENRES = (
    ("1.1", "Jazz"),
    ("1.3", "Blues"),
    ("2.1", "Rock"),
    ("2.3", "Pop"),
    ("3.1", "Musique classique"),
    ("4.2", "Musiques électroniques"),
    ("5", "Hip-hop"),
    ("8.1", "Chanson française"),
    ("9.1", "Musiques du monde"),
)
GAMES = (
    "Les Loups-garous de Thiercelieux", "Dixit", "Carcassonne", "Dobble", "Le Petit Verger", "Kaléidos",
    "Mysterium", "Les Aventuriers du rail", "Qwirkle", "Timeline Inventions", "Concept Kids",
)  # fmt: skip

ROLES = (
    "une jeune institutrice", "un vieux marin", "une avocate lyonnaise", "un adolescent rêveur",
    "une photographe", "un ancien boxeur", "une libraire", "un horloger", "une cheffe d'orchestre",
    "un enfant solitaire", "une exilée", "un commissaire fatigué", "une botaniste", "deux sœurs",
)  # fmt: skip
EVENTS = (
    "découvre un secret de famille",
    "part à la recherche d'une sœur disparue",
    "se lie d'amitié avec un renard",
    "hérite d'une maison au bord de la mer",
    "enquête sur une série de disparitions",
    "traverse le pays à pied",
    "retrouve un amour de jeunesse",
    "reçoit chaque matin une lettre anonyme",
    "doit quitter sa ville natale",
    "apprend à vivre avec le silence",
)
CODAS = (
    "Un roman lumineux sur la mémoire et la transmission.", "Une enquête haletante.",
    "Un récit d'une grande douceur.", "Une fresque familiale sur trois générations.",
    "Un premier roman remarqué.", "Une histoire d'amitié et de courage.", "",
)  # fmt: skip
