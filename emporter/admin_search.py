"""Admin searches that stay fast at a network's size (a million records, two and a half
million copies, hundreds of thousands of patrons and notices).

Django's search ORs "contains" over every field it is given, across the joined tables:
no index serves "%term%", and the database read every row of each (a barcode looked for
in the request list took 3-4 s). Here each kind of term is looked for in its own table,
through the index that serves it, and the rows listed are filtered by those ids (one
IN over their UNION, never a join):

- a code, typed or scanned whole: a copy's barcode, a card in any capitals, an ISBN
  (hyphens or not), a record's source key, an email address;
- words: records whose title and responsibility hold every one (the trigram index of
  catalogue/0002), patrons whose "first last" name holds every one (patrons' trigram
  index), a call number's beginning (its lower-case prefix index). Words all shorter
  than a trigram ("la", "Ça") name a whole title (the title-key index of catalogue/0019),
  and a whole last or first name ("Li": the folded-name indexes of patrons/0015).
"""

import logging
import re

from django.contrib import messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import CharField, F, Func, Q, QuerySet, Value
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from emporter.catalogue.models import Copy, Record
from emporter.catalogue.search import records_titled
from emporter.folding import fold
from emporter.patrons.models import Patron
from emporter.patrons.search import NATIONAL_LENGTH, PHONE_LIKE, name_words, phone_variants

ISBN = re.compile(r"[0-9][0-9Xx-]{9,16}")
# The trigram indexes serve no shorter word: "la" or "de" inside a title was looked for
# by folding every record's title and responsibility (5-6 s a page on 1,000,000 records).
TRIGRAM = 3

audit = logging.getLogger("emporter.audit")


class Fold(Func):
    """emporter_fold(a): one column folded, as patrons/0015 indexes it."""

    function = "emporter_fold"
    output_field = CharField()


class Folded(Func):
    """emporter_fold(a || ' ' || b): written as the trigram indexes have it, so that they
    serve it (PostgreSQL matches an index on its expression only)."""

    template = "emporter_fold(%(expressions)s)"
    arg_joiner = " || "


def _ids(subqueries: list[QuerySet]) -> QuerySet:
    """One set of ids from several finders: a UNION, unordered."""
    first, *rest = [subquery.order_by() for subquery in subqueries]
    return first.union(*rest) if rest else first


def is_code(term: str) -> bool:
    """One token with a digit in it and no letter first (a barcode, a card, an ISBN): no
    title or name holds it, and looking for one would read them all."""
    return " " not in term and any(c.isdigit() for c in term) and not term[:1].isalpha()


def _every_word(queryset: QuerySet, words: list[str]) -> QuerySet:
    for word in words:
        queryset = queryset.filter(folded__contains=word)
    return queryset


def records(term: str) -> list[QuerySet]:
    """Records named by ``term``: its source key or ISBN, or every word in the title and
    responsibility."""
    found = [Record.objects.filter(source_key=term).values("pk")]
    digits = term.replace("-", "").upper()
    if ISBN.fullmatch(term) and len(digits) in (10, 13):
        found.append(Record.objects.filter(isbn=digits).values("pk"))
    words = fold(term).split()
    if short_words_only(term):
        # "Ça", "Up", "Li": the title that is those words, not every title holding them.
        found.append(records_titled(term).values("pk"))
        return found
    # Even a number: "1984" and "2666" are titles (the trigram index serves it all the same).
    titled = Record.objects.annotate(folded=Folded(F("title"), Value(" "), F("responsibility")))
    found.append(_every_word(titled, words).values("pk"))
    return found


def short_words_only(term: str) -> bool:
    """Whether no word of ``term`` is long enough for the trigram index to find it."""
    return all(len(word) < TRIGRAM for word in fold(term).split())


def copies(term: str) -> list[QuerySet]:
    """Copies named by ``term``: their barcode, or the beginning of their call number."""
    by_call_number = Copy.objects.annotate(lower=Lower("call_number")).filter(lower__startswith=term.lower())
    return [Copy.objects.filter(barcode=term).values("pk"), by_call_number.values("pk")]


