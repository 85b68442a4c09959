"""Demo patrons and staff, with known logins.

Passwords are hashed ONCE per distinct secret and the hash is copied to every demo
user: hashing 200 PINs one by one with Django's default PBKDF2 takes about a minute.
Sharing a salt is harmless for demo accounts whose PIN is printed at start-up anyway;
real patrons are imported with their own hashes.
"""

import datetime
import random
import unicodedata
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from emporter.network.models import Branch
from emporter.patrons.models import Patron, PatronCategory, Role, StaffRole
from emporter.patrons.pins import hash_pin

from .network import BRANCHES

PATRON_COUNT = 200
DEMO_PIN = "1234"
STAFF_PASSWORD = "emporter-demo"
ADMIN_USERNAME = "admin"
CARD_PREFIX = "2069"  # 13-digit cards: 2069 + 9 digits

FIRST_NAMES = (
    "Camille", "Léa", "Chloé", "Manon", "Inès", "Jade", "Louise", "Zoé", "Hélène", "Élodie",
    "Amélie", "Cécile", "Margaux", "Anaïs", "Noémie", "Béatrice", "Françoise", "Maëlle", "Océane",
    "Lucas", "Hugo", "Louis", "Jules", "Gabriel", "Arthur", "Théo", "Raphaël", "Nathan", "Mathéo",
    "François", "Jérôme", "Stéphane", "Frédéric", "Grégoire", "Rémi", "Loïc", "Benoît", "Noël",
    "Yasmine", "Karim", "Sofiane", "Nour", "Mamadou", "Aïcha", "Thi Hoa", "Minh", "Ana", "Joaquim",
)  # fmt: skip
CHILD_FIRST_NAMES = (
    "Lina", "Mia", "Rose", "Alba", "Anna", "Iris", "Ambre", "Léon", "Malo", "Timéo", "Sacha",
    "Noé", "Éthan", "Adam", "Gaspard", "Célestin", "Aylan", "Maëlys", "Éloïse", "Capucine",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier", "Girard", "Bonnet",
    "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Faure", "André", "Mercier",
    "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Perrin",
    "Benaïssa", "Nguyen", "Diallo", "Ferreira", "Da Silva", "Brun", "Roux", "Giraud", "Clément",
    "Pélissier", "Chabert", "Joubert", "Berthelot", "Desgranges",
)  # fmt: skip

# (username, first name, last name, role, branch code or None for the whole network)
STAFF = (
    ("pdi-telephone", "Sylvie", "Morel", Role.PHONE_DESK, "PDI"),
    ("pdi-rayon", "Karim", "Haddad", Role.PICKER, "PDI"),
    ("pdi-accueil", "Julie", "Caron", Role.DOOR_DESK, "PDI"),
    ("pdi-responsable", "Anne", "Vidal", Role.BRANCH_MANAGER, "PDI"),
    ("vai-telephone", "Marc", "Roche", Role.PHONE_DESK, "VAI"),
    ("vai-rayon", "Lucie", "Barbier", Role.PICKER, "VAI"),
    ("vai-accueil", "Omar", "Benali", Role.DOOR_DESK, "VAI"),
    ("vai-responsable", "Claire", "Renaud", Role.BRANCH_MANAGER, "VAI"),
    (ADMIN_USERNAME, "Nadia", "Lemaire", Role.NETWORK_ADMIN, None),
)


@dataclass(frozen=True)
class DemoPatron:
    number: int
    first_name: str
    last_name: str
    category: str
    guardian: int | None  # number of the guardian's DemoPatron
    home_branch: str
    phone: str
    language: str

    @property
    def card_number(self) -> str:
        return card_number(self.number)

    @property
    def email(self) -> str:
        if self.guardian is not None:
            return ""  # notices go to the guardian
        local = f"{self.first_name}.{self.last_name}".replace(" ", "-").lower()
        return f"{ascii_fold(local)}{self.number}@example.org"


def card_number(number: int) -> str:
    return f"{CARD_PREFIX}{number:09d}"


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def demo_patrons(*, seed: int = 2020) -> list[DemoPatron]:
    """The same 200 patrons every time: adults, and children after their guardian.

    Every fourth patron is a child; two children in three have the patron before
    them (an adult of the same family) as guardian, the others are teenagers with
    their own card.
    """
    rng = random.Random(seed)
    codes = [b.code for b in BRANCHES]
    weights = [b.weight for b in BRANCHES]
    people: list[DemoPatron] = []
    for number in range(1, PATRON_COUNT + 1):
        child = number % 4 == 0
        parent = people[-1] if child and number % 12 != 0 else None
        people.append(
            DemoPatron(
                number=number,
                first_name=rng.choice(CHILD_FIRST_NAMES if child else FIRST_NAMES),
                last_name=parent.last_name if parent else rng.choice(LAST_NAMES),
                category=PatronCategory.CHILD if child else PatronCategory.ADULT,
                guardian=parent.number if parent else None,
                home_branch=parent.home_branch if parent else rng.choices(codes, weights)[0],
                phone=""
                if parent
                else f"0{rng.choice('67')} " + " ".join(f"{rng.randrange(100):02d}" for _ in range(4)),
                language="en" if number % 25 == 7 else "fr",
            )
        )
    return people


