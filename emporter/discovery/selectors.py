"""Reads for discovery: browsing, selections, "more like this", new arrivals, suggestions.

"Available" here always means what a request could take right now: a copy on the shelf,
with a barcode, in a requestable location, at a branch that is not closed, of a
document type the policy lets patrons request (the same test as holds.allocation).
"""

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from emporter.catalogue.models import Audience, Copy, CopyStatus, Record
from emporter.catalogue.search import Filters, search_ids, search_records, words
from emporter.desk.selectors import records_borrowed_by
from emporter.holds import policy
from emporter.holds.models import ACTIVE, Request
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import LoanHistory, PatronCategory

from .kinds import age_q, band_for_age, kind_q, record_q
from .models import Cover, Selection, SurpriseRequest, SurpriseStatus

PER_PAGE = 24
NEW_ARRIVAL_DAYS = 60
# Candidates read per kind of likeness before ranking; enough for a row of tiles.
LIKENESS_CANDIDATES = 60
# Each subject is one search; the first few say enough.
MAX_SUBJECTS = 2
# A heading more available documents share than this ("Film documentaire", "Roman") says
# little about one of them: its matches only fill the row, as the audience does. Its
# search stops counting there (a genre's 15,000 matches cost 140 ms to rank).
BROAD_SUBJECT = 1000
# "More like this" is worked out at most this often per record and library, per process
# (a popular title's page is read again and again); what can be had is read every time.
LIKENESS_SECONDS = 600
MIN_TASTE_WORD = 3


@dataclass
class Tile:
    record: Record
    available: int = 0
    # A copy is on the shelf at the branch the patron collects from.
    here: bool = False
    cover_url: str = ""
    note: str = ""


def requestable_copy_q() -> Q:
    return (
        Q(status=CopyStatus.ON_SHELF, barcode__isnull=False)
        & (Q(location__isnull=True) | Q(location__requestable=True))
        & ~Q(branch__service_mode=ServiceMode.CLOSED)
    )


def _takeable(copies, branch: Branch | None, category: str):
    """``copies`` less those a request collected at ``branch`` (its rules, for a reader of
    ``category``) could not take, as placement judges it: of a type it takes no request
    for (the copy's type: a record typed DVD whose copies are books is lent as books), or
    elsewhere where it lends its own copies only."""
    rules = policy.resolve(branch=branch, category=category)
    if rules.requestable_types:
        copies = copies.filter(doc_type__in=rules.requestable_types)
    if branch is not None and not rules.allow_other_branches:
        copies = copies.filter(branch=branch)
    return copies


def available_records(*, branch: Branch | None = None, copy_q: Q | None = None, category: str = ""):
    """Records with an available requestable copy that fits ``copy_q``, that a request
    collected at ``branch`` by a reader of ``category`` could take (``_takeable``)."""
    copies = Copy.objects.filter(requestable_copy_q(), record=OuterRef("pk"))
    if copy_q is not None:
        copies = copies.filter(copy_q)
    return Record.objects.filter(Exists(_takeable(copies, branch, category)))


def tiles(
    records, *, branch: Branch | None = None, notes: dict | None = None, category: str = ""
) -> list[Tile]:
    """Tiles in the given order, with availability and covers read in a few queries. A
    copy a request collected at ``branch`` could not take (``_takeable``) is never
    "available"."""
    records = list(records)
    counts, here = _availability([r.pk for r in records], branch, category)
    return _tiles(records, counts=counts, here=here, notes=notes)


def _availability(
    ids: list[int], branch: Branch | None, category: str = ""
) -> tuple[dict[int, int], set[int]]:
    """Per record, how many copies a request could take now; and the records with one at
    ``branch``. One query, whatever the number of copies."""
    counts: dict[int, int] = defaultdict(int)
    here: set[int] = set()
    copies = _takeable(Copy.objects.filter(requestable_copy_q(), record_id__in=ids), branch, category)
    for record_id, branch_id in copies.values_list("record_id", "branch_id"):
        counts[record_id] += 1
        if branch and branch_id == branch.pk:
            here.add(record_id)
    return counts, here


