"""One service of the private stack: a command run as its own process group, with its log.

Its own process group (a new session) means a kill reaches the process and every
child it forked (gunicorn's worker, Celery's prefork child) at once, as when the
container or machine running it dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.services import wait_for


@dataclass
class Service:
    name: str
    cmd: list[str]
    log: Path
    ready: Callable[[Service], bool] | None = None  # None: ready once started
    popen: subprocess.Popen | None = None
    log_offset: int = 0  # where the current incarnation's log starts
    starts: int = 0

    def start(self, *, env: dict[str, str], cwd: Path) -> None:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        self.log.touch()
        self.log_offset = self.log.stat().st_size
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.cmd,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exited(self) -> bool:
        """It was started and is not running any more."""
        return self.popen is not None and self.popen.poll() is not None

    def wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            return self.ready is None or self.ready(self)

        wait_for(ready, timeout=timeout, what=f"{self.name} to start", interval=0.1)

    def log_text(self) -> str:
        """The current incarnation's log."""
        with self.log.open("rb") as fh:
            fh.seek(self.log_offset)
            return fh.read().decode("utf-8", "replace")

    def exit_reason(self) -> str:
        lines = self.log_text().strip().splitlines() or ["(no log)"]
        reason = next((ln for ln in lines if "Unrecoverable error" in ln), lines[-1])
        code = self.popen.returncode if self.popen is not None else None
        return f"{self.name} exited ({code}): {reason[:300]}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (SIGKILL by default) and reap the leader."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        self.popen.wait(timeout=30)

    def kill_child(self) -> int | None:
        """SIGKILL the leader's first child (Celery's prefork child) and nothing else."""
        if not self.alive():
            return None
        children = children_of(self.popen.pid)  # type: ignore[union-attr]
        if not children:
            return None
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def stop(self, grace_s: float = 5) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after `grace_s`."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)  # type: ignore[union-attr]
        try:
            self.popen.wait(timeout=grace_s)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.kill()


def log_says(marker: str) -> Callable[[Service], bool]:
    return lambda service: marker in service.log_text()


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
