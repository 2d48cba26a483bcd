"""Redis and PostgreSQL stopped and started again while clients upload and search."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.scenarios import Outcome, api_for, finish
from tests.reliability.stack import Account, Stack
from tests.reliability.traffic import Event, Traffic, summarise

_RECOVERY_S = 2.0  # after a restart, requests must succeed again within this


@dataclass
class Outages:
    traffic: Traffic
    windows: list[tuple[float, float]]  # (down, up), seconds since the traffic started

    def during(self) -> list[Event]:
        """Requests in flight at some moment while the service was down."""
        return [e for down, up in self.windows for e in self.traffic.overlapping(down, up)]

    def recovered(self) -> list[Event]:
        """Requests started from _RECOVERY_S after each restart until the next stop."""
        ends = [down for down, _ in self.windows[1:]] + [float("inf")]
        return [
            e
            for (_, up), end in zip(self.windows, ends, strict=True)
            for e in self.traffic.after(up + _RECOVERY_S)
            if e.at + e.seconds < end
        ]


def _run_outages(
    stack: Stack,
    account: Account,
    outcome: Outcome,
    *,
    stop: Callable[[], None],
    start: Callable[[], None],
    restarts: int,
    outage_s: float,
    before_s: float = 3,
    after_s: float = 5,
) -> Outages:
    traffic = Traffic(
        api_for(stack, account, timeout=20),
        account.gallery,
        uploaders=1,
        searchers=2,
        per_request=4,
        pause_s=0.05,
        prefix=outcome.name.split()[0].lower(),
    )
    traffic.start()
    time.sleep(before_s)
    windows = []
    for _ in range(restarts):
        down = traffic.now()
        stop()
        time.sleep(outage_s)
        start()
        windows.append((down, traffic.now()))
        time.sleep(after_s)
    traffic.stop()
    outages = Outages(traffic, windows)
    exits = stack.supervise()
    outcome.figures["unexpected_exits"] = exits
    outcome.notes += [f"{reason}; restarted as a supervisor would" for reason in exits]
    first_down, last_up = windows[0][0], windows[-1][1]
    outcome.figures["phases"] = {
        "before": summarise(traffic.between(0, first_down), first_down),
        "outage": summarise(outages.during(), sum(up - down for down, up in windows)),
        "after": summarise(traffic.after(last_up), traffic.now() - last_up),
    }
    unclear = [e for e in traffic.events if e.status == 0 or (e.status >= 400 and not e.is_json)]
    outcome.checks[
        "every failed request answered with a JSON error (no 500 page, no reset)"
    ] = not unclear
    outcome.figures["unclear_errors"] = [f"{e.op} {e.status} {e.detail}" for e in unclear[:10]]
    return outages


def _how_often(restarts: int, outage_s: float) -> str:
    times = "once" if restarts == 1 else f"{restarts} times"
    return f"{times}, {outage_s:g} s down each, during uploads (1 client) and searches (2 clients)"


def redis_restart(
    stack: Stack, account: Account, *, restarts: int = 1, outage_s: float = 5
) -> Outcome:
    """Kill Redis (broker and cache; no persistence: every queued task is lost) and start a
    new one on the same port while clients upload and search."""
    outcome = Outcome(
        "Redis restart during uploads and searches",
        killed="Redis (broker and cache), SIGKILL, started again empty on the same port "
        "(no persistence: queued tasks are lost, the periodic sweep must find the images)",
        how_often=_how_often(restarts, outage_s),
    )
    outages = _run_outages(
        stack,
        account,
        outcome,
        stop=stack.redis_stop,
        start=stack.redis_start,
        restarts=restarts,
        outage_s=outage_s,
    )
    during = outages.during()
    outcome.checks["searches answer during the outage"] = all(
        e.status == 200 for e in during if e.op == "search"
    ) and any(e.op == "search" for e in during)
    outcome.checks["uploads succeed during the outage"] = all(
        e.status == 201 for e in during if e.op == "upload"
    )
    outcome.figures["retried_upload_requests"] = outages.traffic.retry_failed()
    finish(stack, account, outcome, set(outages.traffic.accepted.values()))
    return outcome


def postgres_restart(
    stack: Stack, account: Account, *, restarts: int = 1, outage_s: float = 5
) -> Outcome:
    """Stop PostgreSQL (fast shutdown: sessions cut) and start it again on the same data."""
    outcome = Outcome(
        "PostgreSQL restart during uploads and searches",
        killed="PostgreSQL (pg_ctl stop -m fast: every session cut), started again on the "
        "same data directory",
        how_often=_how_often(restarts, outage_s),
    )
    outages = _run_outages(
        stack,
        account,
        outcome,
        stop=stack.pg_stop,
        start=stack.pg_start,
        restarts=restarts,
        outage_s=outage_s,
    )
    during = outages.during()
    failures = [e for e in during if e.status not in (200, 201)]
    outcome.checks["requests during the outage fail with 503 JSON"] = all(
        e.status == 503 and e.is_json for e in failures
    )
    slowest = max((e.seconds for e in during), default=0.0)
    outcome.figures["slowest_request_during_outage_s"] = round(slowest, 2)
    outcome.checks["requests during the outage answer within 3 s"] = slowest < 3
    recovered = outages.recovered()
    outcome.checks[f"requests succeed again {_RECOVERY_S:g} s after each restart"] = bool(
        recovered
    ) and all(e.status in (200, 201) for e in recovered)
    traffic = outages.traffic
    outcome.figures["retried_upload_requests"] = traffic.retry_failed()
    outcome.figures["stored_although_the_reply_was_an_error"] = traffic.duplicates
    finish(stack, account, outcome, set(traffic.accepted.values()))
    return outcome
