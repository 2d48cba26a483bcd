"""Where Django spools large request bodies: one folder per web process.

Django writes an uploaded file above FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary
file and deletes it when the request ends. A web process killed with SIGKILL
(out of memory, a supervisor's hard stop) never gets there, and its half-sent
bodies would stay in the shared temporary folder for good. So each web process
spools into `<data dir>/upload-spool/<host>-<pid>/`, and each process that
starts removes the folders of this host's processes that no longer exist.
Folders of other hosts (a data directory on a shared volume) are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
from pathlib import Path

from django.conf import settings

from cbir_site.config import site_config

logger = logging.getLogger(__name__)


def spool_root() -> Path:
    return site_config().data_dir / "upload-spool"


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (killed, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:  # Linux: the state follows the command name in parentheses
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def remove_dead(root: Path, host: str) -> list[Path]:
    """Delete the spool folders of this host's processes that have exited; return them."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        owner, _, pid = folder.name.rpartition("-")
        if owner != host or not pid.isdigit() or not folder.is_dir():
            continue
        if int(pid) == os.getpid() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        logger.info("removed %d upload spool folder(s) of exited web processes", len(removed))
    return removed


def claim(root: Path | None = None) -> Path:
    """Make this process's spool folder, point Django at it, and clear the dead ones'.

    Called once, as the process starts. A folder already under this process's name
    is an earlier incarnation's (a restarted container's processes get the same pids
    again): nothing of this process is in it yet, so it is emptied too.
    """
    root = root or spool_root()
    host = socket.gethostname()
    with contextlib.suppress(OSError):
        remove_dead(root, host)
    mine = root / f"{host}-{os.getpid()}"
    if mine.is_dir():
        shutil.rmtree(mine, ignore_errors=True)
        logger.info("emptied the upload spool folder an earlier process left under this pid")
    mine.mkdir(parents=True, exist_ok=True)
    settings.FILE_UPLOAD_TEMP_DIR = str(mine)
    return mine
