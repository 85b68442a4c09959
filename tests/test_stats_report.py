"""The printable service report: a PDF in French whose text holds the period's figures."""

import io

from django.contrib.auth import get_user_model
from django.urls import reverse
from pypdf import PdfReader

from emporter.patrons.models import Role, StaffRole
from emporter.stats import report
from tests.test_stats import PERIOD, build_history, built_history, history  # noqa: F401 (fixtures)


def text_of(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    # No-break spaces (before "%") come out as either kind of space: read them as one.
    return "\n".join(page.extract_text() for page in reader.pages).replace("\xa0", " ")


def test_the_report_is_in_french_with_the_figures_and_the_previous_period(client, history):  # noqa: F811
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    response = client.get(reverse("stats:report_pdf"), {"start": "2020-11-16", "end": "2020-12-02"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="emporter-rapport-2020-11-16-2020-12-02.pdf"'
    text = text_of(response.content)
    # Dates and numbers the French way, accents from the network's own names.
    assert "16 novembre 2020" in text and "2 décembre 2020" in text
    assert "30 octobre 2020" in text and "15 novembre 2020" in text  # the previous period
    assert "2,4" in text  # documents per patron
    assert "16,7 %" in text  # phone: 2 of 12, rounded (not cut) to one decimal
    assert "60,0 %" in text  # Arts et Loisirs: 3 not found of 5
    assert "Arts et Loisirs" in text and "Médiathèque de la Croix-Rousse" in text
    assert "+1100 %" in text  # 12 requests against 1 in the previous period


def test_a_period_with_nothing_still_renders(db):
    from tests.conftest import make_branch

    branch = make_branch(code="VAI", name="Bibliothèque de Vaise")
    text = text_of(report.service_report(period=PERIOD, branches=[branch]))
    assert "Bibliothèque de Vaise" in text
    assert "—" in text  # no documents per patron when nobody asked for anything


def test_the_report_is_in_the_readers_language(client, history):  # noqa: F811
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    response = client.get("/en/staff/stats/report.pdf", {"start": "2020-11-16", "end": "2020-12-02"})
    assert response["Content-Disposition"] == 'inline; filename="emporter-report-2020-11-16-2020-12-02.pdf"'
    text = text_of(response.content)
    assert "16 November 2020" in text and "16.7%" in text
    assert "Click-and-collect service report" in text
