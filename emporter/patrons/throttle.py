"""Sign-in lock-outs kept in SignInFailures: staff names, and addresses trying cards.

Patrons' cards have their own lock (services.authenticate_patron); what it cannot stop
is one guesser trying a common PIN on many cards, once each. So wrong card sign-ins
are also counted per address (``card_failed``; an IPv6 address by its /56 network, the
block one home line gets: ``client_key``): ADDRESS_MAX_FAILURES of them within one
quarter of an hour (a fixed one, ``_quarter``) stop card sign-ins from that address for
LOCK_FOR. A library's public computers and its Wi-Fi share one address: the limit is far
above what their users get wrong in a quarter of an hour, and a count that only a quiet
quarter restarted added up their mistakes of a whole busy day. A guesser is held to the
same pace either way, fifty tries a quarter on average (twice that across a quarter's
turn, once: each card's own counts still hold).

Staff:

Wrong passwords are counted per user name *and address* (five lock that pair for 15
minutes) and per user name from anywhere (twenty lock the name): a guesser gets five
tries per address, twenty in all, while someone who merely wants a librarian locked out
needs several addresses to do it. Behind a reverse proxy every request comes from the
proxy's address unless it passes the client's own (docs/deploy.md). An administrator
unlocks a name by deleting its rows (admin: sign-in failures); rows with no lock are
forgotten after a day (``forget_old``, scheduled). Each wrong staff password costs a
full hash (about a second): wrong ones from one address, on any names, are counted as
cards' are, by client (an IPv6 /56) and per quarter of an hour (``STAFF_ADDRESS_KEY``), and fifty stop staff
sign-ins from there for LOCK_FOR before any hashing (``staff_address_locked_for``), or
one client trying new names could take every web worker.

A card locked from anywhere again and again is locked longer each time
(``lock_length``: 15 minutes, an hour, four, then sixteen): twenty guesses every quarter
of an hour would find a four-digit PIN in days; this way it takes years. The owner's
right PIN, a new one given at the desk, or a week without failures starts again from 15
minutes. Staff names are not: a twelve-character password is not found twenty guesses
at a time, and a longer lock would only help someone keep a librarian out.

Known browsers (OWASP's "device cookie"): the lock of a card or name from anywhere is
the guesser's, and anyone with a few addresses can take it, against the owner too. A
browser that signed in to an account through the web forms gets a signed cookie naming
it (``remember_card``, ``remember_name``); the lock from anywhere does not hold against
that browser, whose wrong tries get a count of their own instead (``browser_failed``).
"""

import datetime
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import SignInFailures

MAX_FAILURES = 5  # wrong passwords in a row from one address before the pair is locked
MAX_FAILURES_ANYWHERE = 20  # from any address before the name itself is locked
LOCK_FOR = datetime.timedelta(minutes=15)
LONGEST_LOCK = datetime.timedelta(hours=16)
FORGET_AFTER = datetime.timedelta(days=1)
FORGET_LOCKS_AFTER = datetime.timedelta(days=7)  # a name or card locked again and again
ADDRESS_MAX_FAILURES = 50  # wrong card sign-ins from one address before it is stopped
ADDRESS_WINDOW = datetime.timedelta(minutes=15)  # the counts per address: one a quarter
# "!" is not allowed in a user name: an address's row never mixes with a staff name's.
# The address, then the number of the quarter of an hour counted.
ADDRESS_KEY = "!cards {} {}"
# Wrong staff sign-ins from one address, whatever the names: each costs a full password
# hash (about a second of CPU), and a client trying a new name each time is otherwise
# never slowed. Counted per quarter of an hour (the key ends with its number): a whole
# network's staff behind one address, each mistyping now and then, never add up to
# ADDRESS_MAX_FAILURES, as they would in a count that a quiet quarter alone restarts.
STAFF_ADDRESS_KEY = "!staff {} {}"


def lock_length(locks: int) -> datetime.timedelta:
    """How long the ``locks``-th lock in a row lasts: 15 minutes, then four times longer
    each time, up to LONGEST_LOCK (0: a lock that does not grow, a name or card from one
    address)."""
    return min(LOCK_FOR * 4 ** max(locks - 1, 0), LONGEST_LOCK)


