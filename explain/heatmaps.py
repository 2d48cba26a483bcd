"""Where in the image: heat maps of how much each region supports a match.

Pure core (no Django): an encoder, a decoded picture and the query's unit
vector in, a small grid of region weights out, over the whole picture.

Methods, in a registry keyed by name:

- ``occlusion`` works with every encoder: grey out a sliding window of
  grid cells, encode each masked copy, and a cell's heat is the mean drop of
  the similarity to the query over the windows covering it. Its cost is
  bounded twice: at most ``Budget.max_passes`` pictures through the image
  tower (the grid shrinks until the windows fit) and at most
  ``Budget.time_s`` seconds (batches stop when it is spent; the map is then
  marked incomplete). The picture is squashed to a square first, so that the
  encoders' centre crop keeps all of it.
- ``cam``: class-activation maps (Zhou et al., CVPR 2016) of the bundled
  encoder's EfficientNet, one forward pass over the whole picture. Each
  ImageNet class among the image's top classes is weighted by its share of
  the match (explain/words.py `bundled_concepts`).
- ``patch_tokens``: for open_clip ViT models, the similarity of each
  projected patch token to the query (one forward pass).
- ``clipseg``: CLIPSeg's segmentation of the query text, only when its
  weights are on this machine (never downloaded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from explain.words import bundled_concepts

CLIPSEG_REPO = "CIDAS/clipseg-rd64-refined"


class MethodUnavailable(RuntimeError):
    """The method cannot explain with this encoder or on this machine; the message says why."""


@dataclass(frozen=True)
class Budget:
    max_passes: int = 64  # pictures through the image tower, the unmasked one included
    time_s: float = 10.0  # wall-clock seconds for one explanation
    grid: int = 7  # occlusion: cells per side (fewer when max_passes demands it)
    window: int = 2  # occlusion: window side in cells


@dataclass(frozen=True)
class HeatMap:
    method: str
    grid: np.ndarray  # (rows, cols) float32 in [0, 1], row 0 at the top of the whole picture
    passes: int  # pictures through the image tower
    seconds: float
    complete: bool = True  # False when the time budget stopped the method early

    def peak(self) -> tuple[float, float]:
        """The hottest cell's centre as fractions (x, y) of the picture's width and height."""
        rows, cols = self.grid.shape
        r, c = np.unravel_index(int(np.argmax(self.grid)), self.grid.shape)
        return (c + 0.5) / cols, (r + 0.5) / rows


Method = Callable[..., HeatMap]
METHODS: dict[str, Method] = {}
_SUPPORTS: dict[str, Callable[[Any], bool]] = {}


def register(name: str, *, supports: Callable[[Any], bool]) -> Callable[[Method], Method]:
    def decorator(method: Method) -> Method:
        METHODS[name] = method
        _SUPPORTS[name] = supports
        return method

    return decorator


def methods_for(encoder: Any) -> list[str]:
    """The methods that can explain this encoder's matches, fastest first."""
    return [
        name for name in ("cam", "patch_tokens", "clipseg", "occlusion") if _SUPPORTS[name](encoder)
    ]


def explain_heatmap(
    method: str,
    encoder: Any,
    image: Image.Image,
    query: np.ndarray,
    *,
    budget: Budget,
    text: str | None = None,
) -> HeatMap:
    if method not in METHODS:
        raise MethodUnavailable(f"Unknown method {method!r}; one of {sorted(METHODS)}.")
    if not _SUPPORTS[method](encoder):
        raise MethodUnavailable(f"{method} cannot explain {encoder.name}.")
    return METHODS[method](encoder, image.convert("RGB"), _unit(query), budget=budget, text=text)


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _normalised(heat: np.ndarray) -> np.ndarray:
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32))
    heat = heat - min(float(heat.min()), 0.0) if heat.size else heat
    top = float(heat.max()) if heat.size else 0.0
    return (heat / top if top > 1e-12 else np.zeros_like(heat)).astype(np.float32)


