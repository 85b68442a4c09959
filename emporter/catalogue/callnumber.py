"""Shelf-order sort key for call numbers (cotes). Placeholder until the real key lands."""


def sort_key(call_number: str) -> str:
    return (call_number or "").casefold()