def address_key(ip: str, ipv6_prefix: int = 64) -> str:
    """Whom an address counts as: an IPv4 address, or the /64 network of an IPv6 one
    (every home and phone gets a whole /64: counted address by address, a guesser would
    have billions of tries)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is 203.0.113.7
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/{ipv6_prefix}", strict=False))


def client_key(ip: str) -> str:
    """Whom the counts of one client's sign-ins on *any* card or name are kept under: an
    IPv6 address by its /56. A home line gets a /56 (256 /64s), a server often a /48:
    counted by the /64, the stop after ADDRESS_MAX_FAILURES was lifted by moving to the
    next /64 of one's own line. The counts of one card or name from one address stay by
    the /64: a neighbour's wrong PIN must not pause someone else's."""
    return address_key(ip, ipv6_prefix=56)


def _name_key(username: str) -> str:
    # User names are case-sensitive in Django, not in a person's head: one count for all cases.
    return username.strip().lower()[:150]


def _keys(username: str, ip: str) -> dict[str, int]:
    name = _name_key(username)
    return {f"{name} {address_key(ip)}"[:200]: MAX_FAILURES, name: MAX_FAILURES_ANYWHERE}


def _quarter(now) -> int:
    """The number of the quarter of an hour (ADDRESS_WINDOW) ``now`` falls in."""
    return int(now.timestamp() // ADDRESS_WINDOW.total_seconds())


def _staff_address_key(ip: str, now) -> str:
    return STAFF_ADDRESS_KEY.format(client_key(ip), _quarter(now))[:200]


def _card_address_key(ip: str, now) -> str:
    return ADDRESS_KEY.format(client_key(ip), _quarter(now))[:200]


def staff_address_locked_for(ip: str) -> int:
    """Seconds left before staff sign-ins from this address are accepted again (0: now).
    Checked, with ``locked_for``, before any password is hashed."""
    return _seconds_left(Q(username__startswith=STAFF_ADDRESS_KEY.format(client_key(ip), "")))


def _seconds_left(counts: Q) -> int:
    """Seconds left of the longest lock among the ``counts`` (0: none holds)."""
    until = (
        SignInFailures.objects.filter(counts, locked_until__gt=timezone.now())
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    return int((until - timezone.now()).total_seconds()) + 1 if until else 0


def _count_for_client(key: str, now) -> None:
    """One more failure in a client's count of a quarter (``key``); the fiftieth locks."""
    row = _locked_count(key)
    failures = row.failures + 1
    locks = failures >= ADDRESS_MAX_FAILURES
    update = {"failures": 0, "locked_until": now + LOCK_FOR} if locks else {"failures": failures}
    SignInFailures.objects.filter(pk=row.pk).update(updated_at=now, **update)


def locked_for(username: str, ip: str = "", browser: str | None = None) -> int:
    """Seconds left of the lock on this name from this address (0: not locked). The
    name's lock from anywhere does not hold against a ``browser`` known to it (``known_name``)."""
    keys = list(_keys(username, ip))
    if _trusted(browser):
        keys.remove(_name_key(username))
    return _seconds_left(Q(username__in=keys))


def failed(username: str, ip: str = "") -> None:
    """One more wrong password; reaching a limit locks and restarts that count. The
    address's count is not wiped by a success (``succeeded``), as for cards."""
    now = timezone.now()
    with transaction.atomic():
        for key, limit in _keys(username, ip).items():
            row = _locked_count(key)
            if row.locked_until and row.locked_until > now:
                continue  # a known browser's try through the name's lock: it would only lengthen it
            SignInFailures.objects.filter(pk=row.pk).update(failures=F("failures") + 1, updated_at=now)
            row.refresh_from_db(fields=["failures"])
            if row.failures >= limit:
                SignInFailures.objects.filter(pk=row.pk).update(failures=0, locked_until=now + LOCK_FOR)
        if ip:
            _count_for_client(_staff_address_key(ip, now), now)


def _locked_count(key: str) -> SignInFailures:
    """The count kept under ``key``, made if missing, and locked (in a transaction).
    Not get_or_create: two tries racing to make it would leave a failed insert, and an
    ERROR line in PostgreSQL's log that operators would read, for every such race."""
    for _attempt in range(5):
        SignInFailures.objects.bulk_create([SignInFailures(username=key, failures=0)], ignore_conflicts=True)
        # None when another try held it and deleted it (the right PIN): made again.
        row = SignInFailures.objects.select_for_update().filter(username=key).first()
        if row is not None:
            return row
    raise RuntimeError(f"sign-in count {key!r} deleted again and again")