# ---------------------------------------------------------------- occlusion


def occlusion_grid(budget: Budget) -> tuple[int, int]:
    """The largest grid (and its window) whose windows, plus the unmasked picture, fit."""
    window = max(1, budget.window)
    for grid in range(max(budget.grid, 1), 0, -1):
        w = min(window, grid)
        if (grid - w + 1) ** 2 + 1 <= max(budget.max_passes, 2):
            return grid, w
    return 1, 1


@register("occlusion", supports=lambda encoder: True)
def occlusion(
    encoder: Any, image: Image.Image, query: np.ndarray, *, budget: Budget, text: str | None = None
) -> HeatMap:
    started = time.perf_counter()
    side = max(int(getattr(encoder, "image_size", 224)), 32)
    view = image.resize((side, side), Image.Resampling.BILINEAR)
    pixels = np.asarray(view).copy()
    fill = pixels.reshape(-1, 3).mean(axis=0).astype(np.uint8)  # the picture's mean colour
    grid, window = occlusion_grid(budget)
    edges = np.linspace(0, side, grid + 1).round().astype(int)
    windows = [(r, c) for r in range(grid - window + 1) for c in range(grid - window + 1)]
    base = float(encoder.encode_images([view])[0] @ query)
    drops = np.zeros((grid, grid), np.float64)
    covered = np.zeros((grid, grid), np.int32)
    passes, batch = 1, max(int(getattr(encoder, "batch_size", 16)), 1)
    for start in range(0, len(windows), batch):
        if time.perf_counter() - started > budget.time_s:
            break
        chunk = windows[start : start + batch]
        masked = [_masked(pixels, edges, r, c, window, fill) for r, c in chunk]
        scores = encoder.encode_images(masked) @ query
        passes += len(chunk)
        for (r, c), score in zip(chunk, scores, strict=True):
            drops[r : r + window, c : c + window] += base - float(score)
            covered[r : r + window, c : c + window] += 1
    heat = np.where(covered > 0, drops / np.maximum(covered, 1), 0.0)
    return HeatMap(
        method="occlusion",
        grid=_normalised(np.maximum(heat, 0.0)),
        passes=passes,
        seconds=time.perf_counter() - started,
        complete=passes == len(windows) + 1,
    )


def _masked(
    pixels: np.ndarray, edges: np.ndarray, r: int, c: int, window: int, fill: np.ndarray
) -> Image.Image:
    out = pixels.copy()
    out[edges[r] : edges[r + window], edges[c] : edges[c + window]] = fill
    return Image.fromarray(out)


# ---------------------------------------------------------------- bundled: class activation maps


def _is_bundled(encoder: Any) -> bool:
    return hasattr(encoder, "_cnn") and hasattr(encoder, "_class_vectors")


