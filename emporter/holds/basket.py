"""The basket: record ids kept in the session until they are confirmed in one go. The
patron's own is under ``KEY``; the phone desk keeps one per caller under its own key
(``phonedesk.basket``)."""

from emporter.catalogue.models import Record

KEY = "basket"
# More than any library's limit; stops a session growing unbounded.
MAX_ITEMS = 30


def ids(session, *, key: str = KEY) -> list[int]:
    return list(session.get(key, []))


def add(session, record_id: int, *, key: str = KEY) -> bool:
    """False when it is there already, or the basket is full."""
    current = ids(session, key=key)
    if record_id in current or len(current) >= MAX_ITEMS:
        return False
    session[key] = current + [record_id]
    return True


def remove(session, record_ids, *, key: str = KEY) -> None:
    gone = set(record_ids)
    session[key] = [i for i in ids(session, key=key) if i not in gone]


def clear(session, record_ids=None) -> None:
    """Empty the patron's basket, or take ``record_ids`` out of it."""
    if record_ids is None:
        session[KEY] = []
    else:
        remove(session, record_ids)


def records(session) -> list[Record]:
    by_id = Record.objects.in_bulk(ids(session))
    return [by_id[i] for i in ids(session) if i in by_id]
