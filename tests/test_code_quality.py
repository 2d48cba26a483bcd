"""The checks a change must pass besides its tests: lint, format, types, imports, migrations.

They run with the suite, so the one test command (README) and CI keep them true.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
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


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_ruff_finds_nothing():
    done = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted():
    done = _run(_tool("ruff"), "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(900)
def test_typed_modules_pass_mypy():
    """pyproject.toml's [tool.mypy]: the whole project, the pure core strictly."""
    # Incremental (.mypy_cache, which `./cbir check` fills first in CI): a cold run takes about
    # 2 minutes on an idle 2-vCPU machine and more than 4 under load.
    done = _run(_tool("mypy"), timeout=840)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


# `# type: ignore[code]  # why`. An untyped signature ([no-untyped-def]: Django and DRF hooks)
# is explained by its code alone; any other ignore says in words why the checker is wrong.
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
_SELF_EXPLAINED = "[no-untyped-def]"


def _unexplained(lines: Iterable[str]) -> list[int]:
    """The numbers (from 1) of the lines whose `type: ignore` lacks its code or its reason."""
    bad = []
    for number, line in enumerate(lines, start=1):
        found = _IGNORE.search(line)
        if found is None:
            continue
        reason = found["rest"].strip()
        explained = reason.startswith("#") and reason.lstrip("# ").strip() != ""
        if found["codes"] is None or (found["codes"] != _SELF_EXPLAINED and not explained):
            bad.append(number)
    return bad


def _type_checked_files() -> Iterator[Path]:
    """The Python files of pyproject.toml's [tool.mypy] `files`, less its migrations."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    for entry in config["files"]:
        path = ROOT / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if "migrations" not in file.parts:
                yield file


def test_the_ignore_rule_tells_explained_from_bare_ignores():
    lines = [
        "x = f()  # type: ignore",
        "x = f()  # type: ignore[attr-defined]",
        "x = f()  # type: ignore[attr-defined]  #",
        "x = f()  # type: ignore[attr-defined]  # faiss's stubs lack it",
        "def f(request):  # type: ignore[no-untyped-def]",
        "def load(self, data):  # type: ignore[no-untyped-def, override]",
    ]
    assert _unexplained(lines) == [1, 2, 3, 6]


def test_every_type_ignore_names_its_code_and_reason():
    files = list(_type_checked_files())
    assert len(files) > 100  # the whole project, not the core alone
    bad = [
        f"{file.relative_to(ROOT)}:{number}"
        for file in files
        for number in _unexplained(file.read_text().splitlines())
    ]
    assert not bad, "type: ignore without [code]  # reason: " + ", ".join(bad)


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
