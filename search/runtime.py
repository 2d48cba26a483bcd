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
from dataclasses import dataclass, replace

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
_encoders: dict[EncoderConfig, Encoder] = {}
_errors: dict[EncoderConfig, str] = {}
_NAME_TTL_S = 30.0
_names: dict[EncoderConfig, tuple[float, str]] = {}


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
        cache_dir=str(settings.CBIR_DATA_DIR / "encoder-cache"),
    )


def get_encoder(kind: str | None = None) -> Encoder:
    """The process's encoder for the current settings (or of another kind), loaded on first use."""
    config = encoder_config()
    if kind is not None and kind != config.kind:
        config = replace(config, kind=kind)
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


def fusion_encoders() -> list[Encoder]:
    """The encoders whose rankings are fused (CBIR_FUSION_ENCODERS), active first; [] if < 2."""
    kinds = list(dict.fromkeys(settings.CBIR_FUSION_ENCODERS))
    if len(kinds) < 2:
        return []
    active = get_encoder()
    others = [get_encoder(kind) for kind in kinds]
    return [active, *[e for e in others if e.name != active.name]]


def active_model_name() -> str:
    """The model name new embeddings are stored under; loads no weights."""
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
    with _lock:
        _encoders.clear()
        _errors.clear()
        _names.clear()


def _configure_threads() -> None:
    if settings.CBIR_ENCODER_THREADS:
        import torch

        torch.set_num_threads(settings.CBIR_ENCODER_THREADS)
