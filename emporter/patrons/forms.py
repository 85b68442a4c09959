from django import forms
from django.utils.translation import gettext_lazy as _


class PatronLoginForm(forms.Form):
    card_number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "username", "inputmode": "numeric", "autofocus": True}),
    )
    pin = forms.CharField(
        label=_("PIN"),
        max_length=8,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "inputmode": "numeric"}),
    )


class ChangePinForm(forms.Form):
    old_pin = forms.CharField(
        label=_("Current PIN"), widget=forms.PasswordInput(attrs={"inputmode": "numeric"})
    )
    new_pin = forms.CharField(
        label=_("New PIN"),
        min_length=4,
        max_length=8,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "new-password"}),
        help_text=_("4 to 8 digits."),
    )