def succeeded(username: str, ip: str = "", *, lock_stays: bool = False) -> None:
    """The right password: the name's counts start again. With ``lock_stays`` (a known
    browser, signed in through the lock), a lock from anywhere is kept: it is a guesser's,
    who would otherwise get twenty more tries each time the owner signs in."""
    counts = SignInFailures.objects.filter(username__in=_keys(username, ip))
    if lock_stays:
        counts = counts.exclude(username=_name_key(username), locked_until__gt=timezone.now())
    counts.delete()


def unlock_name(username: str) -> None:
    """An administrator's unlock: the name's counts from every address and from anywhere."""
    name = _name_key(username)
    SignInFailures.objects.filter(Q(username=name) | Q(username__startswith=f"{name} ")).delete()


def forget_old(now=None) -> int:
    """Delete counts untouched for a day and not locking anything (the table stays small)."""
    now = now or timezone.now()
    unlocked = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    # A lock's length grows with the locks before it: those are remembered for a week.
    quiet = Q(locks=0, updated_at__lt=now - FORGET_AFTER) | Q(updated_at__lt=now - FORGET_LOCKS_AFTER)
    with transaction.atomic():
        # Counts a sign-in holds are left for the next pass: deleting in the table's order
        # could deadlock with a sign-in holding a card's two counts while its PIN is checked.
        idle = SignInFailures.objects.select_for_update(skip_locked=True).filter(unlocked, quiet)
        return SignInFailures.objects.filter(pk__in=list(idle.values_list("pk", flat=True))).delete()[0]


def card_address_locked_for(ip: str) -> int:
    """Seconds left before card sign-ins from this address are accepted again (0: now)."""
    return _seconds_left(Q(username__startswith=ADDRESS_KEY.format(client_key(ip), "")))


def card_failed(ip: str) -> None:
    """One more wrong card number or PIN from this address. A success does not wipe it:
    a guesser holding one valid card could otherwise start again at will."""
    now = timezone.now()
    with transaction.atomic():
        _count_for_client(_card_address_key(ip, now), now)


# -- Patrons' PINs ---------------------------------------------------------------------
#
# Counted per card *and address* (three wrong PINs in a row and each further try waits
# PIN_PAUSE; five lock the pair for LOCK_FOR) and per card from anywhere (twenty lock the
# card for LOCK_FOR, then its count starts again; it is kept until the right PIN, or a
# day without failures, forget_old): a few wrong tries elsewhere do not lock the owner
# out at home, a guesser who keeps at it does, as the PIN is worth more than a quarter
# of an hour. Kept by the
# card number as typed, whether a patron has it or not, so that the answers (slowed,
# locked) never tell which cards exist. A try is counted before its PIN is checked; one
# during a pause or a lock is refused and not counted.

PIN_SLOW_AFTER = 3
PIN_PAUSE = datetime.timedelta(seconds=30)
PIN_MAX_FAILURES = 5
PIN_MAX_FAILURES_ANYWHERE = 20
PIN_KEY = "!pin {}"


def _card_key(card: str) -> str:
    # In any capitals one card (Patron.with_card), and one count: "b0012" and "B0012"
    # would otherwise each get their twenty tries. Through upper() first, as PostgreSQL
    # compares them: it finds "SIS0012" typed "ſIS0012" (UPPER('ſ') is 'S'), which
    # lower() alone would count apart, twenty more tries per such spelling.
    return PIN_KEY.format(card.strip().upper().lower()[:150])


def counted_against(card: str):
    """What is counted against ``card``: from anywhere, and from each address."""
    key = _card_key(card)
    return SignInFailures.objects.filter(Q(username=key) | Q(username__startswith=f"{key} "))


def forget_card(card: str) -> int:
    """Delete what is counted against ``card``, from anywhere (its patron is erased)."""
    return counted_against(card).delete()[0]


def _pin_keys(card: str, ip: str) -> dict[str, int]:
    card = _card_key(card)
    return {f"{card} {address_key(ip)}"[:200]: PIN_MAX_FAILURES, card[:200]: PIN_MAX_FAILURES_ANYWHERE}


