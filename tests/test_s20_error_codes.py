"""Every error a screen says has a stable code in ``errors.MESSAGES``: each one driven
through its view, and shown in French (the site's default language) with the words it
had before it got a code. A source scan keeps new inline errors out of the views."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from emporter import errors
from emporter.catalogue.models import CopyStatus
from emporter.desk.models import Loan
from emporter.discovery import services as discovery
from emporter.holds.services import place_request
from emporter.network.models import ServiceMode
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record

ROOT = Path(__file__).resolve().parent.parent
NB = "\u00a0"  # French puts a no-break space before ":"


def staff(role, branch, username="biblio"):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def said(response) -> list[str]:
    return [str(m.message) for m in get_messages(response.wsgi_request)]


def coded(code: str, french: str) -> str:
    """The code is in the catalogue of errors, and ``french`` is what it says here."""
    assert code in errors.MESSAGES
    return french


@pytest.fixture
def closed(db):
    return make_branch(code="VAI", name="Vaise", mode=ServiceMode.CLOSED)


@pytest.fixture
def signed_in(client, patron):
    client.force_login(patron.user)
    return client


# -- The patron's basket (holds.views) ------------------------------------------------------


def test_staff_no_basket(client, branch):
    client.force_login(staff(Role.PHONE_DESK, branch))
    record = make_record(copies=[branch])
    response = client.post(f"/basket/add/{record.pk}/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert said(response) == [
        coded(
            "staff_no_basket",
            f"Les comptes du personnel n’ont pas de panier{NB}: demandez les documents pour "
            "un·e abonné·e depuis l’accueil téléphonique.",
        )
    ]


def test_basket_full_for_a_patron(signed_in, branch, monkeypatch):
    monkeypatch.setattr("emporter.holds.basket.MAX_ITEMS", 1)
    first, second = make_record(title="Un", copies=[branch]), make_record(title="Deux", copies=[branch])
    signed_in.post(f"/basket/add/{first.pk}/")
    response = signed_in.post(f"/basket/add/{second.pk}/")
    assert response.status_code == 302 and response["Location"] == "/basket/"
    assert said(response)[-1] == coded(
        "basket_full", f"Le panier est plein{NB}: confirmez-le avant d’en ajouter d’autres."
    )


def test_choose_for_whom(signed_in, branch):
    stranger = make_patron(branch, card="10000009")
    response = signed_in.post("/basket/confirm/", {"for_whom": stranger.pk, "pickup_branch": branch.pk})
    assert response.status_code == 302 and response["Location"] == "/basket/"
    assert said(response) == [coded("choose_for_whom", "Choisissez pour qui sont les documents.")]


def test_choose_pickup_when_confirming(signed_in):
    response = signed_in.post("/basket/confirm/", {"pickup_branch": ""})
    assert response.status_code == 302 and response["Location"] == "/basket/"
    assert said(response) == [
        coded("choose_pickup", "Choisissez une bibliothèque qui accepte les réservations.")
    ]


def test_pickup_not_accepting(signed_in, closed):
    response = signed_in.post("/basket/confirm/", {"pickup_branch": closed.pk})
    assert response.status_code == 302 and response["Location"] == "/basket/"
    assert said(response) == [
        coded(
            "pickup_not_accepting",
            f"Cette bibliothèque ne prend pas de réservations en ce moment{NB}: choisissez-en une autre.",
        )
    ]


def test_basket_records_gone(signed_in, branch):
    response = signed_in.post("/basket/confirm/", {"pickup_branch": branch.pk, "record": [987654]})
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert said(response) == [
        coded("basket_records_gone", "Certains documents de votre panier ne sont plus au catalogue.")
    ]


def test_choose_pickup_when_moving_a_request(signed_in, branch, patron, closed):
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    response = signed_in.post(f"/basket/requests/{hold.pk}/pickup/", {"branch": closed.pk})
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert said(response) == [
        coded("choose_pickup", "Choisissez une bibliothèque qui accepte les réservations.")
    ]


# -- The phone desk (phonedesk.views) -------------------------------------------------------


@pytest.fixture
def desk(client, branch):
    client.force_login(staff(Role.PHONE_DESK, branch))
    return client


def phone(patron, action=""):
    return f"/staff/phone/patrons/{patron.pk}/{action}"


KEY = "0" * 32  # the shape of the form's key (a uuid4 in hex)


def test_basket_full_at_the_phone_desk(desk, branch, patron, monkeypatch):
    monkeypatch.setattr("emporter.holds.basket.MAX_ITEMS", 1)
    desk.post(phone(patron, "add/"), {"record": make_record(title="Un", copies=[branch]).pk})
    response = desk.post(phone(patron, "add/"), {"record": make_record(title="Deux", copies=[branch]).pk})
    assert response.status_code == 302
    assert said(response)[-1] == coded(
        "basket_full", f"Le panier est plein{NB}: confirmez-le avant d’en ajouter d’autres."
    )


def confirm(desk, patron, **form):
    response = desk.post(phone(patron, "confirm/"), {"confirm_key": KEY} | form)
    assert response.status_code == 302 and response["Location"] == phone(patron) + "#basket"
    return said(response)


def test_choose_pickup_for_patron(desk, patron):
    assert confirm(desk, patron, pickup_branch="") == [
        coded("choose_pickup_for_patron", "Choisissez la bibliothèque où l’abonné·e retirera les documents.")
    ]


def test_pickup_out_of_scope(desk, patron, other_branch):
    assert confirm(desk, patron, pickup_branch=other_branch.pk) == [
        coded("pickup_out_of_scope", "Vous ne pouvez pas réserver pour un retrait à Croix-Rousse.")
    ]


def test_form_out_of_date(desk, patron, branch):
    record = make_record(copies=[branch])
    assert confirm(desk, patron, pickup_branch=branch.pk, confirm_key="", record=[record.pk]) == [
        coded(
            "form_out_of_date",
            f"Ce formulaire n’est plus valable{NB}: vérifiez le panier et confirmez de nouveau.",
        )
    ]


def test_too_many_at_once(desk, patron, branch):
    assert confirm(desk, patron, pickup_branch=branch.pk, record=list(range(1, 32))) == [
        coded(
            "too_many_at_once",
            f"Au plus 30 documents peuvent être confirmés à la fois{NB}: retirez-en du panier.",
        )
    ]


def test_basket_empty(desk, patron, branch):
    assert confirm(desk, patron, pickup_branch=branch.pk, record=[987654]) == [
        coded("basket_empty", "Le panier est vide.")
    ]


def test_bag_out_of_scope(desk, patron, other_branch):
    bag = make_ready_requests(patron, other_branch, ["Un"])[0].bag
    response = desk.post(phone(patron, f"bags/{bag.pk}/keep/"), {"until": "2099-01-01"})
    assert response.status_code == 302 and response["Location"] == phone(patron) + "#requests"
    assert said(response) == [
        coded("bag_out_of_scope", "Vous ne pouvez pas modifier les sacs de Croix-Rousse.")
    ]


def test_keep_day_missing(desk, patron, branch):
    bag = make_ready_requests(patron, branch, ["Un"])[0].bag
    response = desk.post(phone(patron, f"bags/{bag.pk}/keep/"), {"until": ""})
    assert response.status_code == 302 and response["Location"] == phone(patron) + "#requests"
    assert said(response) == [coded("keep_day_missing", "Indiquez le jour jusqu’auquel le sac est gardé.")]


def test_cancel_out_of_scope(desk, patron, other_branch):
    hold, _ = place_request(
        patron=patron, record_id=make_record(copies=[other_branch]).pk, pickup_branch=other_branch
    )
    response = desk.post(phone(patron, f"requests/{hold.pk}/cancel/"), {"reason": "À la demande"})
    assert response.status_code == 302 and response["Location"] == phone(patron)
    assert said(response) == [
        coded("cancel_out_of_scope", "Vous ne pouvez pas annuler une réservation à retirer à Croix-Rousse.")
    ]


def test_choose_pickup_in_scope(desk, patron, branch, other_branch):
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    response = desk.post(phone(patron, f"requests/{hold.pk}/pickup/"), {"branch": other_branch.pk})
    assert response.status_code == 302 and response["Location"] == phone(patron)
    assert said(response) == [
        coded(
            "choose_pickup_in_scope",
            "Choisissez une bibliothèque de votre périmètre qui accepte les réservations.",
        )
    ]


# -- The door (desk.views) ------------------------------------------------------------------


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch, username="porte"))
    return client


def test_name_too_short(door, branch):
    page = door.get(f"/staff/door/{branch.pk}/", {"card": "ab"})
    assert page.status_code == 404
    assert page.context["error"] == coded(
        "name_too_short", "Tapez un numéro de carte, ou au moins trois lettres d’un nom."
    )


def test_nobody_ready_named(door, branch):
    page = door.get(f"/staff/door/{branch.pk}/", {"card": "Zorglub"})
    assert page.status_code == 404
    assert page.context["error"] == coded(
        "nobody_ready_named", "Personne du nom de «\u00a0Zorglub\u00a0» n’a de documents prêts ici."
    )


def email_receipt(door, branch, patron, loans):
    ids = ",".join(str(loan.pk) for loan in loans)
    response = door.post(f"/staff/door/{branch.pk}/receipt/{patron.pk}/email/", {"loans": ids})
    assert response.status_code == 302
    return said(response)


def lent(branch, patron):
    from emporter.desk import services as desk

    requests = make_ready_requests(patron, branch, ["Un"])
    desk.hand_over(patron=patron, branch=branch, request_ids=[r.pk for r in requests])
    return list(Loan.objects.filter(patron=patron))


def test_receipt_empty(door, branch, patron):
    assert email_receipt(door, branch, patron, []) == [coded("receipt_empty", "Ce reçu est vide.")]


def test_no_email_address(door, branch):
    patron = make_patron(branch, card="40000003", email="")
    assert email_receipt(door, branch, patron, lent(branch, patron)) == [
        coded("no_email_address", "Cet·te abonné·e n’a pas d’adresse de courriel.")
    ]


def test_email_refused(door, branch, patron):
    loans = lent(branch, patron)
    patron.email_refused = patron.email
    patron.save(update_fields=["email_refused"])
    assert email_receipt(door, branch, patron, loans) == [
        coded(
            "email_refused",
            f"Le serveur de messagerie a refusé {patron.email} comme inconnue{NB}: corrigez-la sur "
            "la carte de l’abonné·e.",
        )
    ]


def test_not_missing(door, branch):
    copy = make_record(copies=[branch]).copies.get()
    page = door.post(f"/staff/door/{branch.pk}/returns/put-back/", {"barcode": copy.barcode})
    assert copy.status == CopyStatus.ON_SHELF
    assert page.status_code == 422
    assert page.context["error"] == coded(
        "not_missing", f"{copy.barcode} n’est pas (ou plus) marqué introuvable."
    )


# -- Surprise bags (discovery.views) --------------------------------------------------------


def test_surprise_not_open(signed_in, branch, patron):
    surprise = discovery.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=1
    )
    discovery.cancel_surprise_request(surprise=surprise)
    response = signed_in.post(f"/discover/surprise/{surprise.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == "/discover/surprise/"
    assert said(response) == [coded("surprise_not_open", "Ce sac surprise n’est plus ouvert.")]


# -- No error written inline in a view ------------------------------------------------------

VIEWS = ["holds/views.py", "phonedesk/views.py", "desk/views.py", "discovery/views.py"]
# Errors that stay written in the view, each with its reason.
ALLOWED = {
    # Not an error of its own: a coded error's message (keep_bag_until's), prefixed with
    # the bag it is about.
    ("phonedesk/views.py", "Bag %(label)s: %(error)s"),
}


def _literal(node, assigned: dict) -> str | None:
    """The msgid when ``node`` is ``_("...")``, ``_("...") % {...}``, or a name given one
    of these just before in the same function."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        node = node.left
    if isinstance(node, ast.Name):
        return assigned.get(node.id)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("_", "gettext", "gettext_lazy")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return node.args[0].value
    return None


