"""What the account page and a signed-in page cost in queries, and that they still show
the same: a guardian's bags read each library's calendar once, the children's requests and
loans are read in one query each, the signed-in user and its patron once, a staff page's
roles once."""

import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from emporter.curbside.selectors import bags_of, next_opening, open_now
from emporter.desk.models import Loan
from emporter.holds.models import Bag, Request, Status
from emporter.holds.services import place_request
from emporter.network.models import ClosedDay
from emporter.patrons.models import Patron, Role, StaffRole
from emporter.patrons.permissions import has_role
from tests.conftest import make_patron, make_ready_requests, make_record

PB = "emporter.patrons.backends.SignInBackend"
DAY = datetime.timedelta(days=1)


def _count(fn) -> int:
    """How many queries ``fn()`` runs (counted at the cursor: a request's start empties
    connection.queries_log, which CaptureQueriesContext reads)."""
    seen = [0]

    def wrapper(execute, sql, params, many, context):
        seen[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    return seen[0]


def _lend(patron, branch, title, **kw):
    copy = make_record(title=title, copies=[branch]).copies.get()
    return Loan.objects.create(
        copy=copy, patron=patron, branch=branch, due_date=timezone.localdate() + 20 * DAY, **kw
    )


def _household(branch, children: int, tag: str):
    """A guardian and ``children`` children, each child with a placed request and a loan."""
    guardian = make_patron(branch, card=f"G{tag}")
    for n in range(children):
        child = make_patron(
            branch, card=f"C{tag}{n}", guardian=guardian, category="child", first_name=f"K{n}"
        )
        place_request(
            patron=child,
            record_id=make_record(title=f"Req {tag}{n}", copies=[branch]).pk,
            pickup_branch=branch,
        )
        _lend(child, branch, f"Lent {tag}{n}")
    return guardian


def test_account_page_queries_do_not_grow_with_children(client, branch, django_assert_max_num_queries):
    one = _household(branch, 1, "a")
    client.force_login(one.user, backend=PB)
    client.get(reverse("patrons:account"))  # warm
    baseline = _count(lambda: client.get(reverse("patrons:account")))
    three = _household(branch, 3, "b")
    client.force_login(three.user, backend=PB)
    client.get(reverse("patrons:account"))
    with django_assert_max_num_queries(baseline):
        assert client.get(reverse("patrons:account")).status_code == 200


def test_account_page_of_a_guardian_with_ready_bags_costs_seventeen_queries(client, branch):
    """The reviewer's page (requests, current and returned loans, three children, four ready
    bags at one library) cost 42 queries: session, user, patron, children, their requests,
    everyone's loans, own requests, loan rules, bags (5), pickup libraries, apps, history,
    and open surprise bags (the household's, one read)."""
    guardian = _household(branch, 3, "r")
    children = list(Patron.objects.filter(guardian=guardian))
    for n, who in enumerate([guardian, *children]):
        make_ready_requests(who, branch, [f"Ready {n}"])
    for n in range(3):
        place_request(
            patron=guardian,
            record_id=make_record(title=f"Mine {n}", copies=[branch]).pk,
            pickup_branch=branch,
        )
        _lend(guardian, branch, f"Out {n}")
        _lend(guardian, branch, f"Back {n}", returned_at=timezone.now() - (n + 1) * DAY)
    client.force_login(guardian.user, backend=PB)
    client.get(reverse("patrons:account"))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("patrons:account"))
    assert response.status_code == 200
    assert len(response.context["bags"]) == 4
    assert len(ctx.captured_queries) <= 17, "\n".join(q["sql"][:120] for q in ctx.captured_queries)


def test_bags_of_a_household_at_one_library_reads_its_calendar_once(branch, django_assert_max_num_queries):
    """Bags, appointments, pickup settings, the hours (prefetched) and the closed days once
    per call: 5, where each bag read its library's calendar again (3 to 5 queries)."""
    guardian = make_patron(branch, card="G1")
    kids = [make_patron(branch, card=f"K{n}", guardian=guardian, category="child") for n in range(3)]
    for n, who in enumerate([guardian, *kids]):
        make_ready_requests(who, branch, [f"Ready {n}"])
    # Shut today: each bag asks when the library opens next.
    ClosedDay.objects.create(branch=branch, date=timezone.localdate(), reason="Inventaire")
    with django_assert_max_num_queries(5):
        bags = bags_of([guardian.pk, *(k.pk for k in kids)])
    assert len(bags) == 4
    assert not any(b.open_now for b in bags)


