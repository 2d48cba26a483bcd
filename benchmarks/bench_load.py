"""Load: 50 concurrent users on a real stack, then one hostile uploader, with figures.

Starts a private stack on loopback (tests/reliability/stack.py: its own
PostgreSQL+pgvector, Redis, one gunicorn server sized by
cbir_site/gunicorn_conf.py, one Celery worker) with the bundled encoder, fills
a public gallery, then runs three phases in the same run:

1. baseline: the searches alone, one at a time (signed-in text and example
   searches, anonymous text searches);
2. mixed: `--users` simulated users for `--duration` seconds, each sending its
   next request as soon as the last is answered (`--think` adds pauses): text
   search 50%, example-image search 15%, a page of 12 thumbnails 25% (repeats
   revalidated with If-None-Match), an upload of 1-3 photos to its own gallery 10%;
3. flood: one user sends back-to-back uploads of many large-canvas PNGs
   (8000x8000 black, ~190 KB each, every file a new SHA-256) over
   `--flood-connections` connections while an anonymous visitor searches.

Prints, per phase and request kind, throughput and p50/p99/max, the answers by
status, the ratios to the baseline and the issue's goals (search p99 <= 1 s at
50 users with no errors; the anonymous search p99 < 1 s during the flood).
Throttles are lifted (this measures capacity; `--product-throttles` keeps the
shipped rates); the upload budgets (files, pixels, concurrency) keep their
defaults. Figures depend on the machine and on what else runs on it.

    python benchmarks/bench_load.py                       # 60 s mixed, bundled encoder
    python benchmarks/bench_load.py --duration 15 --flood-duration 15 --encoder fake
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _load_report import Phases, print_phase, verdicts
from _load_workload import (
    AnonymousApi,
    Recorder,
    SimulatedUser,
    canvas_png,
    image_search,
    png_variant,
    query_texts,
    run_threads,
    sha256,
    small_jpeg,
    text_search,
)

from tests.reliability.client import Api
from tests.reliability.stack import Stack

ENCODER_CACHE = _common.RESULTS_DIR / "cache" / "encoder"  # class-name vectors, kept between runs
_KEEP = {"redis", "worker-0", "web"}  # no second web server, no beat: one server, measured


@dataclass
class LoadStack(Stack):
    web_workers: int = 0  # 0: gunicorn_conf's rule from the CPU count
    web_threads: int = 0
    product_throttles: bool = False

    def env(self) -> dict[str, str]:
        env = super().env()
        # The product's web sizing and result limits, not the failure tests' settings.
        for name in ("CBIR_WEB_WORKERS", "CBIR_WEB_THREADS", "CBIR_SEARCH_MAX_K"):
            env.pop(name, None)
        if self.web_workers:
            env["CBIR_WEB_WORKERS"] = str(self.web_workers)
        if self.web_threads:
            env["CBIR_WEB_THREADS"] = str(self.web_threads)
        if self.product_throttles:
            for name in [n for n in env if n.startswith("CBIR_THROTTLE_")]:
                env.pop(name)
        else:
            env["CBIR_THROTTLE_THUMBNAIL"] = "1000000/min"
        env["CBIR_LOG_LEVEL"] = "WARNING"
        return env

    def _define_services(self) -> None:
        super()._define_services()
        self.services = {n: s for n, s in self.services.items() if n in _KEEP}


@contextlib.contextmanager
def load_stack(args: argparse.Namespace) -> Iterator[LoadStack]:
    root = Path(tempfile.mkdtemp(prefix="cbir-load-"))
    cache = root / "data" / "encoder-cache"
    if ENCODER_CACHE.is_dir():
        shutil.copytree(ENCODER_CACHE, cache)
    stack = LoadStack(
        root=root,
        workers=1,
        extra_env={"CBIR_ENCODER": args.encoder, "HF_HUB_OFFLINE": "1"},
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        product_throttles=args.product_throttles,
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.close()
        if cache.is_dir():
            shutil.copytree(cache, ENCODER_CACHE, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


_ACCOUNTS = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from galleries.services import gallery_create
out = []
for name, public in {names!r}:
    user, _ = get_user_model().objects.get_or_create(username=name)
    token, _ = Token.objects.get_or_create(user=user)
    gallery = gallery_create(user=user, name=name, slug=name,
                             visibility="public" if public else "private")
    out.append(dict(username=name, token=token.key, gallery=gallery.slug))
print(json.dumps(out))
"""


