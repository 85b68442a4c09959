import re
import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from emporter.network.models import Branch

from .kinds import ADULT_AGE, Kind
from .models import SurpriseRequest
from .selectors import is_child

MAX_BAG = 8
# The ask form's key: a uuid4 in hex, one per rendering (as the basket's confirm_key).
ASK_KEY = re.compile(r"[0-9a-f]{32}")


class SurpriseForm(forms.Form):
    for_whom = forms.TypedChoiceField(label=_("For whom?"), coerce=int)
    age = forms.IntegerField(
        label=_("Age of the reader"),
        required=False,
        min_value=0,
        max_value=120,
        help_text=_("Leave empty for yourself (adult)."),
    )
    how_many = forms.IntegerField(label=_("How many documents?"), min_value=1, max_value=MAX_BAG, initial=3)
    kinds = forms.MultipleChoiceField(
        label=_("Which kinds?"), choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    tastes = forms.CharField(
        label=_("Tastes, in a few words"),
        required=False,
        max_length=SurpriseRequest._meta.get_field("tastes").max_length,
        help_text=_("For example: dinosaurs, funny stories, space"),
    )
    avoid = forms.CharField(
        label=_("What to avoid"),
        required=False,
        max_length=SurpriseRequest._meta.get_field("avoid").max_length,
        help_text=_("For example: horror, already read Harry Potter"),
    )
    pickup_branch = forms.ModelChoiceField(
        label=_("Collect at"), queryset=Branch.objects.accepting_requests()
    )
    # Sent back as rendered: a second send of the same page makes no second bag.
    ask_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, patron, **kwargs):
        super().__init__(*args, **kwargs)
        self.people = {patron.pk: patron} | {c.pk: c for c in patron.children.select_related("home_branch")}
        self.fields["for_whom"].choices = [(patron.pk, _("Me"))] + [
            (c.pk, f"{c.first_name} {c.last_name}") for c in self.people.values() if c.pk != patron.pk
        ]
        if len(self.people) == 1:
            self.fields["for_whom"].widget = forms.HiddenInput()
        if is_child(patron):  # a child asking for themselves: no "yourself (adult)"
            self.fields["age"].required = True
            self.fields["age"].help_text = ""
        self.fields["for_whom"].initial = patron.pk
        self.fields["ask_key"].initial = uuid.uuid4().hex
        # Their own library, else the first that takes requests (as the basket does): a
        # required choice left empty is one more tap the patron is refused for.
        accepting = self.fields["pickup_branch"].queryset
        if patron.home_branch.accepts_requests:
            self.fields["pickup_branch"].initial = patron.home_branch_id
        elif first := accepting.first():
            self.fields["pickup_branch"].initial = first.pk

    def clean_ask_key(self) -> str | None:
        # Anything but the form's own key did not come from the form: no replay for it.
        key = self.cleaned_data["ask_key"]
        return key if ASK_KEY.fullmatch(key) else None

    def clean(self):
        data = super().clean()
        # A child's bag is chosen by age: with none, the librarian would be offered the
        # whole catalogue, adults' documents first.
        reader = self.people.get(data.get("for_whom"))
        if reader is None or not is_child(reader) or "age" in self.errors:
            return data
        age = data.get("age")
        if age is None:
            self.add_error(
                "age", _("How old is %(name)s? The librarian chooses by age.") % {"name": reader.first_name}
            )
        elif age >= ADULT_AGE:
            # A typo (30 for 3) on a child's card would fill the bag with adults' documents.
            self.add_error(
                "age",
                _("%(name)s has a child's card: give an age under %(adult)s.")
                % {"name": reader.first_name, "adult": ADULT_AGE},
            )
        return data

    def reader(self):
        return self.people[self.cleaned_data["for_whom"]]