def _tiles(
    records: list[Record], *, counts: dict[int, int], here: set[int], notes: dict | None
) -> list[Tile]:
    ids = [r.pk for r in records]
    covers = dict(Cover.objects.filter(record_id__in=ids).values_list("record_id", "image"))
    notes = notes or {}
    return [
        Tile(
            record=r,
            available=counts[r.pk],
            here=r.pk in here,
            cover_url=Cover.image.field.storage.url(covers[r.pk]) if r.pk in covers else "",
            note=notes.get(r.pk, ""),
        )
        for r in records
    ]


def browse(*, age_band: str = "", kind: str = "", branch: Branch | None = None, page: int = 1):
    """One page of available records for an age band and/or a kind, newest first;
    (tiles, has_next). No total: counting every match costs more than the page."""
    copy_q = Q()
    if age_band:
        copy_q &= age_q(age_band)
    if kind:
        copy_q &= kind_q(kind)
    records = available_records(branch=branch, copy_q=copy_q).filter(
        record_q(band=age_band, kinds=[kind] if kind else [])
    )
    # Newest by id: the primary key's index walks backwards and stops after a page.
    records = records.order_by("-pk").defer("summary", "subjects")
    start = (max(1, page) - 1) * PER_PAGE
    found = list(records[start : start + PER_PAGE + 1])
    return tiles(found[:PER_PAGE], branch=branch), len(found) > PER_PAGE


def selections_for(*, branch: Branch | None = None, home: bool = False):
    """Published selections: the network's, plus the branch's (every branch's on the home page)."""
    selections = Selection.objects.filter(published=True).select_related("branch")
    if home:
        return selections
    if branch is None:
        return selections.filter(branch__isnull=True)
    return selections.filter(Q(branch__isnull=True) | Q(branch=branch))


def selection_tiles(selection: Selection, *, branch: Branch | None = None) -> list[Tile]:
    items = list(selection.items.select_related("record"))
    notes = {i.record_id: i.note for i in items}
    return tiles([i.record for i in items], branch=branch, notes=notes)


def more_like_this(record: Record, *, branch: Branch | None = None, limit: int = 8) -> list[Tile]:
    """Other available documents sharing series, author, subjects or audience, best first;
    those on the shelf at ``branch`` come before those elsewhere.

    The likenesses are worked out at most every LIKENESS_SECONDS (nothing clears them
    sooner: a document added meanwhile waits its turn); whether each can be had, and
    where, is read every time, so a tile never offers what was just lent. Worked out: up
    to four searches of ranked ids (no total, no facet) and four queries; then four
    queries, whatever the number of copies."""
    key = f"discovery:more-like-this:{record.pk}:{branch.pk if branch else ''}:{limit}"
    ranked = cache.get(key)
    if ranked is None:
        alike = _likeness(record, branch, limit)
        # Kept as ids in their order (best score, then title): a few kilobytes a record.
        ranked = sorted(alike, key=lambda pk: (-alike[pk][0], alike[pk][1], pk))
        cache.set(key, ranked, LIKENESS_SECONDS)
    counts, here = _availability(ranked, branch)
    order = {pk: n for n, pk in enumerate(ranked)}
    best = sorted((pk for pk in ranked if counts[pk]), key=lambda pk: (pk not in here, order[pk]))[:limit]
    records = Record.objects.defer("summary", "subjects").in_bulk(best)
    return _tiles([records[pk] for pk in best if pk in records], counts=counts, here=here, notes=None)


