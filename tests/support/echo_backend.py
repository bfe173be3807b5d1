"""A tiny upstream that answers every request with JSON describing the request it received.

Put it behind a proxy to see exactly what the proxy passed upstream: method, path (with query),
headers and body length. It also keeps each `Echo` it served, so a test can inspect requests
whose answer it never sees, such as the auth subrequest a proxy sends to a stand-in for authsvc.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.processes import LOOPBACK

# NOTE: http.server refuses more than 100 headers (431); an app behind a proxy may get more, and
# tests send more to show they never reach authsvc. Process-wide, but only test servers read it.
http.client._MAXHEADERS = 1000  # type: ignore[attr-defined]  # private, no public setting


@dataclass(frozen=True, slots=True)
class Echo:
    """One request as the backend saw it.

    Header names are lower-cased; a header sent more than once has its values joined with ", ",
    so a duplicate shows up instead of hiding behind the last copy.
    """

    method: str
    path: str
    headers: dict[str, str]
    body_length: int


class EchoBackend:
    """A `ThreadingHTTPServer` on a daemon thread; use as a context manager or start()/stop()."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self._server = _EchoServer((host, port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="echo-backend", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def received(self) -> list[Echo]:
        """A snapshot of every request served so far, oldest first."""
        with self._server.lock:
            return list(self._server.received)

    def start(self) -> EchoBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> EchoBackend:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _EchoHandler)
        self.lock = threading.Lock()
        self.received: list[Echo] = []  # guarded by lock


class _EchoHandler(BaseHTTPRequestHandler):
    # NOTE: HTTP/1.1 lets proxies keep their upstream connections alive, as in production.
    protocol_version = "HTTP/1.1"
    server: _EchoServer
    # NOTE: headers and body go out in separate writes; with Nagle's algorithm on, a kept-alive
    # client's delayed ACK stalls every answer by ~40 ms.
    disable_nagle_algorithm = True

    def _echo(self) -> None:
        echo = Echo(
            method=self.command,
            path=self.path,
            headers=_headers(self),
            body_length=len(self._read_body()),
        )
        with self.server.lock:
            self.server.received.append(echo)
        body = json.dumps(asdict(echo)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _echo

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; tests read `received` instead."""


def _headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in handler.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
