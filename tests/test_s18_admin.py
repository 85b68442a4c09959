"""What a network administrator edits in the admin: contradictory input is refused, in
words, and nothing is saved (review s18, "admin")."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import Request, Status
from emporter.notices import render
from emporter.notices.models import Kind, NoticeTemplate
from emporter.patrons.models import Patron
from tests.conftest import make_department, make_location, make_patron, make_record
from tests.test_copy_admin import copy_form


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


@pytest.fixture(autouse=True)
def english():
    # The refusals are read in English here (the model's and the wording check's, as the
    # admin pages under /en/ show them).
    with translation.override("en"):
        yield


# --- a department moved to another library ------------------------------------------


def _department_form(dept, loc, branch_id):
    return {
        "branch": branch_id,
        "code": dept.code,
        "name": dept.name,
        "walking_order": "0",
        "locations-TOTAL_FORMS": "1",
        "locations-INITIAL_FORMS": "1",
        "locations-0-id": loc.pk,
        "locations-0-department": dept.pk,
        "locations-0-code": loc.code,
        "locations-0-name": loc.name,
        "locations-0-walking_order": "0",
        "locations-0-hint": "",
        "locations-0-requestable": "on",
    }


def test_a_department_with_copies_on_it_is_not_moved_to_another_library(admin_client, branch, other_branch):
    """Part-Dieu's copies would sit in a Croix-Rousse department; the importer, which finds
    places by (copy's library, code), would find it no more."""
    dept = make_department(branch)
    loc = make_location(dept)
    record = make_record(copies=[branch])
    Copy.objects.filter(record=record).update(department=dept, location=loc)

    response = admin_client.post(
        en("admin:network_department_change", dept.pk), _department_form(dept, loc, other_branch.pk)
    )

    assert response.status_code == 200
    assert "This department has copies of its library on it" in response.content.decode()
    dept.refresh_from_db()
    assert dept.branch_id == branch.pk


def test_an_empty_department_moves_to_another_library(admin_client, branch, other_branch):
    """Made in the wrong library: nothing sits on it, and moving it harms nothing."""
    dept = make_department(branch)
    loc = make_location(dept)

    response = admin_client.post(
        en("admin:network_department_change", dept.pk), _department_form(dept, loc, other_branch.pk)
    )

    assert response.status_code == 302
    dept.refresh_from_db()
    assert dept.branch_id == other_branch.pk


# --- a copy placed in another library's department, or another department's location ---


def test_a_copy_is_not_put_in_another_librarys_department(admin_client, branch, other_branch):
    elsewhere = make_department(other_branch)
    copy = make_record(copies=[branch]).copies.get()

    response = admin_client.post(
        en("admin:catalogue_copy_change", copy.pk), copy_form(copy, department=elsewhere.pk)
    )

    assert response.status_code == 200
    assert "This department is in another library: Croix-Rousse" in response.content.decode()
    copy.refresh_from_db()
    assert copy.department_id is None


def test_a_copy_is_not_put_in_a_location_of_another_department(admin_client, branch):
    adults = make_department(branch)
    youth = make_department(branch, code="jeunesse", name="Jeunesse", order=1)
    albums = make_location(youth, code="albums", name="Albums")
    copy = make_record(copies=[branch]).copies.get()

    response = admin_client.post(
        en("admin:catalogue_copy_change", copy.pk), copy_form(copy, department=adults.pk, location=albums.pk)
    )

    assert response.status_code == 200
    assert "This location is in another department" in response.content.decode()
    copy.refresh_from_db()
    assert (copy.department_id, copy.location_id) == (None, None)


def test_a_copy_is_placed_in_its_own_librarys_department_and_location(admin_client, branch):
    adults = make_department(branch)
    novels = make_location(adults)
    copy = make_record(copies=[branch]).copies.get()

    response = admin_client.post(
        en("admin:catalogue_copy_change", copy.pk), copy_form(copy, department=adults.pk, location=novels.pk)
    )

    assert response.status_code == 302
    copy.refresh_from_db()
    assert (copy.department_id, copy.location_id) == (adults.pk, novels.pk)


def test_a_copy_on_its_records_page_is_not_put_in_another_librarys_department(branch, other_branch):
    """The record page's inline form (CopyInlineForm) runs the same check, a ModelForm's."""
    from emporter.catalogue.admin import CopyInlineForm

    elsewhere = make_department(other_branch)
    copy = make_record(copies=[branch]).copies.get()
    data = copy_form(copy, department=elsewhere.pk)
    data.pop("status")
    data.pop("status_seen")

    form = CopyInlineForm(data, instance=copy)

    assert not form.is_valid()
    assert "department" in form.errors


def test_a_location_of_another_library_is_refused_when_no_department_is_given(branch, other_branch):
    """Copies placed at a location alone (before this check) keep being saved; at another
    library's location, they are not."""
    copy = make_record(copies=[branch]).copies.get()
    copy.location = make_location(make_department(branch))
    assert copy.place_errors() == {}

    copy.location = make_location(make_department(other_branch))
    assert "This location is in another library: Croix-Rousse" in copy.place_errors()["location"]


# --- a patron made their own guardian, or in a circle of guardians ---------------------


def _patron_form(patron, **changes):
    return {
        "user": patron.user_id,
        "card_number": patron.card_number,
        "first_name": patron.first_name,
        "last_name": patron.last_name,
        "email": patron.email,
        "phone": "",
        "home_branch": patron.home_branch_id,
        "language": patron.language,
        "category": patron.category,
        "guardian": "",
        "notice_channel": patron.notice_channel,
        "card_expires": "",
        "loan_history": patron.loan_history,
        "blocked_reason": "",
    } | changes


REFUSED = "A patron cannot be their own guardian, nor in the care of someone in their care"


def test_a_patron_is_not_made_their_own_guardian_in_the_admin(admin_client, branch):
    """The patrons' import refuses it (importer._guardian: bad_guardian)."""
    patron = make_patron(branch)

    response = admin_client.post(
        en("admin:patrons_patron_change", patron.pk), _patron_form(patron, guardian=patron.pk)
    )

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert Patron.objects.get(pk=patron.pk).guardian_id is None


def test_two_patrons_are_not_made_each_others_guardian_in_the_admin(admin_client, branch):
    """In a circle the "child" acts for, and reads the requests of, the adult in their care."""
    from emporter.holds.services import place_request

    parent = make_patron(branch, card="10000001")
    child = make_patron(branch, card="10000002", first_name="Léo", guardian=parent)

    response = admin_client.post(
        en("admin:patrons_patron_change", parent.pk), _patron_form(parent, guardian=child.pk)
    )

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert Patron.objects.get(pk=parent.pk).guardian_id is None
    record = make_record(title="Journal intime", copies=[branch])
    place_request(patron=parent, record_id=record.pk, pickup_branch=branch)
    kid = Client()
    kid.force_login(child.user)
    assert "Journal intime" not in kid.get(en("patrons:account")).content.decode()


def test_a_longer_circle_of_guardians_is_refused(branch):
    """Grandparent → parent → child: the grandparent is not put in the child's care."""
    grandparent = make_patron(branch, card="10000001")
    parent = make_patron(branch, card="10000002", guardian=grandparent)
    child = make_patron(branch, card="10000003", guardian=parent)
    grandparent.guardian = child

    with pytest.raises(ValidationError) as refused:
        grandparent.clean()

    assert "guardian" in refused.value.message_dict


def test_a_child_is_given_a_guardian_in_the_admin(admin_client, branch):
    parent = make_patron(branch, card="10000001")
    child = make_patron(branch, card="10000002", first_name="Léo")

    response = admin_client.post(
        en("admin:patrons_patron_change", child.pk), _patron_form(child, guardian=parent.pk)
    )

    assert response.status_code == 302
    assert Patron.objects.get(pk=child.pk).guardian_id == parent.pk


# --- staff wording with a tag left unclosed --------------------------------------------


def test_staff_wording_with_a_tag_left_unclosed_is_refused(admin_client, db):
    """ "{{ greeting_name }" (one brace missing) is no tag to Django: plain text, which
    every patron would read as such."""
    body = "Bonjour {{ greeting_name },\nvos documents vous attendent."

    response = admin_client.post(
        en("admin:notices_noticetemplate_add"),
        {"kind": "ready", "language": "fr", "subject": "Vos documents", "body_text": body, "body_html": ""},
    )

    assert response.status_code == 200
    assert not NoticeTemplate.objects.exists()
    assert "A tag is left unclosed" in response.content.decode()


@pytest.mark.parametrize(
    "source",
    ["Bonjour greeting_name }},", "À retirer en {% now 'Y' }", "{# note }"],
)
def test_every_tag_mark_left_in_the_rendering_is_said(db, source):
    error = render.wording_error(source, kind=Kind.READY, language="fr")

    assert error.startswith("A tag is left unclosed"), error


def test_wording_with_its_tags_closed_is_accepted(db):
    source = "Bonjour {{ greeting_name }},\n{# a note #}vos documents vous attendent."

    assert render.wording_error(source, kind=Kind.READY, language="fr") == ""


# --- read again (adversarial review of the admin checks) ---------------------------------


# 1. Staff HTML wording with ordinary (compact) CSS is refused as "a tag left unclosed".
@pytest.mark.parametrize(
    "css",
    [
        "table{width:100%}",  # "%}"
        "@media (max-width:600px){p{font-size:18px}}",  # "}}"
    ],
)
def test_staff_html_wording_with_a_style_block_is_accepted(db, css):
    source = (
        '{% extends "notices/email/_base.html" %}{% block content %}'
        f"<style>{css}</style><p>Vos documents vous attendent.</p>{{% endblock %}}"
    )
    assert render.wording_error(source, kind=Kind.READY, language="fr") == ""


def test_staff_html_wording_with_css_is_saved_in_the_admin(admin_client, db):
    html = (
        "<html><head><style>.btn{width:100%}</style></head>"
        "<body><p>Bonjour {{ greeting_name }}</p></body></html>"
    )
    response = admin_client.post(
        en("admin:notices_noticetemplate_add"),
        {
            "kind": "ready",
            "language": "fr",
            "subject": "Vos documents",
            "body_text": "Bonjour",
            "body_html": html,
        },
    )
    assert response.status_code == 302, "refused: a tag is left unclosed"
    assert NoticeTemplate.objects.exists()


# 2. A department whose copies are placed by location only (no department: the copies
#    Copy.clean's elif speaks of) moves to another library: its copies then sit at a
#    location of another library, which Copy.clean itself refuses.
def test_a_department_whose_copies_have_a_location_only_is_not_moved(admin_client, branch, other_branch):
    dept = make_department(branch)
    loc = make_location(dept)
    record = make_record(copies=[branch])
    Copy.objects.filter(record=record).update(department=None, location=loc)

    response = admin_client.post(
        en("admin:network_department_change", dept.pk), _department_form(dept, loc, other_branch.pk)
    )

    dept.refresh_from_db()
    copy = Copy.objects.get(record=record)
    where = copy.location.department.branch
    assert dept.branch_id == branch.pk, f"moved ({response.status_code}): {copy.branch}'s copy now at {where}"


# 3. A copy set aside for a request, placed (before this check) in another library's
#    department: the record's page can no longer be saved at all (even its title), and
#    the copy's place cannot be corrected while it is held (HeldCopyGuard).
def test_a_records_title_is_corrected_while_a_held_copy_has_an_old_wrong_place(
    admin_client, branch, other_branch
):
    elsewhere = make_department(other_branch)
    record = make_record(copies=[branch])
    copy = record.copies.get()
    Copy.objects.filter(pk=copy.pk).update(department=elsewhere, status=CopyStatus.SET_ASIDE)
    patron = make_patron(branch)
    Request.objects.create(
        patron=patron, record=record, copy=copy, pickup_branch=branch, status=Status.PLACED
    )
    copy.refresh_from_db()

    page = admin_client.get(en("admin:catalogue_record_change", record.pk))
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    for formset in page.context["inline_admin_formsets"]:
        fs = formset.formset
        data |= {f"{fs.prefix}-TOTAL_FORMS": "1", f"{fs.prefix}-INITIAL_FORMS": "1"}
        f = fs.forms[0]
        for name in f.fields:
            value = f.initial.get(name)
            if value is not None:
                data[f"{f.prefix}-{name}"] = getattr(value, "pk", value)
        data[f"{f.prefix}-id"] = copy.pk
        data[f"{f.prefix}-record"] = record.pk
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["title"] = "Le Titre corrigé"

    response = admin_client.post(en("admin:catalogue_record_change", record.pk), data)

    assert response.status_code == 302, "record page refused: " + " | ".join(
        str(e) for e in response.context["inline_admin_formsets"][0].formset.errors if e
    )
