"""Discovery for children and their parents (a youth librarian's review): age bands read
as the records say them, call numbers of the children's shelves, a child's surprise bag
(never adults' documents, nothing the child has at home or had in a bag) and what a
guardian is told about the child's card."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone, translation

from emporter.catalogue.models import Audience, Copy, CopyStatus
from emporter.desk.models import Loan
from emporter.discovery import selectors, services
from emporter.discovery.forms import SurpriseForm
from emporter.discovery.kinds import Kind, kind_q
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.holds.services import place_requests
from emporter.patrons.models import LoanHistory, Role, StaffRole
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db


def youth(title, branch, doc_type="book", call_number="", **kw):
    record = make_record(title=title, copies=[branch], doc_type=doc_type, audience="youth", **kw)
    if call_number:
        record.copies.update(call_number=call_number)
    return record


def titles(tiles):
    return {t.record.title for t in tiles}


def lend(record, patron, branch, *, barcode, returned=False):
    """``patron`` borrowed a copy of ``record`` (another copy stays on the shelf): on loan
    now, or ``returned``."""
    copy = Copy.objects.create(
        record=record,
        barcode=barcode,
        call_number="A DON",
        branch=branch,
        status=CopyStatus.ON_SHELF if returned else CopyStatus.ON_LOAN,
    )
    request = Request.objects.create(
        patron=patron, record=record, copy=copy, pickup_branch=branch, status=Status.COLLECTED
    )
    return Loan.objects.create(
        copy=copy,
        patron=patron,
        request=request,
        branch=branch,
        due_date=timezone.localdate() + datetime.timedelta(days=21),
        returned_at=timezone.now() if returned else None,
    )


@pytest.fixture
def library():
    return make_branch(code="JEA", name="Jean Macé", weekdays=range(7), pick_time=datetime.time(23, 59))


@pytest.fixture
def family(library):
    parent = make_patron(library, card="20000001", first_name="Nadia", last_name="Benali")
    child = make_patron(
        library, card="20000002", first_name="Lina", last_name="Benali", category="child", guardian=parent
    )
    return parent, child


# -- Age bands: a record's range is inclusive, as MARC and the record page say it ---------


def test_a_5_to_6_record_is_offered_to_6_year_olds_as_a_6_to_6_record_is(library):
    """The importer stores MARC's inclusive bounds (008/22 'a' = 0–5) and the record page
    says "5–6 years": a 5–6 album is for a 6-year-old, in the 6–9 band; a 3–6 one is not
    for the 0–3 band (no 3-year-old is in it) and a 6–6 one not for the 3–6 band."""
    youth("Cinq-six ans", library, age_min=5, age_max=6)
    youth("Six ans tout juste", library, age_min=6, age_max=6)
    youth("Trois-six ans", library, age_min=3, age_max=6)

    assert {"Cinq-six ans", "Six ans tout juste", "Trois-six ans"} <= titles(
        selectors.browse(age_band="6-9")[0]
    )
    assert "Trois-six ans" not in titles(selectors.browse(age_band="0-3")[0])
    assert "Six ans tout juste" not in titles(selectors.browse(age_band="3-6")[0])


def test_a_0_to_3_record_is_suggested_for_a_3_year_old(library, family):
    """A record marked 0–3 ("up to 3 years") is for a 3-year-old's bag too."""
    parent, child = family
    tout_petit = youth("Mon imagier des animaux", library, age_min=0, age_max=3)
    album = youth("Album 3–6 ans", library, age_min=3, age_max=6)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2, age=3
    )

    suggested = {t.record.pk for t in selectors.suggestions(surprise)}
    assert {album.pk, tout_petit.pk} <= suggested


# -- Children's call numbers, for records with no age --------------------------------------


