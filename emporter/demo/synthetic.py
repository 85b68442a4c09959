"""Synthetic records and copies, to scale the demo catalogue up for benchmarks.

``add_synthetic_records(count=N)`` makes sure N synthetic records exist (it adds the
missing ones, so running it twice costs nothing the second time), with about 2.5
copies each spread over the demo network's branches, departments and locations.

Records look like a French public library's: titles made of real French words, French
names, publishers, subjects, Dewey-shaped call numbers ("843.914 DUR", "R DUP",
"BD GOS", "E A/SAR", "J 398.2 CON", "DVD F HIT"), valid ISBN-13 and EAN check digits.
Everything comes from ``random.Random`` seeded per chunk: the same N gives the same
catalogue.

Writing: on PostgreSQL, COPY FROM STDIN (psycopg 3) chunk by chunk inside one
transaction, records first (with ids taken above the current maximum, the table being
locked meanwhile) then their copies. COPY fires the search trigger on every row, so the
full-text index stays right. On other databases, bulk_create in batches (tests, small N).
"""

import datetime
import functools
import json
import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record

from . import words as w
from .shelves import Placer

PREFIX = "synthetic:"
BARCODE_PREFIX = "99"
CHUNK = 10_000

RECORD_COLUMNS = (
    "id",
    "source_key",
    "title",
    "responsibility",
    "publisher",
    "year",
    "isbn",
    "ean",
    "language",
    "subjects",
    "series",
    "summary",
    "doc_type",
    "audience",
    "age_min",
    "age_max",
    "created_at",
    "updated_at",
)
COPY_COLUMNS = (
    "record_id",
    "barcode",
    "call_number",
    "call_number_key",
    "branch_id",
    "department_id",
    "location_id",
    "doc_type",
    "status",
    "source_codes",
    "created_at",
    "updated_at",
)

# Share of each kind of document in the synthetic catalogue (a public library's mix).
KINDS = (
    ("fiction", 26),
    ("foreign_fiction", 3),
    ("nonfiction", 22),
    ("regional", 1),
    ("comic", 5),
    ("periodical", 2),
    ("audiobook", 2),
    ("dvd", 6),
    ("dvd_doc", 1.5),
    ("cd", 5),
    ("score", 1),
    ("album", 8),
    ("first_reader", 3),
    ("youth_fiction", 7),
    ("youth_nonfiction", 4),
    ("youth_comic", 3),
    ("youth_dvd", 1.5),
    ("youth_cd", 0.5),
    ("game", 0.5),
)
# 1 to 5 copies, 2.5 on average.
COPY_COUNTS = (1, 2, 3, 4, 5)
COPY_WEIGHTS = (25, 30, 25, 10, 10)
STATUSES = (CopyStatus.ON_SHELF, CopyStatus.ON_LOAN, CopyStatus.MISSING)
STATUS_WEIGHTS = (80, 18.5, 1.5)


@dataclass(frozen=True)
class Item:
    """What a kind of document gives its record and copies, besides the texts."""

    doc_type: str
    audience: str
    ages: tuple[tuple[int, int], ...] = ()


ITEMS = {
    "fiction": Item(DocType.BOOK, Audience.ADULT),
    "foreign_fiction": Item(DocType.BOOK, Audience.ADULT),
    "nonfiction": Item(DocType.BOOK, Audience.ADULT),
    "regional": Item(DocType.BOOK, Audience.ADULT),
    "comic": Item(DocType.COMIC, Audience.ADULT),
    "periodical": Item(DocType.PERIODICAL, Audience.ADULT),
    "audiobook": Item(DocType.AUDIOBOOK, Audience.ADULT),
    "dvd": Item(DocType.DVD, Audience.ADULT),
    "dvd_doc": Item(DocType.DVD, Audience.ADULT),
    "cd": Item(DocType.CD, Audience.ADULT),
    "score": Item(DocType.SCORE, Audience.ADULT),
    "album": Item(DocType.BOOK, Audience.YOUTH, ((0, 3), (3, 6), (2, 5))),
    "first_reader": Item(DocType.BOOK, Audience.YOUTH, ((6, 8),)),
    "youth_fiction": Item(DocType.BOOK, Audience.YOUTH, ((8, 10), (9, 12), (13, 16))),
    "youth_nonfiction": Item(DocType.BOOK, Audience.YOUTH, ((6, 9), (8, 12))),
    "youth_comic": Item(DocType.COMIC, Audience.YOUTH, ((8, 12), (10, 14))),
    "youth_dvd": Item(DocType.DVD, Audience.YOUTH, ((3, 6), (6, 10))),
    "youth_cd": Item(DocType.CD, Audience.YOUTH, ((0, 6),)),
    "game": Item(DocType.GAME, Audience.YOUTH, ((6, 10), (8, 14))),
}


