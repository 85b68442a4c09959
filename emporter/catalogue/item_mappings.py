"""Where a MARC export keeps its items (copies), and how source codes become ours.

An ``ItemMapping`` names the item field's tag and the subfield of each copy attribute.
Presets cover the usual exports; ``detect_preset`` picks one from the tags a record
holds; ``load_mapping`` reads a custom one from JSON, e.g.::

    {"tag": "852", "barcode": "p", "call_number": "h", "branch": ["b"], "location": "c"}

or a preset with overrides: ``{"preset": "koha-marc21", "call_number": "9"}``.
``branch`` lists subfields tried in order (holding branch first, then home branch):
the first code that maps to one of our branches wins. The holding branch is where the
item is now (returned at another library, or in a floating collection), so where a
picker finds it, as Koha's holds queue reads it; the home branch served first put such
an item on a list where it was not, and it was marked not found. ``department`` (none in the
presets) names a subfield holding the copy's department: location codes are unique only
within a department, so a department, read here or given by the code map, chooses
among the locations that share a code.

``withdrawn``, ``lost`` and ``on_loan`` name the subfields that tell an item's status
("" = not read; Koha MARC21: 952$0, $1 and $q, the due date of a checked-out item;
Koha UNIMARC: 995$0, $2 and $n, its "date de restitution prévue"; Sirsi: none). An item
is withdrawn when its withdrawn subfield holds anything but empty or "0", else missing
when its lost subfield does, else on loan when its on_loan subfield holds anything, else
on the shelf; the raw values
(but "0") stay in ``Copy.source_codes``. A mapping that reads none of them gives no
status, and re-import leaves copies' statuses alone. Not-for-loan
codes (Koha 952$7) are not a status: send such copies to a location marked not
requestable (``Location.requestable``) through the code map.

``item_id`` names the subfield of the source's own id of the item (Koha: 952$9 and
995$9, the itemnumber; Sirsi: none). It stays when a torn label is replaced: the
importer finds a relabelled copy by it before its barcode (``Copy.source_item``).

A ``CodeMap`` (``--codes FILE``) maps the source's branch, location, department and
type codes to ours::

    {"branches": {"HUNTINGTON": "PDI"}, "locations": {"HUNT-AUDIO": "musique"},
     "departments": {"HUNT-AUDIO": "arts"}, "types": {"DI": "book"}}

``departments`` maps source department codes, and source location codes, to our
departments: ``{"BD": "jeunesse"}`` sends the items shelved at ``BD`` to the ``bd``
location of Jeunesse when Adultes has one too. Keys are compared case-insensitively.
Types not in the map fall back to ``DEFAULT_TYPES``, then to the record's own document
type.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pymarc
from django.utils.translation import gettext as _

from emporter.catalogue.marcdata import clean, clean_code
from emporter.catalogue.models import CopyStatus, DocType

# The ItemMapping fields that name status subfields, in the order they decide.
STATUS_SUBFIELDS = ("withdrawn", "lost", "on_loan")


@dataclass(frozen=True)
class ItemMapping:
    tag: str
    barcode: str
    call_number: str
    branch: tuple[str, ...]
    location: str = ""
    doc_type: str = ""
    collection: str = ""
    withdrawn: str = ""
    lost: str = ""
    on_loan: str = ""
    name: str = "custom"
    department: str = ""
    item_id: str = ""
    # The source's own number of the record, tag then subfield ("999c": Koha MARC21's
    # biblionumber): the record's key when it has nothing better (marcdata.record_id).
    record_number: str = ""

    @property
    def reads_status(self) -> bool:
        return any(getattr(self, name) for name in STATUS_SUBFIELDS)


PRESETS: dict[str, ItemMapping] = {
    "koha-marc21": ItemMapping(
        "952",
        barcode="p",
        call_number="o",
        branch=("b", "a"),
        location="c",
        doc_type="y",
        collection="8",
        withdrawn="0",
        lost="1",
        on_loan="q",
        name="koha-marc21",
        item_id="9",
        record_number="999c",
    ),
    "koha-unimarc": ItemMapping(
        "995",
        barcode="f",
        call_number="k",
        branch=("c", "b"),
        location="d",
        doc_type="r",
        withdrawn="0",
        lost="2",
        on_loan="n",
        name="koha-unimarc",
        item_id="9",
    ),
    "sirsi": ItemMapping(
        "949",
        barcode="i",
        call_number="a",
        branch=("m",),
        location="l",
        doc_type="t",
        name="sirsi",
    ),
}

# Item type codes seen in Sirsi, Koha and French exports. The cotesMEL 995$r codes
# (DI, CN, PL, MA, TR) are loan categories of printed pamphlets, so all books;
# reference and rare books are books (their location says they stay in the library).
_TYPE_CODES = {
    DocType.BOOK: "BOOK BOOKS BK LIVRE BOOK_RARE REFERENCE REF DI CN PL MA TR",
    DocType.CD: "SOUND CD MUSIC DISQUE",
    DocType.DVD: "VIDEO DVD BLURAY VIDEOCASS",
    DocType.SCORE: "MUSICSCORE SCORE PARTITION",
    DocType.PERIODICAL: "PERIODICAL SERIAL CR REVUE PERIODIQUE",
    DocType.COMIC: "COMIC BD MANGA",
    DocType.AUDIOBOOK: "AUDIOBOOK LIVRE-CD LIVRELU",
    DocType.GAME: "GAME JEU",
}
DEFAULT_TYPES: dict[str, str] = {code: kind for kind, codes in _TYPE_CODES.items() for code in codes.split()}


def detect_preset(record: pymarc.Record) -> ItemMapping | None:
    """The preset whose item tag the record holds (952 first: Koha may also use 949)."""
    for mapping in PRESETS.values():
        if record.get(mapping.tag) is not None:
            return mapping
    return None


def record_number_without_items(record: pymarc.Record) -> str:
    """Where the source's own number is in a record no preset was detected on (it has no
    item: all deleted at the source, or none ever, an e-book): Koha's 999$c when the 999
    is Koha's (its biblionumber and biblioitemnumber, no call number nor barcode, which
    a SirsiDynix 999 item field has). Else none."""
    fields = record.get_fields("999")
    koha = fields and all(f.get_subfields("c") and not f.get_subfields("a", "i") for f in fields)
    return PRESETS["koha-marc21"].record_number if koha else ""


def load_mapping(source: str | Path | Mapping) -> ItemMapping:
    """A custom mapping from a JSON file (or its parsed dict); raises ValueError."""
    data = load_json(source) if not isinstance(source, Mapping) else dict(source)
    base = {}
    if "preset" in data:
        preset = PRESETS.get(data.pop("preset"))
        if preset is None:
            raise ValueError(
                _("Unknown preset: choose one of %(presets)s.") % {"presets": ", ".join(PRESETS)}
            )
        base = dataclasses.asdict(preset)
    known = {f.name for f in dataclasses.fields(ItemMapping)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(
            _("Unknown keys in the item mapping: %(keys)s.") % {"keys": ", ".join(sorted(unknown))}
        )
    values = {"name": "custom", **base, **data}
    if isinstance(values.get("branch"), str):
        values["branch"] = (values["branch"],)
    values["branch"] = tuple(values.get("branch") or ())
    missing = [k for k in ("tag", "barcode", "call_number", "branch") if not values.get(k)]
    if missing:
        raise ValueError(_("The item mapping lacks: %(keys)s.") % {"keys": ", ".join(missing)})
    # A number or true where a subfield code belongs would silently read nothing: for
    # "lost", every lost item would import as on the shelf.
    not_text = sorted(k for k, v in values.items() if not isinstance(v, str) and k != "branch")
    if not_text:
        message = _("Subfield codes must be strings in the item mapping: %(keys)s.")
        raise ValueError(message % {"keys": ", ".join(not_text)})
    return ItemMapping(**values)


@dataclass(frozen=True)
class ItemData:
    """One item field read through a mapping; codes are cleaned, upper-case (status codes as is)."""

    barcode: str
    call_number: str
    branch_codes: tuple[str, ...]
    location: str
    doc_type: str
    collection: str
    status: str = ""  # a CopyStatus, or "" when the mapping reads no status
    status_codes: tuple[tuple[str, str], ...] = ()  # ("lost", "2"): the raw values that set it
    department: str = ""
    item_id: str = ""  # the source's own id of the item (Koha's itemnumber)

    def source_codes(self, tag: str) -> dict:
        codes = {"tag": tag, "branches": list(self.branch_codes), "location": self.location,
                 "department": self.department, "type": self.doc_type, "collection": self.collection,
                 **dict(self.status_codes)}  # fmt: skip
        return {k: v for k, v in codes.items() if v}


def read_items(record: pymarc.Record, mapping: ItemMapping) -> list[ItemData]:
    return [read_item(f, mapping) for f in record.get_fields(mapping.tag)]


def read_item(item_field: pymarc.Field, mapping: ItemMapping) -> ItemData:
    def get(code: str) -> str:
        return clean(item_field.get(code)) if code else ""

    return ItemData(
        # As it stands: the importer cleans it, and refuses one a damaged byte went into.
        barcode=(item_field.get(mapping.barcode) or "") if mapping.barcode else "",
        call_number=get(mapping.call_number),
        branch_codes=tuple(c for c in (clean_code(get(code)) for code in mapping.branch) if c),
        location=clean_code(get(mapping.location)),
        doc_type=clean_code(get(mapping.doc_type)),
        collection=clean_code(get(mapping.collection)),
        department=clean_code(get(mapping.department)),
        item_id=get(mapping.item_id),
        **read_status(get, mapping),
    )


def read_status(get: Callable[[str], str], mapping: ItemMapping) -> dict:
    """ItemData's status and status_codes (see the module docstring for the order)."""
    if not mapping.reads_status:
        return {}
    raw = {name: get(getattr(mapping, name)) for name in STATUS_SUBFIELDS}
    # Koha writes "0" ("not withdrawn", "not lost") on every item: a flag, not a code to keep.
    # A due date is any value.
    raw = {name: value for name, value in raw.items() if value and (name == "on_loan" or value != "0")}
    if "withdrawn" in raw:
        status = CopyStatus.WITHDRAWN
    elif "lost" in raw:
        status = CopyStatus.MISSING
    elif "on_loan" in raw:
        status = CopyStatus.ON_LOAN
    else:
        status = CopyStatus.ON_SHELF
    return {"status": status, "status_codes": tuple(raw.items())}


