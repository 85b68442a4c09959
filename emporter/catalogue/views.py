import re
from itertools import groupby
from urllib.parse import urlencode

from django import forms
from django.http import QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from emporter.network.models import LENDING_MODES, Branch

from .models import Audience, DocType, Record
from .search import (
    LANGUAGES,
    MAX_QUERY_LENGTH,
    PER_PAGE,
    SEARCH_FIELDS,
    Filters,
    author_query,
    heading_query,
    search_records,
)

FACET_TITLES = {
    "doc_type": _("Document type"),
    "audience": _("Audience"),
    "language": _("Language"),
    "branch": _("Library"),
}


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search the catalogue"), required=False, max_length=MAX_QUERY_LENGTH)
    field = forms.ChoiceField(label=_("Search in"), choices=list(SEARCH_FIELDS.items()), required=False)
    doc_type = forms.ChoiceField(label=FACET_TITLES["doc_type"], choices=DocType.choices, required=False)
    audience = forms.ChoiceField(label=FACET_TITLES["audience"], choices=Audience.choices, required=False)
    language = forms.RegexField(label=FACET_TITLES["language"], regex=r"^[a-z]{0,3}$", required=False)
    branch = forms.ModelChoiceField(
        label=FACET_TITLES["branch"], queryset=Branch.objects.all(), required=False
    )
    available = forms.BooleanField(label=_("Available now"), required=False)
    # Read leniently (``clean_page``): a mangled link's page must not hide the results
    # behind an error about a field the page does not show.
    page = forms.CharField(required=False)

    def clean_page(self) -> int:
        value = self.cleaned_data["page"]
        return max(1, int(value)) if re.fullmatch(r"-?[0-9]{1,18}", value) else 1

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            doc_type=data["doc_type"],
            audience=data["audience"],
            language=data["language"],
            branch_id=data["branch"].pk if data["branch"] else None,
            available=data["available"],
        )


def search(request):
    form = SearchForm(request.GET)
    result = None
    if form.is_valid():
        result = search_records(
            q=form.cleaned_data["q"],
            field=form.cleaned_data["field"] or "all",
            filters=form.filters(),
            page=form.cleaned_data["page"],
            per_page=PER_PAGE,
        )
    context = {"form": form, "result": result, "hidden_filters": _hidden_filters(form)}
    if result and result.searched:
        context["first_rank"] = (result.page - 1) * result.per_page + 1
        context["hits"] = _hit_lines(result.hits)
        context["facets"] = _facet_links(request.GET, result)
        # Said above the results too: on a phone the facets come after them, out of sight.
        context["active_filters"] = [
            v for facet in context["facets"] for v in facet["values"] if v["selected"]
        ]
        context["available_url"] = _url_with(
            request.GET, available=None if result.filters.available else "on"
        )
        context["previous_url"] = _url_with(request.GET, page=str(result.page - 1)) if result.page > 1 else ""
        if result.page < result.pages:
            context["next_url"] = _url_with(request.GET, page=str(result.page + 1))
    return render(request, "catalogue/search.html", context)


# Any id: the basket's "add" address of each line is this one with the line's id.
_ANY_ID = 987654321


def _hit_lines(hits) -> list[dict]:
    """Each result line, worded here: a template spends ten times as long on every line."""
    add_url = reverse("holds:add", args=[_ANY_ID])
    lines = []
    for hit in hits:
        record = hit.record
        meta = [record.responsibility, str(record.year or ""), hit.doc_type_label]
        if record.audience == Audience.YOUTH:
            meta.append(hit.audience_label)
        if hit.available:
            places = ", ".join(hit.available_at)
            availability = ngettext(
                "%(n)s copy available at %(places)s", "%(n)s copies available at %(places)s", hit.available
            ) % {"n": hit.available, "places": places}
        elif hit.copies:
            availability = gettext("No copy available right now")
        else:
            availability = gettext("No copy in the network")
        lines.append(
            {
                "pk": record.pk,
                "url": reverse("catalogue:record", args=[record.pk]),
                "add_url": add_url.replace(str(_ANY_ID), str(record.pk)),
                "title": record.title,
                "language": record.language,
                "doc_type": record.doc_type,
                "meta": " · ".join(part for part in meta if part),
                "available": bool(hit.available),
                "availability": availability,
                # No copy a request could ever be served from (none yet, or reference
                # only): no button.
                "requestable": bool(hit.lendable),
            }
        )
    return lines


