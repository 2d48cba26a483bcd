"""Per-process model state: one lazily loaded encoder, behind a lock.

Weights are never loaded at import time, in settings or in AppConfig.ready():
the first caller pays for the load (or a warm-up thread at server start),
every later caller gets the same instance.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from search.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderUnavailable,
    create_encoder,
    model_name_for,
    resolve_kind,
)

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_encoder: Encoder | None = None
_encoder_config: EncoderConfig | None = None
_load_error: str | None = None


@dataclass(frozen=True)
class EncoderStatus:
    kind: str  # the concrete kind (auto resolved)
    configured: str  # CBIR_ENCODER as set
    loaded: bool
    name: str | None
    dim: int | None
    error: str | None


def encoder_config() -> EncoderConfig:
    return EncoderConfig(
        kind=settings.CBIR_ENCODER,
        openclip_model=settings.CBIR_OPENCLIP_MODEL,
        openclip_pretrained=settings.CBIR_OPENCLIP_PRETRAINED,
        openclip_cache_dir=settings.CBIR_OPENCLIP_CACHE_DIR,
        text_prompt=settings.CBIR_TEXT_PROMPT,
        device=settings.CBIR_ENCODER_DEVICE,
        batch_size=settings.CBIR_EMBED_BATCH_SIZE,
        bundled_top_classes=settings.CBIR_BUNDLED_TOP_CLASSES,
    )


def get_encoder() -> Encoder:
    """The process's encoder for the current settings, loading it on first use."""
    global _encoder, _encoder_config, _load_error
    config = encoder_config()
    encoder = _encoder
    if encoder is not None and _encoder_config == config:
        return encoder
    with _lock:
        if _encoder is not None and _encoder_config == config:
            return _encoder
        _configure_threads()
        started = time.perf_counter()
        try:
            _encoder = create_encoder(config)
        except EncoderUnavailable as exc:
            _load_error = str(exc)
            logger.error("Encoder unavailable: %s", exc)
            raise
        _encoder_config, _load_error = config, None
        logger.info(
            "Encoder %s loaded (dim %d) in %.1f s",
            _encoder.name,
            _encoder.dim,
            time.perf_counter() - started,
        )
        return _encoder


def active_model_name() -> str:
    """The model name new embeddings are stored under; loads no weights."""
    config = encoder_config()
    loaded = _encoder
    if loaded is not None and _encoder_config == config:
        return loaded.name
    return _cached_model_name(config)


_NAME_TTL_S = 30.0
_names: dict[EncoderConfig, tuple[float, str]] = {}


def _cached_model_name(config: EncoderConfig) -> str:
    # Resolving `auto` and open_clip checkpoints touches the disk: remember it briefly.
    now = time.monotonic()
    hit = _names.get(config)
    if hit is not None and now - hit[0] < _NAME_TTL_S:
        return hit[1]
    name = model_name_for(config)
    _names[config] = (now, name)
    return name


def encoder_status() -> EncoderStatus:
    """What is (or would be) active, without loading weights."""
    config = encoder_config()
    loaded = _encoder if _encoder_config == config else None
    try:
        kind = resolve_kind(config)
        error = _load_error
    except EncoderUnavailable as exc:
        kind, error = config.kind, str(exc)
    try:
        name = loaded.name if loaded else _cached_model_name(config)
    except EncoderUnavailable:
        name = None
    return EncoderStatus(
        kind=kind,
        configured=config.kind,
        loaded=loaded is not None,
        name=name,
        dim=loaded.dim if loaded else None,
        error=error,
    )


def reset_for_tests() -> None:
    global _encoder, _encoder_config, _load_error
    with _lock:
        _encoder, _encoder_config, _load_error = None, None, None
        _names.clear()


def _configure_threads() -> None:
    if settings.CBIR_ENCODER_THREADS:
        import torch

        torch.set_num_threads(settings.CBIR_ENCODER_THREADS)
