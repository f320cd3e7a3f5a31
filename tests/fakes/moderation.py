"""A fake OpenAI-compatible moderation endpoint: `POST /v1/moderations` flags any input that
contains one of its words (category `harassment`), on a free 127.0.0.1 port in a thread.

It keeps every input it judged, so a test can check the view was judged in chunks (never a
request per token) and what the classifier saw.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeModeration:
    def __init__(self, words: tuple[str, ...] = ()) -> None:
        self.words = words
        self.inputs: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeModeration:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def judge(self, text: str, headers: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.inputs.append(text)
            self.headers.append(headers)
        flagged = any(w.lower() in text.lower() for w in self.words)
        return {
            "id": f"modr-{len(self.inputs)}",
            "model": "fake-moderation",
            "results": [{
                "flagged": flagged,
                "categories": {"harassment": flagged, "violence": False},
                "category_scores": {"harassment": 0.99 if flagged else 0.01, "violence": 0.0},
            }],
        }  # fmt: skip


def _handler(fake: FakeModeration) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the adapter reuses its connection

        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/moderations" or not isinstance(body.get("input"), str):
                self._answer(400, {"error": {"message": "bad request"}})
                return
            self._answer(200, fake.judge(body["input"], dict(self.headers.items())))

        def _answer(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: test output stays readable

    return Handler
