"""The catalogue, open to anyone: search, a record with its copies per branch, branches."""

from typing import Annotated, Literal

from django.db.models import Count, Q
from ninja import Field, Query, Router, Schema

from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record
from emporter.catalogue.search import MAX_PAGE, SEARCH_FIELDS, Filters, search_records
from emporter.network.models import ACCEPTING_REQUESTS, Branch, ServiceMode

from .errors import ApiError
from .schemas import BranchOut, DatabaseId, ErrorOut, PageSize, RecordDetailOut, SearchOut, Text

router = Router(tags=["Catalogue"])


# The search reads no further than its MAX_PAGE-th page: a page past it is refused, not
# answered with the last page's hits under another number.
SearchPage = Annotated[int, Field(ge=1, le=MAX_PAGE)]


# The values the search page's form takes: one it does not know is refused (422
# invalid_input), as the page refuses it, not answered with no hits ("remove a
# filter") or with everything searched.
SearchField = Literal[tuple(SEARCH_FIELDS)]
DocTypeCode = Literal[("", *DocType.values)]
AudienceCode = Literal[("", *Audience.values)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{0,3}$")]


class SearchQuery(Schema):
    q: Text = ""
    field: SearchField = "all"
    doc_type: DocTypeCode = ""
    audience: AudienceCode = ""
    language: LanguageCode = ""
    branch: DatabaseId | None = None
    available: bool = False
    page: SearchPage = 1
    per_page: PageSize = 20


@router.get("/records", response=SearchOut, summary="Search the catalogue")
def search(request, query: Query[SearchQuery]):
    """`field`: all, title, author, subject, isbn or call_number. Facets count the whole
    result; `available` with `branch` means on the shelf there. With neither `q` nor a
    filter, nothing is returned (total 0)."""
    filters = Filters(
        doc_type=query.doc_type,
        audience=query.audience,
        language=query.language,
        branch_id=query.branch,
        available=query.available,
    )
    result = search_records(
        q=query.q,
        field=query.field,
        filters=filters,
        page=query.page,
        per_page=query.per_page,
    )
    items = [
        {
            **{f: getattr(hit.record, f) for f in ("id", "title", "responsibility", "publisher", "year")},
            **{f: getattr(hit.record, f) for f in ("isbn", "language", "audience", "doc_type")},
            "get_doc_type_display": hit.record.get_doc_type_display(),
            "author_headings": hit.record.author_headings,
            "copies": hit.copies,
            "available": hit.available,
            "available_at": hit.available_at,
        }
        for hit in result.hits
    ]
    # The pages a client can read: the search stops at MAX_PAGE however many match.
    pages = min(result.pages, MAX_PAGE)
    if query.page > pages:
        # Past the last page: no items, not the last page again (the page shows that one).
        return {**vars(result), "page": query.page, "pages": pages, "items": []}
    return {**vars(result), "pages": pages, "items": items}


@router.get("/records/{record_id}", response={200: RecordDetailOut, 404: ErrorOut}, summary="A record")
def record_detail(request, record_id: int):
    """With its copies per branch: how many, and how many can be requested right now."""
    record = Record.objects.filter(pk=record_id).first()
    if record is None:
        raise ApiError("record_not_found")
    # What allocation would take: on the shelf, with a barcode, requestable location, and
    # not at a closed branch (nobody there to pull it).
    requestable = (
        Q(status=CopyStatus.ON_SHELF, barcode__isnull=False)
        & ~Q(location__requestable=False)
        & ~Q(branch__service_mode=ServiceMode.CLOSED)
    )
    counts = (
        Copy.objects.filter(record=record)
        .values("branch")
        .annotate(copies=Count("pk"), on_shelf=Count("pk", filter=requestable))
    )
    branches = Branch.objects.in_bulk([c["branch"] for c in counts])
    availability = sorted(
        ({"branch": branches[c["branch"]], "copies": c["copies"], "on_shelf": c["on_shelf"]} for c in counts),
        key=lambda a: (not a["branch"].is_central, a["branch"].name),
    )
    record.availability = availability
    return record


@router.get("/branches", response=list[BranchOut], summary="Branches")
def branches(request, accepting_requests: bool | None = None):
    """`accepting_requests=true`: only those in click-and-collect mode, the possible pickup branches."""
    qs = Branch.objects.all()
    if accepting_requests is not None:
        qs = qs.filter(ACCEPTING_REQUESTS if accepting_requests else ~ACCEPTING_REQUESTS)
    return qs
