"""Typed product configuration: one frozen object per app, built once from the environment.

settings.py keeps what Django, DRF and Celery read. The product's own knobs (CBIR_*) are
fields of frozen dataclasses in each app's config.py, declared with `knob` (the variable's
name and its typed reader from cbir_site/env.py) and built by a cached function such as
`search.config.search_config()`. A Django setting of the same name wins over the
environment: a deployment's settings module may set one, and tests override them with
pytest-django's `settings` fixture or `override_settings`; every such change clears the
cached objects (setting_changed, connected in cbir_site/apps.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from cbir_site.env import env_bool, env_int

_MISSING = object()
_builders: list[functools._lru_cache_wrapper[Any]] = []


def knob(setting: str, reader: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A field read as reader(setting, *args, **kwargs) unless Django has that setting."""
    return dataclasses.field(
        metadata={"setting": setting, "read": lambda _: reader(setting, *args, **kwargs)}
    )


def derived_knob(setting: str, read: Callable[[dict[str, Any]], Any]) -> Any:
    """A field whose environment default or bounds depend on the fields declared before it."""
    return dataclasses.field(metadata={"setting": setting, "read": read})


def build[T](cls: type[T]) -> T:
    """An instance of the dataclass `cls`, each knob from Django's settings or the environment."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]  # any dataclass; T is not bound to one
        value = getattr(settings, spec.metadata["setting"], _MISSING)
        if value is _MISSING:
            value = spec.metadata["read"](values)
        values[spec.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def config_builder[T](func: Callable[[], T]) -> Callable[[], T]:
    """Cache a builder until a setting changes (tests, evaluation runs)."""
    cached = functools.cache(func)
    _builders.append(cached)
    return cached


def configs_clear(**_: object) -> None:
    """setting_changed receiver: the next call of every builder reads the settings again."""
    for builder in _builders:
        builder.cache_clear()


def setting_of(config: object, setting: str) -> Any:
    """The value a config object holds for the setting named `setting` (CBIR_...)."""
    for spec in dataclasses.fields(config):  # type: ignore[arg-type]  # config objects are dataclasses
        if spec.metadata.get("setting") == setting:
            return getattr(config, spec.name)
    raise KeyError(setting)


def configs_snapshot() -> dict[str, Any]:
    """Every registered config's knobs by setting name (for reports); builds those not built."""
    out: dict[str, Any] = {}
    for builder in _builders:
        config = builder()
        for spec in dataclasses.fields(config):
            out[spec.metadata["setting"]] = getattr(config, spec.name)
    return out


@dataclasses.dataclass(frozen=True)
class SiteConfig:
    """Knobs read by more than one app, or by the site's own middleware and checks."""

    # False: never queue Celery tasks (the evaluation command and benchmarks work inline).
    background_tasks: bool = knob("CBIR_BACKGROUND_TASKS", env_bool, True)
    max_upload_bytes: int = knob("CBIR_MAX_UPLOAD_BYTES", env_int, 50 * 1024**2, minimum=1024)
    # A whole request body: larger ones get 413 before a byte is read or spooled to disk
    # (cbir_site/middleware.py). The web UI sends 8 files per request (static/cbir/gallery.js).
    max_request_bytes: int = derived_knob(
        "CBIR_MAX_REQUEST_BYTES",
        lambda v: env_int(
            "CBIR_MAX_REQUEST_BYTES",
            max(1024**3, v["max_upload_bytes"] + 1024**2),
            minimum=v["max_upload_bytes"],
        ),
    )
    search_max_k: int = knob("CBIR_SEARCH_MAX_K", env_int, 500, minimum=1, maximum=1_000_000)
    # Images per embedding batch: one forward pass each, and the bulk import's enqueue unit.
    embed_batch_size: int = knob("CBIR_EMBED_BATCH_SIZE", env_int, 16, minimum=1, maximum=1024)
    # Background workers run at this CPU niceness (0-19; 0: as the web server): on a machine
    # they share with the web server, searches come before embedding. docs/reliability.md.
    worker_nice: int = knob("CBIR_WORKER_NICE", env_int, 10, minimum=0, maximum=19)

    @property
    def data_dir(self) -> Path:
        """Everything the embedded defaults write (settings.py: Django's database and cache too)."""
        return Path(settings.CBIR_DATA_DIR)


@config_builder
def site_config() -> SiteConfig:
    return build(SiteConfig)
