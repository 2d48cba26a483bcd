"""The models this product knows how to fetch, and how each becomes an EncoderConfig.

A catalogue entry names a model (its key, used by `manage.py cbir_models`, the
admin and the API), where its files live on the Hugging Face hub, roughly how
large the download is, and the encoder settings that load it from
CBIR_DATA_DIR/models once pulled. The embedding identity (the `model_name`
stored with every vector) is derived from the entry without loading weights,
and is the same one an operator who copied a Hugging Face cache by hand gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbir_site.config import site_config
from indexing.config import indexing_config
from indexing.encoders.bundled import bundled_model_name


@dataclass(frozen=True)
class HubFile:
    """A file of the model's hub repository; alternatives are tried in order (first found wins)."""

    names: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class KnownModel:
    key: str
    title: str
    kind: str  # open_clip | bundled | fake (tests)
    openclip_model: str = ""
    openclip_pretrained: str = ""
    repo_id: str = ""
    revision: str = "main"
    files: tuple[HubFile, ...] = ()
    download_bytes: int = 0  # approximate, for `list` before anything is fetched
    recommended: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def downloadable(self) -> bool:
        return bool(self.repo_id and self.files)

    def encoder_overrides(self) -> dict[str, Any]:
        """The EncoderConfig fields this model sets (the rest come from the settings)."""
        if self.kind != "open_clip":
            return {"kind": self.kind}
        return {
            "kind": "open_clip",
            "openclip_model": self.openclip_model,
            "openclip_pretrained": self.openclip_pretrained or None,
            "openclip_cache_dir": str(hub_cache_dir()),
        }

    def identity(self) -> str:
        """The model_name its embeddings are stored under (encoders/openclip.py's naming)."""
        if self.kind == "bundled":
            return bundled_model_name(
                indexing_config().bundled_top_classes, indexing_config().bundled_prompts
            )
        if self.kind == "fake":
            from indexing.encoders.fake import FakeEncoder

            return FakeEncoder.name
        if self.openclip_model.startswith("local-dir:"):  # named by its checkpoint's digest
            from indexing.encoders.base import EncoderConfig
            from indexing.encoders.openclip import resolve_weights

            return resolve_weights(EncoderConfig(**self.encoder_overrides())).identity
        if self.openclip_model.startswith("hf-hub:"):
            return f"open_clip:{self.openclip_model}"
        return f"open_clip:{self.openclip_model}/{self.openclip_pretrained}"


RECOMMENDED = "clip-vit-b-32"

_ATTRIBUTION = "weights downloaded from the Hugging Face hub under their own licence"
_CATALOGUE: dict[str, KnownModel] = {
    m.key: m
    for m in [
        KnownModel(
            key="clip-vit-b-32",
            title="OpenCLIP ViT-B/32 (LAION-2B)",
            kind="open_clip",
            openclip_model="ViT-B-32",
            openclip_pretrained="laion2b_s34b_b79k",
            repo_id="laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
            files=(
                HubFile(("open_clip_config.json",), required=False),
                HubFile(("open_clip_model.safetensors", "open_clip_pytorch_model.bin")),
            ),
            download_bytes=605_000_000,
            recommended=True,
            note="Recommended: good text and image search, about 10 images/s per CPU core.",
        ),
        KnownModel(
            key="siglip-vit-b-16",
            title="SigLIP ViT-B/16 (WebLI)",
            kind="open_clip",
            openclip_model="ViT-B-16-SigLIP",
            openclip_pretrained="webli",
            repo_id="timm/ViT-B-16-SigLIP",
            files=(
                HubFile(("open_clip_config.json",), required=False),
                HubFile(("open_clip_model.safetensors", "open_clip_pytorch_model.bin")),
                HubFile(("tokenizer.json",), required=False),
                HubFile(("tokenizer_config.json",), required=False),
                HubFile(("special_tokens_map.json",), required=False),
                HubFile(("spiece.model",), required=False),
            ),
            download_bytes=813_000_000,
            note="Better zero-shot accuracy than ViT-B/32; about 3x slower to index.",
        ),
        KnownModel(
            key="clip-vit-l-14",
            title="OpenCLIP ViT-L/14 (DataComp-XL)",
            kind="open_clip",
            openclip_model="ViT-L-14",
            openclip_pretrained="datacomp_xl_s13b_b90k",
            repo_id="laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K",
            files=(
                HubFile(("open_clip_config.json",), required=False),
                HubFile(("open_clip_model.safetensors", "open_clip_pytorch_model.bin")),
            ),
            download_bytes=1_710_000_000,
            note="The most accurate; about 10x slower to index than ViT-B/32: for a GPU worker.",
        ),
        KnownModel(
            key="bundled",
            title="Bundled offline encoder (ConSE over ImageNet classes)",
            kind="bundled",
            note="Ships with the product; finds common objects, not sentences.",
        ),
    ]
}


def catalogue() -> dict[str, KnownModel]:
    """Every known model by key: the built-in ones and those registered (tests, plugins)."""
    return dict(_CATALOGUE)


def known_model(key: str) -> KnownModel:
    try:
        return _CATALOGUE[key]
    except KeyError:
        raise KeyError(
            f"Unknown model {key!r}; known models: {', '.join(sorted(_CATALOGUE))}."
        ) from None


def model_register(model: KnownModel) -> KnownModel:
    """Add (or replace) a catalogue entry; returns it."""
    _CATALOGUE[model.key] = model
    return model


def model_unregister(key: str) -> None:
    _CATALOGUE.pop(key, None)


def models_dir() -> Path:
    return site_config().data_dir / "models"


def hub_cache_dir() -> Path:
    """Hugging Face cache layout (models--org--name/blobs, snapshots, refs) under models_dir."""
    return models_dir() / "hub"


__all__ = [
    "RECOMMENDED",
    "HubFile",
    "KnownModel",
    "catalogue",
    "hub_cache_dir",
    "known_model",
    "model_register",
    "model_unregister",
    "models_dir",
]
