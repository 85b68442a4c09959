"""What the scheduler runs, and how often. Each job only enqueues tasks or does work
that is safe to repeat, so running two schedulers (or missing a beat) does no harm."""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[[], object]


# A sweep that finds a full batch goes on with the next one, up to this long: after a
# network-wide switch there are tens of thousands of requests to move or tell, and one
# batch of 500 every few minutes took hours (the scheduler runs one job at a time).
SWEEP_SECONDS = 45


def until_done(
    sweep: Callable[[], int], *, batch: int = 500, seconds: float = SWEEP_SECONDS
) -> Callable[[], int]:
    """``sweep`` (doing at most ``batch`` a call, returning how many it did) called again
    while it does a full batch, until ``seconds`` have passed."""

    def run() -> int:
        deadline, done = time.monotonic() + seconds, 0
        while True:
            did = sweep()
            done += did
            if did < batch or time.monotonic() >= deadline:
                return done

    run.__name__ = getattr(sweep, "__name__", "sweep")
    return run


def between_imports(sweep: Callable[[], int]) -> Callable[[], int]:
    """``sweep`` run only while no import is being read: an import decides at its end
    which records were merged away (one its files list further on was not)."""
    from emporter.imports.services import running

    def run() -> int:
        return 0 if running() else sweep()

    run.__name__ = getattr(sweep, "__name__", "sweep")
    return run


EXPIRE_BATCH = 500


def expire_bags() -> int:
    """Bags whose last day turned out closed held to the next open day, once a turn; then
    those past their deadline expired, 500 at a time while the turn lasts."""
    from emporter.holds.services import expire_overdue, spare_closed_last_days

    spare_closed_last_days(timezone.localdate())
    batch = functools.partial(expire_overdue, spare=False, limit=EXPIRE_BATCH)
    return until_done(batch, batch=EXPIRE_BATCH)()


def jobs() -> list[Job]:
    from emporter.api.tokens import forget_expired
    from emporter.curbside.services import close_finished
    from emporter.desk.services import anonymise_returned, blur_recent_returns
    from emporter.discovery.services import cancel_stranded
    from emporter.holds.merges import follow_merges
    from emporter.holds.services import close_waiting_without_copies, serve_waiting, tell_closed_pickups
    from emporter.imports.services import sweep as sweep_imports
    from emporter.notices.retention import forget_old_notices
    from emporter.notices.tasks import run_outbox
    from emporter.patrons.throttle import forget_old
    from emporter.picking.services import settle_withdrawn_lines, withdraw_closed_branches
    from emporter.picking.tasks import enqueue_due_runs
    from emporter.privacy.services import (
        erase_expired_cards,
        forget_closed,
        forget_expired_sessions_and_tasks,
    )
    from emporter.taskqueue import fail_stranded

    return [
        Job("morning pick runs", 60, enqueue_due_runs),
        # A request cancelled while its list is out: its line goes to the copy's next
        # patron, or closes, so nobody walks to that shelf for nothing.
        Job("settle pick lines of withdrawn requests", 60, settle_withdrawn_lines),
        # Sending happens here rather than in request handlers: a slow or dead mail
        # server never slows a patron's click, and retries follow the backoff.
        Job("notices", 15, run_outbox),
        Job("expire bags past their deadline", 600, expire_bags),
        # Requests of a record merged at the source follow its copies to the other record
        # (the import moves most at once); before the two sweeps below, which would serve
        # them from, or close them on, a record left without copies.
        Job("move requests of records merged at the source", 60, until_done(between_imports(follow_merges))),
        # Copies back on a shelf without a return (an import, an edit) serve the waiting list.
        Job("serve waiting requests", 300, until_done(serve_waiting)),
        # A title whose last copies were written off or deleted: its queue is told, not kept.
        Job("close waiting requests no copy can serve", 300, until_done(close_waiting_without_copies)),
        # A branch switched to "closed" lends nothing: requests on its copies move elsewhere.
        Job("withdraw requests from closed branches", 60, until_done(withdraw_closed_branches)),
        # ... and patrons who were to collect there are told, once per closing.
        Job("tell patrons whose pickup library closed", 120, until_done(tell_closed_pickups)),
        # ... and surprise bags no librarian will make up there are cancelled, and told.
        Job("cancel surprise bags at libraries no longer taking requests", 120, until_done(cancel_stranded)),
        Job("anonymise returned loans", 3600, until_done(anonymise_returned)),
        # Loans forgotten at their return keep its moment a quarter of an hour (the
        # returns screen reads it), then the day only.
        Job("blur the return times of forgotten loans", 3600, blur_recent_returns),
        # Pickup times of bags closed meanwhile give their places back.
        Job("close finished pickup appointments", 300, close_finished),
        Job("forget old sign-in failures", 3600, forget_old),
        Job("forget expired API tokens", 3600, forget_expired),
        Job("forget old notices", 3600, forget_old_notices),
        # Requests that became no loan, surprise bags and empty bags: REQUEST_HISTORY_DAYS.
        Job("forget closed requests", 3600, until_done(forget_closed)),
        Job("forget expired sessions and finished tasks", 86400, forget_expired_sessions_and_tasks),
        # A task left "running" by a worker that died: marked failed, so that it is seen
        # (and, once finished, pruned like the others).
        Job("fail tasks whose worker died", 3600, fail_stranded),
        # Off unless EXPIRED_CARDS_ERASED_AFTER_DAYS is set.
        Job("erase long-expired cards", 86400, until_done(erase_expired_cards, batch=100)),
        # Files sent while the worker was down are read when it is back, one at a time.
        Job("imports waiting or stalled", 60, sweep_imports),
    ]
