"""Sign-in: what one patron (card and PIN) or one librarian (name and password) signing in
costs the server, for sizing the web workers of an opening morning.

"Page" is the POST of the sign-in form through Django's test client (the lock-out's
counts, the check, the session); "hash" is the password check alone, the reference: the
rest of the page should cost little beside it. PINs have their own hasher
(emporter/patrons/pins.py), staff passwords Django's default. A fresh client each time:
every sign-in is a new session, as on a library's shared computers.
"""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.test import Client

from bench import print_table, section, summary, time_ms
from emporter.network.models import Branch
from emporter.patrons.models import Patron
from emporter.patrons.pins import hash_pin

CARD, PIN = "BENCHSIGNIN1", "4821"
STAFF, PASSWORD = "bench-signin-staff", "a long bench password 42"


@section("signin")
def run(args) -> dict:
    _ensure_accounts()
    pin_hash = hash_pin(PIN)
    password_hash = make_password(PASSWORD)

    def patron_page():
        response = Client(HTTP_HOST="localhost").post("/account/login/", {"card_number": CARD, "pin": PIN})
        assert response.status_code == 302, response.status_code

    def staff_page():
        response = Client(HTTP_HOST="localhost").post(
            "/staff/login/", {"username": STAFF, "password": PASSWORD}
        )
        assert response.status_code == 302, response.status_code

    repeat = max(5, args.repeat // 3)  # a staff sign-in takes a second or more
    rows, results = [], {}
    for label, page, check in (
        ("patron (card and PIN)", patron_page, lambda: check_password(PIN, pin_hash)),
        ("staff (name and password)", staff_page, lambda: check_password(PASSWORD, password_hash)),
    ):
        page(), check()  # warm-up
        pages = [time_ms(page) for _ in range(repeat)]
        hashes = [time_ms(check) for _ in range(repeat)]
        p, h = summary(pages), summary(hashes)
        per_core = 1000 / p["p50_ms"]
        rows.append([label, p["p50_ms"], p["p95_ms"], h["p50_ms"], f"{per_core:.1f}"])
        results[label] = {"page": p, "hash": h, "per_core_per_second": round(per_core, 1)}
    load = os.getloadavg()
    print_table(
        f"Sign-in, ms over {repeat} runs (load average {load[0]:.1f})",
        ["who", "page p50", "page p95", "hash p50", "sign-ins/s per core"],
        rows,
    )
    return {"repeat": repeat, "load_average": load, "signins": results}


def _ensure_accounts() -> None:
    User = get_user_model()
    patron = Patron.objects.filter(card_number=CARD).select_related("user").first()
    if patron is None:
        user, _created = User.objects.update_or_create(username=CARD, defaults={"password": hash_pin(PIN)})
        # The search section's catalogue brings the network; run alone on a new database,
        # signing in needs a library all the same.
        branch = Branch.objects.first() or Branch.objects.create(code="BENCH", name="Bench")
        names = {"first_name": "Banc", "last_name": "Essai"}
        Patron.objects.create(user=user, card_number=CARD, home_branch=branch, **names)
    else:
        User.objects.filter(pk=patron.user_id).update(password=hash_pin(PIN))
    staff, _created = User.objects.get_or_create(username=STAFF)
    staff.set_password(PASSWORD)
    staff.is_staff = True
    staff.save()
