"""A whole private CBIR stack on loopback, in a temporary folder, for failure tests.

Its own PostgreSQL+pgvector (the embedded server in a fresh data directory,
migrated by `manage.py migrate`), its own Redis on a fixed port, a gunicorn
web server, a Celery beat and Celery workers (prefork, one child each), each
a process group of its own (tests/reliability/processes.py) that can be
killed with SIGKILL and started again on the same port and data:

    with running_stack(workers=2) as stack:
        account = stack.account()      # a user, its API token and an empty gallery
        stack.kill("worker-0"); stack.start("worker-0")
        stack.redis_stop(); stack.redis_start()
        stack.pg_stop(); stack.pg_start()

Nothing here touches the test session's own database.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote
from urllib.request import urlopen

from cbir_site import embedded_pg
from tests.reliability.processes import Service, log_says
from tests.services import free_port, redis_binary, wait_for

REPO = Path(__file__).resolve().parents[2]
DATABASE = "cbir"
START_TIMEOUT_S = 90
# No --queues: a worker consumes every queue the settings declare (CELERY_TASK_QUEUES).
_WORKER_FLAGS = [
    "--loglevel=INFO",
    "--concurrency=1",
    "--pool=prefork",
    "--prefetch-multiplier=1",
    "--without-gossip",
    "--without-mingle",
]


@dataclass
class Account:
    username: str
    token: str
    gallery: str  # slug
    gallery_id: int


@dataclass
class Stack:
    root: Path
    workers: int = 2
    model_seconds: float = 0.0  # how long the workers' (fake) model takes per image batch
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    # A second web server: each keeps its own in-memory index, which must follow pgvector too.
    web_port_2: int = field(default_factory=free_port)
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def pg_data(self) -> Path:
        return self.root / "pg"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def database_url(self) -> str:
        # The socket folder, percent-encoded, is the host (libpq and dj-database-url read it).
        return f"postgresql://postgres@{quote(str(self.pg_data), safe='')}:5432/{DATABASE}"

    def env(self) -> dict[str, str]:
        """The environment of every process: this stack's services, fast test settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CBIR_", "DJANGO_"))}
        for name in ("REDIS_URL", "DATABASE_URL"):
            env.pop(name, None)
        throttles = ("ANON", "USER", "SEARCH", "UPLOAD", "LOGIN")
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "cbir_site.settings",
                "PYTHONUNBUFFERED": "1",
                "TMPDIR": str(self.root / "tmp"),  # keeps other temporary files inside the stack
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "CBIR_ENV": "development",
                "DJANGO_DEBUG": "false",  # errors as production shows them
                "CBIR_DATA_DIR": str(self.root / "data"),
                "CBIR_MEDIA_ROOT": str(self.media),
                "CBIR_ENCODER": "fake",
                "CBIR_BIND": f"127.0.0.1:{self.web_port}",
                "CBIR_WEB_WORKERS": "1",
                "CBIR_WEB_THREADS": "4",
                "CBIR_BROKER_VISIBILITY_TIMEOUT_S": "10",
                "CBIR_PENDING_RETRY_AFTER_S": "8",
                "CBIR_SWEEP_INTERVAL_S": "2",
                "CBIR_SEARCH_MAX_K": "100000",
                "CBIR_LOG_LEVEL": "INFO",
                "RELIABILITY_MODEL_SECONDS": str(self.model_seconds),
                **{f"CBIR_THROTTLE_{scope}": "1000000/min" for scope in throttles},
                **self.extra_env,
            }
        )
        return env

    # ------------------------------------------------------------ whole stack

    def start_all(self) -> None:
        for folder in ("media", "logs", "tmp", "data"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.pg_start()
        self.manage("migrate", "--noinput", timeout=180)
        self._define_services()
        for name in self.services:  # in parallel: each waits only below
            self.start(name, wait=False)
        for service in self.services.values():
            service.wait_ready(START_TIMEOUT_S)

    def close(self) -> None:
        for service in reversed(self.services.values()):  # web and workers before Redis
            service.stop()
        with contextlib.suppress(Exception):
            self.pg_stop()

    def _define_services(self) -> None:
        logs = self.root / "logs"
        redis = [redis_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        # No persistence: a restart loses every queued task; the periodic sweep must recover.
        redis += ["--save", "", "--appendonly", "no", "--dir", str(self.root / "data")]
        celery = [sys.executable, "-m", "tests.reliability.celery_main", "-A", "cbir_site"]
        schedule = f"--schedule={self.root / 'data' / 'celerybeat-schedule'}"
        web = [sys.executable, "-m", "gunicorn", "cbir_site.wsgi:application"]
        services = [
            Service("redis", redis, logs / "redis.log", lambda _: self.redis_ready()),
            Service("beat", [*celery, "beat", "--loglevel=INFO", schedule], logs / "beat.log"),
            *(
                Service(
                    f"worker-{i}",
                    [*celery, "worker", *_WORKER_FLAGS, f"--hostname=w{i}@%h"],
                    logs / f"worker-{i}.log",
                    log_says("ready."),
                )
                for i in range(self.workers)
            ),
            Service(
                "web",
                [*web, "--config", "python:cbir_site.gunicorn_conf"],
                logs / "web.log",
                lambda _: self.web_ready(),
            ),
            Service(
                "web-2",  # --bind on the command line wins over the config file's CBIR_BIND
                [*web, "--config", "python:cbir_site.gunicorn_conf", "--bind", self._bind_2],
                logs / "web-2.log",
                lambda _: self.web_ready(self.web_port_2),
            ),
        ]
        self.services = {s.name: s for s in services}

    # ------------------------------------------------------------ processes

    def start(self, name: str, *, wait: bool = True) -> None:
        service = self.services[name]
        service.start(env=self.env(), cwd=REPO)
        if wait:
            service.wait_ready(START_TIMEOUT_S)

    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process group."""
        self.services[name].kill()

    def supervise(self) -> list[str]:
        """Start again whatever exited, as a supervisor (compose's `restart: unless-stopped`)
        would, and wait until everything is ready; return what had exited and why."""
        exited = [s for s in self.services.values() if s.exited()]
        reasons = [s.exit_reason() for s in exited]
        for service in exited:
            self.start(service.name, wait=False)
        for service in self.services.values():
            service.wait_ready(START_TIMEOUT_S)
        return reasons

    # ------------------------------------------------------------ Redis, PostgreSQL

    def redis_start(self) -> None:
        self.start("redis")

    def redis_stop(self) -> None:
        self.services["redis"].kill(signal.SIGKILL)

    def redis_ready(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.redis_url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def pg_start(self) -> None:
        server = embedded_pg.ensure_running(self.pg_data)
        embedded_pg.ensure_database(server, DATABASE)

    def pg_stop(self) -> None:
        """pg_ctl stop, fast mode: open sessions are cut, transactions in flight roll back."""
        embedded_pg.stop(self.pg_data)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    # ------------------------------------------------------------ web, manage.py

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def _bind_2(self) -> str:
        return f"127.0.0.1:{self.web_port_2}"

    @property
    def web_ports(self) -> dict[str, int]:
        return {"web": self.web_port, "web-2": self.web_port_2}

    def web_ready(self, port: int | None = None) -> bool:
        try:
            with urlopen(f"http://127.0.0.1:{port or self.web_port}/readyz", timeout=5) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def python(self, code: str) -> object:
        """Run `code` in `manage.py shell` with this stack's settings; it prints one JSON value."""
        out = self.manage("shell", "--no-imports", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def account(self, username: str = "loader", gallery: str = "reliability") -> Account:
        return Account(**self.python(_ACCOUNT.format(username=username, gallery=gallery)))  # type: ignore[arg-type]

    def janitor(self) -> list[str]:
        """The abandoned-upload janitor, now, for every intent row whatever its age."""
        code = (
            "import json; from galleries.services import uploads_abandoned_cleanup; "
            "print(json.dumps(uploads_abandoned_cleanup(older_than_s=0)))"
        )
        return list(self.python(code))  # type: ignore[call-overload]

    def log_tails(self, chars: int = 2500) -> str:
        return "\n".join(
            f"----- {s.name} ({s.log})\n{s.log.read_text(errors='replace')[-chars:]}"
            for s in self.services.values()
            if s.log.exists()
        )


_ACCOUNT = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from galleries.services import gallery_create
user, _ = get_user_model().objects.get_or_create(username="{username}")
token, _ = Token.objects.get_or_create(user=user)
gallery = gallery_create(user=user, name="{gallery}", slug="{gallery}")
print(json.dumps(dict(username=user.username, token=token.key, gallery=gallery.slug,
                      gallery_id=gallery.pk)))
"""


@contextlib.contextmanager
def running_stack(
    *, workers: int = 2, model_seconds: float = 0.0, keep: bool | None = None, **extra_env: str
) -> Iterator[Stack]:
    """Start a private stack; stop every process and delete its folder afterwards, even on
    failure. CBIR_RELIABILITY_KEEP=1 keeps the folder (logs, media, database) to look at."""
    keep = keep if keep is not None else os.environ.get("CBIR_RELIABILITY_KEEP") == "1"
    root = Path(tempfile.mkdtemp(prefix="cbir-rel-"))
    stack = Stack(root=root, workers=workers, model_seconds=model_seconds, extra_env=extra_env)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.25):  # type: ignore[no-untyped-def]
    """wait_for, where an exception from the predicate (a service still down) means not yet."""

    def attempt():  # type: ignore[no-untyped-def]
        try:
            return predicate()
        except Exception:
            return None

    return wait_for(attempt, timeout=timeout, what=what, interval=interval)
