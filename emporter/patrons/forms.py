from django import forms
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from emporter.errors import ServiceError

from . import throttle
from .backends import client_address
from .selectors import cards_are_digits
from .services import too_easy


def _focus_errors_first(form: forms.Form, field: str) -> None:
    """A sign-in form sent back is shown with its errors, whose box takes the focus
    (_form_errors.html): the first field no longer does (two autofocus on one page)."""
    if form.is_bound:
        form.fields[field].widget.attrs.pop("autofocus", None)


class PatronLoginForm(forms.Form):
    card_number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "username",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
    pin = forms.CharField(
        label=_("PIN"),
        max_length=8,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _focus_errors_first(self, "card_number")
        if cards_are_digits():
            self.fields["card_number"].widget.attrs["inputmode"] = "numeric"

    def clean_card_number(self) -> str:
        # Typed as printed on the card, in groups ("1000 0001"): the spaces are not part of it.
        return "".join(self.cleaned_data["card_number"].split())


class ChangePinForm(forms.Form):
    old_pin = forms.CharField(
        label=_("Current PIN"),
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "current-password"}),
    )
    new_pin = forms.CharField(
        label=_("New PIN"),
        # Said as the help text says it, not "at least 4 characters".
        max_length=20,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "new-password"}),
        help_text=_("4 to 8 digits."),
    )
    # Typed blind on a phone keypad: a slip here would lock the patron out at the door.
    confirm_pin = forms.CharField(
        label=_("New PIN again"),
        max_length=20,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "new-password"}),
    )

    def clean_new_pin(self) -> str:
        pin = self.cleaned_data["new_pin"]
        # ASCII digits, as services.change_pin checks: "١٢٣٤" is digits to str.isdigit.
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
            raise forms.ValidationError(_("A PIN is 4 to 8 digits."), code="bad_pin")
        return pin

    def clean(self):
        cleaned = super().clean()
        old, new, again = cleaned.get("old_pin"), cleaned.get("new_pin"), cleaned.get("confirm_pin")
        if old and new and old == new:
            same = _("The new PIN is the same as the current one.")
            self.add_error("new_pin", forms.ValidationError(same, code="pin_unchanged"))
        elif new and too_easy(new):
            easy = ServiceError("pin_too_easy").message
            self.add_error("new_pin", forms.ValidationError(easy, code="pin_too_easy"))
        if new and again and new != again:
            mismatch = forms.ValidationError(_("The two new PINs differ."), code="pin_mismatch")
            self.add_error("confirm_pin", mismatch)
        return cleaned


class StaffLoginForm(AuthenticationForm):
    """Django's sign-in form, saying so when the name is locked (a wrong password would
    otherwise look like the lock, and the right one like a wrong one). A browser that
    signed in to the name before is not held by the name's lock from anywhere
    (``throttle.known_name``; the view sets its cookie)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _focus_errors_first(self, "username")
        self.known_browser = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username:
            self.known_browser = throttle.known_name(self.request, username, lambda: _password_of(username))
            self._refuse_locked(username)
        if username is not None and password:
            # AuthenticationForm.clean, telling the backend which browser this is.
            self.user_cache = authenticate(
                self.request, username=username, password=password, known_browser=self.known_browser
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def _refuse_locked(self, username: str) -> None:
        address = client_address(self.request)
        if seconds := throttle.staff_address_locked_for(address):
            minutes = -(-seconds // 60)
            raise forms.ValidationError(
                ngettext(
                    "Too many wrong staff sign-ins from this network: try again in %(minutes)s minute.",
                    "Too many wrong staff sign-ins from this network: try again in %(minutes)s minutes.",
                    minutes,
                ),
                code="login_address_locked",
                params={"minutes": minutes},
            )
        if seconds := throttle.locked_for(username, address, self.known_browser):
            minutes = -(-seconds // 60)
            raise forms.ValidationError(
                ngettext(
                    "Too many wrong passwords: this account is locked for %(minutes)s more minute.",
                    "Too many wrong passwords: this account is locked for %(minutes)s more minutes.",
                    minutes,
                ),
                code="login_locked",
                params={"minutes": minutes},
            )


def _password_of(username: str) -> str | None:
    """The password hash of the user named so, exactly, as the sign-in finds them."""
    users = get_user_model()._default_manager.filter(username=username)
    return users.values_list("password", flat=True).first()
