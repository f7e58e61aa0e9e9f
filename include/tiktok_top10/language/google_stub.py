"""A loopback stand-in for Google Cloud Translation v2 ``detect`` (and the OAuth token endpoint).

Google is unreachable from these machines, so tests and the benchmark talk to this server with the real
``google-cloud-translate`` client.  It records every request, answers from a script of canned failures first
(429, 5xx, malformed bodies), then with detections from ``answer`` (by default: Hangul → ko, else lingua).
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DETECT_PATH = "/language/translate/v2/detect"
TOKEN_PATH = "/token"


@dataclass
class StubResponse:
    status: int = 200
    body: bytes | dict | None = None
    headers: dict = field(default_factory=dict)


def script_answer(texts: list[str]) -> list[list[dict]]:
    """Detections without a model: Hangul → ko, anything else → en (what a test needs to tell them apart)."""
    from .text import profile

    return [
        [{"language": "ko" if profile(t).any_hangul else "en", "confidence": 0.9, "isReliable": False}] for t in texts
    ]


def lingua_answer(texts: list[str]) -> list[list[dict]]:
    from .detectors import LinguaDetector

    found = LinguaDetector().detect(texts)
    return [[{"language": d.language or "und", "confidence": d.confidence or 0.0, "isReliable": False}] for d in found]


class GoogleTranslateStub:
    def __init__(self, answer: Callable[[list[str]], list[list[dict]]] = script_answer):
        self.answer = answer
        self.requests: list[dict] = []
        self.script: list[StubResponse] = []
        self.token_requests = 0
        self.token_script: list[StubResponse] = []  # canned token-endpoint answers, before the default token
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                if path == TOKEN_PATH:
                    with stub._lock:
                        stub.token_requests += 1
                        canned = stub.token_script.pop(0) if stub.token_script else None
                    return self._send(canned or StubResponse(200, {"access_token": "stub-token", "expires_in": 3600,
                                                                   "token_type": "Bearer"}))
                if path != DETECT_PATH:
                    return self._send(StubResponse(404, {"error": {"code": 404, "message": f"no route {path}"}}))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = None
                with stub._lock:
                    stub.requests.append({"path": path, "body": body, "headers": dict(self.headers)})
                    canned = stub.script.pop(0) if stub.script else None
                if canned is not None:
                    return self._send(canned)
                texts = body.get("q") if isinstance(body, dict) else None
                if isinstance(texts, str):
                    texts = [texts]
                if not isinstance(texts, list):
                    return self._send(StubResponse(400, {"error": {"code": 400, "message": "q missing"}}))
                if len(texts) > 128:
                    return self._send(StubResponse(400, {"error": {"code": 400, "message": "Too many text segments"}}))
                self._send(StubResponse(200, {"data": {"detections": stub.answer(texts)}}))

            def _send(self, response: StubResponse):
                body = response.body
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                body = body or b""
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GoogleTranslateStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *responses: StubResponse) -> None:
        with self._lock:
            self.script.extend(responses)

    def refuse_next_token(self, *responses: StubResponse) -> None:
        with self._lock:
            self.token_script.extend(responses)

    def texts_sent(self) -> list[str]:
        return [t for r in self.requests if isinstance(r["body"], dict) for t in r["body"].get("q", [])]


def invalid_grant() -> StubResponse:
    """What Google's token endpoint answers for a key it does not accept (deleted, disabled, wrong signature)."""
    return StubResponse(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})


def auth_error(status: int = 401) -> StubResponse:
    """The API's answer to a token it does not accept (401) or an account without permission (403)."""
    if status == 401:
        message, reason, extra = "Request had invalid authentication credentials.", "authError", "UNAUTHENTICATED"
    else:
        message, reason, extra = "The caller does not have permission", "forbidden", "PERMISSION_DENIED"
    return StubResponse(status, {"error": {"code": status, "message": message, "status": extra,
                                           "errors": [{"message": message, "domain": "global", "reason": reason}]}})


def quota_error(status: int = 429, reason: str = "rateLimitExceeded", retry_after: str | None = None) -> StubResponse:
    """A Google-shaped error body, as the v2 API sends for quota and server errors."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    message = "User Rate Limit Exceeded" if status in (403, 429) else "Backend Error"
    return StubResponse(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
            }
        },
        headers,
    )