def accounts(stack: Stack, users: int) -> tuple[dict, list[dict], dict]:
    """(the public gallery's owner, the signed-in users, the hostile uploader)."""
    names = [("bench-public", True), *((f"bench-u{i}", False) for i in range(users))]
    made = stack.python(_ACCOUNTS.format(names=[*names, ("bench-hostile", False)]))
    return made[0], made[1:-1], made[-1]  # type: ignore[index]  # stack.python returns the script's JSON: a list here


def fill_public(api: Api, gallery: str, count: int) -> list[tuple[int, str]]:
    """Upload `count` photos (10 per request); (id, thumbnail ETag) of each."""
    found: list[tuple[int, str]] = []
    for start in range(0, count, 10):
        files = [(f"p{i}.jpg", small_jpeg(i)) for i in range(start, min(start + 10, count))]
        reply = api.upload(gallery, files)
        if reply.status != 201:
            raise SystemExit(
                f"Could not fill the public gallery: HTTP {reply.status} {reply.detail}"
            )
        digests = {name: sha256(data) for name, data in files}
        for result in reply.body["results"]:  # type: ignore[index]  # an upload's reply body is a JSON object
            tag = f'"{digests[result["filename"]]}-thumb"'
            found.append((int(result["image"]["id"]), tag))
    return found


def wait_embedded(galleries: list[tuple[Api, str]], *, timeout: float) -> float:
    """Seconds until no image of these galleries (each with its owner's client) waits for
    the worker; gives up after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = 0
        for api, slug in galleries:
            reply = api.request("GET", f"/api/v1/galleries/{slug}/status/")
            ok = reply.status == 200 and reply.is_json
            pending += int(reply.body["pending"]) if ok else 1  # type: ignore[index]  # a status reply's body is a JSON object
        if pending == 0:
            return time.monotonic() - started
        time.sleep(1.0)
    print(f"  (still embedding after {timeout:.0f} s: figures include that work)", flush=True)
    return time.monotonic() - started


def warm_up(user: Api, anonymous: Api, examples: list[bytes]) -> None:
    """Until every web worker has answered quickly: the first searches build its index."""
    quick = 0
    for n in range(200):
        started = time.monotonic()
        text_search(user, f"warm up {n}")
        image_search(user, examples[n % len(examples)])
        text_search(anonymous, "warm up")
        quick = quick + 1 if time.monotonic() - started < 1.5 else 0
        if quick >= 8:
            return


# ---------------------------------------------------------------- phases


def baseline(rec: Recorder, user: Api, anonymous: Api, examples: list[bytes], seconds: float):  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    deadline = time.monotonic() + seconds
    for _ in range(100_000):
        if time.monotonic() >= deadline:
            return
        rec.add("baseline", "text search", text_search(user, query_texts(rng)))
        rec.add("baseline", "image search", image_search(user, rng.choice(examples)))
        rec.add("baseline", "anon text search", text_search(anonymous, query_texts(rng)))


def mixed(rec: Recorder, apis: list[Api], galleries: list[str], thumbs, examples, args) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + args.duration
    users = [
        SimulatedUser(
            number=i,
            api=apis[i % len(apis)],
            gallery=galleries[i % len(galleries)],
            thumbnails=thumbs,
            examples=examples,
            think_s=args.think,
            record=lambda kind, reply: rec.add("mixed", kind, reply),
        )
        for i in range(args.users)
    ]
    run_threads([partial(u.run, deadline) for u in users], join_s=args.duration + 120)


def flood(rec: Recorder, hostile: Api, gallery: str, anonymous: Api, canvas: bytes, args) -> None:  # type: ignore[no-untyped-def]
    counter = itertools.count()  # next() on a count is atomic: the attackers share it
    deadline = time.monotonic() + args.flood_duration
    attacking = threading.Semaphore(0)  # released once per attacker that has finished

    def attacker() -> None:
        try:
            for _ in range(100_000):
                if time.monotonic() >= deadline:
                    return
                numbers = _take(counter, args.flood_files)
                files = [(f"f{n}.png", png_variant(canvas, n)) for n in numbers]
                rec.add("flood", "flood upload", hostile.upload(gallery, files))
        finally:
            attacking.release()

    def visitor() -> None:
        """Searches from the flood's start until its last request is answered."""
        rng = random.Random(11)
        time.sleep(min(2.0, args.flood_duration / 4))  # let the flood start first
        finished = 0
        for _ in range(100_000):
            while finished < args.flood_connections and attacking.acquire(blocking=False):
                finished += 1
            if finished == args.flood_connections or time.monotonic() >= deadline + 150:
                return
            rec.add("flood", "anon text search", text_search(anonymous, query_texts(rng)))

    targets = [attacker] * args.flood_connections + [visitor]
    run_threads(targets, join_s=args.flood_duration + 180)


