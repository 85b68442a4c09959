"""A loans receipt emailed from the door (desk.views.email_receipt), through the outbox.

Sent by the worker like every other notice: a mail server down or slow holds no web
worker while the patron waits at the door, and the receipt is tried again rather than
lost. The same loans to the same reader make the same notice (its dedupe key): a
second click, the button pressed again after a reload, or the child's page and the
guardian's, send nothing twice. Pressed again once it failed (the address corrected
since, at the door), it is sent again.
"""

from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac

from emporter.desk.models import Loan
from emporter.patrons.models import NoticeChannel, Patron

from . import outbox
from .models import Kind, Notice, NoticeLoan


def _key(reader: Patron, loans: list[Loan]) -> str:
    # Keyed: a plain hash of a few loan ids is found again by trying numbers, and would
    # say what was borrowed once the loans forget their borrower.
    ids = ",".join(str(pk) for pk in sorted(loan.pk for loan in loans))
    digest = salted_hmac("emporter.notices.receipt", ids, algorithm="sha256").hexdigest()
    return f"receipt:{reader.pk}:{digest}"


def queue_receipt(*, patron: Patron, loans: list[Loan]) -> tuple[Notice, bool]:
    """The receipt notice for ``loans`` (lent to ``patron`` or the children in their
    care), and whether it goes now: new, or sent again after it failed. The caller checks
    that someone can be written to."""
    key = _key(patron.written_to(NoticeChannel.EMAIL) or patron, loans)
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                patron=patron, kind=Kind.RECEIPT, channel=NoticeChannel.EMAIL, dedupe_key=key
            )
            NoticeLoan.objects.bulk_create(NoticeLoan(notice=notice, loan=loan) for loan in loans)
    except IntegrityError:  # asked for already (a second click, two librarians)
        notice = Notice.objects.get(dedupe_key=key)
        return notice, outbox.resend(notice=notice)  # failed or uncertain: the patron says so
    return notice, True
