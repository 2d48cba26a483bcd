"""Counting an image's frames without decoding them (Pillow only, no Django).

Pillow's `n_frames` is cheap for PNG (the APNG header states it) and WebP,
but for GIF it decodes every frame, and for TIFF it walks every directory:
a small file can hold a million frames. Here GIF blocks are skipped by their
length bytes and TIFF directories are walked only up to the limit.
"""

from __future__ import annotations

import contextlib

from PIL import Image


def count_frames(img: Image.Image, data: bytes, limit: int) -> int:
    """Frames in the file, counted up to `limit` (the answer is min(frames, limit))."""
    if img.format == "GIF":
        return gif_frames(data, limit)
    if img.format == "TIFF":
        return _tiff_frames(img, limit)
    return min(int(getattr(img, "n_frames", 1) or 1), limit)


def gif_frames(data: bytes, limit: int) -> int:
    """Image descriptors in a GIF, found by its block structure; a broken stream ends the count."""
    if len(data) < 13 or data[:3] != b"GIF":
        return 1
    pos = 13 + _colour_table_size(data[10])
    frames = 0
    while pos < len(data) and frames < limit:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor: 9 bytes, local colour table, LZW size, data
            if pos + 10 > len(data):
                break
            frames += 1
            pos += 10 + _colour_table_size(data[pos + 9])
            pos = _skip_sub_blocks(data, pos + 1)
        else:
            break
    return max(frames, 1)


def _colour_table_size(packed: int) -> int:
    return 3 * (2 ** ((packed & 0x07) + 1)) if packed & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _tiff_frames(img: Image.Image, limit: int) -> int:
    frames = 1
    try:
        while frames < limit:
            img.seek(frames)
            frames += 1
    except (EOFError, OSError, ValueError, SyntaxError):
        pass  # the end of the chain, or a broken directory: decoding frame 0 decides
    with contextlib.suppress(EOFError, OSError, ValueError, SyntaxError):
        img.seek(0)
    return frames
