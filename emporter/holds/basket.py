"""The basket: record ids kept in the session until the patron confirms them in one go."""

from django.conf import settings

from emporter.catalogue.models import Record

KEY = "basket"
# Enough for the largest limit a library would set; stops a session growing unbounded.
MAX_ITEMS = getattr(settings, "BASKET_MAX_ITEMS", 30)


def ids(session) -> list[int]:
    return list(session.get(KEY, []))


def add(session, record_id: int) -> bool:
    current = ids(session)
    if record_id in current or len(current) >= MAX_ITEMS:
        return False
    session[KEY] = current + [record_id]
    return True


def remove(session, record_id: int) -> None:
    session[KEY] = [i for i in ids(session) if i != record_id]


def clear(session, record_ids=None) -> None:
    session[KEY] = [i for i in ids(session) if record_ids is not None and i not in record_ids]


def records(session) -> list[Record]:
    by_id = Record.objects.in_bulk(ids(session))
    return [by_id[i] for i in ids(session) if i in by_id]