def inline_errors(source: str) -> list[str]:
    """The msgids said as errors in ``source``, in order: ``messages.error(request,
    <literal>)`` and ``context["error"] = <literal>`` (a page showing its error itself)."""
    found = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        nodes = list(ast.walk(function))
        # A name given a literal text anywhere in the function (``text = _("...")``).
        assigned = {
            node.targets[0].id: text
            for node in nodes
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and (text := _literal(node.value, {})) is not None
        }
        for node in nodes:
            if (
                isinstance(node, ast.Assign)
                and isinstance(target := node.targets[0], ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value == "error"
                and (text := _literal(node.value, assigned)) is not None
            ):
                found.add((node.lineno, text))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "error"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "messages"
                and len(node.args) >= 2
                and (text := _literal(node.args[1], assigned)) is not None
            ):
                found.add((node.lineno, text))
    return [text for _line, text in sorted(found)]


def test_the_scan_finds_an_inline_error():
    source = """
def view(request):
    text = _("Gone.")
    messages.error(request, text)
    messages.error(request, _("Full: %(n)s.") % {"n": 1})
    messages.error(request, ServiceError("basket_full").message)
    context["error"] = _("Wrong.")
"""
    assert inline_errors(source) == ["Gone.", "Full: %(n)s.", "Wrong."]


@pytest.mark.parametrize("view", VIEWS)
def test_no_error_is_written_inline_in_the_views(view):
    source = (ROOT / "emporter" / view).read_text()
    inline = [text for text in inline_errors(source) if (view, text) not in ALLOWED]
    assert inline == [], f"give these errors a code in emporter/errors.py: {inline}"


def test_the_allowed_inline_errors_are_still_there():
    # An allowed one removed: its entry goes too, so the list says what is really left.
    for view, text in ALLOWED:
        assert text in inline_errors((ROOT / "emporter" / view).read_text())


def test_every_screen_code_reads_as_its_former_words_in_english():
    from django.utils import translation

    with translation.override("en"):
        assert (
            errors.ServiceError("basket_full").message == "The basket is full: confirm it before adding more."
        )
        assert (
            errors.ServiceError("too_many_at_once", count=30).message
            == "At most 30 documents can be confirmed at once: remove some from the basket."
        )
