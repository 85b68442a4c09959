"""Patron-facing catalogue search: one function, ``search_records``, for the page and the API
(and ``search_ids``, its ranked ids alone, for a row of tiles).

The text index is kept by the database (migration 0002_search): on PostgreSQL a
weighted tsvector column ``catalogue_record.search_vector`` (title A, author and series B,
subjects C, summary and publisher D) under the ``french_unaccent`` configuration; on
SQLite the FTS5 table ``catalogue_record_fts``. Neither is a Django field, so the
queries here are SQL, written once for both engines apart from the text match itself
and the branch counts: PostgreSQL reads where a record's copies are from the record's
own summary (``copy_branches``, ``shelf_branches``, kept by triggers: migrations 0007 and 0011),
SQLite from the copies.

A search costs a fixed number of queries whatever the size of the catalogue: one
statement for the ranked page of ids, the total and every facet count, then the
branches, then the page's records with their copies (and, when nothing matched, one
probe of the words without the filters, or the look-up of the closest known words and
one more search).
"""

import difflib
import itertools
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Func, TextField, Value
from django.db.models.functions import NullIf
from django.utils.translation import gettext_lazy as _

from emporter.folding import fold
from emporter.network.models import LENDING_MODES

from .models import Audience, CopyStatus, DocType, Record

MAX_QUERY_LENGTH = 200
MAX_WORDS = 12
# A shorter last word is matched whole: "a:*" would expand to half the dictionary.
PREFIX_MIN_LENGTH = 3
# On SQLite, which does not stem, any word this long is looked up as a prefix.
PREFIX_MIN_STEM = 4
PER_PAGE = 20
MAX_PAGE = 10_000
# Beyond this many matches ("roman", "histoire"), the ranking, the facets and the total
# are those of the first SAMPLE matches the index yields (exact titles first), so that
# a one-word query costs tens of milliseconds, not seconds, on a million records.
SAMPLE = 10_000
# How alike (pg_trgm word similarity) a title must be to stand in for a misspelt query.
TYPO_THRESHOLD = 0.5
# How alike (pg_trgm similarity) a known word must be to replace an unknown one:
# "labirinthe" → "labyrinthe" is 0.57, "frendly" → "friendly" 0.55, "aneaux" → "aux" 0.38.
CORRECTION_THRESHOLD = 0.45
# The same on SQLite, with difflib's ratio: "labirinthe" → "labyrinthe" is 0.9.
SQLITE_CORRECTION_CUTOFF = 0.8
# Close words kept for each unknown word, and at most this many combinations tried.
SQLITE_CANDIDATES = 3
SQLITE_PROBES = 9
# Long fields a result line does not show (the record page reads them).
HIT_DEFERRED = ("summary", "subjects")

SEARCH_FIELDS = {
    "all": _("Everything"),
    "title": _("Title"),
    "author": _("Author"),
    "subject": _("Subject"),
    "isbn": _("ISBN / EAN"),
    "call_number": _("Call number"),
}

# MARC language codes (ISO 639-2/B) seen in library catalogues.
LANGUAGES = {
    "fre": _("French"),
    "eng": _("English"),
    "ger": _("German"),
    "spa": _("Spanish"),
    "ita": _("Italian"),
    "por": _("Portuguese"),
    "ara": _("Arabic"),
    "chi": _("Chinese"),
    "jpn": _("Japanese"),
    "rus": _("Russian"),
    "lat": _("Latin"),
    "dut": _("Dutch"),
    "mul": _("Several languages"),
    "zxx": _("No linguistic content"),
    "und": _("Undetermined"),
}

WORD = re.compile(r"[^\W_]+")
# French articles, elisions and function words, folded: a query needs none of them ("les
# chemins de fer du nord" finds "Chemins de fer -- Nord"). PostgreSQL's French stop list
# leaves out "les" (read as "le") and "à" (read as "a" once unaccented); FTS5 has none.
STOP_WORDS = frozenset(
    {"a", "au", "aux", "c", "d", "de", "des", "du", "en", "et", "j", "l", "la", "le", "les", "m", "n", "ou"}
    | {"qu", "s", "t", "un", "une"}
)
# Typed before a volume's number ("tome 3", "t. 3", "vol. 3", "n° 3"): the series says "; 3".
VOLUME_WORDS = frozenset({"n", "no", "num", "numero", "t", "tome", "vol", "volume"})
# A title's first word that its exact match may leave out ("Étranger" is "L'Étranger"):
# the same list as emporter_title_key (migration 0019).
LEADING_ARTICLE = re.compile(r"^(?:l|le|la|les|un|une|des|the|a|an) ")
# What a UPC-A (12 digits, on CDs and DVDs) becomes as the EAN-13 catalogues hold.
UPC_LENGTH = 12
# "ISBN 978-2-…", "ISBN : 2-07-…", "EAN13: …": a label copied with the number.
# (The 10 or 13 of "ISBN-13" is no ISBN-10's first digits: one of those never follows.)
IDENTIFIER_LABEL = re.compile(r"^(?:isbn|ean|upc)(?:[\s-]?1[03](?![\dXx]))?\s*:?\s*", re.IGNORECASE)
ISBN_CHARS = re.compile(r"[\d\s-]*[\dXx]")
LIKE_SPECIAL = re.compile(r"([\\%_])")
# Letters a call number may hold with an accent or in a ligature (folded: "e" for "É", "Œ").
# A class code opening a call number: "R", "BD", "DVD", "JR" (letters only).
CLASS_CODE = re.compile(r"[^\W\d_]{1,3}")
# After every other character, in SQLite's comparison of strings (their UTF-8 bytes).
LAST_CHARACTER = chr(0x10FFFF)
LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


@dataclass(frozen=True)
class Filters:
    doc_type: str = ""
    audience: str = ""
    language: str = ""
    branch_id: int | None = None
    # With a branch: available *there*.
    available: bool = False

    def __bool__(self) -> bool:
        return bool(self.doc_type or self.audience or self.language or self.branch_id or self.available)


@dataclass
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class Hit:
    record: Record
    copies: int
    available: int
    # Names of the branches with a copy on the shelf, central library first.
    available_at: list[str]
    # Translated once per search rather than by get_doc_type_display() for every hit.
    doc_type_label: str = ""
    audience_label: str = ""
    # Copies a request could ever be served from (``Copy.objects.lendable()``): none, and
    # the title is to consult on site, or has no copy yet.
    lendable: int = 0


@dataclass
class SearchResult:
    q: str
    field: str
    filters: Filters
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    available_count: int = 0
    # True when nothing matched the words and these are look-alike titles (typos).
    approximate: bool = False
    # When the words matched nothing but their closest known words did: those words.
    corrected: str = ""
    # When more than SAMPLE records matched: the sample's size (total and facets count it).
    sample: int = 0
    # True when the words match documents but none passes the filters: nothing was
    # corrected, and removing a filter finds them.
    filtered_out: bool = False
    # True when every word is a function word ("le", "c", "la les") and no title is
    # those words: only such a title is looked for (the page asks for another word).
    common_words_only: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def searched(self) -> bool:
        return bool(self.q or self.filters)


