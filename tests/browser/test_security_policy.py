"""The Content-Security-Policy lets the pages do all they do: no script, style or image
any page needs is refused (the ``desktop`` fixture fails on a refusal Chromium reports).
Every other browser journey checks its own pages the same way."""

import datetime

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_branch, make_patron, make_record
from tests.test_staff_ui_fixes import a_run


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_pages_the_admin_and_the_api_docs_load_under_the_policy(live_server, desktop):
    branch = make_branch(weekdays=range(7), pick_time=datetime.time(23, 59))
    record = make_record(title="Friendly fire", copies=[branch])
    run = a_run(branch, ["R BLU"])
    make_patron(branch, card="10000077")
    get_user_model().objects.create_superuser("root", password="motdepasse-demo")
    page = desktop
    page.goto(f"{live_server.url}/staff/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "motdepasse-demo")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    for path in [
        "/",
        "/catalogue/?q=friendly",
        f"/catalogue/record/{record.pk}/",
        f"/staff/door/{branch.pk}/",
        f"/staff/picking/runs/{run.pk}/pick/",
        "/staff/stats/",
        "/staff/network/modes/",
        "/staff/imports/",
        "/staff/phone/?q=10000077",
        "/admin/",
        "/admin/catalogue/record/",
        "/api/docs",
    ]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#swagger-ui .info")  # the API docs' own scripts ran
