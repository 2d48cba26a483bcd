"""open_clip encoders (CLIP, SigLIP): the only module that calls create_model_and_transforms.

Weights are looked up on this machine only, never downloaded at request
time: a pretrained tag is resolved in the Hugging Face / open_clip cache, a
file path is used as is, and a `local-dir:` model names a folder with
open_clip_config.json and a checkpoint. When nothing is found the error
names the setting to change.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from indexing.encoders.base import (
    EncoderConfig,
    EncoderUnavailable,
    batched,
    bounded_input,
    l2_normalise,
    register,
)
from indexing.encoders.onnx_runtime import check_runtime, load_image_model

CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
HF_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)


@dataclass(frozen=True)
class ResolvedWeights:
    model_name: str  # what create_model_and_transforms receives
    pretrained: str | None  # checkpoint file, or None for local-dir models
    identity: str  # stable name stored with embeddings
    preprocess: dict[str, Any] = field(default_factory=dict)


def resolve_weights(config: EncoderConfig) -> ResolvedWeights:
    """Find the weights `config` names on this machine, or raise EncoderUnavailable."""
    model = config.openclip_model
    if model.startswith("local-dir:"):
        return _resolve_local_dir(Path(model.removeprefix("local-dir:")))
    if model.startswith("hf-hub:"):
        return _resolve_hf_hub(model.removeprefix("hf-hub:"), config.openclip_cache_dir)
    pretrained = (config.openclip_pretrained or "").strip()
    if not pretrained:
        raise EncoderUnavailable(
            f"CBIR_OPENCLIP_PRETRAINED is empty: name a pretrained tag of {model} or a checkpoint "
            "file (random weights are never used outside tests)."
        )
    if Path(pretrained).expanduser().is_file():
        path = Path(pretrained).expanduser().resolve()
        return ResolvedWeights(model, str(path), f"open_clip:{model}/file-{_file_digest(path)}")
    return _resolve_tag(model, pretrained, config.openclip_cache_dir)


def openclip_weights_present(config: EncoderConfig) -> bool:
    try:
        resolve_weights(config)
    except EncoderUnavailable:
        return False
    return True


def _resolve_tag(model: str, tag: str, cache_dir: str | None) -> ResolvedWeights:
    import open_clip

    if model not in open_clip.list_models():
        raise EncoderUnavailable(
            f"CBIR_OPENCLIP_MODEL={model!r} is not an open_clip model; "
            "see open_clip.list_models() (for example ViT-B-32 or ViT-B-16-SigLIP)."
        )
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model))
        raise EncoderUnavailable(
            f"CBIR_OPENCLIP_PRETRAINED={tag!r} is neither a file nor a pretrained tag of {model} "
            f"(tags: {tags})."
        )
    path = _cached_checkpoint(cfg, cache_dir)
    if path is None:
        raise EncoderUnavailable(
            f"The open_clip weights {model}/{tag} are not on this machine. Either download them "
            'on a connected machine (python -c "import open_clip; '
            f"open_clip.create_model('{model}', pretrained='{tag}')\") and copy the Hugging Face "
            "cache here, pointing "
            "CBIR_OPENCLIP_CACHE_DIR at it; or set CBIR_OPENCLIP_PRETRAINED to a checkpoint file; "
            "or set CBIR_ENCODER=bundled (or auto) to use the bundled offline encoder."
        )
    preprocess = {
        "image_mean": cfg.get("mean"),
        "image_std": cfg.get("std"),
        "image_interpolation": cfg.get("interpolation"),
        "image_resize_mode": cfg.get("resize_mode"),
        "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
    }
    preprocess = {k: v for k, v in preprocess.items() if v is not None}
    return ResolvedWeights(model, path, f"open_clip:{model}/{tag}", preprocess)


def _cached_checkpoint(cfg: dict[str, Any], cache_dir: str | None) -> str | None:
    if cfg.get("file") and Path(cfg["file"]).is_file():
        return str(cfg["file"])
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        # open_clip writes 'org/repo/' (default file names) or 'org/repo/file.bin'.
        repo_id, filename = os.path.split(hub)
        names = [str(Path(filename).with_suffix(".safetensors")), filename] if filename else []
        names += list(HF_WEIGHT_NAMES)
        for name in names:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and Path(found).is_file():
                return found
    url = cfg.get("url", "")
    if url:
        root = Path(cache_dir or Path.home() / ".cache" / "clip").expanduser()
        candidate = root / os.path.basename(url)
        if candidate.is_file():
            return str(candidate)
    return None


def _resolve_local_dir(folder: Path) -> ResolvedWeights:
    folder = folder.expanduser().resolve()
    if not (folder / "open_clip_config.json").is_file():
        raise EncoderUnavailable(
            f"CBIR_OPENCLIP_MODEL=local-dir:{folder} needs open_clip_config.json in that folder."
        )
    checkpoints = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    if not checkpoints:
        raise EncoderUnavailable(
            f"CBIR_OPENCLIP_MODEL=local-dir:{folder} has no checkpoint "
            f"({', '.join(CHECKPOINT_SUFFIXES)}) beside its open_clip_config.json."
        )
    digest = _file_digest(checkpoints[0])
    return ResolvedWeights(f"local-dir:{folder}", None, f"open_clip:{folder.name}/file-{digest}")


def _resolve_hf_hub(repo_id: str, cache_dir: str | None) -> ResolvedWeights:
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, "open_clip_config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        raise EncoderUnavailable(
            f"hf-hub:{repo_id} is not in the Hugging Face cache on this machine; download it on a "
            "connected machine and set CBIR_OPENCLIP_CACHE_DIR to the copied cache."
        )
    resolved = _resolve_local_dir(Path(config).parent)
    return ResolvedWeights(resolved.model_name, None, f"open_clip:hf-hub:{repo_id}")


def _file_digest(path: Path) -> str:
    """Size plus the hash of the first MiB: stable across machines, cheap on 600 MB files."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


