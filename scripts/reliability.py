"""Failure tests of the whole stack, with figures: writes docs/reliability.md and .json.

Each scenario runs on a private stack of real processes on loopback (its own
PostgreSQL+pgvector, Redis, two gunicorn servers, Celery beat and two workers; see
tests/reliability/stack.py), kills or restarts part of it, then checks with SQL
and on disk that nothing was lost, duplicated or left half-done. The same
scenarios run, shorter, in the test suite (tests/reliability, marker
`reliability`). Needs the test extras (`./cbir setup test`).

    python scripts/reliability.py                      # everything, 60 s load run
    python scripts/reliability.py --load-seconds 120 --searchers 8
    python scripts/reliability.py --only worker-kill load --out /tmp/reliability.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability import report  # noqa: E402
from tests.reliability.outages import postgres_restart, redis_restart  # noqa: E402
from tests.reliability.scenarios import Outcome, worker_kills  # noqa: E402
from tests.reliability.stack import Stack, running_stack  # noqa: E402
from tests.reliability.web_scenarios import load_run, web_kills  # noqa: E402

MODEL_SECONDS = 0.3  # the workers' (fake) model time per image batch

SCENARIOS = {
    "worker-kill": lambda stack, account, a: worker_kills(
        stack, account, images=a.images, min_kills=a.kills
    ),
    "redis-restart": lambda stack, account, a: redis_restart(
        stack, account, restarts=a.restarts, outage_s=a.outage
    ),
    "postgres-restart": lambda stack, account, a: postgres_restart(
        stack, account, restarts=a.restarts, outage_s=a.outage
    ),
    "web-kill": lambda stack, account, a: web_kills(stack, account),
    "load": lambda stack, account, a: load_run(
        stack,
        account,
        seconds=a.load_seconds,
        searchers=a.searchers,
        uploaders=a.uploaders,
        preload=a.preload,
    ),
}


def main() -> int:
    args = _arguments()
    started = datetime.now(UTC)
    machine = _machine()
    results = []
    for name in args.only or list(SCENARIOS):
        print(f"== {name}", flush=True)
        began = time.monotonic()
        outcome, versions = _run(name, args)
        seconds = round(time.monotonic() - began, 1)
        machine.setdefault("services", versions)
        print(
            f"   {'PASS' if outcome.ok else 'FAIL'} in {seconds} s {outcome.failed()}", flush=True
        )
        results.append({"scenario": name, "ok": outcome.ok, "seconds": seconds, **asdict(outcome)})
    document = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python", "scripts/reliability.py", *sys.argv[1:]]),
        "machine": machine,
        "settings": _settings(args),
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.with_suffix(".json").is_file():  # sections other scripts measured stay
        earlier = json.loads(out.with_suffix(".json").read_text())
        for key in ("hostile_inputs", "capacity"):
            if key in earlier:
                document[key] = earlier[key]
    out.with_suffix(".json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    out.write_text(report.markdown(document))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0 if all(r["ok"] for r in results) else 1


def _run(name: str, args: argparse.Namespace) -> tuple[Outcome, dict[str, str]]:
    versions: dict[str, str] = {}
    try:
        with running_stack(workers=2, model_seconds=MODEL_SECONDS) as stack:
            versions = _service_versions(stack)
            return SCENARIOS[name](stack, stack.account(), args), versions
    except Exception as exc:  # one scenario's crash is reported, the others still run
        outcome = Outcome(name, killed="(the scenario did not finish)", how_often="")
        outcome.checks["the scenario ran to the end"] = False
        outcome.notes.append("".join(traceback.format_exception(exc))[-3000:])
        return outcome, versions


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="scenarios to run")
    parser.add_argument("--images", type=int, default=500, help="worker-kill: bulk upload size")
    parser.add_argument("--kills", type=int, default=5, help="worker-kill: at least this many")
    parser.add_argument("--restarts", type=int, default=2, help="Redis/PostgreSQL restarts")
    parser.add_argument("--outage", type=float, default=5, help="seconds down per restart")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--searchers", type=int, default=4, help="load: searching clients")
    parser.add_argument("--uploaders", type=int, default=1, help="load: uploading clients")
    parser.add_argument("--preload", type=int, default=300, help="load: images indexed first")
    parser.add_argument("--out", default=str(REPO / "docs" / "reliability.md"))
    return parser.parse_args()


def _settings(args: argparse.Namespace) -> dict[str, object]:
    env = Stack(root=Path("/nonexistent")).env()
    shown = [
        "CBIR_ENCODER",
        "CBIR_WEB_WORKERS",
        "CBIR_WEB_THREADS",
        "CBIR_BROKER_VISIBILITY_TIMEOUT_S",
        "CBIR_PENDING_RETRY_AFTER_S",
        "CBIR_SWEEP_INTERVAL_S",
    ]
    return {
        **{k: env[k] for k in shown},
        "celery_workers": "2 (prefork, concurrency 1, prefetch 1) + 1 beat",
        "model_seconds_per_batch": MODEL_SECONDS,
        "arguments": {k: v for k, v in vars(args).items() if k != "out"},
    }


def _machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {p: metadata.version(p) for p in ("Django", "celery", "kombu", "gunicorn")},
        "commit": _git("rev-parse", "--short", "HEAD")
        + (" + uncommitted changes" if _git("status", "--porcelain") else ""),
    }


def _service_versions(stack: Stack) -> dict[str, str]:
    import redis

    pg = stack.sql("SELECT version(), (SELECT extversion FROM pg_extension WHERE extname='vector')")
    info = redis.Redis.from_url(stack.redis_url).info("server")
    return {
        "postgresql": pg[0][0].split(" on ")[0],
        "pgvector": str(pg[0][1]),
        "redis": str(info["redis_version"]),
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
