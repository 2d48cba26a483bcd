"""Per-process model state: one lazily loaded encoder, behind a lock.

Weights are never loaded at import time, in settings or in AppConfig.ready():
the first caller pays for the load (or a warm-up thread at server start),
every later caller gets the same instance. Encoders are kept per
configuration, so a process (or a test run) that switches settings back and
forth does not load the same weights twice.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cbir_site.config import site_config
from indexing.config import indexing_config
from indexing.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderUnavailable,
    create_encoder,
    model_name_for,
    resolve_kind,
)

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_encoders: dict[EncoderConfig, Encoder] = {}
_errors: dict[EncoderConfig, str] = {}
_NAME_TTL_S = 30.0
_names: dict[EncoderConfig, tuple[float, str]] = {}
# Query texts' vectors, per encoder instance (its model, weights and prompt), least recently
# used first. Weak keys: an encoder dropped by reset_for_tests takes its vectors with it.
_text_lock = threading.Lock()
_text_vectors: weakref.WeakKeyDictionary[Encoder, OrderedDict[str, np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class EncoderStatus:
    kind: str  # the concrete kind (auto resolved)
    configured: str  # CBIR_ENCODER as set
    loaded: bool
    name: str | None
    dim: int | None
    error: str | None


@dataclass(frozen=True)
class SelectedModel:
    key: str
    model_name: str
    config: tuple[tuple[str, Any], ...]  # EncoderConfig overrides, from a JSON column


@dataclass(frozen=True)
class ModelSelection:
    """The active and candidate models (search/model_switch.py); None: the settings decide."""

    epoch: int = -1
    active: SelectedModel | None = None
    candidate: SelectedModel | None = None


_SELECTION_TTL_S = 5.0
_selection_lock = threading.Lock()
_selection: tuple[float, ModelSelection] | None = None
_feed_epoch: int | None = None  # the model epoch this process last read in the feed


def model_selection(*, fresh: bool = False) -> ModelSelection:
    """The process's view of the active/candidate models: reloaded when the feed's model
    epoch moves (selection_seen), after _SELECTION_TTL_S, or when asked for fresh."""
    global _selection
    now = time.monotonic()
    held = _selection
    if not fresh and held is not None and now - held[0] < _SELECTION_TTL_S:
        return held[1]
    loaded = _selection_load()
    with _selection_lock:
        _selection = (now, loaded)
    return loaded


def selection_invalidate() -> None:
    global _selection
    with _selection_lock:
        _selection = None


def selection_seen(epoch: int) -> bool:
    """Called with the feed's model epoch (index_sync.feed_state): a new one reloads.

    True when it moved since this process last read the feed."""
    global _feed_epoch
    moved = _feed_epoch is not None and _feed_epoch != epoch
    _feed_epoch = epoch
    held = _selection
    if moved or (held is not None and held[1].epoch != epoch):
        selection_invalidate()
    return moved


def _selection_load() -> ModelSelection:
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():  # a savepoint inside a transaction: a failure leaves it usable
            from indexing.models import IndexFeedState, ManagedModel

            epoch = (
                IndexFeedState.objects.filter(pk=1).values_list("model_epoch", flat=True).first()
            )
            rows = list(
                ManagedModel.objects.filter(role__in=["active", "candidate"]).values_list(
                    "role", "key", "model_name", "config"
                )
            )
    except (DatabaseError, RuntimeError):  # before migrations, no database, no database
        return ModelSelection()  # access allowed (checks, some tests): the settings decide
    chosen = {
        role: SelectedModel(key, name, tuple(sorted((config or {}).items())))
        for role, key, name, config in rows
    }
    return ModelSelection(epoch or 0, chosen.get("active"), chosen.get("candidate"))


def settings_encoder_config() -> EncoderConfig:
    """The encoder the settings describe (CBIR_ENCODER, CBIR_OPENCLIP_*...)."""
    config = indexing_config()
    site = site_config()
    return EncoderConfig(
        kind=config.encoder,
        openclip_model=config.openclip_model,
        openclip_pretrained=config.openclip_pretrained,
        openclip_cache_dir=config.openclip_cache_dir,
        text_prompt=config.text_prompt,
        device=config.encoder_device,
        batch_size=site.embed_batch_size,
        bundled_top_classes=config.bundled_top_classes,
        bundled_prompts=config.bundled_prompts,
        cache_dir=str(site.data_dir / "encoder-cache"),
        runtime=config.encoder_runtime,
        threads=config.encoder_threads,
        onnx_cache_dir=str(site.data_dir / "models" / "onnx"),
    )


def encoder_config() -> EncoderConfig:
    """The active model's encoder: the managed active model's, else the settings'."""
    active = model_selection().active
    base = settings_encoder_config()
    return replace(base, **dict(active.config)) if active is not None else base


def candidate_config() -> EncoderConfig | None:
    candidate = model_selection().candidate
    if candidate is None:
        return None
    return replace(settings_encoder_config(), **dict(candidate.config))