def _likeness(record: Record, branch: Branch | None, limit: int) -> dict[int, tuple[int, str]]:
    """Available records like ``record``: id → (score, title as sorted). Same series 4,
    same author 3, a shared subject 2; a broad subject and the same audience and type 1:
    they come after every other, and fill the row when those are lent meanwhile (the
    likenesses are kept a while). Found by the search engine's index
    (a plain comparison would read the whole table), then checked in one query."""
    candidates, narrow, broad = _candidates(record)
    author = _fold_text(record.responsibility)
    rows = available_records(branch=branch).filter(pk__in=candidates - {record.pk})
    scores: dict[int, int] = defaultdict(int)
    titles: dict[int, str] = {}
    fillers = []
    for pk, title, series, responsibility, subjects in rows.values_list(
        "pk", "title", "series", "responsibility", "subjects"
    ):
        titles[pk] = _sort_title(title)
        keys = set(_subject_keys(subjects))
        score = (
            4 * bool(record.series and series == record.series)
            + 3 * bool(author and _fold_text(responsibility) == author)
            + 2 * bool(narrow & keys)
        )
        if score:
            scores[pk] += score
        elif broad & keys:
            fillers.append(pk)
    # The weakest likenesses, only to fill the row: a genre, then the same audience and type.
    for pk in fillers:
        scores[pk] += 1
    same = Q(audience=record.audience, doc_type=record.doc_type)
    band = band_for_age(record.age_min) if record.audience == Audience.YOUTH else ""
    for pk, title in _available(same, record, branch, copy_q=age_q(band) if band else None):
        scores[pk] += 1
        titles[pk] = _sort_title(title)
    return {pk: (score, titles[pk]) for pk, score in scores.items()}


def _candidates(record: Record) -> tuple[set[int], set[str], set[str]]:
    """The ids the engine ranks first for the record's series, author and first subjects
    (one search of ids each); and those subjects, folded, split into the narrow and the
    broad ones (more than BROAD_SUBJECT matches)."""
    available = Filters(available=True)
    ids: set[int] = set()
    # The series too: the author field's weight (B) holds it, and no index serves a plain
    # comparison (595 ms for a series of a few titles among a million records).
    for text in (record.series, record.responsibility):
        if words(text):
            ids.update(_top_ids(text, "author", available).ids)
    narrow, broad = set(), set()
    for subject in list(dict.fromkeys(_subject_keys(record.subjects)))[:MAX_SUBJECTS]:
        if words(subject):
            found = _top_ids(subject, "subject", available, sample=BROAD_SUBJECT)
            (broad if found.matched > BROAD_SUBJECT else narrow).add(subject)
            ids.update(found.ids)
    return ids, narrow, broad


def _top_ids(text: str, field: str, filters: Filters, sample: int | None = None):
    return search_ids(
        q=text, field=field, filters=filters, limit=LIKENESS_CANDIDATES, sample=sample, whole_words=True
    )


def _sort_title(title: str) -> str:
    """A title as a reader sorts it: '"En furetant"' or '...Les constructeurs' by their
    first word, not first because of their punctuation."""
    return _fold_text(title.lstrip(" \"'«»“”‘’.…-–—([")) or title


def _available(condition: Q, record: Record, branch: Branch | None, copy_q: Q | None = None):
    """(id, title) of the newest available records that meet ``condition``."""
    records = available_records(branch=branch, copy_q=copy_q).filter(condition).exclude(pk=record.pk)
    return list(records.order_by("-pk").values_list("pk", "title")[:LIKENESS_CANDIDATES])


def _fold_text(text: str) -> str:
    return " ".join(text.casefold().split())


def _subject_keys(subjects) -> list[str]:
    """Subjects folded for comparison; a structured heading ({"a": …, "x": …}) is joined."""
    if not isinstance(subjects, list):
        return []
    keys = []
    for subject in subjects:
        text = (
            " -- ".join(str(v) for v in subject.values() if v) if isinstance(subject, dict) else str(subject)
        )
        if text.strip():
            keys.append(_fold_text(text))
    return keys


