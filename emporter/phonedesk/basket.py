"""This call's basket: record ids in the staff member's session, one list per patron, so
two calls handled in two tabs never mix."""

MAX_ITEMS = 30  # more than any limit; stops a session growing unbounded


def _key(patron_id: int) -> str:
    return f"phonedesk:basket:{patron_id}"


def ids(session, patron_id: int) -> list[int]:
    return list(session.get(_key(patron_id), []))


def add(session, patron_id: int, record_id: int) -> bool:
    current = ids(session, patron_id)
    if record_id in current or len(current) >= MAX_ITEMS:
        return False
    session[_key(patron_id)] = current + [record_id]
    return True


def remove(session, patron_id: int, record_ids) -> None:
    session[_key(patron_id)] = [i for i in ids(session, patron_id) if i not in set(record_ids)]