# --- French grammar, just enough for titles ---

VOWELS = set("aeiouyàâéèêëîïôöùûœh")
NOUN_FORMS = [(n, g, p or n + "s") for n, g, p in w.NOUNS]
NOUNS_M = [n for n in NOUN_FORMS if n[1] == "m"]


def the(noun: str, gender: str, plural: bool = False) -> str:
    if plural:
        return f"les {noun}"
    if noun[0].lower() in VOWELS:
        return f"l'{noun}"
    return f"{'le' if gender == 'm' else 'la'} {noun}"


def a(noun: str, gender: str) -> str:
    return f"{'un' if gender == 'm' else 'une'} {noun}"


def of(phrase: str) -> str:
    """``de`` + phrase, contracted: de le → du, de les → des, de Alger → d'Alger."""
    if phrase.startswith("le "):
        return "du " + phrase[3:]
    if phrase.startswith("les "):
        return "des " + phrase[4:]
    if phrase[0].lower() in VOWELS and not phrase.startswith(("la ", "l'")):
        return "d'" + phrase
    return "de " + phrase


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def code3(name: str) -> str:
    """The three letters of a name on a spine label: "Lefèvre" → "LEF"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    letters = "".join(c for c in folded.upper() if c.isalpha())
    return (letters or "XXX")[:3]


def check_digit(body12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return str((10 - total % 10) % 10)


# --- One record ---


class Writer:
    """Invents records of a given kind with one seeded random generator."""

    def __init__(self, rng: random.Random, this_year: int):
        self.rng = rng
        self.this_year = this_year
        self.kinds = [k for k, _ in KINDS]
        self.kind_weights = [weight for _, weight in KINDS]

    def pick(self, seq):
        return seq[int(self.rng.random() * len(seq))]

    def person(self) -> tuple[str, str]:
        return self.pick(w.FIRST_NAMES), self.pick(w.LAST_NAMES)

    def year(self, oldest: int = 1950) -> int:
        return max(oldest, self.this_year - int(self.rng.expovariate(1 / 9)))

    def isbn(self, year: int) -> str:
        if year < 1975 or self.rng.random() < 0.1:
            return ""
        body = f"9782{int(self.rng.random() * 10**8):08d}"
        return body + check_digit(body)

    def ean(self) -> str:
        body = f"3{int(self.rng.random() * 10**11):011d}"
        return body + check_digit(body)

    def adjective(self, gender: str, pre: bool = False) -> str:
        m, f = self.pick(w.PRE_ADJECTIVES if pre else w.ADJECTIVES)
        return m if gender == "m" else f

    def noun_phrase(self) -> str:
        noun, gender, plural = self.pick(NOUN_FORMS)
        r = self.rng.random()
        if r < 0.35:
            return the(noun, gender)
        if r < 0.55:
            return the(plural, gender, plural=True)
        if r < 0.8:
            return f"{the(noun, gender)} {self.adjective(gender)}"
        adjective = self.adjective(gender, pre=True)
        return the(f"{adjective} {noun}", gender)

    def novel_title(self) -> str:
        r = self.rng.random()
        noun, gender, plural = self.pick(NOUN_FORMS)
        if r < 0.22:
            return cap(f"{the(noun, gender)} {self.adjective(gender)}")
        if r < 0.34:
            return cap(the(f"{self.adjective(gender, pre=True)} {noun}", gender))
        if r < 0.5:
            return cap(f"{the(plural, gender, True)} {of(self.pick(w.PLACES))}")
        if r < 0.62:
            return cap(f"{the(noun, gender)} et {self.noun_phrase()}")
        if r < 0.78:
            return cap(f"{the(noun, gender)} {of(self.noun_phrase())}")
        if r < 0.86:
            return cap(f"{a(noun, gender)} à {self.pick(w.PLACES)}")
        if r < 0.94:
            preposition = self.pick(("Avant", "Après", "Sous", "Contre", "Pour", "Sans", "Vers"))
            return f"{preposition} {self.noun_phrase()}"
        return f"{self.pick(w.FIRST_NAMES)} et {self.noun_phrase()}"

    def summary(self) -> str:
        if self.rng.random() < 0.55:
            return ""
        place = self.pick(w.PLACES)
        where = f"en {place}" if place in w.REGIONS else f"à {place}"
        text = f"{cap(self.pick(w.ROLES))} {self.pick(w.EVENTS)} {where}."
        coda = self.pick(w.CODAS)
        return f"{text} {coda}".strip()

    def topic(self) -> tuple[str, str, str]:
        return self.pick(w.TOPICS)

    def topic_title(self, topic: str, templates) -> str:
        template = self.pick(templates)
        if template.startswith("{T}"):
            return template.replace("{T}", cap(topic))
        return template.replace(" de {t}", " " + of(topic)).replace("{t}", topic)

    # Each maker returns (title, responsibility, publisher, subjects, series, summary,
    # call number, dewey, language, isbn, ean, year).
    def make(self, kind: str):
        return getattr(self, f"make_{kind}")()

    def _book(self, title, who, publisher, subjects, call, dewey=None, series="", language="fre", summary=""):
        year = self.year()
        return (
            title,
            who,
            publisher,
            subjects,
            series,
            summary,
            call,
            dewey,
            language,
            self.isbn(year),
            "",
            year,
        )

    def make_fiction(self):
        first, last = self.person()
        genre = self.pick(w.FICTION_GENRES)
        subjects = [genre] if self.rng.random() < 0.7 else [genre, self.pick(w.PLACES).removeprefix("la ")]
        return self._book(
            self.novel_title(),
            f"{first} {last}",
            self.pick(w.FICTION_PUBLISHERS),
            subjects,
            f"R {code3(last)}",
            summary=self.summary(),
        )

    def make_foreign_fiction(self):
        language = self.pick(w.LANGUAGES_FOREIGN)
        first, last = self.person()
        template = self.pick(w.FOREIGN_TITLES[language])
        nouns = w.FOREIGN_NOUNS[language]
        title = template.format(
            n=self.pick(nouns), n2=self.pick(nouns), p=self.pick(w.PLACES).removeprefix("la ")
        )
        return self._book(
            title,
            f"{first} {last}",
            self.pick(w.FICTION_PUBLISHERS),
            ["Roman"],
            f"R {code3(last)}",
            language=language,
        )

    def make_nonfiction(
        self, templates=w.NONFICTION_TEMPLATES, prefix="", publishers=w.NONFICTION_PUBLISHERS
    ):
        dewey, topic, subject = self.topic()
        first, last = self.person()
        number = dewey.split(" ")[0]
        call = f"{prefix}{number} {code3(last)}"
        subjects = [subject] if self.rng.random() < 0.75 else [subject, "France"]
        return self._book(
            self.topic_title(topic, templates),
            f"{first} {last}",
            self.pick(publishers),
            subjects,
            call,
            dewey=int(float(number)),
        )

    def make_regional(self):
        first, last = self.person()
        return self._book(
            self.pick(w.REGIONAL_TITLES),
            f"{first} {last}",
            "Éditions Lyonnaises d'Art et d'Histoire",
            ["Lyon (Rhône)", "Lyon (Rhône) -- Histoire"],
            f"LYO 944.58 {code3(last)}",
            dewey=944,
        )

    def make_comic(self):
        (f1, l1), (f2, l2) = self.person(), self.person()
        hero = self.pick(w.COMIC_HEROES)
        volume = 1 + int(self.rng.expovariate(1 / 4))
        title = f"{hero}. {volume}, {self.novel_title()}"
        who = f"scénario {f1} {l1} ; dessin {f2} {l2}"
        subjects = ["Bandes dessinées"] + (["Humour"] if self.rng.random() < 0.3 else [])
        return self._book(
            title,
            who,
            self.pick(w.COMIC_PUBLISHERS),
            subjects,
            f"BD {code3(l1)}",
            series=f"{hero} ; {volume}",
        )

    def make_periodical(self):
        name, code = self.pick(w.MAGAZINES)
        year = self.year(oldest=2010)
        month = self.pick(
            (
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            )
        )
        title = f"{name}. N° {int(self.rng.random() * 900) + 100}, {month} {year}"
        return (title, "", name, ["Périodiques"], name, "", f"PER {code}", None, "fre", "", "", year)

    def make_audiobook(self):
        (first, last), (f2, l2) = self.person(), self.person()
        year = self.year()
        who = f"{first} {last} ; lu par {f2} {l2}"
        return (
            self.novel_title(),
            who,
            "Audiolib",
            ["Livres audio"],
            "",
            self.summary(),
            f"LL R {code3(last)}",
            None,
            "fre",
            "",
            self.ean(),
            year,
        )

    def make_dvd(self):
        first, last = self.person()
        year = self.year(oldest=1930)
        genre = self.pick(
            ("Comédie", "Drame", "Film policier", "Film d'animation", "Western", "Film fantastique")
        )
        return (
            self.novel_title(),
            f"réalisé par {first} {last}",
            self.pick(w.FILM_PUBLISHERS),
            ["Film de fiction", genre],
            "",
            self.summary(),
            f"DVD F {code3(last)}",
            None,
            "fre" if self.rng.random() < 0.7 else "eng",
            "",
            self.ean(),
            year,
        )

    def make_dvd_doc(self):
        dewey, topic, subject = self.topic()
        first, last = self.person()
        number = dewey.split(" ")[0]
        return (
            self.topic_title(topic, w.NONFICTION_TEMPLATES),
            f"réalisé par {first} {last}",
            "Arte Éditions",
            ["Film documentaire", subject],
            "",
            "",
            f"DVD D {number} {code3(last)}",
            int(float(number)),
            "fre",
            "",
            self.ean(),
            self.year(oldest=1980),
        )

    def make_cd(self):
        genre_code, genre = self.pick(w.MUSIC_GENRES)
        if self.rng.random() < 0.5:
            first, last = self.person()
            artist, label = f"{first} {last}", last
        else:  # a band: "Les Étoiles silencieuses"
            _, gender, plural = self.pick(NOUN_FORMS)
            adjective = self.adjective(gender)
            adjective += "" if adjective.endswith(("s", "x")) else "s"
            artist, label = f"Les {cap(plural)} {adjective}", plural
        title = self.novel_title() if self.rng.random() < 0.8 else f"Live à {self.pick(w.PLACES)}"
        return (
            title,
            artist,
            self.pick(w.MUSIC_LABELS),
            [genre],
            "",
            "",
            f"CD {genre_code} {code3(label)}",
            None,
            "fre" if genre == "Chanson française" else "und",
            "",
            self.ean(),
            self.year(oldest=1960),
        )

    def make_score(self):
        composer = self.pick(w.COMPOSERS)
        instrument, dewey = self.pick(w.INSTRUMENTS)
        title = self.pick(w.SCORE_TITLES).format(i=instrument, n=1 + int(self.rng.random() * 12))
        last = composer.split(" ")[-1]
        return (
            title,
            composer,
            self.pick(w.SCORE_PUBLISHERS),
            ["Partitions", cap(instrument)],
            "",
            "",
            f"P {dewey} {code3(last)}",
            780,
            "zxx",
            "",
            "",
            self.year(oldest=1900),
        )

    def make_album(self):
        (f1, l1), (f2, l2) = self.person(), self.person()
        noun, gender, _ = self.pick(NOUN_FORMS)
        name = self.pick(w.FIRST_NAMES)
        title = self.pick(
            (
                f"{name} et {the(noun, gender)}",
                f"Où est {the(noun, gender)} ?",
                f"Bonne nuit, petit {self.pick(NOUNS_M)[0]}",
                cap(f"{the('petit' if gender == 'm' else 'petite', gender)} {noun} {self.adjective(gender)}"),
                f"Le loup qui voulait {self.pick(('voyager', 'danser', 'grandir', 'changer de couleur'))}",
            )
        )
        who = f"texte de {f1} {l1} ; illustrations de {f2} {l2}" if self.rng.random() < 0.6 else f"{f1} {l1}"
        return self._book(title, who, self.pick(w.YOUTH_PUBLISHERS), ["Albums"], f"E A/{code3(l1)}")

    def make_first_reader(self):
        first, last = self.person()
        title = f"{self.pick(w.FIRST_NAMES)} et {self.noun_phrase()}"
        return self._book(
            title,
            f"{first} {last}",
            self.pick(w.YOUTH_PUBLISHERS),
            ["Premières lectures"],
            f"J PL {code3(last)}",
        )

    def make_youth_fiction(self):
        first, last = self.person()
        title = (
            self.novel_title()
            if self.rng.random() < 0.6
            else f"{self.pick(w.FIRST_NAMES)} et {self.noun_phrase()}"
        )
        return self._book(
            title,
            f"{first} {last}",
            self.pick(w.YOUTH_PUBLISHERS),
            ["Romans jeunesse"],
            f"J R {code3(last)}",
            summary=self.summary(),
        )

    def make_youth_nonfiction(self):
        return self.make_nonfiction(
            templates=w.YOUTH_NONFICTION_TEMPLATES, prefix="J ", publishers=w.YOUTH_PUBLISHERS
        )

    def make_youth_comic(self):
        return self.make_comic()

    def make_youth_dvd(self):
        first, last = self.person()
        return (
            self.novel_title(),
            f"réalisé par {first} {last}",
            self.pick(w.FILM_PUBLISHERS),
            ["Film d'animation", "Films pour enfants"],
            "",
            "",
            f"DVD J {code3(last)}",
            None,
            "fre",
            "",
            self.ean(),
            self.year(oldest=1980),
        )

    def make_youth_cd(self):
        first, last = self.person()
        title = self.pick(("Comptines", "Berceuses", "Chansons", "Rondes")) + " " + of(self.noun_phrase())
        return (
            title,
            f"{first} {last}",
            self.pick(w.MUSIC_LABELS),
            ["Comptines"],
            "",
            "",
            f"CD J {code3(last)}",
            None,
            "fre",
            "",
            self.ean(),
            self.year(oldest=1990),
        )

    def make_game(self):
        title = self.pick(w.GAMES)
        return (
            title,
            "",
            self.pick(("Asmodee", "Gigamic", "Haba", "Djeco")),
            ["Jeux de société"],
            "",
            "",
            f"JEU {code3(title.removeprefix('Les ').removeprefix('Le '))}",
            None,
            "fre",
            "",
            self.ean(),
            self.year(oldest=2000),
        )


# --- Chunks of rows ---


def generate(
    *, first_index: int, count: int, first_id: int, placer: Placer, seed: int
) -> Iterator[tuple[Iterator[tuple], list[tuple]]]:
    """Rows for synthetic records number ``first_index``… (ids from ``first_id``), by chunk.

    Each chunk is (record rows, copy rows): the record rows are produced lazily and
    the copy rows list fills up as they are consumed, so a loader can stream the
    records to the database while the next ones are being invented.
    """
    now = timezone.now()
    this_year = timezone.localdate().year
    for start in range(0, count, CHUNK):
        rng = random.Random(f"{seed}:{first_index + start}")
        writer = Writer(rng, this_year)
        copies: list[tuple] = []
        size = min(CHUNK, count - start)
        yield _records(writer, placer, first_index + start, first_id + start, size, now, copies), copies


# Call numbers repeat a lot ("R DUP"): their shelf-order key is computed once each.
_sort_key = functools.lru_cache(maxsize=1 << 16)(sort_key)


def _records(
    writer: Writer,
    placer: Placer,
    index: int,
    record_id: int,
    size: int,
    now: datetime.datetime,
    copies: list,
) -> Iterator[tuple]:
    rng = writer.rng
    kinds = rng.choices(writer.kinds, writer.kind_weights, k=size)
    copy_counts = rng.choices(COPY_COUNTS, COPY_WEIGHTS, k=size)
    for offset in range(size):
        kind = kinds[offset]
        item = ITEMS[kind]
        title, who, publisher, subjects, series, summary, call, dewey, language, isbn, ean, year = (
            writer.make(kind)
        )
        age_min, age_max = writer.pick(item.ages) if item.ages else (None, None)
        n = index + offset
        rid = record_id + offset
        yield (
            rid,
            f"{PREFIX}{n:09d}",
            title,
            who,
            publisher,
            year,
            isbn,
            ean,
            language,
            json.dumps(subjects, ensure_ascii=False),
            series,
            summary,
            item.doc_type,
            item.audience,
            age_min,
            age_max,
            now,
            now,
        )
        key = _sort_key(call)
        count = 1 + (copy_counts[offset] > 2) if kind == "periodical" else copy_counts[offset]
        statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=count)
        for k in range(count):
            slot = placer.place(kind, dewey, rng)
            copies.append(
                (
                    rid,
                    f"{BARCODE_PREFIX}{n:010d}{k:02d}",
                    call,
                    key,
                    slot.branch_id,
                    slot.department_id,
                    slot.location_id,
                    item.doc_type,
                    statuses[k],
                    "{}",
                    now,
                    now,
                )
            )


# --- Loading ---


def existing_synthetic() -> tuple[int, int]:
    """(how many synthetic records exist, the next free synthetic number)."""
    found = Record.objects.filter(source_key__startswith=PREFIX).aggregate(last=Max("source_key"))["last"]
    count = Record.objects.filter(source_key__startswith=PREFIX).count() if found else 0
    return count, (int(found.removeprefix(PREFIX)) + 1 if found else 0)


def add_synthetic_records(
    *,
    count: int,
    seed: int = 2020,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Make sure ``count`` synthetic records exist; return (records, copies) added.

    Indexes and triggers stay in place during the load: dropping the secondary
    indexes and building them after the COPY was measured no faster at 100,000
    records (the trigram and full-text GIN builds cost what their upkeep saves).
    """
    if count < 0:
        raise ValueError("the number of records cannot be negative")
    placer = Placer.from_network()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No one else may insert records while we use ids above the maximum.
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE catalogue_record IN SHARE ROW EXCLUSIVE MODE")
        have, next_index = existing_synthetic()
        missing = count - have
        if missing <= 0:
            return 0, 0
        first_id = (Record.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        chunks = generate(first_index=next_index, count=missing, first_id=first_id, placer=placer, seed=seed)
        if connection.vendor != "postgresql":
            return missing, _bulk_create(chunks, missing, progress)
        copies = _copy_into_postgresql(chunks, missing, progress)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalogue_record")
        cursor.execute("ANALYZE catalogue_copy")
    return missing, copies


def _copy_into_postgresql(chunks, total: int, progress) -> int:
    records_sql = f"COPY catalogue_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
    copies_sql = f"COPY catalogue_copy ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    done = copies = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        for records, copy_rows in chunks:
            # The server works on each row as it arrives, while Python invents the next.
            with raw.copy(records_sql) as copy:
                for row in records:
                    copy.write_row(row)
                    done += 1
            with raw.copy(copies_sql) as copy:
                for row in copy_rows:
                    copy.write_row(row)
            copies += len(copy_rows)
            if progress:
                progress(done, total)
        # Ids were given explicitly: move the identity sequence past them.
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, %s), (SELECT max(id) FROM catalogue_record))",
            ["catalogue_record", "id"],
        )
    return copies


def _bulk_create(chunks, total: int, progress) -> int:
    done = copies = 0
    for record_rows, copy_rows in chunks:
        records = []
        for row in record_rows:
            values = dict(zip(RECORD_COLUMNS, row, strict=True))
            values["subjects"] = json.loads(values["subjects"])
            records.append(Record(**values))
        Record.objects.bulk_create(records, batch_size=500)
        rows = [dict(zip(COPY_COLUMNS, row, strict=True)) for row in copy_rows]
        for values in rows:
            values["source_codes"] = {}
        Copy.objects.bulk_create([Copy(**values) for values in rows], batch_size=500)
        done += len(records)
        copies += len(rows)
        if progress:
            progress(done, total)
    return copies