@dataclass(frozen=True)
class PinTry:
    """What ``pin_try`` allows. ``refused``: None when the PIN may be checked, else
    "login_locked" or "login_slowed" (a try during a pause: neither checked nor counted),
    with ``seconds`` left. When allowed: whether a wrong PIN now ``locks`` the card or
    starts a ``pause`` (for ``seconds``)."""

    refused: str | None = None
    seconds: int = 0
    locks: bool = False
    pause: bool = False


def pin_try(card: str, ip: str, browser: str | None = None) -> PinTry:
    """Take one try of this card from this address, counted *before* the PIN is checked,
    so that tries sent all at once cannot each get past the count. A right PIN then
    clears the counts (``pin_succeeded``). Tries during a pause or a lock are refused
    and not counted: a patron retrying a moment too soon is not locked out for it. The
    card's lock from anywhere neither refuses nor counts a ``browser`` known to the card
    (``known_card``); every other count does."""
    with transaction.atomic():
        rows = []
        for key, limit in sorted(_pin_keys(card, ip).items()):  # one lock order for all
            row = _locked_count(key)
            rows.append((row, limit))
        now = timezone.now()  # once the rows are ours: a try that waited for them is late
        if _trusted(browser):
            rows = [(row, limit) for row, limit in rows if not _lock_from_anywhere(row, limit, now)]
        holding = [row for row, _ in rows if row.locked_until and row.locked_until > now]
        if holding:
            row = max(holding, key=lambda r: r.locked_until)
            # A pause keeps its count (it grows to the lock); a lock starts it again.
            code = "login_slowed" if row.failures else "login_locked"
            return PinTry(refused=code, seconds=int((row.locked_until - now).total_seconds()) + 1)
        result = PinTry()
        for row, limit in rows:
            failures = row.failures + 1
            if failures >= limit:
                locks = row.locks + 1 if limit == PIN_MAX_FAILURES_ANYWHERE else 0
                length = lock_length(locks)
                update = {"failures": 0, "locks": locks, "locked_until": now + length}
                if not result.locks or length.total_seconds() > result.seconds:
                    result = PinTry(locks=True, seconds=int(length.total_seconds()))
            elif limit == PIN_MAX_FAILURES and failures >= PIN_SLOW_AFTER:
                update = {"failures": failures, "locked_until": now + PIN_PAUSE}
                if not result.locks:
                    result = PinTry(pause=True, seconds=int(PIN_PAUSE.total_seconds()))
            else:
                update = {"failures": failures}
            SignInFailures.objects.filter(pk=row.pk).update(updated_at=now, **update)
    return result


def _lock_from_anywhere(row: SignInFailures, limit: int, now) -> bool:
    return limit == PIN_MAX_FAILURES_ANYWHERE and row.locked_until is not None and row.locked_until > now


def pin_succeeded(card: str, ip: str = "", *, lock_stays: bool = False) -> None:
    """The right PIN: the card's counts start again, from everywhere (only its owner knows
    it). With ``lock_stays`` (a known browser, signed in through the lock), a lock from
    anywhere is kept, and its length: it is a guesser's, who would otherwise get twenty
    more tries, locked for 15 minutes again, each time the owner signs in."""
    card_key = _card_key(card)
    ours = SignInFailures.objects.filter(Q(username=card_key[:200]) | Q(username__startswith=f"{card_key} "))
    if lock_stays:
        ours = ours.exclude(username=card_key[:200], locked_until__gt=timezone.now())
    ours.delete()


# -- Known browsers --------------------------------------------------------------------
#
# The cookie lists up to KNOWN_ACCOUNTS entries, newest first: [account, password mark,
# browser id, issued at]. The account is a keyed hash of the key its counts are kept
# under (a card number or a user name never shows in it); the mark, one of the
# account's password hash, so that a new PIN or password ends every browser's trust;
# the id, random, names the count of that browser's wrong tries (KNOWN_KEY): at
# KNOWN_MAX_FAILURES it is no longer trusted, for as long as its cookie could last, so
# that a stolen cookie is worth that many tries, not the lock's twenty after twenty (a
# count short of it is forgotten after a quiet day, as others: four tries a day, far
# fewer than the lock from anywhere lets anyone have).

KNOWN_COOKIE = "emporter_known"
KNOWN_SALT = "emporter.patrons.throttle.known-browsers"
KNOWN_FOR = datetime.timedelta(days=365)
KNOWN_ACCOUNTS = 5
KNOWN_MAX_FAILURES = 5
KNOWN_KEY = "!known {}"