def new_arrivals(*, branch: Branch | None = None, audience: str = "", days: int = NEW_ARRIVAL_DAYS, limit=12):
    """Records whose copy arrived recently (at ``branch`` when given), newest first."""
    since = timezone.now() - datetime.timedelta(days=days)
    copies = Copy.objects.filter(record=OuterRef("pk"), created_at__gte=since).exclude(
        status__in=[CopyStatus.MISSING, CopyStatus.WITHDRAWN]
    )
    if branch:
        copies = copies.filter(branch=branch)
    records = Record.objects.filter(Exists(copies), created_at__gte=since)
    if audience:
        records = records.filter(audience=audience)
    # Newest by id (ids grow with imports): the primary key's index stops after ``limit``.
    return tiles(records.defer("summary", "subjects").order_by("-pk")[:limit], branch=branch)


# -- Surprise bags ----------------------------------------------------------------------


def remaining_allowance(*, patron) -> int:
    """How many more documents the patron may ask for: their limit (the same wherever
    they collect), less their active requests and what their open surprise bags will take
    (``holds.policy.promised_places``)."""
    rules = policy.limits_for(patron)
    active = Request.objects.filter(patron=patron, status__in=ACTIVE).count()
    return max(0, rules.max_active - active - policy.promised_places(patron))


def promised_places(patron) -> int:
    """The documents the patron's open surprise bags will take (registered with
    ``holds.policy.PROMISED`` by this app)."""
    open_bags = SurpriseRequest.objects.filter(patron=patron, status=SurpriseStatus.OPEN)
    return open_bags.aggregate(n=Sum("how_many"))["n"] or 0


def surprise_queue(branches):
    return (
        SurpriseRequest.objects.filter(status=SurpriseStatus.OPEN, pickup_branch__in=branches)
        .select_related("patron", "asked_by", "pickup_branch")
        .order_by("created_at", "pk")
    )


def is_child(patron) -> bool:
    """A child's card: the child category, or a guardian on it (``patrons.models``)."""
    return patron is not None and (patron.category == PatronCategory.CHILD or patron.guardian_id is not None)


def suggestions(surprise: SurpriseRequest, *, limit: int = 24) -> list[Tile]:
    """``suggestions_and_left_out``'s suggestions."""
    return suggestions_and_left_out(surprise, limit=limit)[0]


def suggestions_and_left_out(surprise: SurpriseRequest, *, limit: int = 24) -> tuple[list[Tile], int]:
    """Available documents for a surprise bag: the reader's age band and kinds (a child's
    bag with no age, youth documents only), ranked by how many of their taste words the
    search engine matches, at the pickup branch first; nothing matching a word to avoid;
    nothing they already have on request, at home, or had in an earlier bag
    (``known_to_reader``). With how many titles that would fit were left out as known."""
    copy_q = Q()
    band = band_for_age(surprise.age)
    if band:
        copy_q &= age_q(band)
    if surprise.kinds:
        copy_q &= reduce(or_, (kind_q(kind) for kind in surprise.kinds))
    # The reader's rules: a child's card may be allowed fewer types than an adult's.
    category = surprise.patron.category if surprise.patron else ""
    records = available_records(branch=surprise.pickup_branch, copy_q=copy_q, category=category)
    records = records.filter(record_q(band=band, kinds=surprise.kinds))
    # No age: the form says to leave it empty for oneself, an adult (a child's card is
    # handled below).
    audience = Audience.YOUTH if band else Audience.ADULT
    if not band and is_child(surprise.patron):
        # A child's bag with no age (asked before the form required one), or an adult's
        # age (asked before the form refused it): the youth collections, never the adults'.
        audience = Audience.YOUTH
        records = records.filter(audience=Audience.YOUTH)
    elif audience == Audience.ADULT:
        records = records.filter(audience=Audience.ADULT)
    taken = Request.objects.filter(patron=surprise.patron, status__in=ACTIVE).values("record_id")
    records = records.exclude(pk__in=taken).exclude(pk__in=_matching(surprise.avoid))
    known = known_to_reader(surprise.patron)
    left_out = records.filter(pk__in=known).count() if known else 0
    records = records.exclude(pk__in=known)
    # The engine searches the reader's audience only: fewer matches to rank, same order.
    rank = _taste_rank(surprise.tastes, Filters(available=True, audience=audience))
    liked = list(records.filter(pk__in=rank).values_list("pk", flat=True))
    others = list(records.exclude(pk__in=rank).order_by("-pk").values_list("pk", flat=True)[:limit])
    ordered = sorted(liked, key=lambda pk: rank[pk]) + others
    found = tiles(
        Record.objects.filter(pk__in=ordered[: limit * 2]).defer("summary"),
        branch=surprise.pickup_branch,
        category=category,
    )
    position = {pk: n for n, pk in enumerate(ordered)}
    found.sort(key=lambda t: (t.record.pk not in rank, not t.here, position[t.record.pk]))
    return found[:limit], left_out


