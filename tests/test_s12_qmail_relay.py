"""329c61f: without an enhanced status at the start, only a bare 554 or policy words
(relay, denied, policy, spam, block, authenticat) are taken as a refusal that may be the
server's. qmail, named in the commit, refuses to relay with
"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)": none of those
words, no leading 5.7.x. A relay refusing us (the smarthost wants a login after a
password change, our address moved) now fails every patron's notice at once,
"address_refused", each one shown to staff as a bad address; before the commit the
second domain stopped the pass and nothing was blamed on the patrons."""

from emporter.notices import outbox
from emporter.notices.models import Notice, State
from tests.test_notices_s12 import confirmation_for, later, refuse, scripted_mail  # noqa: F401

QMAIL_RELAY = (553, b"sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)")


def test_a_qmail_relay_refusing_us_does_not_fail_every_address(branch):
    emails = [f"lecteur{n}@{d}" for n, d in enumerate(["orange.fr", "free.fr", "gmail.com", "laposte.net"])]
    for n, email in enumerate(emails):
        confirmation_for(branch, f"4400000{n}", email)
    from tests.mailscript import Script

    Script.fail = refuse({email: QMAIL_RELAY for email in emails})
    outbox.send_due(later(), seconds=30)
    states = list(Notice.objects.order_by("pk").values_list("state", "error_code"))
    assert (State.FAILED, "address_refused") not in states, states