def test_a_youth_novel_shelved_j_843_without_age_is_a_novel_for_9_to_12(library):
    """ "J 843 GOS" (Dewey's literature with the J prefix) is a children's novel."""
    youth("Le Petit Nicolas", library, call_number="J 843 GOS")
    youth("Le chevalier", library, call_number="J R DUP")

    assert {"Le Petit Nicolas", "Le chevalier"} <= titles(selectors.browse(kind="first-novels")[0])
    assert "Le Petit Nicolas" in titles(selectors.browse(age_band="9-12")[0])
    # Still no documentary: Dewey's 8xx is literature.
    assert "Le Petit Nicolas" not in titles(selectors.browse(kind="documentaries")[0])


def test_a_youth_comic_shelved_bd_or_manga_without_age_is_in_the_9_to_12_band(library):
    """The Jeunesse department's comics are shelved "BD GOS" or "MANGA …"; a juvenile
    record with no age is read as 9–12 by them. An adults' "BD" is in no age band."""
    youth("Astérix le Gaulois", library, doc_type="comic", call_number="BD AST")
    youth("One Piece", library, doc_type="comic", call_number="MANGA ODA")
    youth("Tintin", library, doc_type="comic", call_number="J BD HER")
    make_record(title="Blacksad", copies=[library], doc_type="comic", audience="adult").copies.update(
        call_number="BD CAN"
    )

    comics = titles(selectors.browse(age_band="9-12", kind="comics")[0])
    assert comics == {"Astérix le Gaulois", "One Piece", "Tintin"}
    assert "Astérix le Gaulois" not in titles(selectors.browse(age_band="6-9")[0])


def test_the_novels_kind_is_called_novels():
    """The only novel kind, from first readers to teens: not "First novels" under Teens."""
    with translation.override("en"):
        assert str(Kind.FIRST_NOVELS.label) == "Novels"
    assert Kind.FIRST_NOVELS.value == "first-novels"  # the addresses stay


# -- A child's surprise bag ------------------------------------------------------------------


def test_a_childs_bag_without_an_age_is_not_filled_with_adult_documents(library, family):
    """A bag asked for a child with no age (before the form required one) suggests youth
    documents only, although no age band narrows them."""
    parent, child = family
    youth("Album pour Lina", library, age_min=3, age_max=6)
    make_record(title="Thriller sanglant", copies=[library], audience="adult")
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2
    )

    assert titles(selectors.suggestions(surprise)) == {"Album pour Lina"}


def test_the_form_asks_a_childs_age_and_says_empty_is_for_yourself(library, family):
    parent, child = family
    data = {"how_many": 2, "pickup_branch": library.pk}

    with translation.override("en"):
        form = SurpriseForm({**data, "for_whom": child.pk}, patron=parent)
        assert str(form.fields["age"].help_text) == "Leave empty for yourself (adult)."
        assert not form.is_valid()
        assert "Lina" in form.errors["age"][0]

    assert SurpriseForm({**data, "for_whom": child.pk, "age": 7}, patron=parent).is_valid()
    assert SurpriseForm({**data, "for_whom": parent.pk}, patron=parent).is_valid()
    # A child signed in on their own card asks for themselves: the age is needed too.
    assert not SurpriseForm({**data, "for_whom": child.pk}, patron=child).is_valid()


def test_suggestions_leave_out_a_title_the_child_has_at_home(library, family):
    """A title the child has on loan (another copy on the shelf) is not suggested again."""
    parent, child = family
    gruffalo = youth("Le Gruffalo", library, age_min=3, age_max=6)
    youth("Le Petit Chaperon rouge", library, age_min=3, age_max=6)
    lend(gruffalo, child, library, barcode="GRUF2")
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2, age=5
    )

    assert titles(selectors.suggestions(surprise)) == {"Le Petit Chaperon rouge"}
    # Counted, for the librarian: one fitting title left out as the child's already.
    assert selectors.suggestions_and_left_out(surprise)[1] == 1