@dataclass
class Match:
    """How a query selects records (WHERE over alias ``r``) and ranks them."""

    where: str
    params: list
    score: str = "0"
    score_params: list = field(default_factory=list)
    join: str = ""
    join_params: list = field(default_factory=list)
    # An array of ids (SQL) of the records titled exactly as typed: first in the sample,
    # whatever its size, and ranked above every other match. And the sample's order.
    exact: str = ""
    exact_params: list = field(default_factory=list)
    sample_order: str = ""
    # Orders equal scores, before the newest record: the shortest title, for words typed.
    tiebreak: str = "0"


def search_records(
    *, q: str, field: str = "all", filters: Filters | None = None, page: int = 1, per_page: int = PER_PAGE
) -> SearchResult:
    """Records matching ``q`` in ``field`` (a SEARCH_FIELDS key) and ``filters``, best first.

    Any string is a safe query: only its words reach the engines. With neither words nor
    filters nothing is searched (``result.searched`` is false). When the words match
    nothing, each unknown word is replaced by the closest known one and the search runs
    again (``result.corrected``); failing that, on PostgreSQL, titles and authors that
    look like the query are shown. Either way ``result.approximate`` is true. When the
    words match but the filters leave nothing, nothing is corrected: the result is empty
    and ``result.filtered_out`` says so.
    """
    q = _clean(q)
    field = field if field in SEARCH_FIELDS else "all"
    filters = filters or Filters()
    result = SearchResult(q=q, field=field, filters=filters, per_page=per_page)
    if not result.searched:
        return result
    # Function words alone ("le", "c", "la les"): PostgreSQL's French dictionary drops
    # them (nothing was found, and the page said to try another spelling), SQLite's index
    # keeps them (every title holding "le"). Both look for the title they are ("La"),
    # and failing that the patron is asked for another word.
    common = field in ("all", "title", "author", "subject") and _common_words_only(q)
    if not common:
        match = _match(q, field)
    elif field in ("all", "title"):
        match = _exact_title_match(q)
    else:
        match = Match(where="1 = 0", params=[])
    # Clamped so that no offset overflows an engine's integers; later fixed to the last page.
    offset = (min(max(1, page), MAX_PAGE) - 1) * per_page
    counts, ids = _search(match, filters, offset=offset, limit=per_page)
    if not counts["total"][""] and common:
        result.common_words_only = True
    elif not counts["total"][""] and q:
        # One more look, unfiltered, and only now: do the words themselves match anything?
        result.filtered_out = bool(filters) and _matches_any(match)
        instead = None if result.filtered_out else _instead(q, field, filters, offset=offset, limit=per_page)
        if instead:
            match, counts, ids, result.corrected, result.filtered_out = instead
            result.approximate = True
    result.total = counts.pop("total")[""]
    result.sample = SAMPLE if result.total > SAMPLE else 0
    result.available_count = counts.pop("available").get("", 0)
    # (name, is central) by id: model instances would cost more than the facets they label.
    # Only lending branches: a closed library's copies cannot be had, so it is no choice.
    branches = _lending_branches()
    result.facets = _facet_values(counts, branches)
    result.page = min(max(1, page), result.pages)
    if not ids and result.total:  # past the last page: show the last one
        _, ids = _search(match, filters, offset=(result.page - 1) * per_page, limit=per_page)
    result.hits = _hits(ids, branches)
    return result


@dataclass
class TopIds:
    """What ``search_ids`` found: the best ids, best first, and how many records matched,
    counted up to the sample's size + 1 (more than the sample is "many")."""

    ids: list[int]
    matched: int


def search_ids(
    *,
    q: str,
    field: str = "all",
    filters: Filters | None = None,
    limit: int = PER_PAGE,
    sample: int | None = None,
    whole_words: bool = False,
) -> TopIds:
    """The ids of the ``limit`` best matches of ``q`` in ``field``, ranked as ``search_records``
    ranks them within the first ``sample`` (default SAMPLE) matches, in one statement: no total, no facet,
    no record read, no correction of the words. For a row of tiles ("more like this"),
    where a page's counts would cost more than the row.

    ``whole_words``: the last word is not looked up as a prefix, as a query being typed
    is: a heading or a name is whole ("Albums" is no "albumine"), and the index reads
    fewer entries (76 ms down to 42 ms for "Albums" on a million records)."""
    q = _clean(q)
    if not q:
        return TopIds(ids=[], matched=0)
    match = _match(q, field if field in SEARCH_FIELDS else "all", whole_words=whole_words)
    ctes, params = _matched(match, filters or Filters(), sample=sample)
    top = "SELECT id, (SELECT COUNT(*) FROM m) FROM m ORDER BY score DESC, tiebreak, id DESC LIMIT %s"
    rows = _fetch(f"WITH {ctes} {top}", [*params, limit])
    return TopIds(ids=[int(pk) for pk, _ in rows], matched=int(rows[0][1]) if rows else 0)


def _clean(q: str) -> str:
    # Control characters (NUL above all) are refused by PostgreSQL: never part of a word.
    return " ".join("".join(c for c in q if c.isprintable() or c.isspace()).split())[:MAX_QUERY_LENGTH]


def _instead(q: str, field: str, filters: Filters, *, offset: int, limit: int):
    """When the words match nothing at all: the search for the closest known words
    (match, counts, page, those words, whether the filters left nothing of it), else for
    titles that look like the query; None when neither finds anything."""
    if corrected := _corrected(q, field):
        fixed = _match(corrected, field)
        counts, ids = _search(fixed, filters, offset=offset, limit=limit)
        if counts["total"][""]:
            return fixed, counts, ids, corrected, False
        if filters and _matches_any(fixed):
            return fixed, counts, ids, corrected, True
    if fuzzy := _fuzzy_match(q, field):
        counts, ids = _search(fuzzy, filters, offset=offset, limit=limit)
        if counts["total"][""]:
            return fuzzy, counts, ids, "", False
    return None


def _matches_any(match: Match) -> bool:
    """Whether the query matches any record, whatever the filters: one probe of the index."""
    where, params = match.where, match.join_params + match.params
    if match.exact:
        where, params = f"({where} OR r.id = ANY({match.exact}))", params + match.exact_params
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM catalogue_record r {match.join} WHERE {where} LIMIT 1", params)
        return cursor.fetchone() is not None


