"""A small HTTP client for the stack's REST API (standard library only) and test images.

Every request opens its own connection, so a restarted server is reached at
once, and every outcome is returned, never raised: a refused connection or a
timeout is a `Reply` with status 0 and the error's text.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class Reply:
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    seconds: float
    body: object = None  # parsed JSON, or None
    content_type: str = ""
    error: str = ""

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json") and isinstance(self.body, dict)

    @property
    def detail(self) -> str:
        if self.is_json and isinstance(self.body, dict):
            return str(self.body.get("detail", ""))
        return self.error


@dataclass
class Api:
    host: str
    port: int
    token: str
    timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}", **self.headers}

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> Reply:
        headers = self._auth()
        if content_type:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            kind = response.getheader("Content-Type", "")
            parsed = _json(raw) if kind.startswith("application/json") else None
            return Reply(response.status, time.perf_counter() - started, parsed, kind)
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def upload(self, gallery: str, files: Sequence[tuple[str, bytes]]) -> Reply:
        body, content_type = multipart([("files", name, data) for name, data in files])
        return self.request("POST", f"/api/v1/galleries/{gallery}/images/", body, content_type)

    def search(self, text: str, *, k: int = 10, mode: str | None = "topk") -> Reply:
        query: dict[str, object] = {"text": text, "k": k}
        if mode:
            query["mode"] = mode
        body = json.dumps(query).encode()
        return self.request("POST", "/api/v1/search/", body, "application/json")


def stream_upload(
    api: Api,
    gallery: str,
    name: str,
    data: bytes,
    *,
    send_seconds: float,
    body_sent: threading.Event | None = None,
    chunks: int = 20,
) -> Reply:
    """Upload one file slowly: the body goes out in `chunks` pieces over `send_seconds`;
    `body_sent` is set once the last byte is out (the server's work starts then)."""
    body, content_type = multipart([("files", name, data)])
    head = (
        f"POST /api/v1/galleries/{gallery}/images/ HTTP/1.1\r\n"
        f"Host: {api.host}:{api.port}\r\nAuthorization: Token {api.token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    size = -(-len(body) // chunks)
    try:
        with socket.create_connection((api.host, api.port), timeout=api.timeout) as sock:
            sock.sendall(head)
            for start in range(0, len(body), size):
                sock.sendall(body[start : start + size])
                time.sleep(send_seconds / chunks)
            if body_sent is not None:
                body_sent.set()
            response = http.client.HTTPResponse(sock)
            response.begin()
            raw = response.read()
            kind = response.getheader("Content-Type", "")
            parsed = _json(raw) if kind.startswith("application/json") else None
            return Reply(response.status, time.perf_counter() - started, parsed, kind)
    except (OSError, http.client.HTTPException) as exc:
        return Reply(0, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    finally:
        if body_sent is not None:
            body_sent.set()


def accepted_ids(reply: Reply) -> dict[str, int]:
    """filename -> image id for every file a 201 reply stored or found already stored."""
    if reply.status != 201 or not reply.is_json:
        return {}
    found = {}
    for result in reply.body["results"]:  # type: ignore[index]
        if result["status"] in ("created", "duplicate"):
            image = result["image"]
            found[result["filename"]] = int(image["id"])
    return found


def multipart(parts: Sequence[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for field_name, filename, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        out.write(
            f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ---------------------------------------------------------------- images

# Colours the fake encoder has words for, so text searches find something.
_PALETTE = [
    (220, 30, 30),
    (30, 200, 40),
    (30, 40, 220),
    (230, 220, 30),
    (30, 210, 220),
    (220, 30, 210),
    (235, 235, 235),
    (128, 128, 128),
    (15, 15, 15),
]
COLOUR_WORDS = ["red", "green", "blue", "yellow", "cyan", "magenta", "white", "grey", "black"]


def small_png(seed: int, size: int = 48) -> bytes:
    """A distinct small PNG: a palette colour with seeded noise (so every SHA-256 differs)."""
    rng = np.random.default_rng(seed)
    base = np.array(_PALETTE[seed % len(_PALETTE)], dtype=np.int16)
    noise = rng.integers(-25, 26, size=(size, size, 3), dtype=np.int16)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "PNG")
    return out.getvalue()


def png_batches(
    count: int, per_request: int, *, prefix: str, seed: int = 0
) -> Iterator[list[tuple[str, bytes]]]:
    batch: list[tuple[str, bytes]] = []
    for i in range(count):
        batch.append((f"{prefix}-{i:05d}.png", small_png(seed + i)))
        if len(batch) == per_request:
            yield batch
            batch = []
    if batch:
        yield batch


def large_image(seed: int, width: int = 3000, height: int = 2000) -> bytes:
    """A large valid BMP (width*height*3 bytes): slow enough to validate and store to be
    killed in the middle of, cheap to make."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "BMP")
    return out.getvalue()


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    values = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(values.max()), 1),
    }
