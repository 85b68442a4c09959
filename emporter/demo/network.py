"""A Lyon-like network of 16 branches: the central Part-Dieu library and 15 neighbourhood ones.

Names and addresses follow the real network closely enough to look right in a demo;
nothing here is authoritative. Every shelving location says which *kinds* of
documents it holds (see ``shelves.py``): that is how imported and synthetic copies
find a plausible department and location.
"""

import datetime
from dataclasses import dataclass, field

from django.db import transaction

from emporter.network.models import Branch, ClosedDay, Department, Location, OpeningHours, ServiceMode

T = datetime.time


@dataclass(frozen=True)
class LocationSpec:
    code: str
    name: str
    kinds: tuple[str, ...]
    hint: str = ""
    # Dewey range (inclusive, hundreds and tens) for non-fiction split by subject.
    dewey: tuple[int, int] | None = None
    requestable: bool = True


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name: str
    locations: tuple[LocationSpec, ...]


@dataclass(frozen=True)
class BranchSpec:
    code: str
    name: str
    address: str
    phone: str
    hours: tuple[tuple[int, datetime.time, datetime.time], ...]
    departments: tuple[DepartmentSpec, ...]
    mode: str = ServiceMode.CLICK_COLLECT
    is_central: bool = False
    pick_time: datetime.time = T(8, 30)
    # How much of the collection sits here compared with a small branch.
    weight: int = 1
    email: str = field(default="")


# --- Opening hours (weekday 0 = Monday): closed Sunday and Monday everywhere. ---

CENTRAL_HOURS = tuple((d, T(10), T(19)) for d in range(1, 5)) + ((5, T(10), T(18)),)
LARGE_HOURS = (
    (1, T(13), T(19)),
    (2, T(10), T(19)),
    (3, T(13), T(19)),
    (4, T(13), T(19)),
    (5, T(10), T(18)),
)
STANDARD_HOURS = (
    (1, T(13), T(19)),
    (2, T(10), T(12)),
    (2, T(14), T(18)),
    (4, T(13), T(19)),
    (5, T(10), T(12)),
    (5, T(14), T(17)),
)
# Small branches close on Saturdays.
SMALL_HOURS = (
    (1, T(14), T(19)),
    (2, T(10), T(12)),
    (2, T(14), T(18)),
    (3, T(14), T(19)),
    (4, T(14), T(18)),
)


# --- Departments ---


def youth_department(*, dvd: bool = False, games: bool = False) -> DepartmentSpec:
    locations = [
        LocationSpec(
            "albums",
            "Albums (E)",
            ("album",),
            "Bacs bas près de l'entrée jeunesse, par auteur : « E A/SAR » se range au bac S.",
        ),
        LocationSpec(
            "premieres-lectures",
            "Premières lectures (J PL)",
            ("first_reader",),
            "Petit meuble à côté des albums, par les trois lettres de l'auteur.",
        ),
        LocationSpec(
            "romans",
            "Romans (J R)",
            ("youth_fiction",),
            "Étagères murales, par les trois lettres de l'auteur : « J R DUP ».",
        ),
        LocationSpec(
            "documentaires",
            "Documentaires (J 000–999)",
            ("youth_nonfiction",),
            "Par indice Dewey puis auteur ; les contes (J 398.2) ont leur propre bac.",
        ),
        LocationSpec("bd", "BD (BD)", ("youth_comic",), "Bacs BD, par série ou auteur : « BD GOS »."),
    ]
    if dvd:
        locations.append(
            LocationSpec(
                "dvd", "DVD jeunesse (DVD J)", ("youth_dvd",), "Présentoir fermé, boîtiers vides en façade."
            )
        )
    if games:
        locations.append(LocationSpec("jeux", "Jeux (JEU)", ("game",), "Armoire des jeux, par titre."))
    return DepartmentSpec("jeunesse", "Jeunesse", tuple(locations))


def adult_department(*, audiobooks: bool = True) -> DepartmentSpec:
    locations = [
        LocationSpec(
            "romans",
            "Romans (R)",
            ("fiction", "foreign_fiction"),
            "Par les trois lettres de l'auteur : « R DUP ».",
        ),
        LocationSpec(
            "documentaires",
            "Documentaires (000–999)",
            ("nonfiction", "regional"),
            "Par indice Dewey puis auteur.",
        ),
        LocationSpec("bd", "BD adultes (BD)", ("comic",), "Bacs BD, par série ou auteur."),
        LocationSpec("presse", "Presse (PER)", ("periodical",), "Présentoirs de revues, par titre."),
    ]
    if audiobooks:
        locations.append(
            LocationSpec("livres-lus", "Livres lus (LL)", ("audiobook",), "Bac près des romans.")
        )
    return DepartmentSpec("adultes", "Adultes", tuple(locations))


