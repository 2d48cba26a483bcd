"""The galleries app's knobs: image limits, upload budgets, bulk actions (cbir_site/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cbir_site.config import build, config_builder, derived_knob, knob
from cbir_site.env import env_float, env_int, env_list

_FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"]


@dataclass(frozen=True)
class GalleriesConfig:
    max_image_pixels: int = knob("CBIR_MAX_IMAGE_PIXELS", env_int, 80_000_000, minimum=1024)
    allowed_formats: tuple[str, ...] = derived_knob(
        "CBIR_ALLOWED_FORMATS",
        lambda _: [f.upper() for f in env_list("CBIR_ALLOWED_FORMATS", _FORMATS)],
    )
    thumbnail_size: int = knob("CBIR_THUMBNAIL_SIZE", env_int, 384, minimum=32, maximum=2048)
    # The guarded image path (galleries/imaging.py) reads these from the header, before decoding.
    min_image_side: int = knob("CBIR_MIN_IMAGE_SIDE", env_int, 16, minimum=1, maximum=4096)
    max_image_side: int = knob("CBIR_MAX_IMAGE_SIDE", env_int, 30_000, minimum=64, maximum=65_535)
    # Longer side / shorter side: 20 lets phone and 360-degree panoramas through, not pixel strips.
    max_aspect_ratio: float = knob(
        "CBIR_MAX_ASPECT_RATIO", env_float, 20.0, minimum=1.0, maximum=1000.0
    )
    max_image_frames: int = knob("CBIR_MAX_IMAGE_FRAMES", env_int, 1000, minimum=1)
    # Bulk actions on a gallery page or through the API: how many images at once, and the most
    # bytes of originals one zip download may hold (refused whole, before any is written).
    bulk_max_images: int = knob("CBIR_BULK_MAX_IMAGES", env_int, 500, minimum=1, maximum=10_000)
    bulk_download_max_bytes: int = knob(
        "CBIR_BULK_DOWNLOAD_MAX_BYTES", env_int, 1024**3, minimum=1024**2
    )
    # Upload cost (galleries/upload_budget.py). Pixels are counted from headers before decoding.
    max_pixels_per_request: int = derived_knob(
        "CBIR_MAX_PIXELS_PER_REQUEST",
        lambda v: env_int(
            "CBIR_MAX_PIXELS_PER_REQUEST", 400_000_000, minimum=v["max_image_pixels"]
        ),
    )
    upload_files_per_minute: int = knob("CBIR_UPLOAD_FILES_PER_MINUTE", env_int, 600, minimum=1)
    upload_pixels_per_minute: int = derived_knob(
        "CBIR_UPLOAD_PIXELS_PER_MINUTE",
        lambda v: env_int(
            "CBIR_UPLOAD_PIXELS_PER_MINUTE", 2_000_000_000, minimum=v["max_image_pixels"]
        ),
    )
    upload_concurrency_per_user: int = knob(
        "CBIR_UPLOAD_CONCURRENCY_PER_USER", env_int, 2, minimum=1
    )
    # Decoded pixels held at once by one process (all its threads): bounds its memory.
    decode_pixels_per_process: int = derived_knob(
        "CBIR_DECODE_PIXELS_PER_PROCESS",
        lambda v: env_int(
            "CBIR_DECODE_PIXELS_PER_PROCESS",
            2 * v["max_image_pixels"],
            minimum=v["max_image_pixels"],
        ),
    )
    decode_wait_s: float = knob("CBIR_DECODE_WAIT_S", env_float, 30.0, minimum=0.0, maximum=600.0)


@config_builder
def galleries_config() -> GalleriesConfig:
    return build(GalleriesConfig)
