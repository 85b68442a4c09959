"""Who may act where: staff roles are scoped to branches (no branch = every branch)."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q

from emporter.network.models import Branch

from .models import Role, StaffRole


def has_role(user, role: str, branch: Branch | int | None = None) -> bool:
    """True if ``user`` may act as ``role`` at ``branch`` (any branch when None).
    Network administrators and superusers may do everything everywhere."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    roles = StaffRole.objects.filter(user=user, role__in=[role, Role.NETWORK_ADMIN])
    if branch is not None:
        roles = roles.filter(Q(branch__isnull=True) | Q(branch=branch))
    return roles.exists()


def branches_for(user, role: str):
    """The branches where ``user`` may act as ``role``."""
    if not user.is_authenticated:
        return Branch.objects.none()
    everywhere = (
        user.is_superuser
        or StaffRole.objects.filter(
            user=user, role__in=[role, Role.NETWORK_ADMIN], branch__isnull=True
        ).exists()
    )
    if everywhere:
        return Branch.objects.all()
    return Branch.objects.filter(staff_roles__user=user, staff_roles__role=role).distinct()


def is_staff_member(user) -> bool:
    return user.is_authenticated and (user.is_superuser or StaffRole.objects.filter(user=user).exists())


def role_required(role: str):
    """View decorator: the user must hold ``role`` somewhere; branch checks are the view's."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), "staff_login")
            if not branches_for(request.user, role).exists():
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
