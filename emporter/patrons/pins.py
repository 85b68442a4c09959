"""PINs are hashed with a hasher of their own, far cheaper than staff passwords'.

Django's default hasher costs about a second of CPU per check (1.5 million PBKDF2
rounds): when a library opens, a crowd signing in with their cards took every web
worker, and the rest of the site waited behind them (a load test through gunicorn:
record pages from 0.3 s to 20 s). A slow hash buys a four- to eight-digit PIN little
anyway: with the database in hand, its 10,000 values are tried in hours either way.
PINs are protected online, by the lock-outs (``throttle``); staff passwords keep the
default hasher.

Django upgrades a password to the default hasher when it checks it (``check_password``'s
setter): a PIN checked that way would be slow again from its second sign-in. So PINs are
checked here, without that setter, and a PIN hashed by an older version (the default
hasher) is hashed anew with this one at its next sign-in.
"""

from django.contrib.auth.hashers import (
    PBKDF2PasswordHasher,
    check_password,
    get_hasher,
    identify_hasher,
    make_password,
)


class PinHasher(PBKDF2PasswordHasher):
    algorithm = "pin_pbkdf2_sha256"
    iterations = 50_000  # about 40 ms here, against 1.3 s for the default's 1,500,000


def hash_pin(pin: str) -> str:
    return make_password(pin, hasher=PinHasher.algorithm)


def pin_matches(user, pin: str) -> bool:
    """Whether ``pin`` is ``user``'s PIN; hashed anew with ``PinHasher`` when it was not
    (a PIN set before it existed) or with other rounds."""
    encoded = user.password
    if not user.has_usable_password():
        # Django would spend its default hasher's second on it: as long as a wrong PIN,
        # or the answer's delay would tell a card without a PIN from a card that is not.
        hash_pin(pin)
        return False
    if not check_password(pin, encoded):
        return False
    try:
        current = identify_hasher(encoded)
    except ValueError:
        current = None
    ours = get_hasher(PinHasher.algorithm)  # the one settings list (tests: a faster one)
    if current is None or current.algorithm != ours.algorithm or ours.must_update(encoded):
        user.password = hash_pin(pin)
        type(user)._default_manager.filter(pk=user.pk).update(password=user.password)
    return True