def _lending_branches() -> dict[int, tuple[str, bool]]:
    """(name, is central) of the lending branches, by id. In SQL: the ORM spends four
    times as long building this query as the database answering it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lb.id, lb.name, lb.is_central FROM network_branch lb WHERE lb.service_mode IN (%s, %s)",
            _lending_params(),
        )
        return {pk: (name, bool(central)) for pk, name, central in cursor.fetchall()}


# -- Text matching --------------------------------------------------------------------


def words(q: str) -> list[str]:
    """The words of a query: letters and digits only, so no operator ever reaches an engine.

    Without the articles and function words a record need not hold, unless nothing else
    is left ("Les Uns et les autres" keeps "uns" and "autres"; "le" alone stays), and
    without "tome" or "vol." before a number."""
    terms = WORD.findall(q)
    folded = [_fold(term) for term in terms]
    kept = [
        term
        for n, (term, word) in enumerate(zip(terms, folded, strict=True))
        if word not in STOP_WORDS
        and not (word in VOLUME_WORDS and n + 1 < len(terms) and folded[n + 1].isdigit())
    ]
    return (kept or terms)[:MAX_WORDS]


def _exact_title_match(q: str) -> Match:
    """The records titled ``q`` alone, as ``_postgres_text_match`` puts them first (the
    title-key index on PostgreSQL; the same key, from Python, on SQLite)."""
    if not _postgres():
        _sqlite_functions()
    return Match(
        where="emporter_title_key(r.title) = nullif(emporter_title_key(%s), '')",
        params=[q],
        tiebreak="length(r.title)",
    )


def _common_words_only(q: str) -> bool:
    terms = [_fold(word) for word in WORD.findall(q)]
    return bool(terms) and all(term in STOP_WORDS for term in terms)


def _all_words(q: str) -> list[str]:
    """Every word of a query, function words included: what a correction is shown with."""
    return WORD.findall(q)[:MAX_WORDS]


def _match(q: str, field: str, *, whole_words: bool = False) -> Match:
    if not q:
        # Browsing by facets alone: the newest records first.
        return Match(where="1 = 1", params=[], sample_order="r.id DESC")
    if field == "isbn":
        return _identifier_match(q) or Match(where="1 = 0", params=[])
    if field == "call_number":
        return _call_number_match(q, prefix=True)
    text = (_postgres_text_match if _postgres() else _sqlite_text_match)(q, field, whole_words=whole_words)
    if field != "all":
        return text
    # "Everything" also looks up identifiers, which the text index does not hold whole.
    extra = [m for m in (_identifier_match(q), _call_number_match(q, prefix=_looks_like_call_number(q))) if m]
    return Match(
        where="(" + " OR ".join([text.where] + [m.where for m in extra]) + ")",
        params=text.params + [p for m in extra for p in m.params],
        score=" + ".join([text.score] + [m.score for m in extra]),
        score_params=text.score_params + [p for m in extra for p in m.score_params],
        join=text.join,
        join_params=text.join_params,
        exact=text.exact,
        exact_params=text.exact_params,
        tiebreak=text.tiebreak,
    )


def _postgres_text_match(q: str, field: str, *, whole_words: bool = False) -> Match:
    weights = {"title": "A", "author": "B", "subject": "C"}.get(field, "")
    query, params, whole, whole_params = _tsquery_sql(words(q), weights=weights, whole_words=whole_words)
    if not query:
        return Match(where="1 = 0", params=[])
    score, score_params = text_score(query, params, whole, whole_params)
    # The title typed whole is looked up once, in the title-key index (migration 0019):
    # its letters and digits, folded, without a leading article ("l etranger" is
    # "L'Étranger"). Keying every matched title would cost more than ranking it.
    exact = field in ("all", "title")
    return Match(
        where=f"r.search_vector @@ {query}",
        params=list(params),
        score=score,
        score_params=score_params,
        exact="ARRAY(SELECT e.id FROM catalogue_record e"
        " WHERE emporter_title_key(e.title) = nullif(emporter_title_key(%s), '') LIMIT 100)"
        if exact
        else "",
        exact_params=[q] if exact else [],
        tiebreak="length(r.title)",
    )


def text_score(query: str, params: list, whole: str, whole_params: list) -> tuple[str, list]:
    """The rank of a record ``r`` that ``_tsquery_sql``'s query matched, and its parameters.

    ts_rank_cd(…, 32) lies in [0, 1): halved, and a whole-word match lifted by 0.5, every
    record holding the words typed outranks one that only holds a word the last one
    begins ("petit" above "petitesse"); still below an exact title (+ 1). Whole-word
    matches rank by the whole words (an OR spoils the cover density)."""
    if not whole:
        return f"ts_rank_cd(r.search_vector, {query}, 32)", list(params)
    return (
        f"CASE WHEN r.search_vector @@ {whole} THEN 0.5 + ts_rank_cd(r.search_vector, {whole}, 32) / 2"
        f" ELSE ts_rank_cd(r.search_vector, {query}, 32) / 2 END",
        [*whole_params, *whole_params, *params],
    )


FRENCH_TSQUERY = "to_tsquery('public.french_unaccent', %s)"
# The prefix of the last word is the word as typed, folded, not its French stem:
# to_tsquery('french_unaccent', 'petit:*') is 'pet':* (Peterson, Pétrarque), 'louis:*'
# 'lou':* (Le Loup). The 'simple' configuration keeps the folded word as it is, and the
# lexemes it is a prefix of are the search vector's own (stems are the start of their
# words): the same GIN index answers both. Folded by emporter_fold(), the unaccent the
# vector was written through ("łód" is "lod", "straß" "strass"), then quoted as one
# lexeme (a quote or backslash unaccent might write is dropped). The parameters: the
# word, then ":*" and the weights.
SIMPLE_TSQUERY = r"to_tsquery('simple', '''' || translate(emporter_fold(%s), '''\', '') || '''' || %s)"


def _tsquery_sql(
    terms: list[str], weights: str = "", *, whole_words: bool = False
) -> tuple[str, list, str, list]:
    """The tsquery of the words, in SQL, and its parameters; then, when the last word may
    be unfinished, the tsquery of the words all whole (which ranks higher) and its own.

    Every word but the last is matched whole (its French stem). The last one, when it
    may be unfinished (typed on a phone) and is no function word, matches its stem or,
    as a prefix, the word as typed: ``'w1':A & ('w2':A | 'w2 folded':*A)``."""
    whole = _tsquery(terms, weights)
    if not whole:
        return "", [], "", []
    if whole_words or not _prefix_last(terms):
        return FRENCH_TSQUERY, [whole], "", []
    head = _tsquery(terms[:-1], weights)
    last = f"({FRENCH_TSQUERY} || {SIMPLE_TSQUERY})"
    params = [_tsquery(terms[-1:], weights), terms[-1], f":*{weights}"]
    if head:
        return f"({FRENCH_TSQUERY} && {last})", [head, *params], FRENCH_TSQUERY, [whole]
    return last, params, FRENCH_TSQUERY, [whole]


def _tsquery(terms: list[str], weights: str = "") -> str:
    """``'w1':A & 'w2':A``, every word whole, for ``to_tsquery('public.french_unaccent', …)``."""
    return " & ".join(f"'{t}':{weights}" if weights else f"'{t}'" for t in terms)


def _prefix_last(terms: list[str]) -> bool:
    """Whether the last word may be unfinished and looked up as a prefix: long enough
    ("a:*" would expand to half the dictionary), and no function word ("le la les" is
    left only when the query holds nothing else: "les:*" is every "lesson" and "lestrade")."""
    last = _fold(terms[-1])
    return len(last) >= PREFIX_MIN_LENGTH and last not in STOP_WORDS


def _sqlite_text_match(q: str, field: str, *, whole_words: bool = False) -> Match:
    column = {"title": "title", "author": "responsibility", "subject": "subjects"}.get(field, "")
    terms = words(q)
    expression = _fts5_query(terms, column=column, whole_words=whole_words)
    if not expression:
        return Match(where="1 = 0", params=[])
    _sqlite_functions()
    # bm25 is negative, lower is better; weights follow PostgreSQL's A > B > C > D.
    join = (
        "LEFT JOIN (SELECT rowid AS record_id, -bm25(catalogue_record_fts, 10.0, 4.0, 2.0, 1.0) AS rank"
        " FROM catalogue_record_fts WHERE catalogue_record_fts MATCH %s) AS f ON f.record_id = r.id"
    )
    # The title typed whole, as PostgreSQL's emporter_title_key compares it.
    score = "coalesce(f.rank, 0) + CASE WHEN emporter_title_key(r.title) = %s THEN 1000 ELSE 0 END"
    join_params = [expression]
    if not column:
        # bm25 makes a word found everywhere worth nothing: in a jazz collection "Bird is
        # free" outranked "Free jazz". A title holding every word comes first, as
        # PostgreSQL's ranking has it.
        join += (
            " LEFT JOIN (SELECT rowid AS record_id FROM catalogue_record_fts"
            " WHERE catalogue_record_fts MATCH %s) AS t ON t.record_id = r.id"
        )
        join_params.append(_fts5_query(terms, column="title"))
        score += " + CASE WHEN t.record_id IS NULL THEN 0 ELSE 500 END"
    return Match(
        where="f.rank IS NOT NULL",
        params=[],
        join=join,
        join_params=join_params,
        score=score,
        score_params=[_title_key(q) or None],
        tiebreak="length(r.title)",
    )


def records_titled(title: str):
    """The records titled ``title``, give or take capitals, accents, punctuation and a
    leading article, through the title-key index (migration 0019) on PostgreSQL."""
    if not _postgres():
        _sqlite_functions()
    return Record.objects.annotate(title_key=TitleKey("title")).filter(
        title_key=NullIf(TitleKey(Value(title)), Value(""))
    )


class TitleKey(Func):
    """emporter_title_key(): the function the title-key index is built on (PostgreSQL) or
    its Python twin ``_title_key`` (SQLite)."""

    function = "emporter_title_key"
    output_field = TextField()


def _sqlite_functions() -> None:
    """The title key as a function of this SQLite connection (PostgreSQL has it in SQL)."""
    connection.ensure_connection()
    connection.connection.create_function("emporter_title_key", 1, _title_key, deterministic=True)


def _title_key(title: str | None) -> str | None:
    """A title's letters and digits, folded, without a leading article: "L'Étranger",
    "l etranger" and "L’ÉTRANGER" are "etranger"."""
    if title is None:
        return None
    return LEADING_ARTICLE.sub("", " ".join(WORD.findall(_fold(title))))


def _fts5_query(terms: list[str], column: str = "", *, whole_words: bool = False) -> str:
    """Every word quoted, so FTS5 reads AND, NOT, NEAR, "-" or "*" as plain text.

    FTS5 has no French stemmer (PostgreSQL's french_unaccent has): a French plural is
    looked up as a prefix of its singular ("chevaux" as "cheva*", finding "cheval"), and
    a word of PREFIX_MIN_STEM letters or more as a prefix ("chemin" finds "chemins"),
    so the embedded catalogue finds what the production one does, give or take. The
    index folds œ and æ (migration 0018): so do the words."""
    if not terms:
        return ""
    parts = []
    for term in map(_ligatures, terms):
        singular = _french_singular(term)
        prefix = singular != term or len(term) >= PREFIX_MIN_STEM
        parts.append(f'"{singular}"*' if prefix else f'"{term}"')
    if _prefix_last(terms) and not parts[-1].endswith("*") and not whole_words:
        parts[-1] += "*"
    expression = " AND ".join(parts)
    return f"{{{column}}} : ({expression})" if column else expression


def _french_singular(term: str) -> str:
    """The start every form of a French plural shares with its singular: "chevaux" →
    "cheva" (cheval), "journaux" → "journa", "statistiques" → "statistique"."""
    if len(term) > 4 and term.lower().endswith("aux"):
        return term[:-2]
    if len(term) > 3 and term[-1] in "sxSX":
        return term[:-1]
    return term


def _identifier_match(q: str) -> Match | None:
    """ISBN or EAN, typed with or without hyphens, after a label or not ("ISBN : …"); a
    partial ISBN matches as a prefix, a UPC (12 digits) as the EAN-13 it is stored as."""
    q = IDENTIFIER_LABEL.sub("", q)
    if not ISBN_CHARS.fullmatch(q):
        return None
    digits = re.sub(r"[\s-]", "", q).upper()
    if len(digits) < 6:
        return None
    candidates = [digits] + ([isbn10_to_13(digits)] if len(digits) == 10 else [])
    eans = [digits] + (["0" + digits] if len(digits) == UPC_LENGTH else [])
    where = " OR ".join(["r.isbn LIKE %s"] * len(candidates) + ["r.ean = %s"] * len(eans))
    return Match(
        where=f"({where})",
        params=[_like_prefix(c) for c in candidates] + eans,
        score="CASE WHEN r.isbn = %s OR r.ean = %s OR r.ean = %s THEN 2 ELSE 0 END",
        score_params=[candidates[-1], eans[0], eans[-1]],
    )


def isbn10_to_13(isbn10: str) -> str:
    core = "978" + isbn10[:9]
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(core)) % 10) % 10
    return core + str(check)


def _looks_like_call_number(q: str) -> bool:
    """Whether "Everything" also looks ``q`` up as the start of a call number: "843 ZOL",
    "J 590", "8°007.775" (a digit or a dot says shelf mark), or a short class code then
    more ("R ROW", "BD GOS", "DVD F HIT"); "BD" alone is a word. A query that is no call
    number costs one probe of the call-number index (PostgreSQL) that finds nothing."""
    if len(q) < 3:
        return False
    if any(c.isdigit() or c == "." for c in q):
        return True
    first, _, rest = q.partition(" ")
    return bool(rest) and CLASS_CODE.fullmatch(first) is not None


def _call_number_match(q: str, *, prefix: bool) -> Match:
    """Copies whose call number is, or starts with, ``q``, both folded by emporter_fold()
    (lower case, no accent: "r ech" finds "R ÉCH"), through an index on
    emporter_fold(call_number) on either engine (migration 0022).

    PostgreSQL folds the query itself, as it folded the call numbers (unaccent leaves
    "º" alone where Python's NFKD makes it an "o"). Both engines read a range of the
    index, from the folded query to the last string starting with it, compared byte by
    byte as the index (text_pattern_ops on PostgreSQL) orders them. A LIKE would read the
    same range and then fold every copy's call number again to check it: "R BAR" is
    13,500 copies in the bench's catalogue, and that check took two thirds of the scan."""
    if _postgres():
        # ANY(ARRAY(subquery)) runs the subquery once and lets PostgreSQL OR it with the
        # full-text index (a bitmap scan) instead of testing every record against it.
        if prefix:
            where = (
                "emporter_fold(c.call_number) ~>=~ emporter_fold(%s)"
                " AND emporter_fold(c.call_number) ~<~ (emporter_fold(%s) || %s)"
            )
            params = [q, q, LAST_CHARACTER]
        else:
            where, params = "emporter_fold(c.call_number) = emporter_fold(%s)", [q]
        subquery = f"SELECT c.record_id FROM catalogue_copy c WHERE {where}"
        return Match(where=f"r.id = ANY(ARRAY({subquery}))", params=params)
    folded = fold(q)
    if not prefix:
        subquery = "SELECT c.record_id FROM catalogue_copy c WHERE emporter_fold(c.call_number) = %s"
        return Match(where=f"r.id IN ({subquery})", params=[folded])
    subquery = (
        "SELECT c.record_id FROM catalogue_copy c"
        " WHERE emporter_fold(c.call_number) >= %s AND emporter_fold(c.call_number) < %s"
    )
    return Match(where=f"r.id IN ({subquery})", params=[folded, folded + LAST_CHARACTER])


def _like_prefix(value: str) -> str:
    return LIKE_SPECIAL.sub(r"\\\1", value) + "%"


def _corrected(q: str, field: str) -> str:
    """``q`` with each word the catalogue does not know replaced by the known word most like it.

    "" when no word needed, or found, a replacement. PostgreSQL knows the words of
    titles, authors, series (migration 0008) and subjects (migration 0020); SQLite those
    of its full-text index (migration 0010). Only for the fields those words come from.
    """
    terms = _all_words(q)
    if not terms or field not in ("all", "title", "author", "subject"):
        return ""
    replacements = _postgres_corrections(terms) if _postgres() else _sqlite_corrections(terms, field)
    if not replacements:
        return ""
    return " ".join(replacements.get(i, term) for i, term in enumerate(terms))


def _postgres_corrections(terms: list[str]) -> dict[int, str]:
    with connection.cursor() as cursor:
        # Only this query uses the similarity operator: the session setting is harmless.
        cursor.execute("SET pg_trgm.similarity_threshold = %s", [CORRECTION_THRESHOLD])
        cursor.execute(
            """
            SELECT t.n, (SELECT w.word FROM catalogue_search_word w WHERE w.word %% t.folded
                          ORDER BY similarity(w.word, t.folded) DESC, w.word LIMIT 1)
              FROM (SELECT n, emporter_fold(term) AS folded
                      FROM unnest(CAST(%s AS text[])) WITH ORDINALITY AS u(term, n)) AS t
             WHERE length(t.folded) >= %s
               AND NOT EXISTS (SELECT 1 FROM catalogue_search_word w WHERE w.word = t.folded)
            """,
            [terms, PREFIX_MIN_LENGTH],
        )
        return {n - 1: word for n, word in cursor.fetchall() if word}


def _sqlite_corrections(terms: list[str], field: str) -> dict[int, str]:
    """difflib over the index's words of about the same length: fine for the embedded
    catalogue (the demo's thousands of words), not meant for millions.

    Each unknown word has up to SQLITE_CANDIDATES close words; the likeliest combination
    that finds something wins ("harri poter" is "harry potter", not "harris potter",
    though "harris" is closer to "harri"), after SQLITE_PROBES looks at the index at most;
    when none finds anything, the likeliest one."""
    folded = [_fold(term) for term in terms]
    wanted = [i for i, word in enumerate(folded) if len(word) >= PREFIX_MIN_LENGTH]
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(wanted))
        cursor.execute(
            f"SELECT term FROM catalogue_record_fts_vocab WHERE term IN ({placeholders})",
            [folded[i] for i in wanted],
        )
        known = {row[0] for row in cursor.fetchall()}
        unknown = [i for i in wanted if folded[i] not in known]
        if not unknown:
            return {}
        lengths = [len(folded[i]) for i in unknown]
        cursor.execute(
            "SELECT term FROM catalogue_record_fts_vocab WHERE length(term) BETWEEN %s AND %s",
            [min(lengths) - 2, max(lengths) + 2],
        )
        candidates = [row[0] for row in cursor.fetchall()]
    options = {}
    for i in unknown:
        close = difflib.get_close_matches(
            folded[i], candidates, n=SQLITE_CANDIDATES, cutoff=SQLITE_CORRECTION_CUTOFF
        )
        if close:
            options[i] = [(word, difflib.SequenceMatcher(None, folded[i], word).ratio()) for word in close]
    if not options:
        return {}
    # Fewer choices for the last words until the combinations are few (3 × 3 for two words).
    for i in reversed(options):
        while math.prod(map(len, options.values())) > SQLITE_PROBES and len(options[i]) > 1:
            options[i].pop()
    combinations = sorted(
        itertools.product(*options.values()), key=lambda combination: -sum(score for _, score in combination)
    )
    column = {"title": "title", "author": "responsibility", "subject": "subjects"}.get(field, "")
    with connection.cursor() as cursor:
        for combination in combinations:
            replacements = dict(zip(options, (word for word, _ in combination), strict=True))
            corrected = [replacements.get(i, term) for i, term in enumerate(terms)]
            cursor.execute(
                "SELECT 1 FROM catalogue_record_fts WHERE catalogue_record_fts MATCH %s LIMIT 1",
                [_fts5_query(words(" ".join(corrected)), column=column)],
            )
            if cursor.fetchone():
                return replacements
    return dict(zip(options, (word for word, _ in combinations[0]), strict=True))


def _fold(word: str) -> str:
    """Lower case without accents, as FTS5's unicode61 tokenizer (remove_diacritics 2) reads
    the index, whose œ and æ are written oe and ae (migration 0018)."""
    decomposed = unicodedata.normalize("NFKD", _ligatures(word.lower()))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _ligatures(word: str) -> str:
    """œ and æ as two letters: PostgreSQL's unaccent writes them so, FTS5 keeps them whole."""
    return word.translate(LIGATURES)


def _fuzzy_match(q: str, field: str) -> Match | None:
    """Typos: titles and authors that look like the query (PostgreSQL's pg_trgm)."""
    if not _postgres() or len(q) < PREFIX_MIN_LENGTH or field not in ("all", "title", "author"):
        return None
    # pg_trgm's default (0.6) misses the commonest slip, "labirinthe" for "labyrinthe"
    # (0.57). Only this fallback uses the operator, so the session setting is harmless.
    with connection.cursor() as cursor:
        cursor.execute("SET pg_trgm.word_similarity_threshold = %s", [TYPO_THRESHOLD])
    # The trigram index covers title and author together; a field search rechecks its own.
    target = "emporter_fold(r.title || ' ' || r.responsibility)"
    where, params = f"{target} %%> emporter_fold(%s)", [q]
    if column := {"title": "r.title", "author": "r.responsibility"}.get(field):
        where += f" AND emporter_fold({column}) %%> emporter_fold(%s)"
        params.append(q)
    return Match(
        where=where, params=params, score=f"word_similarity(emporter_fold(%s), {target})", score_params=[q]
    )


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# -- Filters, counts, page ------------------------------------------------------------


# The branches that lend (network.models.LENDING_MODES), read once per statement (an
# InitPlan): a copy on the shelf of a closed library is not "available".
LENDING_SELECT = "SELECT lb.id FROM network_branch lb WHERE lb.service_mode IN (%s, %s)"
LENDING_IDS = f"ARRAY({LENDING_SELECT})"
# A copy a request could take from its shelf: ``Copy.objects.requestable()`` in SQL (a
# test holds the two together). Read from the copies for the page's records on both
# engines and for SQLite's counts; PostgreSQL's counts read the same from the records'
# summary (migration 0011). Parameters: the on-shelf status.
# A copy that is, or may come back, on a shelf a request takes from:
# ``Copy.objects.lendable()`` in SQL (the same test holds it). Parameter: the withdrawn status.
_LENT_FROM_ITS_SHELF = (
    "c.barcode IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM network_location l WHERE l.id = c.location_id AND NOT l.requestable)"
)
COPY_LENDABLE = f"c.status <> %s AND {_LENT_FROM_ITS_SHELF}"
COPY_REQUESTABLE = f"c.status = %s AND {_LENT_FROM_ITS_SHELF}"


def _lending_params() -> list[str]:
    return [str(mode) for mode in LENDING_MODES]


def _filter_sql(filters: Filters) -> tuple[str, list]:
    sql, params = [], []
    for column in ("doc_type", "audience", "language"):
        if value := getattr(filters, column):
            sql.append(f"r.{column} = %s")
            params.append(value)
    if _postgres():
        # The record's own summary of where its copies are (migration 0007).
        if filters.branch_id and filters.available:  # on the shelf there, and it lends
            sql.append(f"r.shelf_branches @> ARRAY[%s]::bigint[] AND %s::bigint = ANY({LENDING_IDS})")
            params += [filters.branch_id, filters.branch_id, *_lending_params()]
        elif filters.branch_id:
            sql.append("r.copy_branches @> ARRAY[%s]::bigint[]")
            params.append(filters.branch_id)
        elif filters.available:
            sql.append(f"r.shelf_branches && {LENDING_IDS}")
            params += _lending_params()
    elif filters.branch_id or filters.available:
        copy = ["c.record_id = r.id"]
        if filters.branch_id:
            copy.append("c.branch_id = %s")
            params.append(filters.branch_id)
        if filters.available:
            copy.append(f"{COPY_REQUESTABLE} AND c.branch_id IN ({LENDING_SELECT})")
            params += [CopyStatus.ON_SHELF, *_lending_params()]
        sql.append(f"EXISTS (SELECT 1 FROM catalogue_copy c WHERE {' AND '.join(copy)})")
    return "".join(f" AND {s}" for s in sql), params


def _search(match: Match, filters: Filters, *, offset: int, limit: int) -> tuple[dict, list[int]]:
    """The total, every facet's counts and one ranked page, in one statement.

    The matched set is computed (and ranked) once, into the CTE ``m`` (``_matched``); the
    page and the counts all read it. Where the copies are comes from each record's
    summary on PostgreSQL (migration 0007), from the covering index catalogue_copy_facets
    on SQLite (migration 0003).
    """
    summary, summary_params = _summary_columns(filters)
    ctes, params = _matched(
        match,
        filters,
        columns=f"r.doc_type, r.audience, r.language, {summary}",
        columns_params=summary_params,
    )
    # The page's rows carry their rank: a UNION does not promise to keep their order.
    page_sql = """
        SELECT 'page', CAST(id AS TEXT), row_number() OVER (ORDER BY score DESC, tiebreak, id DESC) FROM (
          SELECT id, score, tiebreak FROM m ORDER BY score DESC, tiebreak, id DESC LIMIT %s OFFSET %s) AS page
    """
    if _postgres():
        counts_sql, counts_params = _postgres_counts(filters)
    else:
        counts_sql, counts_params = _portable_counts(filters)
    sql = f"WITH {ctes}{counts_sql[0]}{page_sql}{counts_sql[1]}"
    params += counts_params[0] + [limit, offset] + counts_params[1]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    page = []
    for facet, value, count in _fetch(sql, params):
        if facet == "page":
            page.append((count, int(value)))
        elif facet == "records":
            _add_records(counts, value, int(count))
        else:
            counts[facet][value] = int(count)
    counts["total"].setdefault("", 0)
    counts["available"].setdefault("", 0)
    return counts, [record_id for _, record_id in sorted(page)]


def _matched(
    match: Match,
    filters: Filters,
    *,
    columns: str = "",
    columns_params: list | None = None,
    sample: int | None = None,
) -> tuple[str, list]:
    """The CTEs that put the matched records into ``m``: those titled exactly as typed,
    then the other matches, ``sample`` (default SAMPLE) + 1 at most, each with its id,
    ``columns`` (each followed by a comma), score and tiebreak; and their parameters."""
    where, filter_params = _filter_sql(filters)

    def select(score: str) -> str:
        row = f"r.id, {columns}{score} AS score, {match.tiebreak} AS tiebreak"
        return f"SELECT {row} FROM catalogue_record r {match.join}"

    order = f" ORDER BY {match.sample_order}" if match.sample_order else ""
    row_params = (columns_params or []) + match.score_params + match.join_params
    ctes, params = "", []
    if match.exact:
        # The exact titles (looked up once, into ``x``) first, then the other matches
        # until the sample is full: one CTE, written once. ts_rank_cd(…, 32) lies in
        # [0, 1): + 1 outranks any other match.
        ctes, params = f"x AS (SELECT {match.exact} AS ids), ", list(match.exact_params)
        others = f"{match.where}{where} AND r.id <> ALL((SELECT ids FROM x)::bigint[])"
        matches = f"""({select(f"{match.score} + 1")} WHERE r.id = ANY((SELECT ids FROM x)::bigint[]){where})
          UNION ALL ({select(match.score)} WHERE {others}{order})"""
        params += row_params + filter_params + row_params + match.params + filter_params
    else:
        matches = f"{select(match.score)} WHERE {match.where}{where}{order}"
        params = row_params + match.params + filter_params
    limit = SAMPLE if sample is None else int(sample)
    return ctes + f"m AS ({matches} LIMIT {limit + 1})", params


def _add_records(counts: dict[str, dict[str, int]], combination: str, n: int) -> None:
    """Add one "records" row of ``_postgres_counts`` to the facet counts."""
    # The language comes last: the only free text (a MARC code), split off whole.
    doc_type, audience, available, language = combination.split("\t", 3)
    for facet, value in (("doc_type", doc_type), ("audience", audience), ("language", language)):
        counts[facet][value] = counts[facet].get(value, 0) + n
    counts["total"][""] = counts["total"].get("", 0) + n
    if available == "1":
        counts["available"][""] = counts["available"].get("", 0) + n


def _portable_counts(filters: Filters) -> tuple[tuple[str, str], tuple[list, list]]:
    """The counts in plain SQL (SQLite): (extra CTEs, UNION ALL branches) and their parameters.

    The copies of the matched records are read once, into ``c``, from the covering index.
    """
    # With "available now" the branch facet counts where a copy is on the shelf.
    copies_where = f" WHERE {COPY_REQUESTABLE}" if filters.available else ""
    available_where = " AND c.branch_id = %s" if filters.branch_id else ""
    ctes = f""",
        lending AS ({LENDING_SELECT}),
        c AS (
          SELECT c.record_id, c.branch_id,
                 {COPY_REQUESTABLE} AND c.branch_id IN (SELECT id FROM lending) AS on_shelf
          FROM catalogue_copy c JOIN m ON m.id = c.record_id{copies_where}
        )
    """
    branches = f"""
        UNION ALL SELECT 'total', '', COUNT(*) FROM m
        UNION ALL SELECT 'doc_type', doc_type, COUNT(*) FROM m GROUP BY doc_type
        UNION ALL SELECT 'audience', audience, COUNT(*) FROM m GROUP BY audience
        UNION ALL SELECT 'language', language, COUNT(*) FROM m GROUP BY language
        UNION ALL SELECT 'branch', CAST(branch_id AS TEXT), COUNT(DISTINCT record_id)
          FROM c GROUP BY branch_id
        UNION ALL SELECT 'available', '', COUNT(*)
          FROM (SELECT DISTINCT record_id FROM c WHERE c.on_shelf{available_where}) AS a
    """
    params = [*_lending_params(), CopyStatus.ON_SHELF] + ([CopyStatus.ON_SHELF] if filters.available else [])
    return (ctes, branches), (params, [filters.branch_id] if filters.branch_id else [])


def _summary_columns(filters: Filters) -> tuple[str, list]:
    """What the PostgreSQL counts read of each matched record's summary (migration 0007):
    the branches to count (where it is on the shelf, with "available now") and whether
    it is available. One array, not both: ``m`` is materialised, and copying arrays into
    it costs more than anything the counts do with them."""
    if not _postgres():
        return "", []
    branches = "r.shelf_branches" if filters.available else "r.copy_branches"
    if filters.branch_id:  # on the shelf there, and it lends
        available = f"r.shelf_branches @> ARRAY[%s]::bigint[] AND %s::bigint = ANY({LENDING_IDS})"
        params = [filters.branch_id, filters.branch_id, *_lending_params()]
    else:
        available, params = f"r.shelf_branches && {LENDING_IDS}", _lending_params()
    return f"{branches} AS branches, {available} AS available, ", params


def _postgres_counts(filters: Filters) -> tuple[tuple[str, str], tuple[list, list]]:
    """The same counts as ``_portable_counts``, from the matched rows alone.

    The branches come from each record's summary of where its copies are (migration
    0007), so no copy is read. One pass over ``m`` groups it by every combination of
    type, audience, availability and language ("records" rows, at most a few hundred,
    summed up by ``_add_records``: cheaper than one hash per facet); one unnests the
    branches (a set-returning function in the select list costs half a lateral join).
    """
    sql = """
        UNION ALL SELECT 'records', concat_ws(E'\t', doc_type, audience, available::int, language), COUNT(*)
          FROM m GROUP BY doc_type, audience, available, language
        UNION ALL SELECT 'branch', CAST(branch_id AS TEXT), COUNT(*)
          FROM (SELECT unnest(branches) AS branch_id FROM m) AS b GROUP BY branch_id
    """
    return ("", sql), ([], [])


def _fetch(sql: str, params: list) -> list[tuple]:
    # No transaction around it: on SQLite (BEGIN IMMEDIATE) it would take the write lock.
    # PostgreSQL should run with jit = off (postgresql.conf, or "-c jit=off" in the
    # connection options): compiling a broad search just in time costs more than it saves.
    if not _postgres():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    # Past SAMPLE matches the sample is "the first found": with parallel workers that
    # order changes from run to run, and so would the counts and the pages. One worker
    # keeps the same query giving the same answer (~13 % slower on the broadest ones).
    # Setting, search and reset travel together: one round trip, and the three run in one
    # implicit transaction, so an error takes the setting back too. This needs Django's
    # default client-side parameter binding (a server-side one refuses several statements).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SET max_parallel_workers_per_gather = 0; {sql}; RESET max_parallel_workers_per_gather", params
        )
        cursor.nextset()
        return cursor.fetchall()


