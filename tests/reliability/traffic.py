"""Concurrent uploads and searches against a running stack, with every outcome recorded.

Used in-process by the failure scenarios (traffic across an outage) and as a
separate process for the load run:

    python -m tests.reliability.traffic --port 8000 --token T --gallery g \\
        --seconds 60 --searchers 4 --uploaders 1 --out load.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from tests.reliability.client import (
    COLOUR_WORDS,
    Api,
    Reply,
    accepted_ids,
    percentiles,
    small_png,
)


@dataclass
class Event:
    op: str  # upload | search
    at: float  # seconds since the traffic started
    seconds: float
    status: int  # 0: no HTTP answer
    is_json: bool
    detail: str = ""
    files: int = 0


@dataclass
class Traffic:
    api: Api
    gallery: str
    uploaders: int = 1
    searchers: int = 1
    per_request: int = 4
    pause_s: float = 0.05  # between one thread's requests
    search_k: int = 24
    search_mode: str | None = None  # None: the server's default mode
    seed: int = 1_000_000
    prefix: str = "traffic"
    events: list[Event] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)  # filename -> image id
    failed: dict[str, int] = field(default_factory=dict)  # filename -> seed, to retry
    duplicates: int = 0  # files found already stored: an earlier reply was an error
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=itertools.count)
    started: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for i in range(self.uploaders):
            self._spawn(self._upload_loop, f"uploader-{i}")
        for i in range(self.searchers):
            self._spawn(self._search_loop, f"searcher-{i}", i)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def now(self) -> float:
        return time.monotonic() - self.started

    def _spawn(self, target, name: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _record(self, op: str, at: float, reply: Reply, files: int = 0) -> None:
        event = Event(op, at, reply.seconds, reply.status, reply.is_json, reply.detail[:200], files)
        with self._lock:
            self.events.append(event)

    # ------------------------------------------------------------ uploads

    def _next_files(self) -> list[tuple[str, int]]:
        with self._lock:
            numbers = [next(self._counter) for _ in range(self.per_request)]
        return [(f"{self.prefix}-{n:06d}.png", self.seed + n) for n in numbers]

    def upload(self, named_seeds: list[tuple[str, int]]) -> Reply:
        at = self.now()
        reply = self.api.upload(self.gallery, [(n, small_png(s)) for n, s in named_seeds])
        self._record("upload", at, reply, len(named_seeds))
        stored = accepted_ids(reply)
        with self._lock:
            self.accepted.update(stored)
            if stored:
                results = reply.body["results"]  # type: ignore[index]
                self.duplicates += sum(r["status"] == "duplicate" for r in results)
            for name, seed in named_seeds:
                if name in stored:
                    self.failed.pop(name, None)
                else:
                    self.failed[name] = seed
        return reply

    def _upload_loop(self) -> None:
        while not self._stop.is_set():
            self.upload(self._next_files())
            self._stop.wait(self.pause_s)

    def retry_failed(self, *, attempts: int = 3) -> int:
        """What a client does after an error: send the failed files again. An upload that
        was stored although its reply was lost comes back as a duplicate of the stored image."""
        retried = 0
        for _ in range(attempts):
            pending = sorted(self.failed.items())
            if not pending:
                break
            for start in range(0, len(pending), self.per_request):
                self.upload(pending[start : start + self.per_request])
                retried += 1
        return retried

    # ------------------------------------------------------------ searches

    def _search_loop(self, offset: int) -> None:
        words = itertools.cycle(COLOUR_WORDS[offset:] + COLOUR_WORDS[:offset])
        while not self._stop.is_set():
            at = self.now()
            text = f"a {next(words)} picture"
            reply = self.api.search(text, k=self.search_k, mode=self.search_mode)
            self._record("search", at, reply)
            self._stop.wait(self.pause_s)

    # ------------------------------------------------------------ reporting

    def between(self, start: float, end: float) -> list[Event]:
        """Requests answered before `end` that started at or after `start`."""
        return [e for e in self.events if e.at >= start and e.at + e.seconds < end]

    def overlapping(self, start: float, end: float) -> list[Event]:
        """Requests in flight at some moment between `start` and `end`."""
        return [e for e in self.events if e.at < end and e.at + e.seconds >= start]

    def after(self, start: float) -> list[Event]:
        return [e for e in self.events if e.at >= start]


def summarise(events: Iterable[Event], seconds: float) -> dict[str, dict]:
    """Per operation: counts by outcome, throughput and latency percentiles."""
    by_op: dict[str, list[Event]] = {}
    for event in events:
        by_op.setdefault(event.op, []).append(event)
    out = {}
    for op, items in sorted(by_op.items()):
        ok = [e for e in items if 200 <= e.status < 300]
        out[op] = {
            "requests": len(items),
            "ok": len(ok),
            "4xx": sum(400 <= e.status < 500 for e in items),
            "5xx": sum(e.status >= 500 for e in items),
            "5xx_json": sum(e.status >= 500 and e.is_json for e in items),
            "no_answer": sum(e.status == 0 for e in items),
            "files": sum(e.files for e in ok),
            "per_second": round(len(ok) / seconds, 2) if seconds else 0.0,
            "files_per_second": (
                round(sum(e.files for e in ok) / seconds, 2) if seconds and op == "upload" else "-"
            ),
            **percentiles([e.seconds for e in ok]),
            "all": percentiles([e.seconds for e in items]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--gallery", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--searchers", type=int, default=4)
    parser.add_argument("--uploaders", type=int, default=1)
    parser.add_argument("--per-request", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=5_000_000, help="first image seed")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    traffic = Traffic(
        Api(args.host, args.port, args.token),
        args.gallery,
        uploaders=args.uploaders,
        searchers=args.searchers,
        per_request=args.per_request,
        pause_s=args.pause,
        seed=args.seed,
        prefix="load",
    )
    traffic.start()
    time.sleep(args.seconds)
    traffic.stop()
    elapsed = traffic.now()
    result = {
        "seconds": round(elapsed, 1),
        "summary": summarise(traffic.events, elapsed),
        "accepted": traffic.accepted,
        "failed": traffic.failed,
        "errors": [asdict(e) for e in traffic.events if not 200 <= e.status < 300][:50],
    }
    with open(args.out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