@register("cam", supports=_is_bundled)
def bundled_cam(
    encoder: Any, image: Image.Image, query: np.ndarray, *, budget: Budget, text: str | None = None
) -> HeatMap:
    """CAM over the whole picture: EfficientNet is convolutional up to its global pooling."""
    from indexing.encoders.bundled import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE

    torch = encoder._torch
    started = time.perf_counter()
    width, height = image.size
    scale = INPUT_SIZE / min(width, height)
    size = (
        max(32, min(round(width * scale), 2 * INPUT_SIZE)),
        max(32, min(round(height * scale), 2 * INPUT_SIZE)),
    )
    pixels = np.asarray(image.resize(size, Image.Resampling.BICUBIC), np.float32) / 255.0
    mean, std = np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32)
    array = ((pixels - mean) / std).astype(np.float32)
    batch = torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0).to(encoder.device)
    cnn = encoder._cnn
    with torch.inference_mode():
        features = cnn.extract_features(batch)[0]  # (channels, h, w)
        logits = cnn._fc(features.mean(dim=(1, 2)))
        probs = logits.softmax(dim=-1).float().cpu().numpy()
        fc = cnn._fc.weight.float()
    concepts = bundled_concepts(
        probs, encoder._class_vectors, encoder.class_names, encoder.top_classes, query
    )
    shares = {c.index: max(c.share, 0.0) for c in concepts}
    if sum(shares.values()) <= 0:  # nothing supports the match: show where the classes are
        shares = {c.index: c.weight for c in concepts}
    index = torch.tensor(list(shares), device=features.device)
    weights = torch.tensor(list(shares.values()), dtype=torch.float32, device=features.device)
    with torch.inference_mode():
        maps = torch.einsum("tc,chw->thw", fc[index], features.float())
        heat = torch.einsum("t,thw->hw", weights, maps).relu().cpu().numpy()
    return HeatMap("cam", _normalised(heat), passes=1, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- open_clip ViT: patch tokens


def _vit(encoder: Any) -> Any:
    visual = getattr(getattr(encoder, "_model", None), "visual", None)
    if visual is None:
        return None
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer) or visual.attn_pool is not None:
        return None
    return visual if visual.proj is not None else None


@register("patch_tokens", supports=lambda encoder: _vit(encoder) is not None)
def vit_patch_tokens(
    encoder: Any, image: Image.Image, query: np.ndarray, *, budget: Budget, text: str | None = None
) -> HeatMap:
    torch = encoder._torch
    started = time.perf_counter()
    visual = _vit(encoder)
    side = int(encoder.image_size)
    view = image.resize((side, side), Image.Resampling.BICUBIC)  # the crop keeps all of it
    batch = encoder._preprocess(view).unsqueeze(0).to(encoder.config.device)
    with torch.inference_mode():
        x = visual.transformer(visual._embeds(batch))
        tokens = x[:, 1:] if visual.final_ln_after_pool else visual.ln_post(x)[:, 1:]
        if visual.final_ln_after_pool:
            tokens = visual.ln_post(tokens)
        projected = (tokens @ visual.proj)[0].float().cpu().numpy()
    projected /= np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)
    rows, cols = visual.grid_size
    heat = (projected @ query).reshape(rows, cols)
    return HeatMap(
        "patch_tokens",
        _normalised(heat - heat.min()),
        passes=1,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- CLIPSeg (local weights only)


def clipseg_weights(cache_dir: str | None = None) -> str | None:
    """The cached CLIPSeg folder, or None: it is never downloaded."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with open_clip
        return None
    found = try_to_load_from_cache(CLIPSEG_REPO, "config.json", cache_dir=cache_dir)
    if not isinstance(found, str):
        return None
    from pathlib import Path

    return str(Path(found).parent)


@register("clipseg", supports=lambda encoder: clipseg_weights() is not None)
def clipseg(
    encoder: Any, image: Image.Image, query: np.ndarray, *, budget: Budget, text: str | None = None
) -> HeatMap:
    if not text:
        raise MethodUnavailable("CLIPSeg segments what a text names: this query has no text.")
    folder = clipseg_weights()
    if folder is None:
        raise MethodUnavailable(
            f"CLIPSeg's weights ({CLIPSEG_REPO}) are not in the Hugging Face cache here."
        )
    import torch

    started = time.perf_counter()
    processor, model = _clipseg_model(folder)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**inputs).logits
    heat = torch.sigmoid(logits).reshape(logits.shape[-2:]).numpy()
    return HeatMap("clipseg", _normalised(heat), passes=1, seconds=time.perf_counter() - started)


@lru_cache(maxsize=1)
def _clipseg_model(folder: str) -> tuple[Any, Any]:
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    processor = CLIPSegProcessor.from_pretrained(folder, local_files_only=True)
    model = CLIPSegForImageSegmentation.from_pretrained(folder, local_files_only=True).eval()
    return processor, model