def _hits(ids: list[int], branches: dict[int, tuple[str, bool]]) -> list[Hit]:
    if not ids:
        return []
    records = _page_records(ids)
    doc_types, audiences = _labels(DocType), _labels(Audience)
    hits = []
    for pk in ids:
        record = records[pk]
        copies, available, shelf, lendable = (
            record.__dict__.pop(f"hit_{name}") for name in ("copies", "available", "shelf", "lendable")
        )
        at = sorted(
            (branches[int(b)] for b in shelf.split(",")) if shelf else (), key=lambda b: (not b[1], b[0])
        )
        hits.append(
            Hit(
                record,
                copies,
                available or 0,
                [name for name, _ in at],
                doc_types.get(record.doc_type, record.doc_type),
                audiences.get(record.audience, record.audience),
                lendable or 0,
            )
        )
    return hits


def _page_records(ids: list[int]) -> dict[int, Record]:
    """The page's records (long fields deferred) with their copies counted, in one query.

    Each comes with ``hit_copies``, ``hit_available`` (copies a request can take now:
    on the shelf, with a barcode, in a requestable location of a lending branch, as
    allocation.candidate_copies has it) and ``hit_shelf``, the ids of the branches where
    one is, comma-separated.
    """
    columns = ", ".join(
        f"r.{connection.ops.quote_name(f.column)}"
        for f in Record._meta.concrete_fields
        if f.name not in HIT_DEFERRED
    )
    # Both list distinct values separated by commas; SQLite's takes no separator with DISTINCT.
    concat = "string_agg({}, ',')" if _postgres() else "group_concat({})"
    shelf = concat.format("DISTINCT CASE WHEN {requestable} THEN CAST(c.branch_id AS TEXT) END")
    requestable = f"{COPY_REQUESTABLE} AND c.branch_id IN ({LENDING_SELECT})"
    requestable_params = [CopyStatus.ON_SHELF, *_lending_params()]
    placeholders = ", ".join(["%s"] * len(ids))
    rows = Record.objects.raw(
        f"""SELECT {columns}, COUNT(c.id) AS hit_copies,
              SUM(CASE WHEN {requestable} THEN 1 ELSE 0 END) AS hit_available,
              {shelf.format(requestable=requestable)} AS hit_shelf,
              SUM(CASE WHEN {COPY_LENDABLE} THEN 1 ELSE 0 END) AS hit_lendable
            FROM catalogue_record r LEFT JOIN catalogue_copy c ON c.record_id = r.id
            WHERE r.id IN ({placeholders}) GROUP BY r.id""",
        [*requestable_params, *requestable_params, CopyStatus.WITHDRAWN, *ids],
    )
    return {row.pk: row for row in rows}