MUSIC_AND_FILM = DepartmentSpec(
    "musique-cinema",
    "Musique et cinéma",
    (
        LocationSpec(
            "dvd",
            "DVD (DVD F, DVD D)",
            ("dvd", "dvd_doc"),
            "Boîtiers rangés derrière la banque, par titre : « DVD F HIT ».",
        ),
        LocationSpec("cd", "CD (CD)", ("cd",), "Bacs CD par genre puis artiste."),
    ),
)

CENTRAL_DEPARTMENTS = (
    DepartmentSpec(
        "jeunesse",
        "Jeunesse",
        youth_department(dvd=True, games=True).locations
        + (LocationSpec("cd", "CD jeunesse (CD J)", ("youth_cd",), "Bacs CD près des DVD jeunesse."),),
    ),
    DepartmentSpec(
        "arts-loisirs",
        "Arts et Loisirs",
        (
            LocationSpec(
                "dvd-fiction",
                "DVD fiction (DVD F)",
                ("dvd",),
                "Réserve derrière la banque, 2e étage, par titre : « DVD F HIT ». Et le chariot des retours.",
            ),
            LocationSpec(
                "dvd-documentaires",
                "DVD documentaires (DVD D)",
                ("dvd_doc",),
                "Même réserve que les fictions, rayonnages du fond, par indice.",
            ),
            LocationSpec(
                "beaux-arts",
                "Beaux-arts et loisirs (700–799)",
                ("nonfiction",),
                "Par indice.",
                dewey=(700, 779),
            ),
            LocationSpec(
                "sports-jeux", "Sports et jeux (790–799)", ("nonfiction",), "Par indice.", dewey=(790, 799)
            ),
            LocationSpec("bd", "BD adultes (BD)", ("comic",), "Bacs BD au fond du plateau."),
        ),
    ),
    DepartmentSpec(
        "musique",
        "Musique",
        (
            LocationSpec("cd", "CD (CD)", ("cd",), "Bacs CD par genre puis artiste."),
            LocationSpec("partitions", "Partitions (P)", ("score",), "Meubles à plans, par instrument."),
            LocationSpec(
                "livres", "Livres sur la musique (780–789)", ("nonfiction",), "Par indice.", dewey=(780, 789)
            ),
        ),
    ),
    DepartmentSpec(
        "langues-litteratures",
        "Langues et Littératures",
        (
            LocationSpec(
                "romans", "Romans (R)", ("fiction",), "Par les trois lettres de l'auteur : « R DUP »."
            ),
            LocationSpec(
                "romans-vo",
                "Romans en langues étrangères (R VO)",
                ("foreign_fiction",),
                "Par langue, puis auteur.",
            ),
            LocationSpec(
                "litterature", "Littérature (800–899)", ("nonfiction",), "Par indice.", dewey=(800, 899)
            ),
            LocationSpec("langues", "Langues (400–499)", ("nonfiction",), "Par indice.", dewey=(400, 499)),
            LocationSpec(
                "livres-lus", "Livres lus (LL)", ("audiobook",), "Bacs près de l'accueil du département."
            ),
        ),
    ),
    DepartmentSpec(
        "civilisation",
        "Civilisation",
        (
            LocationSpec(
                "philosophie",
                "Philosophie, religions (100–299)",
                ("nonfiction",),
                "Par indice.",
                dewey=(100, 299),
            ),
            LocationSpec(
                "histoire", "Histoire, géographie (900–999)", ("nonfiction",), "Par indice.", dewey=(900, 999)
            ),
        ),
    ),
    DepartmentSpec(
        "sciences-societe",
        "Sciences et Société",
        (
            LocationSpec(
                "generalites",
                "Généralités, informatique (000–099)",
                ("nonfiction",),
                "Par indice.",
                dewey=(0, 99),
            ),
            LocationSpec(
                "societe",
                "Société, droit, économie (300–399)",
                ("nonfiction",),
                "Par indice.",
                dewey=(300, 399),
            ),
            LocationSpec(
                "sciences", "Sciences, techniques (500–699)", ("nonfiction",), "Par indice.", dewey=(500, 699)
            ),
            LocationSpec("presse", "Presse (PER)", ("periodical",), "Salle de presse, par titre."),
        ),
    ),
    DepartmentSpec(
        "doc-regionale",
        "Documentation régionale",
        (
            LocationSpec("lyon", "Lyon et région (LYO)", ("regional",), "Salle de lecture, par indice."),
            LocationSpec(
                "fonds-lyonnais",
                "Fonds lyonnais (consultation sur place)",
                ("heritage",),
                "Magasin, 4e étage : sur place uniquement.",
                requestable=False,
            ),
        ),
    ),
)