def test_bags_say_open_now_and_next_opening_as_each_library_s_calendar_does(
    branch, other_branch, monkeypatch, django_assert_max_num_queries
):
    """On a Sunday (both libraries open Monday to Saturday, 10:00-19:00): the Part-Dieu is
    closed on Monday, the whole network on Wednesday. Each bag's next opening, up to its
    deadline, is its own library's; the same as ``open_now`` and ``next_opening`` say."""
    today = timezone.localdate()
    sunday = today + datetime.timedelta(days=(6 - today.weekday()) or 7)
    monday, tuesday, wednesday, thursday = (sunday + n * DAY for n in range(1, 5))
    ClosedDay.objects.create(branch=branch, date=monday, reason="Inventaire")
    ClosedDay.objects.create(branch=None, date=wednesday, reason="Férié")
    guardian = make_patron(branch, card="G1")
    kids = [make_patron(branch, card=f"K{n}", guardian=guardian, category="child") for n in range(4)]
    deadlines = [
        (branch, sunday),
        (branch, monday),
        (branch, thursday),
        (branch, thursday),
        (other_branch, thursday),
    ]
    for n, (who, (where, until)) in enumerate(zip([guardian, *kids], deadlines, strict=True)):
        make_ready_requests(who, where, [f"Ready {n}"])
        Bag.objects.filter(patron=who).update(hold_until=until)
    noon = timezone.make_aware(datetime.datetime.combine(sunday, datetime.time(12)))
    monkeypatch.setattr(timezone, "now", lambda: noon)

    with django_assert_max_num_queries(5):
        bags = bags_of([guardian.pk, *(k.pk for k in kids)])

    at_ten = lambda day: timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))  # noqa: E731
    shown = {b.patron_id: (b.branch_id, b.open_now, b.opens_next) for b in bags}
    assert shown == {
        guardian.pk: (branch.pk, False, None),  # held until today, a Sunday
        kids[0].pk: (branch.pk, False, None),  # until Monday, when the Part-Dieu is closed
        kids[1].pk: (branch.pk, False, at_ten(tuesday)),
        kids[2].pk: (branch.pk, False, at_ten(tuesday)),
        kids[3].pk: (other_branch.pk, False, at_ten(monday)),
    }
    for bag in bags:  # as the library's own calendar says, read for it alone
        assert bag.open_now == open_now(bag.branch, noon)
        assert bag.opens_next == next_opening(bag.branch, noon, bag.hold_until)

    # And on Tuesday at noon, both are open.
    tuesday_noon = timezone.make_aware(datetime.datetime.combine(tuesday, datetime.time(12)))
    monkeypatch.setattr(timezone, "now", lambda: tuesday_noon)
    assert all(b.open_now and b.opens_next is None for b in bags_of([guardian.pk, *(k.pk for k in kids)]))


def test_the_children_s_requests_and_loans_are_each_child_s_own(client, branch):
    """Read for all the children at once, each is shown under the child it belongs to:
    their requests under way only (ready first), their current loans only."""
    guardian = make_patron(branch, card="G1")
    alix = make_patron(branch, card="K1", guardian=guardian, category="child", first_name="Alix")
    basile = make_patron(branch, card="K2", guardian=guardian, category="child", first_name="Basile")
    claude = make_patron(branch, card="K3", guardian=guardian, category="child", first_name="Claude")
    # Pulled first: the requests placed after it stay placed.
    (ready,) = make_ready_requests(basile, branch, ["Prêt pour Basile"])
    (alix_request, *_rest) = place_request(
        patron=alix, record_id=make_record(title="Pour Alix", copies=[branch]).pk, pickup_branch=branch
    )
    (placed, *_rest) = place_request(
        patron=basile, record_id=make_record(title="Pour Basile", copies=[branch]).pk, pickup_branch=branch
    )
    (gone, *_rest) = place_request(
        patron=basile, record_id=make_record(title="Annulé", copies=[branch]).pk, pickup_branch=branch
    )
    Request.objects.filter(pk=gone.pk).update(status=Status.CANCELLED)
    basile_loan = _lend(basile, branch, "Chez Basile")
    _lend(basile, branch, "Rendu par Basile", returned_at=timezone.now())
    claude_loan = _lend(claude, branch, "Chez Claude")
    own_loan = _lend(guardian, branch, "Chez moi")

    client.force_login(guardian.user, backend=PB)
    context = client.get(reverse("patrons:account")).context
    children = [(child.pk, [r.pk for r in requests]) for child, requests in context["children"]]
    assert children == [(alix.pk, [alix_request.pk]), (basile.pk, [ready.pk, placed.pk])]
    loans = [
        (child.pk, [loan.pk for loan in its], standing) for child, its, standing in context["children_loans"]
    ]
    assert loans == [(basile.pk, [basile_loan.pk], ""), (claude.pk, [claude_loan.pk], "")]
    assert [loan.pk for loan in context["loans"]] == [own_loan.pk]
    assert {b.patron_id for b in context["bags"]} == {basile.pk}