class OpenClipEncoder:
    def __init__(self, config: EncoderConfig):
        self.config = config
        self.weights = resolve_weights(config)
        self.runtime = check_runtime(config.runtime)
        self.name = openclip_model_name(self.weights.identity, self.runtime)
        self.batch_size = config.batch_size
        self.prompt = config.text_prompt or "{}"
        self._load()

    def _load(self) -> None:
        import open_clip
        import torch

        self._torch = torch
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.weights.model_name,
                pretrained=self.weights.pretrained,
                device=self.config.device,
                cache_dir=self.config.openclip_cache_dir,
                **self.weights.preprocess,
            )
            self._tokenizer = open_clip.get_tokenizer(
                self.weights.model_name, cache_dir=self.config.openclip_cache_dir
            )
        except (OSError, RuntimeError, ValueError) as exc:
            raise EncoderUnavailable(
                f"open_clip could not load {self.weights.identity}: {exc}. Check "
                "CBIR_OPENCLIP_MODEL / CBIR_OPENCLIP_PRETRAINED / CBIR_OPENCLIP_CACHE_DIR."
            ) from exc
        self._model = model.eval()
        self._preprocess = preprocess
        size = getattr(model.visual, "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.dim = int(self.encode_texts(["warm-up"]).shape[1])
        self._onnx = None
        if self.runtime != "torch":
            folder = self.config.onnx_cache_dir or self.config.cache_dir
            if not folder:
                raise EncoderUnavailable(
                    f"CBIR_ENCODER_RUNTIME={self.runtime} needs a cache folder for the exported "
                    "model (CBIR_DATA_DIR)."
                )
            # encode_image(x) is visual(x): the image tower alone is exported.
            self._onnx = load_image_model(
                self._model.visual,
                identity=self.weights.identity,
                runtime=self.runtime,
                input_shape=(1, 3, self.image_size, self.image_size),
                cache_dir=Path(folder),
                threads=self.config.threads,
            )

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        torch = self._torch
        out = []
        for chunk in batched(images, self.batch_size):
            mode = str(self.weights.preprocess.get("image_resize_mode", "shortest"))
            batch = torch.stack(
                [
                    self._preprocess(bounded_input(img.convert("RGB"), self.image_size, mode))
                    for img in chunk
                ]
            )
            if self._onnx is not None:
                out.append(self._onnx(batch.numpy()))
                continue
            with torch.inference_mode():
                feats = self._model.encode_image(batch.to(self.config.device))
            out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        prompts = [self.prompt.replace("{}", t.strip()) for t in texts]
        for chunk in batched(prompts, max(self.batch_size, 32)):
            tokens = self._tokenizer(list(chunk)).to(self.config.device)
            with torch.inference_mode():
                feats = encode_text_trimmed(self._model, tokens)
            out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out)) if out else np.zeros((0, 1), np.float32)


def encode_text_trimmed(model: Any, tokens: Any) -> Any:
    """model.encode_text, computed only over the real tokens when that is exact.

    CLIP's text transformer uses a causal mask and pools at the end-of-text
    token (the highest token id, hence argmax): outputs up to that token do not
    depend on the padding after it. Cutting the 77-token context to the
    longest real prompt in the batch gives the same vectors about twice as fast
    on short queries. Other architectures (SigLIP, HF text towers) fall back.
    """
    import open_clip
    import torch

    exact = (
        isinstance(model, open_clip.CLIP)
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", None) == "argmax"
    )
    if not exact:
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max().item()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    if isinstance(model.text_projection, torch.nn.Linear):
        x = model.text_projection(x)
    elif model.text_projection is not None:
        x = x @ model.text_projection
    return x


# Runtimes whose vectors are another model's (see bundled.RENAMED_RUNTIMES): int8 weights.
RENAMED_RUNTIMES: frozenset[str] = frozenset({"onnx-int8"})


def openclip_model_name(identity: str, runtime: str) -> str:
    return f"{identity}/{runtime}" if runtime in RENAMED_RUNTIMES else identity


@register(
    "open_clip",
    model_name=lambda config: openclip_model_name(
        resolve_weights(config).identity, check_runtime(config.runtime)
    ),
)
def _create(config: EncoderConfig) -> OpenClipEncoder:
    return OpenClipEncoder(config)
