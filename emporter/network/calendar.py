"""Open days of a branch: weekly hours minus closed dates (its own and network-wide)."""

import datetime

from django.db.models import Q

from .models import Branch, ClosedDay

# Beyond this many days without an opening the calendar is misconfigured; stop
# rather than loop forever.
MAX_SCAN_DAYS = 366


def _closed_dates(branch: Branch, start: datetime.date, end: datetime.date) -> set[datetime.date]:
    return closed_dates_of([branch.pk], start, end)[branch.pk]


def closed_dates(branch: Branch, start: datetime.date, end: datetime.date) -> set[datetime.date]:
    """The branch's closed dates (its own and network-wide) from ``start`` to ``end``."""
    return _closed_dates(branch, start, end)


def closed_dates_of(branch_ids, start: datetime.date, end: datetime.date) -> dict[int, set[datetime.date]]:
    """``closed_dates`` of several branches in one query, by branch id."""
    branch_ids = set(branch_ids)
    rows = ClosedDay.objects.filter(
        Q(branch_id__in=branch_ids) | Q(branch__isnull=True), date__gte=start, date__lte=end
    ).values_list("branch_id", "date")
    everywhere = set()
    own: dict[int, set[datetime.date]] = {pk: set() for pk in branch_ids}
    for branch_id, date in rows:
        if branch_id is None:
            everywhere.add(date)
        else:
            own[branch_id].add(date)
    return {pk: dates | everywhere for pk, dates in own.items()}


def open_weekdays(branch: Branch) -> set[int]:
    return set(branch.hours.values_list("weekday", flat=True))


def is_open(branch: Branch, day: datetime.date) -> bool:
    return day.weekday() in open_weekdays(branch) and not _closed_dates(branch, day, day)


def works_on(branch: Branch, day: datetime.date) -> bool:
    """``branch`` is open on ``day``; or, its hours not entered yet (switched to click and
    collect first), ``day`` is not one of its closed dates: the library works, as the
    holds' and loans' deadlines count it in calendar days then."""
    if open_weekdays(branch):
        return is_open(branch, day)
    return not _closed_dates(branch, day, day)


def nth_open_day(branch: Branch, start: datetime.date, n: int) -> datetime.date:
    """The n-th open day counting ``start`` itself when it is open (n >= 1)."""
    weekdays = open_weekdays(branch)
    if not weekdays:
        raise ValueError(f"branch {branch.code} has no opening hours")
    closed = _closed_dates(branch, start, start + datetime.timedelta(days=MAX_SCAN_DAYS))
    day, seen = start, 0
    for _ in range(MAX_SCAN_DAYS):
        if day.weekday() in weekdays and day not in closed:
            seen += 1
            if seen == n:
                return day
        day += datetime.timedelta(days=1)
    raise ValueError(f"branch {branch.code} has fewer than {n} open days in a year")


def nth_working_day(branch: Branch, start: datetime.date, n: int) -> datetime.date:
    """The n-th day ``branch`` works on (``works_on``), counting ``start`` itself (n >= 1):
    its n-th open day; or, its hours not entered yet, its n-th day that is not one of its
    closed dates (a holiday, a strike). ``ValueError`` when a year holds fewer."""
    if open_weekdays(branch):
        return nth_open_day(branch, start, n)
    closed = _closed_dates(branch, start, start + datetime.timedelta(days=MAX_SCAN_DAYS))
    day, seen = start, 0
    for _ in range(MAX_SCAN_DAYS):
        if day not in closed:
            seen += 1
            if seen == n:
                return day
        day += datetime.timedelta(days=1)
    raise ValueError(f"branch {branch.code} works fewer than {n} days in a year")


def due_date(branch: Branch, start: datetime.date, days: int) -> datetime.date:
    """A loan of ``days`` days from ``start``, due back on an open day of ``branch``: the
    first one on or after ``start + days`` (Koha's "useDaysMode" with the calendar); for a
    branch whose hours are not entered, the first day it works (not a holiday). A branch
    working no day in a year keeps the plain date rather than refuse the loan."""
    plain = start + datetime.timedelta(days=days)
    try:
        return nth_working_day(branch, plain, 1)
    except ValueError:
        return plain
