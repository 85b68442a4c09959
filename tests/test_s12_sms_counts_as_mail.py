"""329c61f: a "ready" email gives up after a day of "later" only "while other mail goes
through" (_gives_up -> _delivered_since). _delivered_since counts every SENT notice,
texts included: a relay deferring every email all weekend, while the SMS gateway works,
fails every patron's "ready" email, exactly what the commit meant to prevent."""

import datetime

from emporter.holds.services import place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from tests.conftest import make_patron, make_record
from tests.test_notices_s12 import later, relay_deferring_every_address, scripted_mail  # noqa: F401


def test_texts_going_out_do_not_make_a_relay_outage_the_patrons_fault(branch):
    from tests.mailscript import Script

    relay_deferring_every_address(branch)
    moment, n = later(), 0
    while moment < later(hours=36):
        # Now and then a patron who chose texts is told something: the console gateway sends it.
        if n % 8 == 0:
            texter = make_patron(
                branch, card=f"5100{n:04d}", phone="06 98 76 54 32", notice_channel="sms", email=""
            )
            record = make_record(title=f"SMS {n}", copies=[branch])
            place_request(patron=texter, record_id=record.pk, pickup_branch=branch)
            compose.compose_all(moment)
        outbox.send_due(moment)
        moment += datetime.timedelta(minutes=15)
        n += 1
    assert Notice.objects.filter(channel="sms", state=State.SENT).exists()
    Script.fail = None
    for _ in range(8):
        outbox.send_due(moment)
        moment += datetime.timedelta(hours=1)
    states = list(Notice.objects.filter(kind=Kind.READY).values_list("state", "error_code"))
    assert {s for s, _ in states} == {State.SENT}, states
