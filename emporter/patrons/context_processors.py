"""The staff menu: one link per screen the signed-in user's roles open."""

from django.urls import reverse
from django.utils.functional import SimpleLazyObject, lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from emporter.network.models import Branch

from .models import Role
from .permissions import effective_roles, is_patron_account, is_superuser, remember_roles, roles_held

SCREENS = [
    (Role.PHONE_DESK, "phonedesk:find", _("Phone desk")),
    (Role.PHONE_DESK, "discovery:queue", _("Surprise bags")),
    (Role.PICKER, "picking:index", _("Morning pull")),
    (Role.DOOR_DESK, "desk:index", _("Door")),
    (Role.BRANCH_MANAGER, "stats:dashboard", _("Statistics")),
    # Patrons' addresses and mails: managers (their branch) and administrators only.
    (Role.BRANCH_MANAGER, "notices:outbox", _("Notices")),
    (Role.NETWORK_ADMIN, "network:modes", _("Service modes")),
    (Role.NETWORK_ADMIN, "imports:index", _("Imports")),
]


def staff_menu(request):
    """The staff links, and whether the page offers a basket: a staff account has none
    (confirming one would ask for a card's sign-in and sign the librarian out); it
    requests for a patron from the phone desk. ``patron_account``: the user signed in with
    a card (the menu's "My account"), asked once for the page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or is_patron_account(user):
        patron_account = user is not None and user.is_authenticated
        return {
            "staff_menu": [],
            "basket_shown": True,
            "taking_requests": _taking_requests(),
            "patron_account": patron_account,
        }
    if is_superuser(user):
        roles = set(Role.values)
    else:
        # A network administrator has every role, a branch manager a picker's and a door's.
        remember_roles(user)
        roles = effective_roles(role for role, _branch in roles_held(user))
    links = []
    for role, url_name, label in SCREENS:
        if role in roles:
            if url_name == "notices:outbox":
                label = _notices_label(user)
            try:
                links.append((reverse(url_name), label))
            except Exception:  # a screen not installed in this deployment
                continue
    if user.is_staff or user.is_superuser:
        links.append((reverse("admin:index"), _("Administration")))
    phone_desk = reverse("phonedesk:find") if Role.PHONE_DESK in roles else ""
    return {
        "staff_menu": links,
        "basket_shown": False,
        "phone_desk_url": phone_desk,
        "taking_requests": _taking_requests(),
        "patron_account": False,
    }


def _taking_requests():
    """Whether any library takes requests (click and collect somewhere): with every library
    in normal service, no "Add to my basket" leads to a basket that can place nothing.
    Read once, and only by a page that asks."""
    return SimpleLazyObject(lambda: Branch.objects.accepting_requests().exists())


def _notices_label(user):
    """ "Notices", with how many uncertain ones wait to be checked: a sending cut off after
    the mail server may have taken the message is never sent again on its own, and
    nothing else points staff to it. Counted only when the menu is drawn."""

    def label() -> str:
        from emporter.notices.selectors import uncertain_to_check

        n = uncertain_to_check(user).count()
        if not n:
            return str(_("Notices"))
        return ngettext("Notices (%(n)s to check)", "Notices (%(n)s to check)", n) % {"n": n}

    return lazy(label, str)()