def first_choices(surprise: SurpriseRequest, suggested: list[Tile]) -> list[int]:
    """The suggestions ticked when a librarian opens the bag: the first ``how_many``,
    passing over a type whose limit the reader would reach (``type_limits``, counting
    their requests under way), which composing would refuse and leave the bag short."""
    limits = policy.limits_for(surprise.patron).type_limits if surprise.patron else {}
    active = Request.objects.filter(patron=surprise.patron, status__in=ACTIVE)
    used = Counter(active.values_list("doc_type", flat=True)) if limits else Counter()
    chosen = []
    for tile in suggested:
        if len(chosen) == surprise.how_many:
            break
        kind = tile.record.doc_type
        if kind in limits and used[kind] >= limits[kind]:
            continue
        used[kind] += 1
        chosen.append(tile.record.pk)
    return chosen


def known_to_reader(patron) -> set[int]:
    """The titles a reader has, or had, that a surprise bag should not bring them again:
    on loan now (always known to the library), borrowed before only when they keep their
    loan history (``LoanHistory.KEEP``: the library's own rules forget it, unasked), and
    placed in one of their earlier surprise bags while its request still names them (a
    collected one is forgotten with its loan, the others after the privacy delay:
    ``privacy.services``)."""
    if patron is None:
        return set()
    borrowed = records_borrowed_by(patron, returned_too=patron.loan_history == LoanHistory.KEEP)
    bags = Request.objects.filter(patron=patron, surprise_requests__patron=patron)
    return borrowed | set(bags.values_list("record_id", flat=True))


def search_available(q: str, *, branch: Branch | None, category: str = "", limit: int = 12) -> list[Tile]:
    """The search engine's hits for ``q`` that a request collected at ``branch`` for a
    reader of ``category`` could take now (the suggestions' rule), in its order."""
    hits = search_records(q=q, filters=Filters(available=True), per_page=limit * 2).hits
    ok = set(
        available_records(branch=branch, category=category)
        .filter(pk__in=[h.record.pk for h in hits])
        .values_list("pk", flat=True)
    )
    return tiles([h.record for h in hits if h.record.pk in ok][:limit], branch=branch, category=category)


def _taste_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) >= MIN_TASTE_WORD][:6]


def _taste_rank(text: str, filters: Filters) -> dict[int, tuple[int, int]]:
    """record id → (-words matched, best position): more words first, then the engine's order."""
    matched: dict[int, int] = defaultdict(int)
    best: dict[int, int] = {}
    for word in _taste_words(text):
        result = search_records(q=word, filters=filters, per_page=100)
        for n, hit in enumerate(result.hits):
            matched[hit.record.pk] += 1
            best[hit.record.pk] = min(best.get(hit.record.pk, n), n)
    return {pk: (-count, best[pk]) for pk, count in matched.items()}


# How many of the records a word to avoid finds are kept from a surprise bag, the best
# matches first (the word in the title, then in the subjects…): a page of 200 hits let
# the 201st "horreur" in. Bounded: the ids go into one query, and SQLite takes 32,766
# parameters at most (six words to avoid).
AVOIDED_AT_MOST = 5000


def _matching(text: str) -> set[int]:
    ids: set[int] = set()
    for word in _taste_words(text):
        ids |= set(search_ids(q=word, limit=AVOIDED_AT_MOST).ids)
    return ids