def _hidden_filters(form: SearchForm) -> list[tuple[str, str]]:
    names = ("doc_type", "audience", "language", "branch", "available")
    return [(name, form.data[name]) for name in names if form.data.get(name)]


def _url_with(query: QueryDict, **changes: str | None) -> str:
    """The current search with some parameters changed (None removes one); back to page 1."""
    params = {name: query[name] for name in query if name != "page" and name not in changes}
    params.update((name, value) for name, value in changes.items() if value is not None)
    return "?" + urlencode(params)


def _selected_label(name: str, value: str) -> str:
    """The words for a facet value chosen but matched by nothing (no count named it):
    "Part-Dieu", not "1"; "CD", not "cd"."""
    if name == "branch":
        branch = Branch.objects.filter(pk=int(value)).first() if value.isdigit() else None
        return branch.name if branch else value
    choices = {"doc_type": dict(DocType.choices), "audience": dict(Audience.choices), "language": LANGUAGES}
    return str(choices[name].get(value, value))


def _facet_links(query: QueryDict, result) -> list[dict]:
    selected = {
        "doc_type": result.filters.doc_type,
        "audience": result.filters.audience,
        "language": result.filters.language,
        "branch": str(result.filters.branch_id or ""),
    }
    facets = []
    for name, values in result.facets.items():
        if name == "branch" and selected[name]:
            # A title is at several libraries: with one chosen, another's count is of the
            # titles at both, and its link (which replaces the choice) would find more.
            # As for the other facets, only the choice is listed, to be removed.
            values = [v for v in values if v.value == selected[name]]
        links = [
            {
                "label": v.label,
                "count": v.count,
                "selected": v.value == selected[name],
                "url": _url_with(query, **{name: None if v.value == selected[name] else v.value}),
                "remove": gettext("Remove the filter %(label)s") % {"label": v.label}
                if v.value == selected[name]
                else "",
            }
            for v in values
        ]
        # A selected value that matched nothing still needs its "remove" link, in words.
        if selected[name] and not any(link["selected"] for link in links):
            label = _selected_label(name, selected[name])
            links.insert(
                0,
                {
                    "label": label,
                    "count": 0,
                    "selected": True,
                    "url": _url_with(query, **{name: None}),
                    "remove": gettext("Remove the filter %(label)s") % {"label": label},
                },
            )
        if links:
            facets.append({"name": name, "title": FACET_TITLES[name], "values": links})
    return facets


def record(request, pk: int):
    record = get_object_or_404(Record, pk=pk)
    copies = record.copies.select_related("branch", "department", "location").order_by(
        "-branch__is_central", "branch__name", "call_number", "barcode"
    )
    branches = []
    for branch, group in groupby(copies, key=lambda c: c.branch):
        group = list(group)
        # "Available" as search counts it: what a request could take now. A closed
        # library's shelves lend nothing until it reopens.
        lends = branch.service_mode in LENDING_MODES
        available = sum(copy.is_requestable for copy in group)
        branches.append({"branch": branch, "copies": group, "available": available, "lends": lends})
    context = {
        "record": record,
        "branches": branches,
        "copies_total": sum(len(b["copies"]) for b in branches),
        "available_total": sum(b["available"] for b in branches),
        # No copy a request could ever be served from: to consult on site, no basket.
        "lendable": any(copy.is_lendable for b in branches for copy in b["copies"]),
        "language_name": LANGUAGES.get(record.language, record.language.upper()),
        # The other works of each name the record is filed under ("Hugo, Victor": by the
        # surname); without headings (not imported since), of the statement's first author.
        "authors": [(heading, heading_query(heading)) for heading in record.author_headings],
        "author_query": author_query(record.responsibility),
        "subjects": [_subject_text(s) for s in record.subjects if s]
        if isinstance(record.subjects, list)
        else [],
    }
    return render(request, "catalogue/record.html", context)


def _subject_text(subject) -> str:
    # Subjects are strings; a structured heading ({"a": …, "x": …}) is shown joined.
    if isinstance(subject, dict):
        return " -- ".join(str(v) for v in subject.values() if v)
    return str(subject)
