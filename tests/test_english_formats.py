"""English pages write dates as they are written here: day first, 24-hour clock."""

import datetime

from django.template import Context, Template
from django.utils import translation

from emporter.stats.tables import RATE, display


def render(value) -> str:
    return Template('{{ d|date:"SHORT_DATE_FORMAT" }} {{ t|date:"SHORT_DATETIME_FORMAT" }}').render(
        Context({"d": value, "t": datetime.datetime(2026, 11, 29, 21, 10)})
    )


def test_short_dates_are_day_first_in_english_as_in_french():
    with translation.override("en"):
        assert render(datetime.date(2026, 12, 5)) == "05/12/2026 29/11/2026 21:10"
    with translation.override("fr"):
        assert render(datetime.date(2026, 12, 5)) == "05/12/2026 29/11/2026 21:10"


def test_a_rate_has_a_space_before_the_percent_sign_in_french_only():
    with translation.override("en"):
        assert display(0.207, RATE) == "20.7%"
    with translation.override("fr"):
        assert display(0.207, RATE) == "20,7\u00a0%"
