"""Who may act where: staff roles are scoped to branches (no branch = every branch)."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from emporter.network.models import Branch

from .models import Role, StaffRole

# A branch manager answers for the morning pull and the door of their branch (the
# brief: today's workload, what is late, what is not found), so where they manage
# they may do what a picker and a door librarian do. Nothing else is implied: the
# phone desk, the statistics and the notices keep their own roles.
IMPLIED_BY = {
    Role.PICKER: (Role.BRANCH_MANAGER,),
    Role.DOOR_DESK: (Role.BRANCH_MANAGER,),
}


def granting(role: str) -> list[str]:
    """The roles that let a user act as ``role`` where they hold them (besides network
    administrators, who act as anyone)."""
    return [role, *IMPLIED_BY.get(role, ())]


def effective_roles(roles) -> set[str]:
    """``roles`` a user holds, with those they imply (for the staff menu)."""
    held = set(roles)
    if Role.NETWORK_ADMIN in held:
        return set(Role.values)
    return held | {role for role, by in IMPLIED_BY.items() if held.intersection(by)}


def roles_of(user):
    """``user``'s staff roles, none for a patron's account: it signs in with a card and a
    four-digit PIN, which must never open a staff screen (a role given to it by mistake
    in the admin is refused there too: ``StaffRole.clean``)."""
    return StaffRole.objects.filter(user=user, user__patron__isnull=True)


def remember_roles(user) -> None:
    """Read the signed-in ``user``'s roles once for the request: the checks that follow
    (the decorators', the view's, the staff menu's) answer from them. Only for
    ``request.user``, which lives no longer than its request (``role_required``,
    ``network_admin_required``, the menu); any other user object is read at each check."""
    if user.is_authenticated and not hasattr(user, "_roles_held"):
        user._roles_held = list(roles_of(user).values_list("role", "branch_id"))


def roles_held(user) -> list[tuple[str, int | None]]:
    """``user``'s ``(role, branch id)`` pairs: those ``remember_roles`` kept for the
    request, else read now."""
    held = getattr(user, "_roles_held", None)
    return held if held is not None else list(roles_of(user).values_list("role", "branch_id"))


def is_patron_account(user) -> bool:
    """A card's account: it signs in with a four-digit PIN, so no role, superuser or
    staff flag given to it (by mistake, in the admin) opens a staff screen or the admin.
    Read once for the user object, as ``user.patron`` (Django keeps it on the user, and
    that there is none): the checks of a request, the menu and ``current_patron`` share it."""
    if not user.is_authenticated:
        return False
    return hasattr(user, "patron")


def is_superuser(user) -> bool:
    """A superuser who is not a card's account (``is_patron_account``)."""
    return user.is_superuser and not is_patron_account(user)


def has_role(user, role: str, branch: Branch | int | None = None) -> bool:
    """True if ``user`` may act as ``role`` at ``branch`` (any branch when None).
    Network administrators and superusers may do everything everywhere."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_superuser(user):
        return True
    allowed = {*granting(role), Role.NETWORK_ADMIN}
    where = getattr(branch, "pk", branch)
    return any(r in allowed and (where is None or b is None or b == where) for r, b in roles_held(user))


def branches_for(user, role: str):
    """The branches where ``user`` may act as ``role``."""
    if not user.is_authenticated:
        return Branch.objects.none()
    if is_superuser(user):
        return Branch.objects.all()
    held = roles_held(user)
    if any(r in {*granting(role), Role.NETWORK_ADMIN} and b is None for r, b in held):
        return Branch.objects.all()
    return Branch.objects.filter(pk__in={b for r, b in held if r in granting(role)})


def is_network_admin(user) -> bool:
    """Superusers, and administrators of the whole network (the role has no branch: the
    database refuses one with a branch)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_superuser(user) or any(r == Role.NETWORK_ADMIN for r, _b in roles_held(user))


def network_admin_required(view):
    """View decorator: signed in (else to the staff sign-in), and a network administrator."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "staff_login")
        remember_roles(request.user)
        if not is_network_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def is_staff_member(user) -> bool:
    if not user.is_authenticated:
        return False
    return is_superuser(user) or bool(roles_held(user))


def role_required(role: str):
    """View decorator: the user must hold ``role`` somewhere; branch checks are the view's."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), "staff_login")
            remember_roles(request.user)
            if not branches_for(request.user, role).exists():
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
