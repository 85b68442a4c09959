"""The imports page offers what the patron import command does on a network's real days:
the whole list of patrons (cards not listed end), US dates, and the day cards are
renumbered."""

import datetime
from pathlib import Path

from django.utils import timezone

from emporter.imports.models import ImportJob
from emporter.patrons.models import Patron
from tests.conftest import make_branch
from tests.test_imports_page import admin_client, data_dir, send, url  # noqa: F401 (fixtures)

HEADER = "source_id;card_number;first_name;last_name;home_branch;card_expires\n"


def patrons_file(tmp_path: Path, rows: list[str], name="lecteurs.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


def test_a_whole_list_sent_from_the_page_ends_the_cards_it_no_longer_lists(admin_client, tmp_path):  # noqa: F811
    make_branch(code="PDI")
    everyone = [f"{n};2000{n};Prénom;Nom{n};PDI;2030-01-31" for n in range(1, 5)]
    send(admin_client, patrons_file(tmp_path, everyone), kind="patrons")
    send(admin_client, patrons_file(tmp_path, everyone[1:]), kind="patrons", expire_missing="on")

    gone = Patron.objects.get(card_number="20001")
    assert gone.card_expires == timezone.localdate() - datetime.timedelta(days=1)
    assert Patron.objects.exclude(pk=gone.pk).filter(card_expires=datetime.date(2030, 1, 31)).count() == 3
    job = ImportJob.objects.latest("pk")
    assert "The card of 1 patron not in the export was ended" in job.summary


def test_without_the_box_the_page_says_how_many_are_not_listed_in_its_own_words(admin_client, tmp_path):  # noqa: F811
    make_branch(code="PDI")
    everyone = [f"{n};2000{n};Prénom;Nom{n};PDI;2030-01-31" for n in range(1, 5)]
    send(admin_client, patrons_file(tmp_path, everyone), kind="patrons")
    send(admin_client, patrons_file(tmp_path, everyone[1:]), kind="patrons")

    assert Patron.objects.get(card_number="20001").card_expires == datetime.date(2030, 1, 31)
    summary = ImportJob.objects.latest("pk").summary
    assert "1 patron with a valid card here is not in the export" in summary
    assert "--expire-missing" not in summary and "“The file is the library system" in summary


def test_month_first_dates_are_read_when_the_page_says_so(admin_client, tmp_path):  # noqa: F811
    make_branch(code="PDI")
    send(
        admin_client,
        patrons_file(tmp_path, ["1;30001;Ann;Lee;PDI;12/31/2030"]),
        kind="patrons",
        date_format="us",
    )
    assert Patron.objects.get().card_expires == datetime.date(2030, 12, 31)


def test_renumbered_cards_are_replaced_only_when_the_page_says_they_were(admin_client, tmp_path):  # noqa: F811
    make_branch(code="PDI")
    old = [f"{n};4000{n:03d};Prénom;Nom{n};PDI;2030-01-31" for n in range(1, 31)]
    new = [f"{n};5000{n:03d};Prénom;Nom{n};PDI;2030-01-31" for n in range(1, 31)]
    send(admin_client, patrons_file(tmp_path, old), kind="patrons")

    send(admin_client, patrons_file(tmp_path, new), kind="patrons")
    assert not Patron.objects.filter(card_number__startswith="5000").exists()
    refused = ImportJob.objects.latest("pk")
    assert any(p["code"] == "replacements_refused" for p in refused.problems)
    message = next(p["message"] for p in refused.problems if p["code"] == "replacements_refused")
    assert "import the file again with “The library renumbered its cards" in message

    send(admin_client, patrons_file(tmp_path, new), kind="patrons", replace_cards="on")
    assert Patron.objects.filter(card_number__startswith="5000").count() == 30
    assert Patron.objects.count() == 30  # the same patrons, with their new cards


def test_the_page_shows_the_three_options(admin_client):  # noqa: F811
    page = admin_client.get(url("imports:index")).text
    for name in ("date_format", "expire_missing", "replace_cards"):
        assert f'name="{name}"' in page
