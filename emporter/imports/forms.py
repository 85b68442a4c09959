from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from emporter.catalogue.item_mappings import PRESETS
from emporter.catalogue.marc import ENCODINGS as MARC_ENCODINGS
from emporter.catalogue.marc import unknown_encoding
from emporter.network.models import Branch

from .models import Kind


def max_upload_mb() -> int:
    """The largest file the page takes (settings.MAX_UPLOAD_MB); larger ones go through
    the commands, on the server (docs/deploy.md)."""
    return settings.MAX_UPLOAD_BYTES // (1024 * 1024)


def _text_codec(name: str) -> bool:
    """Whether Python reads text in ``name`` (not rot13, hex or zip: they do not turn
    bytes into text)."""
    import codecs

    try:
        return codecs.lookup(name)._is_text_encoding and b"".decode(name) == ""
    except (LookupError, TypeError):
        return False


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=Kind.choices, widget=forms.RadioSelect)
    file = forms.FileField(label=_("File"))
    source = forms.CharField(
        label=_("Source (MARC)"),
        required=False,
        max_length=40,
        help_text=_(
            "The name that keys this catalogue's records; by default the file's name without its "
            "extension. Give the same each time the system's export changes name."
        ),
    )
    preset = forms.ChoiceField(
        label=_("Copy fields (MARC)"),
        required=False,
        choices=[("", _("Detected from the file"))] + [(name, name) for name in sorted(PRESETS)],
    )
    default_branch = forms.ModelChoiceField(
        label=_("Library for copies whose library code is unknown"),
        queryset=Branch.objects.order_by("name"),
        required=False,
        to_field_name="code",
    )
    encoding = forms.CharField(
        label=_("Encoding"),
        required=False,
        max_length=30,
        help_text=_(
            "Only when the file is neither UTF-8 nor Windows-1252 (mac_roman, cp850…), or for MARC, "
            "when the import says so (marc-8, latin-1, iso5426)."
        ),
    )
    withdraw_missing = forms.BooleanField(
        label=_("The file is the source's whole catalogue: withdraw the copies it no longer lists (MARC)"),
        required=False,
    )
    take_over = forms.BooleanField(
        label=_("This source replaces the one that has the file's barcodes (MARC)"), required=False
    )
    set_pins = forms.BooleanField(
        label=_("Replace existing patrons' PINs with the file's (patrons)"), required=False
    )
    date_format = forms.ChoiceField(
        label=_("Dates of the card_expires column (patrons)"),
        choices=[
            ("metric", _("Day first: 31/12/2026")),
            ("us", _("Month first: 12/31/2026")),
        ],
        initial="metric",
        required=False,
        help_text=_("As the library system writes them (Koha's dateformat); 2026-12-31 is always read."),
    )
    expire_missing = forms.BooleanField(
        label=_(
            "The file is the library system's whole list of patrons: end the cards of imported patrons "
            "it does not list (patrons)"
        ),
        required=False,
        help_text=_(
            "Their cards expire yesterday and their requests wait. Not done when a row could not be "
            "read, or when more than half of the valid cards are missing."
        ),
    )
    replace_cards = forms.BooleanField(
        label=_(
            "The library renumbered its cards: replace the card numbers of patrons found by their id "
            "(patrons)"
        ),
        required=False,
        help_text=_("Without it, a file giving new numbers to more than one row in twenty replaces none."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise self.too_large()
        return upload

    @staticmethod
    def too_large() -> forms.ValidationError:
        return forms.ValidationError(
            _("This file is over %(size)s MB: import it with the command on the server.")
            % {"size": max_upload_mb()},
            code="too_large",
        )

    def clean_encoding(self):
        return self.cleaned_data["encoding"].strip()

    def clean(self):
        data = super().clean()
        name = data.get("encoding")
        if name and data.get("kind") == Kind.MARC:
            # The MARC reader's own names (marc-8 is no Python codec), as its
            # problems advise them.
            if name.lower() not in MARC_ENCODINGS:
                self.add_error("encoding", unknown_encoding(name))
            else:
                data["encoding"] = name.lower()
        elif name and not _text_codec(name):
            self.add_error("encoding", _("Unknown encoding: %(name)s.") % {"name": name})
        return data

    def options(self) -> dict:
        """What the importer is told, as the job keeps it (JSON)."""
        data = self.cleaned_data
        branch = data.get("default_branch")
        return {
            "source": data["source"].strip(),
            "preset": data["preset"],
            "default_branch": branch.code if branch else "",
            "encoding": data["encoding"],
            "withdraw_missing": data["withdraw_missing"],
            "take_over": data["take_over"],
            "set_pins": data["set_pins"],
            "date_format": data["date_format"] or "metric",
            "expire_missing": data["expire_missing"],
            "replace_cards": data["replace_cards"],
        }
