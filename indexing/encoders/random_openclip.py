"""Write open_clip models with random weights (fixed seed) as `local-dir:` folders.

Model hubs are unreachable on the development and CI machines, so tests and
the evaluation floor exercise the real open_clip code path (config, checkpoint
loading, preprocessing, tokenizer) with these. Their similarities mean nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def write_random_openclip(folder: Path, *, base: str | None = None, seed: int = 0) -> Path:
    """Create `folder` with open_clip_config.json and a seeded random checkpoint.

    base=None writes a tiny CLIP (fast, for tests); base="ViT-B-32" copies that
    built-in architecture (the evaluation's random floor).
    """
    import open_clip
    import torch

    model_cfg = TINY_CONFIG if base is None else open_clip.get_model_config(base)
    if model_cfg is None:
        raise ValueError(f"Unknown open_clip architecture {base!r}")
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": model_cfg,
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder
