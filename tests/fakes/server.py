"""The socket layer: a ThreadingHTTPServer on loopback whose handler feeds FakeApp.

Handler threads are daemons and the server does not wait for them on close; `stop()` also shuts
down every open connection, so idle keep-alive sockets and hung requests cannot keep a test
alive.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict

from tests.fakes.app import FakeApp, Incoming
from tests.fakes.wire import Reply

MAX_BODY_BYTES = 1 << 20  # --graphql-max-body-bytes default: 1 MiB
IDLE_TIMEOUT_S = 30.0


class FakeHTTPServer(ThreadingHTTPServer):
    """Tracks its connections so they can be closed from outside their threads."""

    # NOTE: socketserver's default backlog of 5 overflows when authsvc's workers start
    # together; Authorizer (Go) listens with the kernel's maximum.
    request_queue_size = 1024

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: FakeApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # NOTE: HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds in sandboxes; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket, *, is_open: bool) -> None:
        with self._connections_lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (timeouts, refused keep-alives) are normal here."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]  # typeshed wants the socket type


class _Handler(BaseHTTPRequestHandler):
    server: FakeHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    # NOTE: headers and body go out in separate writes; with Nagle's algorithm on, a kept-alive
    # client's delayed ACK stalls every answer by ~40 ms.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        """The Server header names the double, so a captured response never passes for real."""
        return "fake-authorizer (TEST DOUBLE)"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, is_open=True)

    def finish(self) -> None:
        self.server.track(self.connection, is_open=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines could carry credentials in query strings."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        try:
            body, is_too_large = self._read_body()
        except ValueError:
            self.send_error(400, "Bad Request", "invalid Content-Length or chunk size")
            return
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name in self.headers:
            if name not in headers:
                headers[name] = self.headers.get(name, "")
        cookie_lines = self.headers.get_all("Cookie") or []
        if cookie_lines:
            headers["Cookie"] = "; ".join(cookie_lines)
        target = self.path
        request = Incoming(
            method=self.command,
            path=target.split("?", 1)[0],
            target=target,
            headers=headers,
            body=body,
            peer=str(self.client_address[0]),
            is_body_too_large=is_too_large,
        )
        try:
            reply = self.server.app.handle(request)
        except Exception:  # a bug in the fake must not look like a network fault
            traceback.print_exc()
            reply = Reply(500, b"fake-authorizer: internal error (see stderr)", "text/plain")
        if reply.drop:
            self.close_connection = True
            return
        if reply.trickle_s > 0:
            self._trickle(reply)
            return
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if is_too_large:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _trickle(self, reply: Reply) -> None:
        """Write the whole answer a byte at a time (a server that never stalls long enough
        for a read timeout), then close; stops when the client hangs up."""
        head = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
        if reply.content_type is not None:
            head.append(f"Content-Type: {reply.content_type}")
        head += [f"{name}: {value}" for name, value in reply.headers]
        head += [f"Content-Length: {len(reply.body)}", "Connection: close", "", ""]
        self.close_connection = True
        for byte in "\r\n".join(head).encode("latin-1") + reply.body:
            time.sleep(reply.trickle_s)  # the fault itself: a slow sender
            try:
                self.wfile.write(bytes((byte,)))
                self.wfile.flush()
            except OSError:
                return

    def _read_body(self) -> tuple[bytes, bool]:
        """Content-Length or chunked; more than MAX_BODY_BYTES is not read at all."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self) -> tuple[bytes, bool]:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return bytes(body), False
            if len(body) + size > MAX_BODY_BYTES:
                return b"", True
            body += self.rfile.read(size)
            self.rfile.readline()