def _labels(choices) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices}


def _facet_values(
    counts: dict[str, dict[str, int]], branches: dict[int, tuple[str, bool]]
) -> dict[str, list[FacetValue]]:
    labels = {
        "doc_type": _labels(DocType),
        "audience": _labels(Audience),
        "language": LANGUAGES,
        "branch": {str(pk): name for pk, (name, _) in branches.items()},
    }
    facets = {}
    for facet, names in labels.items():
        values = [
            FacetValue(value, str(names.get(value, value.upper())), n)
            for value, n in counts[facet].items()
            # An empty value (language unknown) cannot be chosen; a closed library neither.
            if value and (facet != "branch" or value in names)
        ]
        facets[facet] = sorted(values, key=lambda v: (-v.count, v.label))
    return facets


# -- The author of a record, for its "other works" link -----------------------------------

# What a statement of responsibility says besides the names: roles, honorifics, "etc."
# (folded, without their dots). A name is what follows them.
ROLE_WORDS = frozenset(
    {"par", "de", "d", "des", "du", "by", "avec", "with", "and", "et", "sous", "la", "direction", "dir"}
    | {"publ", "publie", "publiee", "publies", "ed", "eds", "edited", "edite", "edition", "editor", "editeur"}
    | {
        "pref",
        "preface",
        "prefacier",
        "trad",
        "traduit",
        "traduction",
        "traduits",
        "translated",
        "translation",
    }
    | {"ill", "illustrations", "illustre", "illustree", "illustrated", "illustration", "dessins", "dessin"}
    | {"texte", "textes", "text", "discours", "introd", "introduction", "presente", "presentation", "notes"}
    | {"commentaires", "comment", "adapte", "adaptation", "adapted", "realise", "realisation", "scenario"}
    | {
        "redige",
        "recueilli",
        "recueillis",
        "choisi",
        "choisis",
        "compiled",
        "written",
        "l",
        "anglais",
        "allemand",
    }
    | {"m", "mm", "mme", "mmes", "mlle", "mr", "mrs", "ms", "dr", "pr", "mgr", "sir", "abbe", "pere", "etc"}
)
# Particles that belong to a surname ("de Saint-Exupéry", "van Gogh"): kept before it.
NAME_PARTICLES = frozenset(
    {"de", "d", "du", "des", "van", "von", "der", "den", "di", "da", "del", "della", "le", "la"}
)
# What follows a surname and is none: "Martin Luther King Jr.", "Alexandre Dumas fils".
NAME_SUFFIXES = frozenset({"jr", "sr", "fils", "pere", "ii", "iii", "iv"})
# Words that make a name a body's (a group, an orchestra, an institution), capitals or not.
BODY_WORDS = frozenset(
    {"ensemble", "quartet", "quartette", "quintet", "quintette", "sextet", "septet", "octet", "trio"}
    | {"orchestra", "orchestre", "band", "group", "groupe", "choir", "choeur", "chorus", "singers"}
    | {"brothers", "sisters", "society", "societe", "association", "company", "compagnie", "club"}
    | {"library", "bibliotheque", "museum", "musee", "university", "universite", "institut"}
    | {"institute", "ministere", "ministry", "academie", "academy", "commission", "committee"}
    | {"project", "projet", "collective", "collectif", "conseil", "council"}
)
# "d'Ormesson", "l'Hermite": a surname, though it starts in lower case.
ELIDED_NAME = re.compile(r"[dl]['’][^\W\d_]")
NAME_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*")


