"""The admin, fifteenth session: a record's copies edited from its page whatever
happens meanwhile, and added from it however many it has."""

from django.urls import reverse

from emporter.catalogue.admin import EDITABLE_COPIES
from emporter.catalogue.models import Copy
from tests.conftest import make_record


def _editable_page_data(page, record):
    """What the browser sends back from a record page showing its copies editable."""
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    data |= {"title": record.title, "doc_type": record.doc_type, "audience": record.audience}
    data["subjects"] = "[]"
    copies = list(record.copies.order_by("pk"))
    data |= {"copies-TOTAL_FORMS": str(len(copies)), "copies-INITIAL_FORMS": str(len(copies))}
    for i, copy in enumerate(copies):
        data |= {
            f"copies-{i}-id": copy.pk,
            f"copies-{i}-record": record.pk,
            f"copies-{i}-barcode": copy.barcode,
            f"copies-{i}-call_number": copy.call_number,
            f"copies-{i}-branch": copy.branch_id,
            f"copies-{i}-doc_type": copy.doc_type,
            f"copies-{i}-source_codes": "{}",
        }
    return data


def test_edits_sent_from_an_editable_page_are_kept_when_copies_were_added_meanwhile(admin_client, branch):
    record = make_record(copies=[branch] * EDITABLE_COPIES)
    url = reverse("admin:catalogue_record_change", args=[record.pk])
    page = admin_client.get(url)
    data = _editable_page_data(page, record)
    first = record.copies.order_by("pk").first()
    data["copies-0-call_number"] = "R ETR 9"
    # Meanwhile an import adds a copy: the record now has more than the page edits.
    Copy.objects.create(record=record, barcode="LATE0001", call_number="R ETR", branch=branch)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    first.refresh_from_db()
    assert first.call_number == "R ETR 9"


def test_a_record_with_many_copies_offers_to_add_one(admin_client, branch):
    record = make_record(copies=[branch] * (EDITABLE_COPIES + 1))
    page = admin_client.get(reverse("admin:catalogue_record_change", args=[record.pk]))
    add = f"{reverse('admin:catalogue_copy_add')}?record={record.pk}"
    assert add in page.content.decode()
    # And the copy's page opens with the record filled in.
    form = admin_client.get(add).context["adminform"].form
    assert str(form.initial["record"]) == str(record.pk)


def test_a_list_sent_back_after_copies_were_removed_saves_the_record(admin_client, branch):
    record = make_record(copies=[branch] * (EDITABLE_COPIES + 1))
    url = reverse("admin:catalogue_record_change", args=[record.pk])
    page = admin_client.get(url)
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    data |= {"title": "Un titre corrigé", "doc_type": record.doc_type, "audience": record.audience}
    data |= {"subjects": "[]", "copylist-TOTAL_FORMS": "0", "copylist-INITIAL_FORMS": "0"}
    record.copies.order_by("-pk").first().delete()  # now few enough to be editable

    response = admin_client.post(url, data)

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.title == "Un titre corrigé"


def test_an_email_search_reads_the_patrons_through_an_index(postgres, admin_user, branch):
    from django.contrib import admin
    from django.db import connection
    from django.test.client import RequestFactory

    from emporter.patrons.models import Patron
    from tests.conftest import make_patron

    for n in range(50):
        make_patron(branch, card=f"2000{n:04d}")
    request = RequestFactory().get("/", {"q": "Camille.Martin@Example.org"})
    request.user = admin_user
    queryset, _ = admin.site._registry[Patron].get_search_results(
        request, Patron.objects.all(), "Camille.Martin@Example.org"
    )
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patrons_patron")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "patron_email_any_capitals" in plan, plan


def _form_data(page_html: str) -> dict:
    """What the browser sends back: every input, select and textarea of the change form."""
    import html
    import re

    form = page_html[page_html.index('id="record_form"') :]
    form = form[: form.index("</form>")]
    data = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        if not name or re.search(r'type="(submit|checkbox)"', tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]*)"[^>]*>(.*?)</textarea>', form, flags=re.S):
        data[name] = html.unescape(body.lstrip("\n"))
    for name, body in re.findall(r'<select[^>]*name="([^"]*)"[^>]*>(.*?)</select>', form, flags=re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = html.unescape(chosen.group(1)) if chosen else ""
    return data


def test_a_list_sent_back_as_a_browser_does_after_a_copy_was_deleted_keeps_the_records_edit(
    admin_client, branch
):
    record = make_record(copies=[branch] * (EDITABLE_COPIES + 5))
    url = reverse("admin:catalogue_record_change", args=[record.pk])
    data = _form_data(admin_client.get(url).text)
    assert data.get("copylist-TOTAL_FORMS") == str(EDITABLE_COPIES + 5)
    data["title"] = "Un titre corrigé"
    record.copies.order_by("pk").first().delete()  # meanwhile, by an import

    assert admin_client.post(url, data).status_code == 302
    record.refresh_from_db()
    assert record.title == "Un titre corrigé"


def test_an_editable_page_sent_back_after_a_copy_was_deleted_says_so(admin_client, branch):
    record = make_record(copies=[branch] * 3)
    url = reverse("admin:catalogue_record_change", args=[record.pk])
    data = _form_data(admin_client.get(url).text)
    record.copies.order_by("pk").first().delete()
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Un exemplaire de cette notice a été supprimé pendant que la page était ouverte" in response.text
