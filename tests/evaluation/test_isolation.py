"""The evaluation never runs on a user database: the command re-executes itself on *_eval."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from evaluation import isolation
from evaluation.isolation import (
    REEXEC_MARK,
    ensure_database,
    evaluation_database_url,
    evaluation_environment,
    is_evaluation_database,
)
from evaluation.management.commands import cbir_evaluate


class Reexecuted(Exception):
    pass


@pytest.fixture
def execve(monkeypatch):
    """Record os.execve instead of replacing the test process."""
    calls: list[tuple[str, list[str], dict[str, str]]] = []

    def fake(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append((path, argv, env))
        raise Reexecuted

    monkeypatch.setattr(cbir_evaluate.os, "execve", fake)
    monkeypatch.delenv(REEXEC_MARK, raising=False)
    return calls


@pytest.fixture
def command_line(monkeypatch, tmp_path):
    argv = ["manage.py", "cbir_evaluate", "folder", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    return argv


def test_only_names_ending_in_eval_count_as_evaluation_databases():
    assert is_evaluation_database("cbir_eval") and is_evaluation_database("test_cbir_eval")
    assert not is_evaluation_database("cbir") and not is_evaluation_database("cbir_evaluation")
    assert not is_evaluation_database(None)


def test_database_url_gets_the_eval_suffix_and_keeps_everything_else():
    url = "postgres://u:secret@db.example:5433/cbir?sslmode=require"
    assert (
        evaluation_database_url(url)
        == "postgres://u:secret@db.example:5433/cbir_eval?sslmode=require"
    )
    assert evaluation_database_url("postgres://h/cbir_eval") == "postgres://h/cbir_eval"
    with pytest.raises(ValueError):
        evaluation_database_url("postgres://h/")


def test_environment_for_the_embedded_database(tmp_path):
    env = evaluation_environment({"PATH": "/bin", "CBIR_MEDIA_ROOT": "/srv/media"}, tmp_path)
    assert env["CBIR_EMBEDDED_DB_NAME"] == "cbir_eval" and "DATABASE_URL" not in env
    assert env["CBIR_MEDIA_ROOT"] == str((tmp_path / "media").resolve())  # never users' media
    assert env["CBIR_BACKGROUND_TASKS"] == "false" and env[REEXEC_MARK] == "1"
    assert env["PATH"] == "/bin"


def test_environment_for_a_database_url(tmp_path):
    env = evaluation_environment({"DATABASE_URL": "postgresql://u@h/prod"}, tmp_path)
    assert env["DATABASE_URL"] == "postgresql://u@h/prod_eval"
    assert "CBIR_EMBEDDED_DB_NAME" not in env


def test_command_reexecutes_itself_on_the_embedded_eval_database(
    monkeypatch, execve, command_line, tmp_path
):
    monkeypatch.setattr(cbir_evaluate, "database_name", lambda: "cbir")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(Reexecuted):
        call_command("cbir_evaluate", "folder", str(tmp_path), "--work-dir", str(tmp_path / "w"))
    [(path, argv, env)] = execve
    assert path == sys.executable and argv == [sys.executable, *command_line]
    assert env["CBIR_EMBEDDED_DB_NAME"] == "cbir_eval"
    assert env["CBIR_MEDIA_ROOT"] == str(tmp_path / "w" / "media")
    assert env["CBIR_BACKGROUND_TASKS"] == "false"


def test_command_creates_the_eval_database_next_to_a_database_url(
    monkeypatch, execve, command_line, tmp_path
):
    monkeypatch.setattr(cbir_evaluate, "database_name", lambda: "prod")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/prod")
    created = []
    monkeypatch.setattr(
        cbir_evaluate, "ensure_database", lambda url, via: created.append((url, via)) or True
    )
    with pytest.raises(Reexecuted):
        call_command("cbir_evaluate", "folder", str(tmp_path))
    assert created == [("postgres://u@h/prod_eval", "postgres://u@h/prod")]
    assert execve[0][2]["DATABASE_URL"] == "postgres://u@h/prod_eval"


def test_command_refuses_to_loop_when_the_reexecuted_database_is_still_not_eval(
    monkeypatch, execve, command_line, tmp_path
):
    monkeypatch.setattr(cbir_evaluate, "database_name", lambda: "prod")
    monkeypatch.setenv(REEXEC_MARK, "1")
    with pytest.raises(CommandError, match="must name a database ending in _eval"):
        call_command("cbir_evaluate", "folder", str(tmp_path))
    assert execve == []


def test_command_called_from_code_on_a_user_database_refuses(monkeypatch, execve, tmp_path):
    monkeypatch.setattr(cbir_evaluate, "database_name", lambda: "cbir")
    monkeypatch.setattr(sys, "argv", ["pytest"])
    with pytest.raises(CommandError, match="run it from the command line"):
        call_command("cbir_evaluate", "folder", str(tmp_path))
    assert execve == []


def test_command_runs_in_place_on_an_eval_database(monkeypatch, execve, tmp_path):
    monkeypatch.setattr(cbir_evaluate, "database_name", lambda: "cbir_eval")
    migrated, configs = [], []
    monkeypatch.setattr(cbir_evaluate, "call_command", lambda *a, **k: migrated.append(a))

    def fake_run(config, *, log):  # type: ignore[no-untyped-def]
        configs.append(config)

        class Result:
            out_dir = tmp_path / "out"

        return Result()

    monkeypatch.setattr("evaluation.runner.run_evaluation", fake_run)
    call_command(
        "cbir_evaluate", "coco", str(tmp_path), "--splits", "train2017,val2017", "--feedback",
        "--composed", "--positives", "3", "--encoders", "fake,bundled", "--max-queries", "7",
    )  # fmt: skip
    assert execve == [] and migrated == [("migrate",)]
    [config] = configs
    assert config.dataset.kind == "coco" and config.dataset.splits == ("train2017", "val2017")
    assert config.experiments == ("feedback", "composed")
    assert config.encoders == ("fake", "bundled") and config.max_queries == 7
    assert config.options.positives == (3,) and config.options.breaking_ranks == (1, 5, 10)


@pytest.mark.django_db
def test_ensure_database_creates_a_missing_database_once():
    params = connection.get_connection_params()
    host, port, user = params.get("host"), params.get("port"), params.get("user")
    base = f"postgresql://{user}@/{connection.settings_dict['NAME']}?host={host}&port={port}"
    name = f"cbir_isolation_{os.getpid()}_eval"
    url = base.replace(f"/{connection.settings_dict['NAME']}?", f"/{name}?")
    try:
        assert ensure_database(url, via=base) is True
        assert ensure_database(url, via=base) is False
    finally:
        with psycopg.connect(isolation._libpq_url(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    assert Path(str(host)).exists()
