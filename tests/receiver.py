"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread that keeps every
POST it gets, and answers with the statuses a test lines up (200 once they run out)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Post:
    path: str
    body: Any  # the JSON it carried
    status: int  # what the receiver answered


class Receiver:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.statuses: deque[int] = deque()  # answers to give, in order, before 200s
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._lock:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    receiver.posts.append(Post(self.path, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def received(self, path: str | None = None) -> list[Any]:
        """The bodies of the POSTs answered 2xx (at `path`), in order."""
        with self._lock:
            return [p.body for p in self.posts if 200 <= p.status < 300 and path in (None, p.path)]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
