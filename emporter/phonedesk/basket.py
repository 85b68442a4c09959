"""This call's basket: the basket's own functions (``holds.basket``) under one session
key per patron, so that two calls handled in two tabs never mix."""

from emporter.holds import basket

MAX_ITEMS = basket.MAX_ITEMS


def _key(patron_id: int) -> str:
    return f"phonedesk:basket:{patron_id}"


def ids(session, patron_id: int) -> list[int]:
    return basket.ids(session, key=_key(patron_id))


def add(session, patron_id: int, record_id: int) -> bool:
    return basket.add(session, record_id, key=_key(patron_id))


def remove(session, patron_id: int, record_ids) -> None:
    basket.remove(session, record_ids, key=_key(patron_id))
