"""gunicorn's processes, threads and per-process PyTorch/OpenMP threads follow the machine."""

from __future__ import annotations

import importlib
import os

import pytest

import cbir_site.gunicorn_conf as conf

GIB = 2**30


@pytest.fixture
def machine(monkeypatch):
    """Reload the config as on a machine with `cores` CPUs and `gib` of memory."""

    def load(cores: int, gib: int = 64, **env: str):  # type: ignore[no-untyped-def]
        for name in ("CBIR_WEB_WORKERS", "CBIR_WEB_THREADS", "CBIR_ENCODER_THREADS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
        pages = {"SC_PHYS_PAGES": gib * GIB // 4096, "SC_PAGE_SIZE": 4096}
        monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
        return importlib.reload(conf)

    yield load
    monkeypatch.undo()
    importlib.reload(conf)


def test_one_worker_per_core_with_one_intra_op_thread_each(machine):
    loaded = machine(cores=4)
    assert (loaded.workers, loaded.threads) == (4, 8)
    assert sorted(loaded.raw_env) == ["CBIR_ENCODER_THREADS=1", "OMP_NUM_THREADS=1"]
    assert "CBIR_ENCODER_THREADS" not in os.environ  # importing the file changes nothing


def test_workers_are_capped_by_memory_and_at_eight(machine):
    assert machine(cores=16, gib=6).workers == 3  # ~1 GB of model each: one per 2 GiB
    assert machine(cores=64, gib=512).workers == 8
    assert machine(cores=2, gib=1).workers == 1


def test_settings_in_the_environment_win(machine):
    loaded = machine(cores=8, CBIR_WEB_WORKERS="2", CBIR_WEB_THREADS="3")
    assert (loaded.workers, loaded.threads) == (2, 3)
    assert sorted(loaded.raw_env) == ["CBIR_ENCODER_THREADS=4", "OMP_NUM_THREADS=4"]
    pinned = machine(cores=8, CBIR_WEB_WORKERS="2", CBIR_ENCODER_THREADS="1")
    assert pinned.raw_env == ["OMP_NUM_THREADS=4"]


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_bad_worker_count_stops_the_server(machine, value):
    with pytest.raises(ValueError):
        machine(cores=2, CBIR_WEB_WORKERS=value)
