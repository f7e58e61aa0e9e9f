"""A loopback webhook receiver for the alert tests: an HTTP server on 127.0.0.1 (free port) that records every
POST (path, headers, JSON body) and answers each with the next status in ``answers`` (200 once it is empty),
so a test can make the first delivery fail with a 500."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.received.append(Received(self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def apprise_url(self) -> str:
        """Apprise's plain JSON webhook (``json://`` posts over http) pointing here."""
        return f"json://127.0.0.1:{self.port}/alerts"

    def messages(self) -> list[dict]:
        """The JSON bodies Apprise posted (``title``, ``message``, ``type``, ...)."""
        with self._lock:
            return [r.json() for r in self.received]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.answers.clear()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
