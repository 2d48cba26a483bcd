"""Image validation, decoding and thumbnails (Pillow only, no Django).

Validation decodes the whole image: a file is accepted only when Pillow,
restricted to an allow-list of formats, reads every pixel of it within the
byte and pixel limits. Header-only checks let truncated files and
decompression bombs through.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Truncated files must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

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


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    sha256: str
    format: str  # Pillow's name: JPEG, PNG, ...
    width: int  # after EXIF orientation
    height: int

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


def validate_image(data: bytes, limits: ImageLimits) -> ValidatedImage:
    if not data:
        raise ImageRejected("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "too_large", f"The file is larger than the limit of {_human_bytes(limits.max_bytes)}."
        )
    with _open(data, limits) as img:
        fmt = img.format or ""
        width, height = img.size
        _check_pixels(width, height, limits.max_pixels)
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRejected(
                "corrupt", f"The image data is corrupt or truncated ({exc})."
            ) from exc
        orientation = img.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):  # rotated by 90 or 270 degrees
        width, height = height, width
    return ValidatedImage(
        data=data, sha256=hashlib.sha256(data).hexdigest(), format=fmt, width=width, height=height
    )


def decode_rgb(data: bytes, *, min_side: int = 0) -> Image.Image:
    """Decode for the encoder: EXIF orientation applied, RGB, JPEG drafted down when large.

    `draft` lets libjpeg decode at 1/2, 1/4 or 1/8 scale, three times faster on
    12-megapixel photos; min_side keeps the result at least as large as the
    model's input.
    """
    source = Image.open(io.BytesIO(data))
    if min_side and source.format == "JPEG":
        scale = min(source.size) / max(min_side * 2, 1)
        if scale >= 2:
            source.draft("RGB", (source.size[0] // int(scale), source.size[1] // int(scale)))
    return _to_rgb(ImageOps.exif_transpose(source))


def make_thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG of at most size x size pixels, oriented, with any EXIF metadata dropped."""
    img = decode_rgb(data, min_side=size)
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    try:
        # Pillow's own bomb check warns above MAX_IMAGE_PIXELS; ours (_check_pixels) decides.
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
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("corrupt", f"The image header is corrupt ({exc}).") from exc


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"The image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}.",
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
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
