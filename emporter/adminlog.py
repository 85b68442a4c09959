"""The admin's history (django.contrib.admin's LogEntry) names what it was about: a line
about a request shows its patron's card, one about a notice their name. When a row
forgets its patron (or goes), its lines go with it: the privacy rules would be kept by
the rows and broken by the history."""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType


def forget_lines(model, ids) -> int:
    """Delete the admin's history lines about these rows of ``model``; how many."""
    ids = [str(pk) for pk in ids]
    if not ids:
        return 0
    content_type = ContentType.objects.get_for_model(model)
    return LogEntry.objects.filter(content_type=content_type, object_id__in=ids).delete()[0]
