"""Dates written in words, as readers of each language expect them.

French writes the first day of a month as an ordinal, "mardi 1er décembre", and every
other day as a number, "mercredi 2 décembre". Django's formats have no such rule, so
every date shown in words goes through ``long_date`` (Python) or ``|longdate`` (a
template filter available everywhere: settings.TEMPLATES' builtins).
"""

import datetime

from django import template
from django.utils import formats, timezone, translation

register = template.Library()


def long_date(value: datetime.date | datetime.datetime, format_string: str = "l j F Y") -> str:
    """``value`` in the active language's words; a datetime is shown in local time."""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if value.day == 1 and (translation.get_language() or "").startswith("fr"):
        format_string = format_string.replace("j", r"j\e\r")  # "1er": the letters escaped
    return formats.date_format(value, format_string)


@register.filter(name="longdate")
def longdate(value, format_string: str = "l j F Y") -> str:
    return long_date(value, format_string) if value else ""
