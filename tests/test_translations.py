"""No page mixes French and English: every string in the source has a French translation."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_french_catalogue_covers_every_string_in_the_source(tmp_path):
    # Re-extract the strings from a copy of the package, so the real catalogue is
    # untouched, then ask gettext which ones have no (or only a fuzzy) translation.
    shutil.copytree(
        ROOT / "emporter", tmp_path / "emporter", ignore=shutil.ignore_patterns("*.mo", "__pycache__")
    )
    shutil.copy(ROOT / "manage.py", tmp_path)
    subprocess.run(
        [sys.executable, "../manage.py", "makemessages", "-l", "fr", "--no-obsolete", "-v0"],
        cwd=tmp_path / "emporter",
        check=True,
    )
    po = tmp_path / "emporter" / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    missing = subprocess.run(
        ["msgattrib", "--only-fuzzy", str(po)], capture_output=True, text=True, check=True
    ).stdout
    untranslated = subprocess.run(
        ["msgattrib", "--untranslated", str(po)], capture_output=True, text=True, check=True
    ).stdout
    assert missing == "" and untranslated == "", f"untranslated strings:\n{untranslated}{missing}"


def test_every_plural_form_of_the_french_catalogue_is_filled():
    """French has three plural forms here (0-1, millions, the rest): a translation that
    fills two leaves "2 documents" in English, and msgattrib does not call it untranslated."""
    po = (ROOT / "emporter" / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text()
    nplurals = int(re.search(r"nplurals=(\d+)", po).group(1))
    incomplete = []
    for entry in po.split("\n\n"):
        if "\nmsgid_plural " not in entry or entry.lstrip().startswith("#~"):
            continue
        forms = re.findall(r'^msgstr\[(\d+)\] ((?:".*"\n?)+)', entry + "\n", flags=re.M)
        filled = {int(n) for n, text in forms if re.sub(r'"\s*"', "", text).strip('"\n ')}
        if filled != set(range(nplurals)):
            incomplete.append(re.search(r'^msgid ((?:".*"\n)+)', entry, flags=re.M).group(1)[:80])
    assert not incomplete, f"plural forms missing for: {incomplete}"


def test_french_punctuation_has_its_non_breaking_space():
    """French puts a non-breaking space before : ; ! ? and inside « »: an ordinary one
    lets a line break before the colon, none at all reads as English."""
    po = (ROOT / "emporter" / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text()
    translations = [
        "".join(re.findall(r'^"(.*)"$', block, flags=re.M))
        for entry in po.split("\n\n")[1:]  # the first entry is the catalogue's header
        for block in re.split(r"^msgstr(?:\[\d\])? ", entry, flags=re.M)[1:]
    ]
    wrong = [
        text
        for text in translations
        if re.search(r"[^\s\d/\u00a0][ ]?[:;!?](?=[\s\"'»)]|$)", text)
        or re.search(r"«(?!\u00a0)|(?<!\u00a0)»", text)
    ]
    assert not wrong, f"French punctuation without its non-breaking space: {wrong[:10]}"


def test_french_apostrophes_are_typographic():
    """One apostrophe in the French catalogue, the typographic ’: a mix of ' and ’ in one
    email reads as careless."""
    po = (ROOT / "emporter" / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text()
    translations = [
        "".join(re.findall(r'^"(.*)"$', block, flags=re.M))
        for entry in po.split("\n\n")[1:]
        for block in re.split(r"^msgstr(?:\[\d\])? ", entry, flags=re.M)[1:]
    ]
    straight = [text for text in translations if re.search(r"\w'\w", text)]
    assert not straight, f"straight apostrophes in French: {straight[:10]}"


def test_a_bag_and_an_appointment_are_masculine_in_french_where_requests_are_feminine():
    from django.utils import translation

    from emporter.curbside.models import Appointment
    from emporter.discovery.models import SurpriseStatus
    from emporter.holds.models import Status

    with translation.override("fr"):
        assert str(Status.CANCELLED.label) == "Annulée"
        assert str(SurpriseStatus.CANCELLED.label) == "Annulé"
        assert str(Appointment.State.CANCELLED.label) == "Annulé"
        assert str(Appointment.State.DONE.label) == "Retiré"