def test_the_signed_in_patron_s_user_is_the_request_s_user_itself(rf, patron):
    """``current_patron`` gives the patron the user the request read (not read again), as
    the User model itself: ``type(patron.user)`` (the erasure's admin-log cleaning) is
    not the middleware's lazy stand-in."""
    from django.contrib.auth.models import AnonymousUser
    from django.utils.functional import SimpleLazyObject

    from emporter.patrons.permissions import is_patron_account
    from emporter.patrons.selectors import current_patron

    request = rf.get("/")
    user = get_user_model().objects.get(pk=patron.user_id)
    request.user = SimpleLazyObject(lambda: user)
    found = current_patron(request)
    assert found == patron and found.user is user and type(found.user) is get_user_model()
    with CaptureQueriesContext(connection) as ctx:
        assert is_patron_account(request.user) and request.user.patron is found
    assert not ctx.captured_queries
    request.user = AnonymousUser()
    assert current_patron(request) is None


def test_signed_in_page_costs_three_queries_more_than_anonymous(
    client, branch, patron, django_assert_max_num_queries
):
    """Session, user and one patron read: 3 (whether the user is a patron was asked twice,
    by the staff menu and by the "My account" link)."""
    make_record(title="Atlas des nuages", copies=[branch])
    url = reverse("catalogue:search")
    client.get(url, {"q": "Atlas"})
    anonymous = _count(lambda: client.get(url, {"q": "Atlas"}))
    client.force_login(patron.user, backend=PB)
    client.get(url, {"q": "Atlas"})
    with django_assert_max_num_queries(anonymous + 3):
        response = client.get(url, {"q": "Atlas"})
    assert f'href="{reverse("patrons:account")}"' in response.content.decode()


def test_my_account_is_offered_to_a_patron_only(client, branch, patron):
    url, account = reverse("catalogue:search"), f'href="{reverse("patrons:account")}"'
    assert account not in client.get(url).content.decode()
    staff = get_user_model().objects.create_user("picker", password="x")
    StaffRole.objects.create(user=staff, role=Role.PICKER, branch=branch)
    client.force_login(staff)
    page = client.get(url).content.decode()
    assert account not in page and reverse("picking:index") in page
    client.force_login(patron.user, backend=PB)
    assert account in client.get(url).content.decode()


def test_a_staff_page_reads_the_roles_once(client, branch):
    """The decorator, the view's checks and the staff menu asked for the roles 3 or 4 times."""
    user = get_user_model().objects.create_user("picker", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client.force_login(user)
    client.get(reverse("picking:index"))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("picking:index"))
    assert response.status_code == 200
    assert reverse("picking:index") in response.content.decode()  # the menu
    reads = [q for q in ctx.captured_queries if "patrons_staffrole" in q["sql"]]
    assert len(reads) == 1, [q["sql"][:120] for q in reads]


def test_a_role_given_is_seen_at_once_outside_a_request(branch, other_branch):
    """Only a request's user keeps its roles: checks on any other user object read them."""
    user = get_user_model().objects.create_user("picker", password="x")
    assert not has_role(user, Role.PICKER, branch)
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    assert has_role(user, Role.PICKER, branch) and not has_role(user, Role.PICKER, other_branch)
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    assert has_role(user, Role.PICKER, other_branch)


def test_a_staff_page_still_refuses_another_library(client, branch, other_branch):
    """Answered from the roles kept for the request: a picker of one library is refused
    another's pull list, a manager of it (a picker there too) is not."""
    user = get_user_model().objects.create_user("picker", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client.force_login(user)
    assert client.get(reverse("picking:receive", args=[other_branch.pk])).status_code == 403
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=other_branch)
    assert client.get(reverse("picking:receive", args=[other_branch.pk])).status_code == 200