def _digest(what: str, value: str, length: int) -> str:
    return salted_hmac(f"{KNOWN_SALT}.{what}", value, algorithm="sha256").hexdigest()[:length]


def _entries(request) -> list[list]:
    """The cookie's entries younger than KNOWN_FOR; none when it is missing or not ours."""
    cookie = request.COOKIES.get(KNOWN_COOKIE) if request is not None else None
    if not cookie:
        return []
    try:
        entries = signing.loads(cookie, salt=KNOWN_SALT, max_age=KNOWN_FOR)
    except signing.BadSignature:  # tampered with, signed with a retired key, or too old
        return []
    oldest = (timezone.now() - KNOWN_FOR).timestamp()
    return [entry for entry in entries if isinstance(entry, list) and len(entry) == 4 and entry[3] > oldest]


def _known(request, key: str, password_of: Callable[[], str | None]) -> str | None:
    account = _digest("account", key, 32)
    for entry_account, mark, browser, _issued in _entries(request):
        if entry_account == account:
            # Asked only here: a browser whose cookie does not name the account makes no query.
            password = password_of()
            same = password and constant_time_compare(mark, _digest("mark", password, 16))
            return browser if same else None
    return None


def known_card(request, card: str, password_of: Callable[[], str | None]) -> str | None:
    """The id this browser is known by for ``card``, when its cookie names the card under
    its present PIN (``password_of``: the card's password hash); else None."""
    return _known(request, _card_key(card), password_of)


def known_name(request, username: str, password_of: Callable[[], str | None]) -> str | None:
    """As ``known_card``, for a staff user name."""
    return _known(request, _name_key(username), password_of)


def _trusted(browser: str | None) -> bool:
    """A known browser not yet past KNOWN_MAX_FAILURES wrong tries."""
    if browser is None:
        return False
    count = SignInFailures.objects.filter(username=KNOWN_KEY.format(browser))
    return not count.filter(locked_until__gt=timezone.now()).exists()


def browser_failed(browser: str | None) -> None:
    """One more wrong PIN or password from a known browser (None: any other browser)."""
    if browser is None:
        return
    now = timezone.now()
    with transaction.atomic():
        row = _locked_count(KNOWN_KEY.format(browser))
        failures = row.failures + 1
        ends = failures >= KNOWN_MAX_FAILURES
        update = {"failures": 0, "locked_until": now + KNOWN_FOR} if ends else {"failures": failures}
        SignInFailures.objects.filter(pk=row.pk).update(updated_at=now, **update)


def remember_card(request, response, card: str, password: str) -> None:
    """Set the cookie naming ``card`` (signed in here, its password hash ``password``)."""
    _remember(request, response, _card_key(card), password)


def remember_name(request, response, username: str, password: str) -> None:
    _remember(request, response, _name_key(username), password)


def _remember(request, response, key: str, password: str) -> None:
    account = _digest("account", key, 32)
    # A new id each time: the owner's own slips before this sign-in no longer count.
    issued = int(timezone.now().timestamp())
    entry = [account, _digest("mark", password, 16), secrets.token_urlsafe(12), issued]
    others = [other for other in _entries(request) if other[0] != account]
    value = signing.dumps([entry, *others][:KNOWN_ACCOUNTS], salt=KNOWN_SALT, compress=True)
    response.set_cookie(
        KNOWN_COOKIE,
        value,
        max_age=int(KNOWN_FOR.total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def describe(key: str) -> tuple[str, str, str]:
    """(what is counted, whose, from where) of a SignInFailures key, for the admin."""
    from django.utils.translation import gettext as _

    if key.startswith("!pin "):
        card, _sep, address = key.removeprefix("!pin ").partition(" ")
        kind = _("Card, from one address") if address else _("Card, from anywhere")
        return kind, card, address
    if key.startswith("!cards "):
        return _("Card sign-ins from an address"), "", key.removeprefix("!cards ").rpartition(" ")[0]
    if key.startswith("!known "):
        return _("Wrong tries from a known browser"), "", ""
    if key.startswith("!staff "):
        return _("Staff sign-ins from an address"), "", key.removeprefix("!staff ").rpartition(" ")[0]
    name, _sep, address = key.partition(" ")
    return (_("Staff name, from one address") if address else _("Staff name, from anywhere")), name, address
