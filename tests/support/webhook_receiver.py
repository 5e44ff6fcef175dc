"""A real HTTP server that receives webhooks for tests: it records every request and answers as scripted.

`WebhookReceiver().start()` listens on a free port; `url(path)` is a target to give a budget.
`script(path, [500, "hang", 200])` makes the first requests to that path answer 500, then not
answer at all (until the client gives up), then 200; requests beyond the script get 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-spendpilot-signature", ""), expected)


class WebhookReceiver:
    def __init__(self, hang_s: float = 3.0):
        self.hang_s = hang_s
        self.received: list[Received] = []
        self._scripts: dict[str, list[int | str]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    script = receiver._scripts.get(self.path, [])
                    answer = script.pop(0) if script else 200
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, answer, time.monotonic()))
                if answer == "hang":
                    time.sleep(receiver.hang_s)
                    answer = 200
                self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def script(self, path: str, answers: list[int | str]) -> None:
        with self._lock:
            self._scripts[path] = list(answers)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]
