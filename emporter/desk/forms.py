"""Door forms: they only validate; the desk services do the work."""

from django import forms
from django.utils.translation import gettext_lazy as _

from emporter.inputs import parse_id


class IdsField(forms.MultipleChoiceField):
    """Ids ticked on the page; the service decides which of them can still be lent.

    ASCII digits, and few enough for the database: "²" passes str.isdigit() and then
    int() refuses it; a 30-digit id makes SQLite raise in the query."""

    default_error_messages = {
        "invalid_choice": _("“%(value)s” is not a document from this page: scan the card again."),
    }

    def valid_value(self, value) -> bool:
        return parse_id(str(value)) is not None

    def clean(self, value):
        return [parse_id(str(v)) for v in super().clean(value)]


class HandoverForm(forms.Form):
    card = forms.CharField(max_length=30)
    # One per rendered page: a repeated click or a resubmitted page lends nothing twice.
    nonce = forms.CharField(max_length=64)
    requests = IdsField(error_messages={"required": _("Tick at least one document to hand over.")})
    override = forms.BooleanField(required=False)


class BarcodeForm(forms.Form):
    barcode = forms.CharField(max_length=50, error_messages={"required": _("Scan or type a barcode.")})
