"""The docker/ folder agrees with the code it deploys (no Docker engine needed).

Environment variables set by the compose files, the image and docker/.env.example must be ones
the settings read (a misspelt name would be silently ignored); every setting is documented;
the modules the commands name exist; the image pins the same torch as pyproject.toml and runs
as an unprivileged user.
"""

from __future__ import annotations

import importlib
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_FILES = sorted(DOCKER.glob("compose*.yaml"))
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"
# settings.py, then each app's typed configuration (cbir_site/config.py) and gunicorn's file.
SETTINGS_SOURCES = [
    ROOT / "cbir_site" / "settings.py",
    *sorted(ROOT.glob("*/config.py")),
    ROOT / "cbir_site" / "gunicorn_conf.py",
]

# Read by Compose itself (${...} in the compose files), not by the application.
COMPOSE_ONLY = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "HTTP_PORT", "TORCH_INDEX_URL"}
# Settings that make no sense in the containers, so .env.example need not list them.
NOT_FOR_DOCKER = {
    "CBIR_TEST_DB_NAME",  # test runs only
    "CBIR_EMBEDDED_DB_NAME",  # embedded PostgreSQL: the containers use DATABASE_URL
    "CBIR_EMBEDDED_PGDATA",
}
# Production refuses to start without these (or falls back to embedded development services).
REQUIRED_IN_PRODUCTION = {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}
APP_SERVICES = {"migrate", "web", "worker", "maintenance", "beat"}
WORKERS = ("worker", "maintenance")