def _take(counter: Iterator[int], n: int) -> list[int]:
    return [next(counter) for _ in range(n)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", choices=["bundled", "fake"], default="bundled")
    parser.add_argument("--duration", type=float, default=60, help="mixed phase, seconds")
    parser.add_argument("--baseline-duration", type=float, default=15)
    parser.add_argument("--flood-duration", type=float, default=30)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--accounts", type=int, default=0, help="accounts the users share (0: one each)"
    )
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between requests")
    parser.add_argument("--images", type=int, default=200, help="photos in the public gallery")
    parser.add_argument("--flood-side", type=int, default=8000)
    parser.add_argument("--flood-files", type=int, default=20, help="files per flood request")
    parser.add_argument("--flood-connections", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=0, help="0: gunicorn_conf's rule")
    parser.add_argument("--web-threads", type=int, default=0, help="0: gunicorn_conf's rule")
    parser.add_argument("--product-throttles", action="store_true")
    parser.add_argument(
        "--record", action="store_true", help="write the figures into docs/reliability.md"
    )
    args = parser.parse_args()
    for name in ("duration", "baseline_duration", "flood_duration"):
        if not 1 <= getattr(args, name) <= 3600:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 3600 seconds")
    args.accounts = args.accounts or args.users
    if not 1 <= args.users <= 500 or not 1 <= args.accounts <= args.users:
        parser.error("--users must be 1-500 and --accounts 1-users")
    return args


