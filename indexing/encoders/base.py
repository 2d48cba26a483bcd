"""The Encoder protocol, its configuration and the registry of implementations.

Encoders turn images and texts into L2-normalised float32 vectors in one
shared space. They know nothing of Django: configuration arrives as an
EncoderConfig, images as decoded PIL images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be loaded (weights missing, bad setting); the message says what to fix."""


@dataclass(frozen=True)
class EncoderConfig:
    kind: str = "auto"  # auto | open_clip | bundled | fake
    openclip_model: str = "ViT-B-32"
    openclip_pretrained: str | None = "laion2b_s34b_b79k"
    openclip_cache_dir: str | None = None
    text_prompt: str = "a photo of {}"
    device: str = "cpu"
    batch_size: int = 16
    bundled_top_classes: int = 10
    bundled_prompts: str = "ensemble"  # class-name templates (encoders/bundled.py PROMPT_SETS)
    cache_dir: str | None = None  # derived artefacts (e.g. class-name vectors), safe to delete
    runtime: str = "torch"  # torch | onnx | onnx-int8: what runs the image tower
    threads: int = 0  # ONNX Runtime intra-op threads (0: its default)
    onnx_cache_dir: str | None = None  # exported ONNX graphs (default: cache_dir)


@runtime_checkable
class Encoder(Protocol):
    name: str  # stored with every embedding: identifies model, weights and method
    dim: int
    image_size: int  # smallest side the encoder looks at (decoders may draft down to it)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """n images -> float32 array (n, dim), rows L2-normalised."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """n texts -> float32 array (n, dim), rows L2-normalised, same space as images."""
        ...


EncoderFactory = Callable[[EncoderConfig], Encoder]
ModelNamer = Callable[[EncoderConfig], str]
_REGISTRY: dict[str, EncoderFactory] = {}
_NAMERS: dict[str, ModelNamer] = {}


def register(kind: str, *, model_name: ModelNamer) -> Callable[[EncoderFactory], EncoderFactory]:
    """Register a factory and a cheap function giving the model name it would produce."""

    def decorator(factory: EncoderFactory) -> EncoderFactory:
        _REGISTRY[kind] = factory
        _NAMERS[kind] = model_name
        return factory

    return decorator


def model_name_for(config: EncoderConfig) -> str:
    """The name the encoder would store with its embeddings, without loading weights."""
    return _NAMERS[resolve_kind(config)](config)


def registered_kinds() -> list[str]:
    _load_builtin()
    return sorted([*_REGISTRY, "auto"])


def resolve_kind(config: EncoderConfig) -> str:
    """The concrete kind `config` selects; `auto` picks open_clip only if its weights are here."""
    _load_builtin()
    if config.kind != "auto":
        if config.kind not in _REGISTRY:
            raise EncoderUnavailable(
                f"Unknown encoder {config.kind!r}; set CBIR_ENCODER to one of {registered_kinds()}."
            )
        return config.kind
    from indexing.encoders.openclip import openclip_weights_present

    return "open_clip" if openclip_weights_present(config) else "bundled"


def create_encoder(config: EncoderConfig) -> Encoder:
    return _REGISTRY[resolve_kind(config)](config)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norms, 1e-12)
    return unit


def bounded_input(img: Image.Image, size: int, resize_mode: str = "shortest") -> Image.Image:
    """The picture a model's transform should see, so that no transform step allocates
    more than a small multiple of the model's input.

    "shortest" transforms (resize the shorter side to about `size`, then crop
    the centre square) only ever look at the central square of the picture:
    cropping to it first gives them the same pixels, and a thin strip can no
    longer be scaled up to gigapixels. Pictures far larger than the input are
    reduced by an integer factor first ("squash" and "longest" included), which
    keeps at least twice the input's resolution for the model's own filter.
    """
    width, height = img.size
    if resize_mode == "shortest" and width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    factor = min(img.size) // (2 * max(size, 1))
    return img.reduce(factor) if factor >= 2 else img


def batched[T](items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators; they import torch lazily.
    from indexing.encoders import bundled, fake, openclip  # noqa: F401
