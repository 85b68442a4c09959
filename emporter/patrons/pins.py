"""PINs are hashed with far fewer rounds than staff passwords.

Django's default hasher costs about a second of CPU per check (1.5 million PBKDF2
rounds): when a library opens, a crowd signing in with their cards took every web
worker, and the rest of the site waited behind them (a load test through gunicorn:
record pages from 0.3 s to 20 s). A slow hash buys a four- to eight-digit PIN little
anyway: with the database in hand, its 10,000 values are tried in hours either way.
PINs are protected online, by the lock-outs (``throttle``); staff passwords keep the
default.

A PIN's hash is Django's own PBKDF2 ("pbkdf2_sha256$50000$…"), the rounds written in
it: any version of the application checks it with the default hasher, so web
processes of two releases side by side, or a rollback, still sign patrons in (a
hasher of another name would lock them all out). Django upgrades a password to the
default's rounds when it checks it (``check_password``'s setter): PINs are checked
here, without that setter, and a PIN hashed otherwise (an older version's, at the
default's rounds) is hashed anew at its next sign-in.
"""

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password


class PinHasher(PBKDF2PasswordHasher):
    @property
    def iterations(self) -> int:
        return settings.PIN_HASH_ROUNDS


def hash_pin(pin: str) -> str:
    return make_password(pin, hasher=PinHasher())


def pin_matches(user, pin: str) -> bool:
    """Whether ``pin`` is ``user``'s PIN; hashed anew with ``PinHasher`` when it was not
    (a PIN set before it, or with other rounds)."""
    encoded = user.password
    if not user.has_usable_password():
        # Django would spend its default hasher's second on it: as long as a wrong PIN,
        # or the answer's delay would tell a card without a PIN from a card that is not.
        hash_pin(pin)
        return False
    # Checked against the PIN's own rounds: against the default's, Django would pad a
    # wrong PIN's check up to its 1,500,000 (harden_runtime), a second again.
    if not check_password(pin, encoded, preferred=PinHasher()):
        return False
    if not _ours(encoded):
        user.password = hash_pin(pin)
        type(user)._default_manager.filter(pk=user.pk).update(password=user.password)
    return True


def _ours(encoded: str) -> bool:
    algorithm, _sep, rest = encoded.partition("$")
    return algorithm == PinHasher.algorithm and rest.partition("$")[0] == str(settings.PIN_HASH_ROUNDS)
