"""Keep the evaluation away from users' data: a separate *_eval database and media folder.

The evaluation creates users, galleries, images and sessions, fits hashing
thresholds and recomputes statistics: none of it may land in a real
deployment. The management command therefore re-executes itself with an
environment that points Django at a database whose name ends in `_eval`
(the embedded server's `cbir_eval`, or DATABASE_URL's database + `_eval`),
an evaluation media folder under the work dir, and no background tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

EVAL_SUFFIX = "_eval"
EMBEDDED_EVAL_NAME = "cbir_eval"
REEXEC_MARK = "CBIR_EVALUATION_REEXEC"  # set in the child: a second re-exec would be a loop


def is_evaluation_database(name: object) -> bool:
    return str(name or "").endswith(EVAL_SUFFIX)


def evaluation_database_url(url: str) -> str:
    """The same server and credentials, database name + `_eval`."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError("DATABASE_URL names no database.")
    if not is_evaluation_database(name):
        name += EVAL_SUFFIX
    return urlunsplit(parts._replace(path=f"/{name}"))


def evaluation_environment(environ: Mapping[str, str], work_dir: Path) -> dict[str, str]:
    """The environment the command re-executes itself with."""
    env = dict(environ)
    url = environ.get("DATABASE_URL", "")
    if url:
        env["DATABASE_URL"] = evaluation_database_url(url)
    else:
        env["CBIR_EMBEDDED_DB_NAME"] = EMBEDDED_EVAL_NAME
    env["CBIR_MEDIA_ROOT"] = str((Path(work_dir) / "media").resolve())
    env["CBIR_BACKGROUND_TASKS"] = "false"
    env["CBIR_INDEX_BUILD_IN_BACKGROUND"] = "false"
    env[REEXEC_MARK] = "1"
    return env


def ensure_database(url: str, *, via: str) -> bool:
    """Create the database `url` names on its server if missing; True when it was created.

    Connects with the original URL `via` (a database that exists); the
    pgvector extension is created by the first migration.
    """
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_libpq_url(via), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def _libpq_url(url: str) -> str:
    """dj-database-url accepts postgres:// and postgresql://; libpq wants the latter."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme in ("postgres", "postgresql", "pgsql") else url
