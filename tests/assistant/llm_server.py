"""A real HTTP server speaking the OpenAI chat-completions contract, on 127.0.0.1, in a thread.

`mode` picks the behaviour: ok (a completion whose content is `reply`), slow (the
same, after `delay` seconds), error (HTTP 500), malformed (a 200 whose body is not
JSON). Every request body received is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = "a photo\nanother photo\nNOT: blur"
        self.delay = 0.0
        self.requests: list[dict] = []
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:  # http.server's method name
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append(body)
                owner.paths.append(self.path)
                owner.respond(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompts(self) -> list[str]:
        return [m["content"] for r in self.requests for m in r.get("messages", [])]

    def respond(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "error":
            self._send(handler, 500, b'{"error": {"message": "boom"}}')
            return
        if self.mode == "malformed":
            self._send(handler, 200, b"{not json at all")
            return
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }
        self._send(handler, 200, json.dumps(completion).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
