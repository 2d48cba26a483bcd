"""The one guarded path from bytes to pixels (Pillow only, no Django).

Every caller that turns a file into pixels (upload validation, search by
example, the embedding worker, thumbnails, bulk import, the evaluation
loader) goes through `read_header` and `decode`, so one set of limits bounds
the work a file can cause, whatever its size on disk:

1. The header is read first (no pixel decoded): format from an allow-list,
   sides between `min_side` and `max_side`, aspect ratio at most
   `max_aspect_ratio` (panoramas pass, 70000x1 strips do not), pixels at most
   `max_pixels`, frames at most `max_frames`.
2. Only the first frame is decoded. JPEG is decoded at 1/2, 1/4 or 1/8 scale
   (`draft`) when the caller needs fewer pixels; other formats are reduced by
   an integer factor right after decoding, before any colour conversion, so
   later steps work on at most a small multiple of what the caller asked for.

A decode still reads every byte of the file: truncated and corrupt files fail
here, not later.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from galleries.image_frames import count_frames

# Truncated files must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# A broken EXIF block is ignored (orientation 1), as browsers do: no warning per file.
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tif",
}
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_TRANSPOSE = {  # EXIF orientation -> the transposition that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")


class ImageRejected(Exception):
    """A file that is not an acceptable image; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    allowed_formats: tuple[str, ...]
    min_side: int = 16
    max_side: int = 30_000
    max_aspect_ratio: float = 20.0
    max_frames: int = 1000


# The product's defaults (galleries/config.py reads the same numbers from the environment).
DEFAULT_LIMITS = ImageLimits(
    max_bytes=50 * 1024 * 1024,
    max_pixels=80_000_000,
    allowed_formats=tuple(MIME_TYPES),
)


@dataclass(frozen=True)
class ImageHeader:
    format: str  # Pillow's name: JPEG, PNG, ...
    width: int  # as stored, before EXIF orientation
    height: int
    frames: int
    orientation: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def oriented_size(self) -> tuple[int, int]:
        rotated = self.orientation in _ROTATED
        return (self.height, self.width) if rotated else (self.width, self.height)


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    sha256: str
    format: str
    width: int  # after EXIF orientation
    height: int
    picture: Image.Image | None = field(default=None, compare=False, repr=False)

    @property
    def mime_type(self) -> str:
        return MIME_TYPES.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, "bin")


def read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read at most max_bytes; raise if the stream holds more (never buffer an oversize file)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageRejected(
            "too_large", f"The file is larger than the limit of {_human_bytes(max_bytes)}."
        )
    return data


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_header(data: bytes, limits: ImageLimits) -> ImageHeader:
    """Format, size, frames and orientation from the header alone; every limit checked."""
    if not data:
        raise ImageRejected("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "too_large", f"The file is larger than the limit of {_human_bytes(limits.max_bytes)}."
        )
    with _open(data, limits) as img:
        _check_geometry(img.size, limits)
        header = ImageHeader(
            format=img.format or "",
            width=img.size[0],
            height=img.size[1],
            frames=count_frames(img, data, limits.max_frames + 1),
            orientation=_orientation(img),
        )
    if header.frames > limits.max_frames:
        raise ImageRejected(
            "too_many_frames",
            f"The image has more than {limits.max_frames:,} frames; only still images and "
            "short animations are accepted.",
        )
    return header


def decode(data: bytes, limits: ImageLimits, *, min_side: int = 0) -> Image.Image:
    """The first frame as RGB, EXIF orientation applied, every limit checked first.

    With min_side, the result may be smaller than the file but its shorter
    side stays at least min_side (the model's input or the thumbnail size).
    """
    return _decode(data, limits, min_side)[1]


def validate_image(data: bytes, limits: ImageLimits, *, decode_side: int = 0) -> ValidatedImage:
    """Check every limit, decode the whole file once (at reduced scale where possible).

    The decoded picture (shorter side at least decode_side) comes back with the
    result, so a caller that needs pixels (a thumbnail) does not decode twice.
    """
    header, picture = _decode(data, limits, decode_side)
    width, height = header.oriented_size
    return ValidatedImage(
        data=data,
        sha256=sha256_of(data),
        format=header.format,
        width=width,
        height=height,
        picture=picture,
    )


def _decode(data: bytes, limits: ImageLimits, min_side: int) -> tuple[ImageHeader, Image.Image]:
    header = read_header(data, limits)
    # No `with`: closing a Pillow image also discards its pixels; the BytesIO holds no handle.
    img = _open(data, limits)
    if min_side and header.format == "JPEG":
        img.draft("RGB", (min_side, min_side))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageRejected("corrupt", f"The image data is corrupt or truncated ({exc}).") from exc
    picture = _reduce(img, min_side)
    if header.orientation in _TRANSPOSE:
        # By the header's value: a reduced copy no longer carries the EXIF block.
        picture = picture.transpose(_TRANSPOSE[header.orientation])
    return header, _to_rgb(picture)


def decode_rgb(data: bytes, *, min_side: int = 0, limits: ImageLimits | None = None) -> Image.Image:
    """`decode` with the product's default limits (benchmarks and tools outside Django)."""
    return decode(data, limits or DEFAULT_LIMITS, min_side=min_side)


def thumbnail_jpeg(picture: Image.Image, size: int) -> bytes:
    """A JPEG of at most size x size pixels from a decoded picture; no metadata kept."""
    img = picture.copy()
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def make_thumbnail(data: bytes, size: int, limits: ImageLimits | None = None) -> bytes:
    return thumbnail_jpeg(decode(data, limits or DEFAULT_LIMITS, min_side=size), size)


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    try:
        # Pillow's own bomb check warns above MAX_IMAGE_PIXELS; ours (_check_geometry) decides.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(limits.allowed_formats))
    except UnidentifiedImageError as exc:
        allowed = ", ".join(limits.allowed_formats)
        raise ImageRejected(
            "unsupported_format", f"Not an image in an accepted format ({allowed})."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("too_many_pixels", f"The image has too many pixels ({exc}).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", f"The image header is corrupt ({exc}).") from exc


def _check_geometry(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "The image has no pixels.")
    short, long = min(width, height), max(width, height)
    if short < limits.min_side:
        raise ImageRejected(
            "too_small",
            f"The image is {width}x{height}; each side needs at least {limits.min_side} pixels.",
        )
    if long > limits.max_side:
        raise ImageRejected(
            "too_wide",
            f"The image is {width}x{height}; no side may exceed {limits.max_side:,} pixels.",
        )
    if long > short * limits.max_aspect_ratio:
        raise ImageRejected(
            "extreme_aspect_ratio",
            f"The image is {width}x{height}, a {long / short:,.0f}:1 strip; the limit is "
            f"{limits.max_aspect_ratio:g}:1 (panoramas up to that pass).",
        )
    if width * height > limits.max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"The image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,}.",
        )


def _orientation(img: Image.Image) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": ignored below, as browsers do
            value = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block is ignored, as browsers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _reduce(img: Image.Image, min_side: int) -> Image.Image:
    """Shrink by an integer factor while the shorter side stays at least 2 x min_side."""
    if not min_side:
        return img
    factor = min(img.size) // (2 * min_side)
    if factor < 2:
        return img
    if img.mode not in ("L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK", "I", "F"):
        img = _to_rgb(img)
    return img.reduce(factor)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT:
        # Pillow clips 16-bit values to 255 when converting: scale them down instead.
        values = np.asarray(img, dtype=np.uint32)
        img = Image.fromarray((values >> 8).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"
