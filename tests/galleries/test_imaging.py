"""Validation of uploaded bytes: only whole, decodable images within the limits pass."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from galleries.imaging import (
    ImageLimits,
    ImageRejected,
    decode_rgb,
    make_thumbnail,
    validate_image,
)
from tests.factories import jpeg_bytes, png_bytes

LIMITS = ImageLimits(
    max_bytes=2_000_000, max_pixels=4_000_000, allowed_formats=("JPEG", "PNG", "WEBP", "GIF")
)


def rejected_code(data: bytes, limits: ImageLimits = LIMITS) -> str:
    with pytest.raises(ImageRejected) as info:
        validate_image(data, limits)
    assert info.value.message  # every rejection explains itself
    return info.value.code


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no data: a bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_valid_png_and_jpeg_are_accepted_with_their_facts():
    png = validate_image(png_bytes(size=(64, 48)), LIMITS)
    jpeg = validate_image(jpeg_bytes(size=(30, 20)), LIMITS)
    assert (png.format, png.width, png.height, png.mime_type) == ("PNG", 64, 48, "image/png")
    assert (jpeg.format, jpeg.width, jpeg.height, jpeg.extension) == ("JPEG", 30, 20, "jpg")
    assert len(png.sha256) == 64 and png.sha256 != jpeg.sha256


def test_zero_byte_file_is_rejected():
    assert rejected_code(b"") == "empty"


def test_text_file_is_not_an_image():
    assert rejected_code(b"hello, this is not a picture\n" * 10) == "unsupported_format"


def test_format_outside_the_allow_list_is_rejected():
    bmp = png_bytes(fmt="BMP")
    assert validate_image(bmp, ImageLimits(10**6, 10**6, ("BMP",))).format == "BMP"
    assert rejected_code(bmp) == "unsupported_format"


def test_truncated_jpeg_is_rejected():
    data = jpeg_bytes(size=(256, 256))
    assert rejected_code(data[: len(data) // 2]) == "corrupt"


def test_corrupted_png_data_is_rejected():
    data = bytearray(png_bytes(size=(128, 128), color=(10, 200, 30)))
    data[60:90] = b"\x00" * 30  # inside the IDAT stream
    assert rejected_code(bytes(data)) == "corrupt"


def test_decompression_bomb_is_rejected_before_decoding():
    assert rejected_code(png_header_only(60_000, 60_000)) == "too_many_pixels"


def test_pixel_limit_from_settings_applies():
    small = ImageLimits(max_bytes=10**6, max_pixels=400, allowed_formats=("PNG",))
    assert rejected_code(png_bytes(size=(21, 20)), small) == "too_many_pixels"
    assert validate_image(png_bytes(size=(20, 20)), small).width == 20


def test_oversize_file_is_rejected():
    tight = ImageLimits(max_bytes=500, max_pixels=10**6, allowed_formats=("PNG",))
    assert (
        rejected_code(png_bytes(size=(200, 200), color=(1, 2, 3)) + b"\0" * 600, tight)
        == "too_large"
    )


def test_exif_orientation_is_applied_to_reported_size_and_decoding():
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    validated = validate_image(buffer.getvalue(), LIMITS)
    assert (validated.width, validated.height) == (20, 40)
    assert decode_rgb(buffer.getvalue()).size == (20, 40)


def test_thumbnail_is_a_small_jpeg_without_transparency():
    rgba = Image.new("RGBA", (800, 400), (0, 0, 255, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    thumb = Image.open(io.BytesIO(make_thumbnail(buffer.getvalue(), 128)))
    assert thumb.format == "JPEG" and max(thumb.size) == 128 and thumb.mode == "RGB"
    assert thumb.getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=3)  # transparent -> white