_ENV_READ = re.compile(
    r"""(?:\benv_[a-z]+|\bknob|\bderived_knob|os\.environ\.get|os\.getenv)"""
    r"""\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)
_ENV_LINE = re.compile(r"^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(:?[-?][^}]*)?\}")


# ---------------------------------------------------------------- helpers


def settings_variables() -> set[str]:
    names: set[str] = set()
    for source in SETTINGS_SOURCES:
        for match in _ENV_READ.finditer(source.read_text()):
            names.add(match.group(1) or match.group(2))
    return names


def required_by_settings() -> set[str]:
    text = SETTINGS_SOURCES[0].read_text()
    return set(re.findall(r"""env_required\(\s*["']([A-Z][A-Z0-9_]*)["']""", text))


def env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set, variables only shown commented out) in .env.example."""
    active: dict[str, str] = {}
    commented: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = _ENV_LINE.match(line)
        if not match:
            continue
        hashed, name, value = match.groups()
        if hashed:
            commented.add(name)
        else:
            assert name not in active, f"{name} is set twice in .env.example"
            active[name] = value.strip()
    return active, commented


def compose(path: Path = COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())


def environment_of(service: dict) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", "NAME"]
        return {item.partition("=")[0]: item.partition("=")[2] or None for item in env}
    return {name: None if value is None else str(value) for name, value in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def dockerfile_args() -> dict[str, str]:
    args = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip().strip('"')
    return args


def expand_args(text: str, args: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), text
    )


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def pyproject_pin(package: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [
        d.split("==", 1)[1].strip()
        for d in deps
        if re.split(r"[=<>~!\[ ]", d, maxsplit=1)[0] == package
    ]
    assert len(pins) == 1, f"pyproject.toml pins {package} {len(pins)} times"
    return pins[0]


# ---------------------------------------------------------------- environment variables


def test_settings_variables_are_found():
    """Guards the regex: if it stopped matching, the checks below would pass vacuously."""
    names = settings_variables()
    assert {
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "CBIR_MEDIA_ROOT",
        "CBIR_BIND",
    } <= names
    assert len(names) > 30


def test_env_example_names_only_variables_something_reads():
    active, commented = env_example()
    unknown = (set(active) | commented) - settings_variables() - COMPOSE_ONLY
    assert not unknown, f".env.example names variables nothing reads: {sorted(unknown)}"


def test_compose_sets_only_variables_settings_read():
    known = settings_variables()
    for path in COMPOSE_FILES:
        for name, service in compose(path)["services"].items():
            if name not in APP_SERVICES:
                continue  # db and redis: variables of their own images
            unknown = set(environment_of(service)) - known
            assert not unknown, (
                f"{path.name}: service {name} sets unknown variables {sorted(unknown)}"
            )


def test_image_sets_only_variables_settings_read():
    application = {n for n in dockerfile_env() if n.startswith(("CBIR_", "DJANGO_"))}
    unknown = application - settings_variables() - {"DJANGO_SETTINGS_MODULE"}
    assert not unknown, f"Dockerfile sets unknown variables {sorted(unknown)}"


def test_compose_interpolations_are_documented_or_defaulted():
    active, commented = env_example()
    for path in COMPOSE_FILES:
        for match in _INTERPOLATION.finditer(path.read_text()):
            name, modifier = match.group(1), match.group(2) or ""
            if modifier.lstrip(":").startswith("-"):
                assert name in active or name in commented, f"{path.name}: ${{{name}}} undocumented"
            else:
                assert name in active, (
                    f"{path.name}: ${{{name}}} has no default and no value in .env.example"
                )


def test_compose_only_variables_are_used_by_compose():
    text = "\n".join(path.read_text() for path in COMPOSE_FILES)
    interpolated = {match.group(1) for match in _INTERPOLATION.finditer(text)}
    active, commented = env_example()
    unused = ((set(active) | commented) & COMPOSE_ONLY) - interpolated
    assert not unused, (
        f".env.example lists compose variables no compose file uses: {sorted(unused)}"
    )


def test_env_example_sets_every_production_requirement():
    active, _ = env_example()
    required = REQUIRED_IN_PRODUCTION | required_by_settings()
    missing = {name for name in required if not active.get(name)}
    assert not missing, f".env.example must set {sorted(missing)}"


def test_every_setting_is_documented_for_docker():
    """A new setting must appear in .env.example (or be fixed by compose.yaml or the image)."""
    active, commented = env_example()
    fixed = set(dockerfile_env())
    for name, service in compose()["services"].items():
        if name in APP_SERVICES:
            fixed |= set(environment_of(service))
    undocumented = settings_variables() - set(active) - commented - fixed - NOT_FOR_DOCKER
    assert not undocumented, f"add to docker/.env.example: {sorted(undocumented)}"


def test_database_url_matches_the_db_service():
    active, _ = env_example()
    url = urlsplit(active["DATABASE_URL"])
    assert url.scheme in {"postgres", "postgresql"}
    assert url.hostname == "db" and "db" in compose()["services"]
    assert url.username == active["POSTGRES_USER"]
    assert url.password == active["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == active["POSTGRES_DB"]
    redis_url = urlsplit(active["REDIS_URL"])
    assert redis_url.scheme == "redis" and redis_url.hostname == "redis"


# ---------------------------------------------------------------- services


def test_app_services_run_in_production_from_the_same_build():
    services = compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert environment_of(service).get("CBIR_ENV") == "production", name
        assert service["build"]["context"] == ".."
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert (
            COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]
        ).is_file()
        assert ".env" in (
            service["env_file"] if isinstance(service["env_file"], list) else [service["env_file"]]
        )


def test_web_and_worker_share_the_media_volume():
    services = compose()["services"]
    mounts = {}
    for name in ("web", *WORKERS):
        media_root = (
            environment_of(services[name]).get("CBIR_MEDIA_ROOT")
            or dockerfile_env()["CBIR_MEDIA_ROOT"]
        )
        sources = [
            v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == media_root
        ]
        assert len(sources) == 1, f"{name} does not mount a volume at {media_root}"
        mounts[name] = (sources[0], media_root)
    assert mounts["web"] == mounts["worker"] == mounts["maintenance"]
    assert mounts["web"][0] in compose()["volumes"], "media must be a named volume"


def test_migrations_run_first_and_once():
    services = compose()["services"]
    assert command_of(services["migrate"])[-3:-1] == ["manage.py", "migrate"]
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("web", *WORKERS):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_backing_services_have_health_checks_and_volumes():
    services = compose()["services"]
    assert services["db"]["image"].startswith("pgvector/pgvector:pg16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name
    assert any(v.startswith("pgdata:") for v in services["db"]["volumes"])


def test_worker_and_beat_commands():
    services = compose()["services"]
    for name in WORKERS:
        worker = command_of(services[name])
        assert worker[:4] == ["celery", "-A", "cbir_site", "worker"], name
        assert "--prefetch-multiplier=1" in worker, name
        assert any(arg.startswith("--queues=") for arg in worker), name
    assert "--concurrency=2" in command_of(services["worker"])
    beat = command_of(services["beat"])
    assert beat[:4] == ["celery", "-A", "cbir_site", "beat"]
    schedule = next(arg.split("=", 1)[1] for arg in beat if arg.startswith("--schedule="))
    mounted = [v.split(":")[1] for v in services["beat"]["volumes"]]
    assert any(schedule.startswith(target.rstrip("/") + "/") for target in mounted), (
        f"beat's schedule {schedule} is not on a volume"
    )


def test_web_and_workers_have_health_checks():
    services = compose()["services"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "-m", "cbir_site.probe"]
    for name in WORKERS:
        check = services[name]["healthcheck"]["test"]
        assert check[0] == "CMD-SHELL", name
        # $$ is Compose's escape: the container's shell expands $HOSTNAME, the worker's node name.
        assert re.search(
            r"^celery -A cbir_site inspect ping .*-d celery@\$\$\{HOSTNAME\}", check[1]
        )
    for name in ("web", *WORKERS):
        check = services[name]["healthcheck"]
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    # ... and the docs no longer say there is none.
    for path in (DOCKER / "README.md", DOCKERFILE):
        assert not re.search(r"no (container )?health (check|endpoint)", path.read_text(), re.I)


def test_the_web_health_check_asks_healthz_which_plain_http_may_reach():
    from django.conf import settings
    from django.urls import reverse

    from cbir_site import probe

    assert reverse("healthz") == probe.DEFAULT_PATH
    path = probe.DEFAULT_PATH.lstrip("/")
    assert any(re.fullmatch(pattern, path) for pattern in settings.SECURE_REDIRECT_EXEMPT)


def test_the_quickstart_serves_plain_http_without_redirecting_to_https():
    """gunicorn serves HTTP only: production's redirect to HTTPS is off unless .env asks."""
    value = environment_of(compose()["services"]["web"])["CBIR_SSL_REDIRECT"]
    assert value == "${CBIR_SSL_REDIRECT:-false}"
    active, commented = env_example()
    assert "CBIR_SSL_REDIRECT" not in active and "CBIR_SSL_REDIRECT" in commented


def _module_references() -> list[tuple[str, str]]:
    """(kind, reference) for every module a compose command or the image's CMD names."""
    commands = [command_of(s) for path in COMPOSE_FILES for s in compose(path)["services"].values()]
    cmd = next(rest for keyword, rest in reversed(final_stage()) if keyword == "CMD")
    commands.append(yaml.safe_load(cmd))  # exec form: a JSON array
    refs = []
    for command in commands:
        if not command:
            continue
        for i, arg in enumerate(command):
            if arg.startswith("python:"):
                refs.append(("module", arg.removeprefix("python:")))
            elif arg == "-A" and command[0] == "celery":
                refs.append(("celery", command[i + 1]))
            elif command[0] == "gunicorn" and ":" in arg and not arg.startswith("-"):
                refs.append(("wsgi", arg))
    return refs


def test_referenced_modules_exist():
    refs = _module_references()
    assert {kind for kind, _ in refs} == {"module", "celery", "wsgi"}
    from celery import Celery

    for kind, ref in refs:
        if kind == "module":
            importlib.import_module(ref)
        elif kind == "wsgi":
            module, _, attribute = ref.partition(":")
            assert callable(getattr(importlib.import_module(module), attribute)), ref
        else:  # celery -A PACKAGE finds PACKAGE.app, PACKAGE.celery or PACKAGE.celery.app
            package = importlib.import_module(ref)
            app = getattr(package, "app", None) or getattr(package, "celery", None)
            if not isinstance(app, Celery):
                app = importlib.import_module(f"{ref}.celery").app
            assert isinstance(app, Celery), ref


def test_gunicorn_binds_where_the_container_publishes(monkeypatch):
    import cbir_site.gunicorn_conf as conf

    bind = (
        environment_of(compose()["services"]["web"]).get("CBIR_BIND")
        or dockerfile_env()["CBIR_BIND"]
    )
    assert bind.startswith("0.0.0.0:"), "inside a container gunicorn must listen on all interfaces"
    port = bind.rsplit(":", 1)[1]
    assert any(str(p).endswith(f":{port}") for p in compose()["services"]["web"]["ports"])
    monkeypatch.setenv("CBIR_BIND", bind)
    try:
        assert importlib.reload(conf).bind == bind
    finally:
        monkeypatch.undo()
        importlib.reload(conf)


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_pins_the_project_torch():
    args = dockerfile_args()
    runs = [
        expand_args(rest, args) for keyword, rest in dockerfile_instructions() if keyword == "RUN"
    ]
    torch_run = next((run for run in runs if "torch==" in run), "")
    assert re.search(r"torch==([\w.+]+)", torch_run).group(1) == pyproject_pin("torch")
    assert re.search(r"torchvision==([\w.+]+)", torch_run).group(1) == pyproject_pin("torchvision")
    assert "--index-url" in torch_run
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"


def test_dockerfile_is_multi_stage_slim_and_installs_the_project():
    args = dockerfile_args()
    instructions = dockerfile_instructions()
    bases = [
        expand_args(rest, args).split()[0] for keyword, rest in instructions if keyword == "FROM"
    ]
    assert len(bases) >= 2 and all(base.startswith("python:3.12-slim") for base in bases)
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|&|$)", runs)
    assert "collectstatic" in runs


def test_dockerfile_runs_as_non_root():
    args = dockerfile_args()
    users = [expand_args(rest, args) for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0", ""} and group not in {"root", "0"}


def test_dockerfile_default_command_is_gunicorn_with_project_config():
    cmd = yaml.safe_load(
        next(rest for keyword, rest in reversed(final_stage()) if keyword == "CMD")
    )
    assert cmd[0] == "gunicorn"
    assert cmd[cmd.index("--config") + 1] == "python:cbir_site.gunicorn_conf"
    assert dockerfile_env()["CBIR_BIND"] == "0.0.0.0:8000"
    assert dockerfile_env()["CBIR_ENV"] == "production"


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".cbir", "staticfiles"} <= patterns
    assert "**/.env" in patterns or "docker" in patterns


# ---------------------------------------------------------------- the real Compose CLI


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.mark.parametrize("overrides", [[], ["compose.gpu.yaml"]], ids=["base", "gpu"])
def test_docker_compose_config_accepts_the_files(tmp_path, overrides):
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "needs the docker CLI with the Compose v2 plugin (`docker compose`); no engine needed"
        )
    copy = tmp_path / "docker"
    shutil.copytree(DOCKER, copy)
    shutil.copy(copy / ".env.example", copy / ".env")
    files = [arg for name in ["compose.yaml", *overrides] for arg in ("-f", str(copy / name))]
    result = subprocess.run(
        [*cli, *files, "config", "--quiet"], capture_output=True, text=True, cwd=copy
    )
    assert result.returncode == 0, result.stderr


def test_web_and_workers_share_the_pulled_models():
    """A model pulled by a worker (or cbir_models) must load in the web containers too."""
    services = compose()["services"]
    models_dir = dockerfile_env()["CBIR_DATA_DIR"] + "/models"
    sources = {
        name: [v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == models_dir]
        for name in ("web", *WORKERS)
    }
    assert all(len(s) == 1 for s in sources.values()), sources
    assert len({s[0] for s in sources.values()}) == 1
    assert sources["web"][0] in compose()["volumes"]
    assert models_dir in DOCKERFILE.read_text()  # created, owned by the unprivileged user
