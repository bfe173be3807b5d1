"""A misbehaving Redis for tests: answers every GET with a chosen raw reply (any RESP bytes),
optionally one byte at a time, and every other command +OK. Real TCP on loopback."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from tests.support.processes import LOOPBACK


class RespServer:
    def __init__(self, get_reply: bytes, *, trickle_s: float = 0.0) -> None:
        self._get_reply = get_reply
        self._trickle_s = trickle_s
        self._listener = socket.create_server((LOOPBACK, 0))
        self._stopped = threading.Event()
        self.url = f"redis://{LOOPBACK}:{self._listener.getsockname()[1]}/0"

    def __enter__(self) -> RespServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            while not self._stopped.is_set():
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for command in data.split(b"*")[1:]:
                    reply = self._get_reply if b"GET" in command.upper() else b"+OK\r\n"
                    if not self._send(connection, reply):
                        return

    def _send(self, connection: socket.socket, reply: bytes) -> bool:
        try:
            if not self._trickle_s:
                connection.sendall(reply)
                return True
            for byte in reply:
                if self._stopped.wait(self._trickle_s):
                    return False
                connection.sendall(bytes([byte]))
        except OSError:
            return False
        return True