def run(stack: LoadStack, args: argparse.Namespace, phases: Phases) -> None:
    rec = phases.rec
    owner, users, bad = accounts(stack, args.accounts)
    host, port = "127.0.0.1", stack.web_port
    owner_api = Api(host, port, owner["token"], timeout=60)
    apis = [Api(host, port, u["token"], timeout=30) for u in users]
    anonymous = AnonymousApi(host, port, "", timeout=30)
    examples = [small_jpeg(900_000 + i, (320, 240)) for i in range(8)]
    print(f"Filling the public gallery with {args.images} photos ...", flush=True)
    thumbs = fill_public(owner_api, owner["gallery"], args.images)
    waited = wait_embedded([(owner_api, owner["gallery"])], timeout=600)
    print(f"  embedded in {waited:.0f} s; warming up ...", flush=True)
    warm_up(apis[0], anonymous, examples)
    print("Baseline ...", flush=True)
    with phases.timed("baseline"):
        baseline(rec, apis[0], anonymous, examples, args.baseline_duration)
    print(f"Mixed: {args.users} users for {args.duration:.0f} s ...", flush=True)
    with phases.timed("mixed"):
        mixed(rec, apis, [u["gallery"] for u in users], thumbs, examples, args)
    own = [(api, u["gallery"]) for api, u in zip(apis, users, strict=True)]
    drained = wait_embedded(own, timeout=300)
    print(f"Flood ({drained:.0f} s to drain the mixed phase's uploads first) ...", flush=True)
    canvas = canvas_png(args.flood_side)
    print(
        f"  {args.flood_side}x{args.flood_side} black PNG: {len(canvas) / 1024:.0f} KB, "
        f"{args.flood_files} per request, {args.flood_connections} connections",
        flush=True,
    )
    hostile = Api(host, port, bad["token"], timeout=120)
    with phases.timed("flood"):
        flood(rec, hostile, bad["gallery"], anonymous, canvas, args)


def main() -> None:
    args = parse_args()
    phases = Phases(Recorder())
    print(f"Starting a private stack ({args.encoder} encoder) ...", flush=True)
    with load_stack(args) as stack:
        run(stack, args, phases)
        sizing = _sizing(stack)
    for name, figures in phases.figures.items():
        print_phase(name, figures, phases.seconds[name], phases.context[name])
    result = verdicts(phases.figures["baseline"], phases.figures["mixed"], phases.figures["flood"])
    print()
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"web server: {json.dumps(sizing)}")
    errors = [asdict(s) for s in phases.rec.samples if not 200 <= s.status < 400]
    path = _common.write_results(
        "bench_load",
        {
            "args": vars(args),
            "machine": _common.machine_info(),
            "web": sizing,
            "phases": phases.figures,
            "seconds": phases.seconds,
            "context": phases.context,
            "verdicts": result,
            "errors": errors[:100],
        },
    )
    print(f"Wrote {path}")
    if args.record:
        _record(args, phases, result, sizing)


def _record(args: argparse.Namespace, phases: Phases, result: dict, sizing: dict) -> None:
    """Put the figures into docs/reliability.json ("capacity") and re-render the page."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.reliability import report

    doc_path = Path(__file__).resolve().parents[1] / "docs" / "reliability.json"
    document = json.loads(doc_path.read_text())
    columns = ("requests", "per_second", "p50", "p99", "max", "statuses")
    tables = {
        f"{name} ({phases.seconds[name]:.0f} s, load average at start "
        f"{phases.context[name]['load_average_at_start']})": {
            kind: {c: f.get(c, "-") for c in columns} for kind, f in figures.items()
        }
        for name, figures in phases.figures.items()
    }
    goals = "; ".join(f"{k}: {v}" for k, v in result.items())
    # One entry per kind of run (users, pause, encoder): a later run of the same kind replaces it.
    runs = (document.get("capacity") or {}).get("runs", {})
    label = f"{args.users} users, mean pause {args.think:g} s, {args.encoder} encoder"
    runs[label] = {
        "summary": (
            f"Produced by `python benchmarks/bench_load.py {' '.join(sys.argv[1:])}`: "
            f"{args.users} users ({args.encoder} encoder, mean pause {args.think} s between "
            f"requests), web server {json.dumps(sizing)}. Times in ms. {goals}."
        ),
        "phases": tables,
    }
    document["capacity"] = {"runs": dict(sorted(runs.items()))}
    doc_path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    doc_path.with_suffix(".md").write_text(report.markdown(document))
    print(f"Recorded in {doc_path.with_suffix('.md')}")


def _sizing(stack: LoadStack) -> dict[str, object]:
    booted = stack.services["web"].log_text().count("Booting worker")
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "workers_booted": booted,
        "threads": stack.web_threads or "gunicorn_conf default",
    }


if __name__ == "__main__":
    main()
