"""Every model change has its migration: a field added without one would fail on the
first deploy, not in the tests (which build their database from the models' migrations)."""

import io

from django.core.management import call_command


def test_no_model_change_lacks_a_migration(db):
    out = io.StringIO()
    call_command("makemigrations", check=True, dry_run=True, stdout=out)  # SystemExit(1) if one is missing
    assert "No changes detected" in out.getvalue()
