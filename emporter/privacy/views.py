"""The privacy notice (GDPR art. 13), and a patron's data to take away (art. 15 and 20)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from emporter.desk.models import MAX_HISTORY_DAYS
from emporter.desk.selectors import history_rules
from emporter.patrons.selectors import signed_in_patron

from .selectors import data_of


def notice(request):
    """What the network keeps about patrons, why, for how long, and their rights: its
    durations read from the settings and rules in force, not written twice."""
    default_days, by_type = history_rules()
    context = {
        "controller": settings.PRIVACY_CONTROLLER,
        "contact": settings.PRIVACY_CONTACT,
        "request_days": settings.REQUEST_HISTORY_DAYS,
        "expired_days": settings.EXPIRED_CARDS_ERASED_AFTER_DAYS,
        "notice_days": settings.NOTICE_RETENTION_DAYS,
        # The default rule, and the types whose rule says otherwise.
        "loan_days": default_days,
        "loan_days_by_type": by_type,
        "max_loan_days": MAX_HISTORY_DAYS,
    }
    return render(request, "privacy/notice.html", context)


@login_required
def my_data(request):
    """Everything the network holds about the signed-in patron, as JSON to keep."""
    patron = signed_in_patron(request)
    response = JsonResponse(data_of(patron), json_dumps_params={"ensure_ascii": False, "indent": 2})
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="emporter-{patron.card_number}-{day}.json"'
    return response
