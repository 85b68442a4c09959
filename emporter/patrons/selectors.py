"""Reads about patrons that several apps' pages share."""

from django.core.cache import cache
from django.http import Http404

from .models import Patron


def current_patron(request) -> Patron | None:
    """The patron signed in, or None (nobody, or a staff account without a card)."""
    if not request.user.is_authenticated:
        return None
    patron = Patron.objects.filter(user=request.user).select_related("home_branch").first()
    if patron is not None:
        # Its user is the one the request read: ``patron.user`` reads it no more, and
        # ``request.user.patron`` (is_patron_account, the menu) is this patron. The user
        # itself, not the middleware's lazy stand-in (whose type() is not the User model).
        patron.user = getattr(request.user, "_wrapped", request.user)
    return patron


def signed_in_patron(request) -> Patron:
    """The patron signed in, for a patron's own pages and actions; a 404 for a staff
    account without a card: staff act from their own screens, not as a patron."""
    patron = current_patron(request)
    if patron is None:
        raise Http404
    return patron


def self_or_child(patron: Patron, patron_id: int | None) -> Patron | None:
    """Whom ``patron`` acts for (the web basket's "These documents are for", the API's
    ``for_patron_id``): themselves (no id, or their own), or a child in their care (as
    Koha's guarantor); None for anyone else."""
    if patron_id is None or patron_id == patron.pk:
        return patron
    return Patron.objects.select_related("home_branch").filter(pk=patron_id, guardian=patron).first()


def cards_are_digits() -> bool:
    """Every card of the network is made of digits: then the sign-in form asks a phone for
    its number keypad. Otherwise a card with letters could not be typed on it at all (the
    iPhone's has none). Read at most every ten minutes per process: a scan of the cards."""
    return cache.get_or_set(
        "patrons:cards-are-digits",
        lambda: not Patron.objects.exclude(card_number__regex=r"^[0-9]+$").exists(),
        600,
    )
