"""A local HTTP server that speaks enough of the Hugging Face hub's file protocol for HF_ENDPOINT.

What huggingface_hub's downloads rely on (file_download.py): a HEAD (then GET) of
/{repo_id}/resolve/{revision}/{filename} answering X-Repo-Commit, an ETag (or
X-Linked-Etag for LFS files: the SHA-256 of the content; small files: the git
blob id), X-Linked-Size / Content-Length; Range requests answered 206 with
Content-Range; a missing file is 404 with X-Error-Code: EntryNotFound, a missing
repository 404 with X-Error-Code: RepoNotFound.

Faults a test can ask for: cut the body of the next GETs of a file after some
bytes (`cut_after`), serve other bytes than the checksum says (`corrupt`).
Every request is recorded (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubRepo:
    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)  # names served as LFS (SHA-256 ETag)


@dataclass
class HubState:
    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    cut_after: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (bytes, times)
    corrupt: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def etag(self, repo: HubRepo, name: str) -> str:
        data = repo.files[name]
        if name in repo.lfs:
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        state = self.state
        with state.lock:
            state.requests.append((self.command, self.path, self.headers.get("Range")))
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/"):
            self._send(200, b"[]", {"Content-Type": "application/json"}, body)
            return
        if "/resolve/" not in path:
            self._send(404, b"not found", {"X-Error-Code": "RepoNotFound"}, body)
            return
        repo_id, rest = path.lstrip("/").split("/resolve/", 1)
        _revision, _, name = rest.partition("/")
        repo = state.repos.get(repo_id)
        if repo is None:
            self._send(404, b"no repo", {"X-Error-Code": "RepoNotFound"}, body)
            return
        if name not in repo.files:
            self._send(
                404, b"no entry", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, body
            )
            return
        data = repo.files[name]
        etag = state.etag(repo, name)
        if name in state.corrupt:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        headers = {
            "X-Repo-Commit": COMMIT,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if name in repo.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        start = 0
        status = 200
        requested = self.headers.get("Range")
        if requested and requested.startswith("bytes="):
            start = int(requested.removeprefix("bytes=").split("-", 1)[0])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        payload = data[start:]
        cut = None
        if body:
            with state.lock:
                rule = state.cut_after.get(name)
                if rule and rule[1] > 0:
                    cut = rule[0]
                    state.cut_after[name] = (rule[0], rule[1] - 1)
        self._send(status, payload, headers, body, cut=cut)

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str],
        body: bool,
        *,
        cut: int | None = None,
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not body:
            return
        if cut is not None:  # announce everything, send part, hang up
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


@contextmanager
def hub_server(state: HubState) -> Iterator[str]:
    """Serve `state` on a free local port; yields the endpoint URL (for HF_ENDPOINT)."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