def author_query(responsibility: str) -> str:
    """What to search in the author field for the other works of a record's first author.

    The statement of responsibility is transcribed from the title page ("[discours de]
    M. Emile Boutmy,...", "texte de René Goscinny ; dessins d'Albert Uderzo") or is a
    heading ("Hugo, Victor"). Searching it whole requires every word, roles included.
    This is the first person's surname, with its particles: the given name is spelt in
    full, abbreviated or left out from one record to the next ("E. Boutmy", "Emile
    Boutmy"), and every word of a search must be found. A name that is no person's
    ("Bibliothèque nationale de France", "Modern Jazz Quartet") is kept whole, and is
    taken only when the statement names no person. "" when no name is found.
    """
    text = re.sub(r"\([^)]*\)|\[|\]|\.\.\.|…", " ", responsibility or "")
    body = ""
    for part in re.split(r"\s[;/:=]\s?|;", text):
        # "texte et illustrations de Claude Ponti": the name may follow an "et" in the roles.
        for piece in re.split(r"\s(?:et|and|&)\s", part):
            name, is_body = _first_name_of(piece)
            if name and not is_body:
                return name
            body = body or name
    return body


def heading_query(heading: str) -> str:
    """What to search in the author field for the other works of a name heading, as the
    library system files it: a person's surname ("Hugo, Victor" is "Hugo"), a name with
    no comma whole (a body, a group, "Molière"), without its "(…)" qualifier ("Weather
    Report (Musical group)")."""
    name = re.sub(r"\s+([.,])", r"\1", " ".join(re.sub(r"\([^)]*\)", " ", heading).split()))
    surname, comma, _ = name.partition(",")
    return (surname if comma else name).strip(" .")


