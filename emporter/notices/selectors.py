"""Which notices a member of staff may read.

A notice shows a patron's address and what they borrow: only managers and network
administrators need the outbox (to correct an address and send again), and a branch's
manager sees the notices of that branch — its patrons', and those about documents to
collect there or lent there."""

import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from emporter.patrons.models import NoticeChannel, Role
from emporter.patrons.permissions import branches_for, is_superuser, roles_of

from .models import Notice, NoticeEvent, NoticeLoan, State
from .outbox import address_refused

ROLE = Role.BRANCH_MANAGER
# An "uncertain" notice (the sending was cut off after the mail server may have taken it)
# waits for staff to decide: send again or not. After a week its news is stale (a bag is
# held five open days), and it stops being pointed at.
UNCERTAIN_POINTED_AT_FOR = datetime.timedelta(days=7)


def sees_every_branch(user) -> bool:
    return (
        is_superuser(user)
        or roles_of(user).filter(role__in=[ROLE, Role.NETWORK_ADMIN], branch__isnull=True).exists()
    )


def visible_notices(user) -> QuerySet[Notice]:
    if not user.is_authenticated:
        return Notice.objects.none()
    if sees_every_branch(user):
        return Notice.objects.all()
    branches = branches_for(user, ROLE)
    about_branch = NoticeEvent.objects.filter(
        notice=OuterRef("pk"), event__request__pickup_branch__in=branches
    )
    lent_there = NoticeLoan.objects.filter(notice=OuterRef("pk"), loan__branch__in=branches)  # a receipt
    return Notice.objects.filter(
        Q(patron__home_branch__in=branches)
        | Q(bag__branch__in=branches)
        | Exists(about_branch)
        | Exists(lent_there)
        | Q(surprise__pickup_branch__in=branches)  # a surprise bag cancelled there
    )


def uncertain_to_check(user, now: datetime.datetime | None = None) -> QuerySet[Notice]:
    """The recent uncertain notices ``user`` may read: what the staff menu counts."""
    since = (now or timezone.now()) - UNCERTAIN_POINTED_AT_FOR
    return visible_notices(user).filter(state=State.UNCERTAIN, created_at__gte=since)


def can_be_told(patron) -> bool:
    """Whether the "ready" message reaches someone (as notices.render.recipient chooses):
    not an address the mail server refused as unknown, whose emails fail at once."""
    return patron.written_to(patron.telling_channel) is not None and not refused_address(patron)


def refused_address(patron) -> str:
    """The address the "ready" email would go to, when the mail server refused it as
    unknown (a child's: their guardian's, perhaps); else ""."""
    if patron.telling_channel != NoticeChannel.EMAIL:
        return ""
    to = patron.written_to(NoticeChannel.EMAIL)
    return to.email if to is not None and address_refused(to) else ""