def neighbourhood_departments(*, music: bool = False, games: bool = False) -> tuple[DepartmentSpec, ...]:
    departments = [adult_department(), youth_department(dvd=music, games=games)]
    if music:
        departments.append(MUSIC_AND_FILM)
    return tuple(departments)


BRANCHES = (
    BranchSpec(
        "PDI",
        "Part-Dieu",
        "30 boulevard Marius Vivier Merle, 69003 Lyon",
        "04 78 62 18 00",
        CENTRAL_HOURS,
        CENTRAL_DEPARTMENTS,
        is_central=True,
        pick_time=T(8, 0),
        weight=6,
    ),
    BranchSpec(
        "CRX",
        "Croix-Rousse",
        "12 bis rue de Cuire, 69004 Lyon",
        "04 78 27 45 55",
        LARGE_HOURS,
        neighbourhood_departments(music=True),
        weight=2,
    ),
    BranchSpec(
        "JMA",
        "Jean Macé",
        "2 rue Domer, 69007 Lyon",
        "04 78 96 78 70",
        LARGE_HOURS,
        neighbourhood_departments(music=True),
        weight=2,
    ),
    BranchSpec(
        "VAI",
        "Vaise",
        "Place Valmy, 69009 Lyon",
        "04 72 85 66 20",
        LARGE_HOURS,
        neighbourhood_departments(music=True, games=True),
        weight=3,
    ),
    BranchSpec(
        "BAC",
        "Bachut",
        "2 place du 11 Novembre 1918, 69008 Lyon",
        "04 78 78 12 12",
        LARGE_HOURS,
        neighbourhood_departments(music=True, games=True),
        weight=3,
    ),
    BranchSpec(
        "DUG",
        "Duguesclin",
        "246 rue Duguesclin, 69003 Lyon",
        "04 78 60 42 32",
        STANDARD_HOURS,
        neighbourhood_departments(music=True),
    ),
    BranchSpec(
        "PDJ",
        "Point du Jour",
        "10 rue Joliot-Curie, 69005 Lyon",
        "04 78 25 49 32",
        STANDARD_HOURS,
        neighbourhood_departments(),
    ),
    BranchSpec(
        "SJE",
        "Saint-Jean",
        "4 avenue Adolphe Max, 69005 Lyon",
        "04 78 92 83 50",
        SMALL_HOURS,
        neighbourhood_departments(),
        mode=ServiceMode.OPEN,
    ),
    BranchSpec(
        "GER",
        "Gerland",
        "32 rue Jacques Monod, 69007 Lyon",
        "04 78 72 05 18",
        STANDARD_HOURS,
        neighbourhood_departments(),
        # Closed for works: its copies exist but cannot be requested.
        mode=ServiceMode.CLOSED,
    ),
    BranchSpec(
        "LAC",
        "Lacassagne",
        "15 avenue Lacassagne, 69003 Lyon",
        "04 78 62 40 91",
        SMALL_HOURS,
        neighbourhood_departments(),
    ),
    BranchSpec(
        "GUI",
        "Guillotière",
        "25 rue Béchevelin, 69007 Lyon",
        "04 78 69 01 71",
        STANDARD_HOURS,
        neighbourhood_departments(music=True),
    ),
    BranchSpec(
        "MDV",
        "Marceline Desbordes-Valmore",
        "7 rue Saint-Polycarpe, 69001 Lyon",
        "04 78 27 09 93",
        SMALL_HOURS,
        neighbourhood_departments(),
    ),
    BranchSpec(
        "MEN",
        "Ménival",
        "29 avenue de Ménival, 69005 Lyon",
        "04 72 38 86 12",
        SMALL_HOURS,
        neighbourhood_departments(),
        mode=ServiceMode.OPEN,
    ),
    BranchSpec(
        "SRA",
        "Saint-Rambert",
        "3 place Schönberg, 69009 Lyon",
        "04 78 83 84 88",
        SMALL_HOURS,
        neighbourhood_departments(),
    ),
    BranchSpec(
        "SIX",
        "Bibliothèque du 6e",
        "33 rue Bossuet, 69006 Lyon",
        "04 78 89 00 71",
        STANDARD_HOURS,
        neighbourhood_departments(),
    ),
    BranchSpec(
        "DUC",
        "La Duchère",
        "4 avenue Andreï Sakharov, 69009 Lyon",
        "04 78 35 39 25",
        STANDARD_HOURS,
        neighbourhood_departments(games=True),
    ),
)


