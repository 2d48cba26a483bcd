"""What bench_load.py's simulated users send, and how their answers are recorded.

Standard library HTTP only (tests/reliability/client.py: one connection per
request, every outcome returned, never raised). Every loop here stops at a
deadline and after a bounded number of requests.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tests.reliability.client import Api, Reply, multipart

MAX_REQUESTS_PER_THREAD = 100_000  # a second bound beside the deadline
_ADJECTIVES = ["red", "small", "old", "wooden", "shiny", "striped", "white", "fast", "tiny", "wet"]
_NOUNS = [
    "cat", "dog", "car", "boat", "bird", "guitar", "teapot", "bicycle", "pizza", "lighthouse",
    "mushroom", "volcano", "umbrella", "tractor", "violin", "goldfish", "castle", "balloon",
]  # fmt: skip


class AnonymousApi(Api):
    """The same client without an Authorization header: an anonymous visitor."""

    def _auth(self) -> dict[str, str]:
        return dict(self.headers)


@dataclass
class Sample:
    phase: str
    kind: str
    at: float  # seconds since the run started
    seconds: float
    status: int  # 0: no HTTP answer
    encode_ms: float | None = None  # the server's own figure, searches only
    detail: str = ""  # what an error answer said


@dataclass
class Recorder:
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, kind: str, reply: Reply) -> None:
        encode_ms = None
        if isinstance(reply.body, dict) and "encode_ms" in reply.body:
            encode_ms = float(reply.body["encode_ms"])
        at = time.monotonic() - self.started - reply.seconds
        detail = "" if 200 <= reply.status < 400 else reply.detail[:160]
        sample = Sample(phase, kind, at, reply.seconds, reply.status, encode_ms, detail)
        with self._lock:
            self.samples.append(sample)

    def of(self, phase: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.phase == phase]


# ---------------------------------------------------------------- images


def small_jpeg(seed: int, size: tuple[int, int] = (256, 192)) -> bytes:
    """A distinct small photo-like JPEG (smooth colour gradient plus seeded noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, size=3)
    ramp = np.linspace(0, 1, w)[None, :, None] * rng.integers(-120, 120, size=3)
    noise = rng.integers(-20, 21, size=(h, w, 3))
    pixels = np.clip(base + ramp + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canvas_png(side: int) -> bytes:
    """A black side x side RGB PNG: about 190 KB at 8000, 192 MB once decoded."""
    out = io.BytesIO()
    Image.new("RGB", (side, side)).save(out, "PNG", optimize=False, compress_level=9)
    return out.getvalue()


def png_variant(png: bytes, n: int) -> bytes:
    """The same pixels with a tEXt chunk after IHDR: a new SHA-256, the same decoding work,
    so the duplicate check cannot spare the server the decode."""
    text = b"Comment\x00flood-" + str(n).encode()
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + text) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def query_texts(rng: random.Random) -> str:
    """70%: one of 180 two-word queries, which repeat as popular queries do in a real log;
    30%: a query never seen before (the text model runs)."""
    text = f"a {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    return text if rng.random() < 0.7 else f"{text} near {rng.choice(_NOUNS)} {rng.random():.6f}"


# ---------------------------------------------------------------- requests


def text_search(api: Api, text: str) -> Reply:
    body = json.dumps({"text": text, "k": 24}).encode()
    return api.request("POST", "/api/v1/search/", body, "application/json")


def image_search(api: Api, jpeg: bytes) -> Reply:
    body, content_type = multipart([("image", "example.jpg", jpeg)])
    return api.request("POST", "/api/v1/search/", body, content_type)


def thumbnail(api: Api, image_id: int, etag: str | None) -> Reply:
    extra = {"If-None-Match": etag} if etag else {}
    client = type(api)(api.host, api.port, api.token, api.timeout, {**api.headers, **extra})
    return client.request("GET", f"/api/v1/images/{image_id}/thumbnail/")


@dataclass
class SimulatedUser:
    """A signed-in user: searches by text and by example, browses a gallery page's
    thumbnails (revalidating the ones it has seen, as a browser does on reload) and
    uploads a few photos to its own gallery."""

    number: int
    api: Api
    gallery: str
    thumbnails: list[tuple[int, str]]  # (image id, ETag) of the public gallery
    examples: list[bytes]
    think_s: float
    record: Callable[[str, Reply], None]
    seen: set[int] = field(default_factory=set)

    def run(self, deadline: float) -> None:
        rng = random.Random(self.number)
        for n in range(MAX_REQUESTS_PER_THREAD):
            if time.monotonic() >= deadline:
                return
            roll = rng.random()
            if roll < 0.50:
                self.record("text search", text_search(self.api, query_texts(rng)))
            elif roll < 0.65:
                self.record("image search", image_search(self.api, rng.choice(self.examples)))
            elif roll < 0.90:
                self._browse(rng, deadline)
            else:
                self._upload(rng, n)
            if self.think_s:
                time.sleep(rng.uniform(0.5, 1.5) * self.think_s)

    def _upload(self, rng: random.Random, n: int) -> None:
        """1-3 new photos (seeds unique to this user and request) to the user's gallery."""
        first = 1_000_000 * (self.number + 1) + 8 * n
        count = rng.randint(1, 3)
        files = [(f"u{self.number}-{n}-{i}.jpg", small_jpeg(first + i)) for i in range(count)]
        self.record("upload", self.api.upload(self.gallery, files))

    def _browse(self, rng: random.Random, deadline: float) -> None:
        """One page of 12 thumbnails, fetched one after another."""
        start = rng.randrange(max(1, len(self.thumbnails) - 12))
        for image_id, etag in self.thumbnails[start : start + 12]:
            if time.monotonic() >= deadline:
                return
            known = etag if image_id in self.seen else None
            self.record("thumbnail", thumbnail(self.api, image_id, known))
            self.seen.add(image_id)


def run_threads(targets: list[Callable[[], None]], *, join_s: float) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    limit = time.monotonic() + join_s
    for thread in threads:
        thread.join(timeout=max(0.1, limit - time.monotonic()))
