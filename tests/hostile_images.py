"""A corpus of hostile and awkward images, generated on the fly (nothing binary is committed).

Each case names the file, its bytes and what the guarded image path must do:
refuse it with a stable code, or accept it. The huge-canvas cases are sized
against TEST_LIMITS (a 4-megapixel limit), so they compress to a few KB and
are cheap to make, and still exercise "small file, many pixels" in every
format; the header-only PNG bombs go far past the product's real limits.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

# What the tests run under (override_settings): small enough that canvases are cheap to build.
TEST_MAX_PIXELS = 4_000_000
TEST_MAX_SIDE = 6_000
TEST_MAX_FRAMES = 100
TEST_SETTINGS = {
    "CBIR_MAX_IMAGE_PIXELS": TEST_MAX_PIXELS,
    "CBIR_MAX_IMAGE_SIDE": TEST_MAX_SIDE,
    "CBIR_MAX_IMAGE_FRAMES": TEST_MAX_FRAMES,
    "CBIR_MIN_IMAGE_SIDE": 16,
    "CBIR_MAX_ASPECT_RATIO": 20.0,
}


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: str  # a rejection code, or "ok"


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG header promising width x height pixels, with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def animation(fmt: str, frames: int, size: int = 16) -> bytes:
    # Every frame differs from the one before, or encoders merge them.
    pictures = [
        Image.new("RGB", (size, size), (i % 256, (i * 7) % 256, 255 - i % 256))
        for i in range(frames)
    ]
    kwargs = {"save_all": True, "append_images": pictures[1:], "duration": 10, "loop": 0}
    return encode(pictures[0], fmt, **kwargs)


def jpeg_with_exif(orientation: int | bytes) -> bytes:
    img = Image.new("RGB", (64, 32), (200, 30, 30))
    if isinstance(orientation, bytes):  # a raw, broken EXIF block
        return encode(img, "JPEG", exif=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes())


def strips() -> list[Case]:
    return [
        Case("strip-70000x1.png", encode(Image.new("L", (70000, 1)), "PNG"), "too_small"),
        Case("strip-1x70000.png", encode(Image.new("L", (1, 70000)), "PNG"), "too_small"),
        Case("pixel-1x1.png", encode(Image.new("RGB", (1, 1)), "PNG"), "too_small"),
        Case(
            "strip-2000x40.png", encode(Image.new("L", (2000, 40)), "PNG"), "extreme_aspect_ratio"
        ),
        Case(
            "strip-40x2000.png", encode(Image.new("L", (40, 2000)), "PNG"), "extreme_aspect_ratio"
        ),
        Case(
            "strip-5000x16.webp", encode(Image.new("L", (5000, 16)), "WEBP"), "extreme_aspect_ratio"
        ),
        Case("panorama-2400x200.jpg", encode(Image.new("RGB", (2400, 200)), "JPEG"), "ok"),
        Case("panorama-200x2400.jpg", encode(Image.new("RGB", (200, 2400)), "JPEG"), "ok"),
        Case("min-side-16x16.png", encode(Image.new("RGB", (16, 16)), "PNG"), "ok"),
        Case(
            "side-limit-plus-one.png",
            encode(Image.new("1", (TEST_MAX_SIDE + 1, 400)), "PNG"),
            "too_wide",
        ),
        Case("side-limit.png", encode(Image.new("1", (TEST_MAX_SIDE, 400)), "PNG"), "ok"),
    ]


def canvases() -> list[Case]:
    big = Image.new("L", (2500, 2500))  # 6.25 MP against a 4 MP limit
    return [
        Case("canvas.png", encode(big, "PNG"), "too_many_pixels"),
        Case("canvas.webp", encode(big, "WEBP", lossless=True), "too_many_pixels"),
        Case("canvas.tif", encode(big, "TIFF", compression="tiff_deflate"), "too_many_pixels"),
        Case("canvas.gif", encode(big, "GIF"), "too_many_pixels"),
        Case("bomb-60000-square.png", png_header_only(60_000, 60_000), "too_many_pixels"),
        Case("bomb-65535x16.png", png_header_only(65_535, 16), "too_wide"),
    ]


def frames() -> list[Case]:
    return [
        Case("frames-500.gif", animation("GIF", 500), "too_many_frames"),
        Case("frames-500.png", animation("PNG", 500), "too_many_frames"),
        Case("frames-500.webp", animation("WEBP", 500), "too_many_frames"),
        Case("frames-20.gif", animation("GIF", 20), "ok"),
        Case("frames-20.png", animation("PNG", 20), "ok"),
    ]


def modes() -> list[Case]:
    grey16 = Image.fromarray(np.full((48, 48), 32768, dtype=np.uint16))
    alpha = Image.new("RGBA", (48, 48), (0, 0, 255, 0))
    return [
        Case("palette.png", encode(Image.new("P", (48, 48), 7), "PNG"), "ok"),
        Case("cmyk.jpg", encode(Image.new("CMYK", (48, 48), (0, 255, 255, 0)), "JPEG"), "ok"),
        Case("grey16.png", encode(grey16, "PNG"), "ok"),
        Case("alpha.png", encode(alpha, "PNG"), "ok"),
        Case("la.png", encode(Image.new("LA", (48, 48), (10, 128)), "PNG"), "ok"),
        Case("bilevel.tif", encode(Image.new("1", (48, 48), 1), "TIFF"), "ok"),
        Case("exif-orientation-9.jpg", jpeg_with_exif(9), "ok"),
        Case("exif-garbage.jpg", jpeg_with_exif(b"Exif\x00\x00II*\x00\xff\xff\xff\xff"), "ok"),
        Case("exif-rotated-6.jpg", jpeg_with_exif(6), "ok"),
    ]


def broken() -> list[Case]:
    whole = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    png = encode(Image.effect_noise((256, 256), 64), "PNG")
    return [
        Case("truncated.jpg", whole[: len(whole) // 2], "corrupt"),
        Case("truncated.png", png[: len(png) // 2], "corrupt"),
        Case("empty.png", b"", "empty"),
        Case("not-an-image.png", b"hello, world\n" * 10, "unsupported_format"),
    ]


def corpus() -> list[Case]:
    return [*strips(), *canvases(), *frames(), *modes(), *broken()]


def hostile() -> list[Case]:
    return [c for c in corpus() if c.expect != "ok"]


def accepted() -> list[Case]:
    return [c for c in corpus() if c.expect == "ok"]


def real_size_cases(*, heavy: bool = True) -> list[tuple[str, bytes]]:
    """(description, bytes) at the sizes that hurt under the product's default limits.

    heavy=False leaves out the canvases that take seconds and hundreds of MB to build.
    """
    light: list[tuple[str, Callable[[], bytes]]] = [
        ("70000x1 PNG strip", lambda: encode(Image.new("L", (70000, 1)), "PNG")),
        ("1x70000 PNG strip", lambda: encode(Image.new("L", (1, 70000)), "PNG")),
        ("10000x1 PNG strip", lambda: encode(Image.new("L", (10000, 1)), "PNG")),
        ("1x1 PNG", lambda: encode(Image.new("L", (1, 1)), "PNG")),
        ("10000x16 WebP strip (625:1)", lambda: encode(Image.new("L", (10000, 16)), "WEBP")),
        ("30001x1600 PNG (side limit + 1)", lambda: encode(Image.new("1", (30001, 1600)), "PNG")),
        ("60000x60000 PNG header (bomb)", lambda: png_header_only(60_000, 60_000)),
        ("5000-frame GIF", lambda: animation("GIF", 5000)),
        ("2000-frame APNG", lambda: animation("PNG", 2000)),
        (
            "8900x8900 black PNG (79 MP, the largest legal canvas)",
            lambda: encode(Image.new("RGB", (8900, 8900)), "PNG"),
        ),
        (
            "12000x1000 JPEG panorama (12:1)",
            lambda: encode(Image.new("RGB", (12000, 1000)), "JPEG"),
        ),
        (
            "JPEG with a broken EXIF block",
            lambda: jpeg_with_exif(b"Exif\x00\x00II*\x00\xff\xff\xff\xff"),
        ),
    ]
    heavy_cases: list[tuple[str, Callable[[], bytes]]] = [
        (
            "16383x16383 WebP lossless canvas",
            lambda: encode(Image.new("L", (16383, 16383)), "WEBP", lossless=True),
        ),
        (
            "12000x12000 TIFF deflate canvas",
            lambda: encode(Image.new("L", (12000, 12000)), "TIFF", compression="tiff_deflate"),
        ),
        ("10000x10000 GIF canvas", lambda: encode(Image.new("L", (10000, 10000)), "GIF")),
        (
            "4000x3000 JPEG photo-sized",
            lambda: encode(Image.effect_noise((4000, 3000), 40).convert("RGB"), "JPEG"),
        ),
        ("16-bit greyscale PNG", lambda: encode(Image.new("I;16", (2000, 2000), 30000), "PNG")),
        ("CMYK JPEG", lambda: encode(Image.new("CMYK", (2000, 2000), (0, 200, 200, 0)), "JPEG")),
    ]
    chosen = light + (heavy_cases if heavy else [])
    return [(name, make()) for name, make in chosen]