def patrons(term: str) -> list[QuerySet]:
    """Patrons named by ``term``: their card in any capitals, their phone in any French
    form, their email, or every word of their name."""
    found = [Patron.objects.with_card(term.replace(" ", "")).values("pk")]
    digits = "".join(c for c in term if c.isdigit())
    phone_like = PHONE_LIKE.fullmatch(term)  # no letter: no name holds it
    if phone_like and len(digits) >= NATIONAL_LENGTH:
        found.append(Patron.objects.filter(phone_digits__in=phone_variants(digits)).values("pk"))
    if "@" in term:
        found.append(Patron.objects.filter(email__iexact=term).values("pk"))
    elif short_name_only(term):
        found.append(patrons_named(term))
    elif not is_code(term) and not phone_like:
        # ("06 12 34 56 78" as words of a name: two-letter words no index serves.)
        named = Patron.objects.annotate(folded=Folded(F("first_name"), Value(" "), F("last_name")))
        # As the phone desk and the door read a name ("Dupont-Moretti" is "Dupont Moretti").
        found.append(_every_word(named, name_words(term)).values("pk"))
    return found


def short_name_only(term: str) -> bool:
    """Whether ``term`` is words of a name all too short for the trigram index ("Li",
    "Lê Bo"): not a code, a phone number or an email address."""
    if "@" in term or is_code(term) or PHONE_LIKE.fullmatch(term):
        return False
    words = name_words(term)
    return bool(words) and all(len(word) < TRIGRAM for word in words)


def patrons_named(term: str) -> QuerySet:
    """Patrons whose whole last or first name, folded, is ``term`` as typed ("Li-Na"), or
    each of its words ("li" finds Li Wei and Bo Li, not Lina): compared through
    patrons/0015's indexes, where looking inside every name for "li" read every patron."""
    whole = fold(" ".join(term.split()))
    each = Q()
    for word in name_words(term):
        each &= Q(last=word) | Q(first=word)
    folded = Patron.objects.annotate(last=Fold("last_name"), first=Fold("first_name"))
    return folded.filter(Q(last=whole) | Q(first=whole) | each).values("pk")


class IndexedChangeList(ChangeList):
    """Sorted only by the columns ``sortable_by`` names: Django hides the other columns'
    sort links but obeys ``?o=`` all the same (sorting 2,500,000 copies by status: 3.7 s)."""

    def get_ordering_field(self, field_name):
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)


class IndexedSearch:
    """A ModelAdmin mixin: ``search_by`` maps this model's id fields to the finders above
    ({"copy_id": copies, "patron_id": patrons}); "pk" searches the model itself. One IN
    over a UNION of every id found: PostgreSQL plans that as a semi-join on the index,
    where an OR of INs read every listed row and tested it against each (a prefix
    matching 700,000 copies never ended). One count only when searched or filtered (the
    table's own is read on every page otherwise)."""

    search_by: dict = {}
    show_full_result_count = False

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList

    def get_search_results(self, request, queryset, search_term):
        term = " ".join(search_term.split())[:200]
        if not term:
            return queryset, False
        if "patron_id" in self.search_by:
            # A patron looked up where their reading shows (their requests, loans, notices):
            # logged as the patron list's search is (patrons.admin.PatronAdmin).
            model = queryset.model._meta.model_name
            audit.info("admin: %s searched patrons %r in %s", request.user.pk, term, model)
        if records in self.search_by.values() and short_words_only(term):
            messages.info(
                request,
                _(
                    "Words of fewer than three letters are looked for as a whole title"
                    " (“%(term)s”), not inside titles and authors."
                )
                % {"term": term},
                fail_silently=True,  # (a search run outside a page: nobody to tell)
            )
        finds_patrons = "patron_id" in self.search_by or queryset.model is Patron
        if finds_patrons and short_name_only(term):
            messages.info(
                request,
                _(
                    "Names of fewer than three letters are looked for as a whole last or first"
                    " name (“%(term)s”)."
                )
                % {"term": term},
                fail_silently=True,
            )
        rows = queryset.model._default_manager
        found = [
            _ids(finder(term))
            if field == "pk"
            else rows.filter(**{f"{field}__in": _ids(finder(term))}).values("pk")
            for field, finder in self.search_by.items()
        ]
        return queryset.filter(pk__in=_ids(found)), False