def test_a_title_borrowed_before_is_left_out_only_when_the_reader_keeps_their_history(library, family):
    """A returned loan still linked to the child (the library's rules keep it a while) is
    not used to choose for them unless they chose to keep their loan history."""
    parent, child = family
    gruffalo = youth("Le Gruffalo", library, age_min=3, age_max=6)
    lend(gruffalo, child, library, barcode="GRUF2", returned=True)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2, age=5
    )

    assert "Le Gruffalo" in titles(selectors.suggestions(surprise))

    child.loan_history = LoanHistory.KEEP
    child.save()  # the bag's reader is this very object
    assert "Le Gruffalo" not in titles(selectors.suggestions(surprise))


def test_a_title_of_an_earlier_surprise_bag_is_not_suggested_again(library, family):
    parent, child = family
    dinos = youth("Dinosaures", library, age_min=6, age_max=9)
    youth("Espace", library, age_min=6, age_max=9)
    earlier = SurpriseRequest.objects.create(
        patron=child,
        asked_by=parent,
        pickup_branch=library,
        how_many=1,
        age=7,
        status=SurpriseStatus.COMPOSED,
    )
    # Not collected (expired on the hold shelf): it still names the child.
    earlier.requests.add(
        Request.objects.create(patron=child, record=dinos, pickup_branch=library, status=Status.EXPIRED)
    )
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2, age=7
    )

    assert titles(selectors.suggestions(surprise)) == {"Espace"}


def test_the_compose_page_says_how_many_titles_were_left_out(client, library, family):
    parent, child = family
    gruffalo = youth("Le Gruffalo", library, age_min=3, age_max=6)
    youth("Le Petit Chaperon rouge", library, age_min=3, age_max=6)
    lend(gruffalo, child, library, barcode="GRUF2")
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2, age=5
    )
    user = get_user_model().objects.create_user(username="biblio", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=library)
    client.force_login(user)

    with translation.override("en"):
        page = client.get(f"/en/discover/staff/surprise/{surprise.pk}/")
    text = page.content.decode()
    assert "1 title left out: Lina has it at home" in text
    assert "Le Gruffalo" not in text  # which title: not said, not offered


# -- What a guardian is told about the child's card -------------------------------------------


def test_over_the_limit_a_parent_is_told_about_the_childs_card_not_theirs(library, family):
    parent, child = family
    RequestPolicy.objects.create(max_active=3)
    owned = [youth(f"Livre {n}", library, age_min=6, age_max=9).pk for n in range(2)]
    place_requests(patron=child, record_ids=owned, pickup_branch=library)

    with pytest.raises(ServiceError) as refused:
        services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=library, how_many=3)
    assert refused.value.code == "child_surprise_over_limit"
    assert "Lina" in refused.value.message

    services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=library, how_many=1)
    with pytest.raises(ServiceError) as none_left:
        services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=library, how_many=1)
    assert none_left.value.code == "child_surprise_no_allowance"
    assert "Lina" in none_left.value.message
    # The parent's own card is not the child's: asked for themselves, "you".
    with pytest.raises(ServiceError) as own:
        services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=library, how_many=4)
    assert own.value.code == "surprise_over_limit"


def test_youth_poetry_and_plays_are_not_novels(branch):
    """Youth literature classes that are no fiction (J 841 poems, J 842 plays) are not
    "Novels" in surprise bags and browsing."""
    poems = make_record("Paroles pour les petits", audience=Audience.YOUTH, copies=[branch])
    Copy.objects.filter(record=poems).update(call_number="J 841 PRE")
    novel = make_record("Le Buveur d'encre", audience=Audience.YOUTH, copies=[branch])
    Copy.objects.filter(record=novel).update(call_number="J 843 SAN")
    found = set(Copy.objects.filter(kind_q(Kind.FIRST_NOVELS)).values_list("record__title", flat=True))
    assert found == {"Le Buveur d'encre"}


# -- An adult's age typed for a child (30 for 3); a history longer than the account shows ----


