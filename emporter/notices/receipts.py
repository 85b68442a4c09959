"""A loans receipt emailed from the door (desk.views.email_receipt), through the outbox.

Sent by the worker like every other notice: a mail server down or slow holds no web
worker while the patron waits at the door, and the receipt is tried again rather than
lost. The same loans make the same notice (its dedupe key): a second click, or the
button pressed again after a reload, sends nothing twice; staff send one again from
the outbox.
"""

import hashlib

from django.db import IntegrityError, transaction

from emporter.desk.models import Loan
from emporter.patrons.models import NoticeChannel, Patron

from .models import Kind, Notice, NoticeLoan


def _key(patron: Patron, loans: list[Loan]) -> str:
    ids = ",".join(str(pk) for pk in sorted(loan.pk for loan in loans))
    return f"receipt:{patron.pk}:{hashlib.sha256(ids.encode()).hexdigest()}"


def queue_receipt(*, patron: Patron, loans: list[Loan]) -> tuple[Notice, bool]:
    """The receipt notice for ``loans`` (lent to ``patron`` or the children in their
    care), and whether it is new. The caller checks that someone can be written to."""
    key = _key(patron, loans)
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                patron=patron, kind=Kind.RECEIPT, channel=NoticeChannel.EMAIL, dedupe_key=key
            )
            NoticeLoan.objects.bulk_create(NoticeLoan(notice=notice, loan=loan) for loan in loans)
    except IntegrityError:  # asked for already (a second click, two librarians)
        return Notice.objects.get(dedupe_key=key), False
    return notice, True