@dataclass(frozen=True)
class CodeMap:
    branches: dict[str, str] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping) -> CodeMap:
        # One file serves the network's imports: its patron categories are import_patrons'.
        data = {name: values for name, values in data.items() if name not in PATRON_SECTIONS}
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            message = _("Unknown sections in the code map: %(names)s.")
            raise ValueError(message % {"names": ", ".join(sorted(unknown))})
        sections = {}
        for name, values in data.items():
            if not isinstance(values, Mapping):
                message = _("The code map section %(name)s must be an object of code: code pairs.")
                raise ValueError(message % {"name": name})
            sections[name] = {clean_code(str(k)): str(v).strip() for k, v in values.items()}
        bad = {v for v in sections.get("types", {}).values() if v not in DocType.values}
        if bad:
            message = _("Unknown document types in the code map: %(types)s (choose from %(choices)s).")
            raise ValueError(
                message % {"types": ", ".join(sorted(bad)), "choices": ", ".join(DocType.values)}
            )
        return cls(**sections)

    def doc_type(self, code: str) -> str:
        """Our document type for a source item type code, or "" when unknown."""
        return self.types.get(code) or DEFAULT_TYPES.get(code, "")


def load_code_map(source: str | Path | Mapping | CodeMap | None) -> CodeMap:
    if source is None:
        return CodeMap()
    if isinstance(source, CodeMap):
        return source
    return CodeMap.from_dict(source if isinstance(source, Mapping) else load_json(source))


PATRON_SECTIONS = {"categories"}


def load_json(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(
            _("Cannot read %(path)s: %(error)s.") % {"path": path, "error": exc.strerror}
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValueError(_("%(path)s is not valid JSON: %(error)s.") % {"path": path, "error": exc}) from exc
    if not isinstance(data, dict):
        raise ValueError(_("%(path)s must hold a JSON object.") % {"path": path})
    return data
