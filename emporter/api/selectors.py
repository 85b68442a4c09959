"""Reads for the phone desk: finding the caller."""

from django.db.models import Q, QuerySet

from emporter.patrons.models import Patron

MAX_RESULTS = 20
# Matching on the last 9 digits makes "+33 6 12 34 56 78" find "06 12 34 56 78".
PHONE_DIGITS = 9


def find_patrons(q: str) -> QuerySet[Patron]:
    """By card number (whole or its start), phone number, or every word of a name."""
    q = " ".join(q.split())
    if len(q) < 2:
        return Patron.objects.none()
    match = Q(card_number=q)
    if len(q) >= 4:
        match |= Q(card_number__startswith=q)
    digits = "".join(c for c in q if c.isdigit())
    if len(digits) >= 6 and len(digits) >= len(q.replace(" ", "")) - 3:
        match |= Q(phone_digits__endswith=digits[-PHONE_DIGITS:])
    words = q.split()
    name = Q()
    for word in words:
        name &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
    match |= name
    return (
        Patron.objects.filter(match)
        .select_related("home_branch")
        .order_by("last_name", "first_name")[:MAX_RESULTS]
    )
