import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from emporter.dates import long_date

from .selectors import MAX_DAYS, Period

# No request is older than the service, nor planned years ahead; and a day such as
# 9999-12-31 would overflow the date arithmetic of the period (the next day, the period
# before) instead of being refused.
FIRST_DAY = datetime.date(2000, 1, 1)


def _within_reach(day: datetime.date | None) -> datetime.date | None:
    last = timezone.localdate() + datetime.timedelta(days=MAX_DAYS)
    if day is not None and not FIRST_DAY <= day <= last:
        raise forms.ValidationError(
            _("Choose a day between %(first)s and %(last)s.")
            % {"first": long_date(FIRST_DAY, "j F Y"), "last": long_date(last, "j F Y")},
            code="out_of_reach",
        )
    return day


class PeriodForm(forms.Form):
    """The period and branch a manager looks at; empty fields mean the last 30 days and
    every branch in the manager's scope."""

    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    branch = forms.ModelChoiceField(
        label=_("Branch"), queryset=None, required=False, empty_label=_("All my branches")
    )

    def __init__(self, *args, scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.fields["branch"].queryset = scope

    def clean_start(self):
        return _within_reach(self.cleaned_data.get("start"))

    def clean_end(self):
        return _within_reach(self.cleaned_data.get("end"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The start of the period must come before its end."))
        if start and end and (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose a period of at most %(days)s days.") % {"days": MAX_DAYS})
        return data

    def selection(self, *, today: datetime.date | None = None) -> tuple[Period, list]:
        """The chosen period and branches. A field in error falls back to its default
        (the page shows the error above the figures); so does the period if its two
        ends disagree."""
        today = today or timezone.localdate()
        data = {}
        if self.is_bound:
            self.is_valid()
            data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
            if self.non_field_errors():
                data = {k: v for k, v in data.items() if k not in ("start", "end")}
        end = data.get("end") or (
            min(today, data["start"] + datetime.timedelta(days=29)) if data.get("start") else today
        )
        start = data.get("start") or end - datetime.timedelta(days=29)
        if start > end:
            end = start
        branch = data.get("branch")
        return Period(start, end), [branch] if branch else list(self.scope)
