"""The checks a change must pass besides its tests: lint, format, types, imports, migrations.

They run with the suite, so the one test command (README) and CI keep them true.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the test extra pins it)."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `pip install -e .[test]` installs it.")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff_finds_nothing():
    done = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted():
    done = _run(_tool("ruff"), "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_typed_modules_pass_mypy():
    """pyproject.toml's [tool.mypy] files: the pure core and the typed configuration."""
    done = _run(_tool("mypy"))  # incremental: .mypy_cache (a cold run takes about 2 minutes)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def test_imports_follow_the_contracts():
    """pyproject.toml's [tool.importlinter]: apps one way, the pure core, layers per app."""
    done = _run(_tool("lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.django_db
def test_models_and_migrations_agree():
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exit_:  # --check exits non-zero when a migration is missing
        pytest.fail(f"a model change has no migration (makemigrations --check: {exit_.code})")
