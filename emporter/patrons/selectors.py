"""Reads about patrons that several apps' pages share."""

from django.http import Http404

from .models import Patron


def current_patron(request) -> Patron | None:
    """The patron signed in, or None (nobody, or a staff account without a card)."""
    if not request.user.is_authenticated:
        return None
    return Patron.objects.filter(user=request.user).select_related("home_branch").first()


def signed_in_patron(request) -> Patron:
    """The patron signed in, for a patron's own pages and actions; a 404 for a staff
    account without a card: staff act from their own screens, not as a patron."""
    patron = current_patron(request)
    if patron is None:
        raise Http404
    return patron