def candidate_model_name() -> str | None:
    candidate = model_selection().candidate
    return candidate.model_name if candidate is not None else None


def get_candidate_encoder() -> Encoder | None:
    """The candidate model's encoder (loaded on first use), or None without a candidate."""
    config = candidate_config()
    return _load(config) if config is not None else None


def encoder_for_config(config: EncoderConfig) -> Encoder:
    return _load(config)


def get_encoder(kind: str | None = None) -> Encoder:
    """The process's encoder for the current settings (or of another kind), loaded on first use."""
    config = encoder_config()
    if kind is not None and kind != config.kind:
        config = replace(config, kind=kind)
    return _load(config)


def _load(config: EncoderConfig) -> Encoder:
    encoder = _encoders.get(config)
    if encoder is not None:
        return encoder
    with _lock:
        encoder = _encoders.get(config)
        if encoder is not None:
            return encoder
        _configure_threads()
        started = time.perf_counter()
        try:
            encoder = create_encoder(config)
        except EncoderUnavailable as exc:
            _errors[config] = str(exc)
            logger.error("Encoder unavailable: %s", exc)
            raise
        _errors.pop(config, None)
        _encoders[config] = encoder
        logger.info(
            "Encoder %s loaded (dim %d) in %.1f s",
            encoder.name,
            encoder.dim,
            time.perf_counter() - started,
        )
        return encoder


def encode_query_texts(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """`encoder.encode_texts(texts)`, remembering the last CBIR_TEXT_CACHE_SIZE texts.

    Query texts repeat: popular queries, every further page of one search, each
    refinement of a session. With the bundled encoder the text model was a third
    of a text search's time on the server (14 of ~40 ms, benchmarks/README.md).
    Exact text only: "Cat" and "cat" are two entries, as they may be two vectors.
    """
    size = indexing_config().text_cache_size
    if size <= 0 or not texts:
        return encoder.encode_texts(texts)
    found: dict[str, np.ndarray] = {}
    with _text_lock:
        cache = _text_vectors.setdefault(encoder, OrderedDict())
        for text in texts:
            if text in cache:
                cache.move_to_end(text)
                found[text] = cache[text]
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        vectors = encoder.encode_texts(missing)  # outside the lock: other texts need not wait
        with _text_lock:
            for text, vector in zip(missing, vectors, strict=True):
                kept = np.array(vector, dtype=np.float32)
                kept.setflags(write=False)  # shared by every later caller
                cache[text] = found[text] = kept
            while len(cache) > size:
                cache.popitem(last=False)
    return np.stack([found[t] for t in texts])


def fusion_encoders() -> list[Encoder]:
    """The encoders whose rankings are fused (CBIR_FUSION_ENCODERS), active first; [] if < 2."""
    kinds = list(dict.fromkeys(indexing_config().fusion_encoders))
    if len(kinds) < 2:
        return []
    active = get_encoder()
    others = [get_encoder(kind) for kind in kinds]
    return [active, *[e for e in others if e.name != active.name]]


def active_model_name() -> str:
    """The model name new embeddings are stored under; loads no weights."""
    active = model_selection().active
    if active is not None:
        return active.model_name
    config = encoder_config()
    loaded = _encoders.get(config)
    return loaded.name if loaded is not None else _cached_model_name(config)


def encoder_status() -> EncoderStatus:
    """What is (or would be) active, without loading weights."""
    config = encoder_config()
    loaded = _encoders.get(config)
    try:
        kind = resolve_kind(config)
        name = loaded.name if loaded else _cached_model_name(config)
        error = _errors.get(config)
    except EncoderUnavailable as exc:
        kind, name, error = config.kind, None, str(exc)
    return EncoderStatus(
        kind=kind,
        configured=config.kind,
        loaded=loaded is not None,
        name=name,
        dim=loaded.dim if loaded else None,
        error=error,
    )


def _cached_model_name(config: EncoderConfig) -> str:
    # Resolving `auto` and open_clip checkpoints touches the disk: remember it briefly.
    now = time.monotonic()
    hit = _names.get(config)
    if hit is not None and now - hit[0] < _NAME_TTL_S:
        return hit[1]
    name = model_name_for(config)
    _names[config] = (now, name)
    return name


def reset_for_tests() -> None:
    selection_invalidate()
    with _lock:
        _encoders.clear()
        _errors.clear()
        _names.clear()
    with _text_lock:
        _text_vectors.clear()


def _configure_threads() -> None:
    """PyTorch's intra-op threads for this process (the calling thread and every later one).

    gunicorn_conf.py sets CBIR_ENCODER_THREADS to cores / web workers for each web
    process: left at torch's default (every core), W processes x their request threads
    each start a team per core, and concurrent searches queue behind spinning threads.
    """
    if indexing_config().encoder_threads:
        import torch

        torch.set_num_threads(indexing_config().encoder_threads)
        logger.info("Encoder threads per process: %d", indexing_config().encoder_threads)