def test_the_form_refuses_an_adults_age_for_a_child(library, family):
    parent, child = family
    data = {"how_many": 2, "pickup_branch": library.pk, "for_whom": child.pk}

    with translation.override("en"):
        form = SurpriseForm({**data, "age": 30}, patron=parent)
        assert not form.is_valid()
        assert form.errors["age"] == ["Lina has a child's card: give an age under 18."]
    assert not SurpriseForm({**data, "age": 18}, patron=parent).is_valid()
    assert not SurpriseForm({**data, "age": 18}, patron=child).is_valid()  # on their own card
    assert SurpriseForm({**data, "age": 17}, patron=parent).is_valid()
    # An adult may give any age: a parent with no child card asking for their little one.
    assert SurpriseForm({**data, "for_whom": parent.pk, "age": 30}, patron=parent).is_valid()
    assert SurpriseForm({**data, "for_whom": parent.pk, "age": 4}, patron=parent).is_valid()


def test_a_childs_bag_with_an_adults_age_gets_youth_documents_only(library, family):
    """A bag asked before the form refused it: 30 on a child's card is a typo, not an adult."""
    parent, child = family
    youth("Album pour Lina", library, age_min=3, age_max=6)
    make_record(title="Thriller sanglant", copies=[library], audience="adult")
    surprise = SurpriseRequest.objects.create(
        patron=child, asked_by=parent, pickup_branch=library, how_many=2, age=30
    )

    assert titles(selectors.suggestions(surprise)) == {"Album pour Lina"}


def test_an_adults_bag_with_an_age_still_gets_adult_documents(library, family):
    parent, _child = family
    youth("Album pour Lina", library, age_min=3, age_max=6)
    make_record(title="Thriller sanglant", copies=[library], audience="adult")
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=library, how_many=2, age=30
    )

    assert titles(selectors.suggestions(surprise)) == {"Thriller sanglant"}


def test_a_title_read_hundreds_of_loans_ago_is_still_known(library, family):
    """The account page shows the latest 200 returned loans; a reader keeping their history
    is not offered a title they borrowed before those."""
    _parent, child = family
    child.loan_history = LoanHistory.KEEP
    child.save(update_fields=["loan_history"])
    gruffalo = youth("Le Gruffalo", library, age_min=3, age_max=6)
    long_ago = lend(gruffalo, child, library, barcode="GRUF2", returned=True)
    Loan.objects.filter(pk=long_ago.pk).update(returned_at=timezone.now() - datetime.timedelta(days=900))
    favourite = youth("Le Petit Chaperon rouge", library, age_min=3, age_max=6)
    copy = Copy.objects.create(
        record=favourite, barcode="CHAP2", call_number="A PER", branch=library, status=CopyStatus.ON_SHELF
    )
    now = timezone.now()
    Loan.objects.bulk_create(
        Loan(
            copy=copy,
            patron=child,
            branch=library,
            due_date=timezone.localdate(),
            returned_at=now - datetime.timedelta(days=n),
        )
        for n in range(1, 251)
    )

    assert selectors.known_to_reader(child) == {gruffalo.pk, favourite.pk}
    child.loan_history = LoanHistory.LIBRARY
    assert selectors.known_to_reader(child) == set()  # not kept: not used to choose


def test_the_account_says_it_lists_the_latest_returned_loans_of_a_longer_history(client, library, family):
    """The account lists the latest 200 returned documents: a longer history is said, not
    cut without a word."""
    _parent, child = family
    record = youth("Le Petit Chaperon rouge", library, age_min=3, age_max=6)
    copy = Copy.objects.create(record=record, barcode="CHAP3", call_number="A PER", branch=library)
    now = timezone.now()
    returned = [now - datetime.timedelta(days=n) for n in range(1, 251)]
    Loan.objects.bulk_create(
        Loan(copy=copy, patron=child, branch=library, due_date=timezone.localdate(), returned_at=at)
        for at in returned
    )
    client.force_login(child.user)

    with translation.override("en"):
        page = client.get("/en/account/").content.decode()
    assert "The latest 200 of 250 documents." in page
    assert page.count("Le Petit Chaperon rouge") == 200
    Loan.objects.filter(returned_at__lt=returned[199]).delete()  # 200 left: nothing more to say
    with translation.override("en"):
        assert "The latest" not in client.get("/en/account/").content.decode()