# --- Public holidays (network-wide closed days) ---


def easter(year: int) -> datetime.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, a.k.a. Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return datetime.date(year, month, day + 1)


def french_holidays(year: int) -> list[tuple[datetime.date, str]]:
    sunday = easter(year)
    days = [
        (datetime.date(year, 1, 1), "Jour de l'an"),
        (sunday + datetime.timedelta(days=1), "Lundi de Pâques"),
        (datetime.date(year, 5, 1), "Fête du Travail"),
        (datetime.date(year, 5, 8), "Victoire 1945"),
        (sunday + datetime.timedelta(days=39), "Ascension"),
        (sunday + datetime.timedelta(days=50), "Lundi de Pentecôte"),
        (datetime.date(year, 7, 14), "Fête nationale"),
        (datetime.date(year, 8, 15), "Assomption"),
        (datetime.date(year, 11, 1), "Toussaint"),
        (datetime.date(year, 11, 11), "Armistice 1918"),
        (datetime.date(year, 12, 25), "Noël"),
    ]
    return sorted(days)


# --- Building ---


def _build_branch(spec: BranchSpec) -> Branch:
    branch, created = Branch.objects.get_or_create(
        code=spec.code,
        defaults={
            "name": spec.name,
            "address": spec.address,
            "phone": spec.phone,
            "email": spec.email or f"bm-{spec.code.lower()}@example.org",
            "is_central": spec.is_central,
            "service_mode": spec.mode,
            "pick_time": spec.pick_time,
        },
    )
    # Hours are only laid down once: an administrator's later edits win.
    if created or not branch.hours.exists():
        OpeningHours.objects.bulk_create(
            OpeningHours(branch=branch, weekday=day, opens=opens, closes=closes)
            for day, opens, closes in spec.hours
        )
    for d_order, d_spec in enumerate(spec.departments, start=1):
        department, _ = Department.objects.get_or_create(
            branch=branch, code=d_spec.code, defaults={"name": d_spec.name, "walking_order": d_order * 10}
        )
        for l_order, l_spec in enumerate(d_spec.locations, start=1):
            Location.objects.get_or_create(
                department=department,
                code=l_spec.code,
                defaults={
                    "name": l_spec.name,
                    "walking_order": l_order * 10,
                    "hint": l_spec.hint,
                    "requestable": l_spec.requestable,
                },
            )
    return branch


def _build_holidays(today: datetime.date) -> None:
    for year in (today.year, today.year + 1):
        for day, reason in french_holidays(year):
            # Once per date (constraint closed_day_once_network): run again, it adds nothing.
            ClosedDay.objects.get_or_create(branch=None, date=day, defaults={"reason": reason})


@transaction.atomic
def build_network(*, today: datetime.date) -> dict[str, Branch]:
    """Create (or complete) the 16 branches, their departments, locations and calendars."""
    branches = {spec.code: _build_branch(spec) for spec in BRANCHES}
    _build_holidays(today)
    _build_pickup_times(branches.values())
    _build_request_rules()
    return branches


def _build_request_rules() -> None:
    """The network's default rules, as in the seed: 8 requests at a time, at most 3 DVDs
    (the documents most often not found on their shelves). Kept if already edited."""
    from emporter.holds.models import RequestPolicy

    RequestPolicy.objects.get_or_create(
        branch=None, category="", defaults={"max_active": 8, "type_limits": {"dvd": 3}}
    )


def _build_pickup_times(branches) -> None:
    """Pickup times at the libraries in click and collect: a busy door at the central
    library (every 10 minutes, 6 patrons), smaller ones elsewhere."""
    from emporter.curbside.models import PickupSettings

    for branch in branches:
        if branch.service_mode == ServiceMode.CLICK_COLLECT:
            minutes, per_slot = (10, 6) if branch.is_central else (15, 3)
            PickupSettings.objects.get_or_create(
                branch=branch, defaults={"slot_minutes": minutes, "per_slot": per_slot}
            )
