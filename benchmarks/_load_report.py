"""Figures of bench_load.py: per phase and request kind, ratios, and the issue's goals."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import _common
from _load_workload import Recorder

GOAL_P99_MS = 1000.0
SEARCHES = ("text search", "image search")


@dataclass
class Phases:
    """Each phase's figures, with what else loaded the machine while it ran."""

    rec: Recorder
    figures: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    context: dict[str, dict] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        load, cpu, began = os.getloadavg()[0], _cpu_seconds(), time.monotonic()
        yield
        seconds = time.monotonic() - began
        self.seconds[name] = seconds
        self.figures[name] = summarise(self.rec, name, seconds)
        self.context[name] = {
            "load_average_at_start": round(load, 2),
            # The load generator runs on the same cores as the server: its share, in cores.
            "client_cpu_cores": round((_cpu_seconds() - cpu) / seconds, 2),
        }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summarise(rec: Recorder, phase: str, seconds: float) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for kind in sorted({s.kind for s in rec.of(phase)}):
        items = [s for s in rec.of(phase) if s.kind == kind]
        ok = [s for s in items if 200 <= s.status < 400]
        statuses: dict[str, int] = {}
        for s in items:
            statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
        encode = [s.encode_ms for s in ok if s.encode_ms is not None]
        out[kind] = {
            "requests": len(items),
            "ok": len(ok),
            "errors": len(items) - len(ok),
            "per_second": round(len(ok) / seconds, 2),
            "statuses": statuses,
            **(_common.summary_ms([s.seconds for s in ok]) if ok else {}),
            "server_encode_p50_ms": round(sorted(encode)[len(encode) // 2], 1) if encode else None,
        }
    return out


def print_phase(name: str, figures: dict[str, dict], seconds: float, context: dict) -> None:
    print(
        f"\n{name} ({seconds:.0f} s; load average at start {context['load_average_at_start']}, "
        f"the load generator used {context['client_cpu_cores']} cores)"
    )
    rows = [
        [
            kind,
            str(f["requests"]),
            f"{f['per_second']:.1f}",
            f"{f.get('p50', 0):.0f}",
            f"{f.get('p99', 0):.0f}",
            f"{f.get('max', 0):.0f}",
            "-" if f["server_encode_p50_ms"] is None else f"{f['server_encode_p50_ms']:.0f}",
            " ".join(f"{k}:{v}" for k, v in sorted(f["statuses"].items())),
        ]
        for kind, f in figures.items()
    ]
    header = ["kind", "requests", "ok/s", "p50 ms", "p99 ms", "max ms", "encode ms", "statuses"]
    print(_common.table(rows, header))


def verdicts(base: dict, mix: dict, fl: dict) -> dict[str, object]:
    def ratio(a: dict, b: dict, key: str) -> float | None:
        return round(a[key] / b[key], 2) if a.get(key) and b.get(key) else None

    out: dict[str, object] = {}
    for kind in SEARCHES:
        if kind in mix and kind in base:
            out[f"{kind}: mixed/baseline p50"] = ratio(mix[kind], base[kind], "p50")
            out[f"{kind}: mixed/baseline p99"] = ratio(mix[kind], base[kind], "p99")
    anon_base, anon_flood = base.get("anon text search", {}), fl.get("anon text search", {})
    out["anon search: flood/baseline p99"] = ratio(anon_flood, anon_base, "p99")
    worst = max((mix[k].get("p99", float("inf")) for k in SEARCHES if k in mix), default=None)
    out["goal: search p99 <= 1 s at the users"] = worst is not None and worst <= GOAL_P99_MS
    out["goal: no errors in the mixed phase"] = sum(f["errors"] for f in mix.values()) == 0
    out["goal: anon search p99 < 1 s during the flood"] = (
        bool(anon_flood.get("ok")) and anon_flood.get("p99", float("inf")) < GOAL_P99_MS
    )
    out["anon search errors during the flood"] = anon_flood.get("errors")
    return out