def _first_name_of(piece: str) -> tuple[str, bool]:
    """The name a piece of a statement gives (a person's surname, or a body whole), and
    whether it is a body; ("", False) when it gives none."""
    head, _, tail = piece.partition(",")
    names = _name_tokens(head)
    if len(names) == 1 and _name_tokens(tail):  # "Hugo, Victor": a heading, surname first
        return names[0], False
    if not names:
        # "discours prononcé le 22 juin 1885, au jubilee-meeting de la Société…": after the comma.
        names = _name_tokens(tail)
        if not names:
            return "", False
    while len(names) > 1 and _fold(names[-1]) in NAME_SUFFIXES:  # "King Jr."
        names = names[:-1]
    if any(_fold(word) in BODY_WORDS for word in names) or any(
        word[0].islower() and _fold(word) not in NAME_PARTICLES and not ELIDED_NAME.match(word)
        for word in names[1:]
    ):
        return " ".join(names), True
    surname = [names[-1]]
    for word in reversed(names[:-1]):
        if _fold(word).rstrip("'’") not in NAME_PARTICLES:
            break
        surname.insert(0, word)
    if all(_fold(word) in STOP_WORDS | NAME_PARTICLES for word in surname):
        return " ".join(names), False  # "Vuja Dé": "dé" alone is a word the search drops
    return " ".join(surname), False


def _name_tokens(text: str) -> list[str]:
    """The words of a name: what follows the roles and honorifics, without dates or dots."""
    tokens = [t.strip(".'’-") for t in NAME_TOKEN.findall(text)]
    tokens = [t for t in tokens if t]
    start = 0
    # Roles come first ("publ. par M.", "sous la direction de"), in lower case or capitalised;
    # a name starts with a capital that is no role.
    while start < len(tokens) and (tokens[start][0].islower() or _fold(tokens[start]) in ROLE_WORDS):
        start += 1
    return tokens[start:]