def _card_expiry(person: DemoPatron, today: datetime.date) -> datetime.date:
    # A few expired cards and blocked patrons so the door desk has something to show.
    if person.number % 40 == 17:
        return today - datetime.timedelta(days=30)
    return today + datetime.timedelta(days=180 + 5 * person.number)


@transaction.atomic
def create_patrons(*, today: datetime.date) -> int:
    """Create the demo patrons that do not exist yet; return how many were created."""
    people = demo_patrons()
    existing = set(
        Patron.objects.filter(card_number__startswith=CARD_PREFIX).values_list("card_number", flat=True)
    )
    missing = [p for p in people if p.card_number not in existing]
    if not missing:
        return 0
    users = _ensure_users(missing, password_hash=hash_pin(DEMO_PIN))
    branches = dict(Branch.objects.values_list("code", "id"))
    by_card: dict[str, Patron] = {p.card_number: p for p in Patron.objects.filter(card_number__in=existing)}
    # Guardians before children: a child's guardian row must exist to point at it.
    for wave in (PatronCategory.ADULT, PatronCategory.CHILD):
        rows = [
            _patron(p, users[p.card_number], branches, by_card, today) for p in missing if p.category == wave
        ]
        for patron in Patron.objects.bulk_create(rows):
            by_card[patron.card_number] = patron
    return len(missing)


def _patron(person: DemoPatron, user_id: int, branches, by_card, today) -> Patron:
    guardian = by_card.get(card_number(person.guardian)) if person.guardian else None
    return Patron(
        user_id=user_id,
        card_number=person.card_number,
        first_name=person.first_name,
        last_name=person.last_name,
        email=person.email,
        phone=person.phone,
        # bulk_create skips Patron.save(), which derives this field.
        phone_digits="".join(c for c in person.phone if c.isdigit()),
        home_branch_id=branches[person.home_branch],
        language=person.language,
        category=person.category,
        guardian=guardian,
        card_expires=_card_expiry(person, today),
        blocked_reason="Documents en retard non rendus" if person.number % 50 == 33 else "",
    )


def _ensure_users(people: list[DemoPatron], *, password_hash: str) -> dict[str, int]:
    User = get_user_model()
    cards = [p.card_number for p in people]
    found = dict(User.objects.filter(username__in=cards).values_list("username", "id"))
    new = [
        User(
            username=p.card_number,
            first_name=p.first_name,
            last_name=p.last_name,
            email=p.email,
            password=password_hash,
        )
        for p in people
        if p.card_number not in found
    ]
    User.objects.bulk_create(new)
    return dict(User.objects.filter(username__in=cards).values_list("username", "id"))


@transaction.atomic
def create_staff() -> int:
    User = get_user_model()
    branches = {b.code: b for b in Branch.objects.all()}
    password_hash = make_password(STAFF_PASSWORD)
    created = 0
    for username, first, last, role, branch_code in STAFF:
        admin = role == Role.NETWORK_ADMIN
        user, was_created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "password": password_hash,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        created += was_created
        StaffRole.objects.get_or_create(user=user, role=role, branch=branches.get(branch_code))
    return created


ROLE_NAMES = {
    Role.PHONE_DESK: "phone desk",
    Role.PICKER: "picker",
    Role.DOOR_DESK: "door desk",
    Role.BRANCH_MANAGER: "manager",
}


def demo_logins(*, admin_url: str) -> list[str]:
    """The lines ``seed_demo --print-logins`` prints; empty when the demo is not loaded."""
    people = demo_patrons()
    adult = next(p for p in people if p.category == PatronCategory.ADULT and p.guardian is None)
    child = next(p for p in people if p.guardian is not None)
    parent = people[child.guardian - 1]
    if not Patron.objects.filter(card_number=adult.card_number).exists():
        return []
    lines = [
        "Demo logins",
        f"    patron:      card {adult.card_number}  PIN {DEMO_PIN}  ({adult.first_name} {adult.last_name})",
        f"    parent:      card {parent.card_number}  PIN {DEMO_PIN}"
        f"  ({parent.first_name} {parent.last_name}, guardian of card {child.card_number})",
        f"    all patrons: cards {card_number(1)} to {card_number(PATRON_COUNT)}, PIN {DEMO_PIN}",
    ]
    for role, name in ROLE_NAMES.items():
        usernames = ", ".join(username for username, _, _, r, _ in STAFF if r == role)
        lines.append(f"    {name + ':':<13}{usernames}  (password {STAFF_PASSWORD})")
    lines.append(f"    admin:       {ADMIN_USERNAME} / {STAFF_PASSWORD}  {admin_url}")
    return lines
