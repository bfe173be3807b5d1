"""DecisionLog: one JSON line per /verify decision, tied to the request id; never a credential.

Fields: time, request_id (the proxy's X-Request-Id when it sends a sane one, else generated),
method, host and path of the original request (from the proxy's X-Forwarded-* / X-Original-*
headers; the query string is left out, as it may carry a token), outcome, reason, user (the
subject), latency_ms and cached (whether the answer came from the decision cache).
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger("authsvc.decisions")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
MAX_FIELD_CHARS = 512

Header = Callable[[str], "str | None"]


class DecisionLog:
    """Writes decision lines to the ``authsvc.decisions`` logger (INFO) when enabled."""

    def __init__(
        self,
        *,
        is_enabled: bool,
        clock: Callable[[], float] = time.time,
        write: Callable[[str], None] | None = None,
    ) -> None:
        """``write`` takes finished lines (``LineBuffer.write`` under gunicorn); without it,
        lines go to the ``authsvc.decisions`` logger."""
        self._is_enabled = is_enabled
        self._clock = clock
        self._write = write
        # Unique across workers and restarts without coordination: a random prefix per process.
        self._prefix = secrets.token_hex(4) + "-"
        self._counter = itertools.count(1)
        self._stamped_at = -1
        self._stamp = ""

    def request_id(self, header: str | None) -> str:
        if header and _SANE_REQUEST_ID.fullmatch(header):
            return header
        return f"{self._prefix}{next(self._counter):x}"

    def record(
        self,
        *,
        request_id: str,
        header: Header,
        outcome: str,
        reason: str,
        user: str,
        latency_s: float,
        is_cached: bool,
    ) -> None:
        if not self._is_enabled or (self._write is None and not log.isEnabledFor(logging.INFO)):
            return
        uri = header("X-Forwarded-Uri") or header("X-Original-URI") or ""
        method = header("X-Forwarded-Method") or header("X-Original-Method")
        host = header("X-Forwarded-Host") or header("Host")
        # Built by hand: this runs for every request, and json.dumps of a dict costs twice as
        # much; every free-text field still goes through _quote, which escapes like JSON.
        line = (
            f'{{"time":"{self._timestamp()}","request_id":{_quote(request_id)},'
            f'"method":{_quote(method)},"host":{_quote(host)},'
            f'"path":{_quote(uri.split("?", 1)[0])},"outcome":"{outcome}","reason":"{reason}",'
            f'"user":{_quote(user)},"latency_ms":{latency_s * 1000:.3f},'
            f'"cached":{"true" if is_cached else "false"}}}'
        )
        if self._write is None:
            log.info("%s", line)
        else:
            self._write(line)

    def _timestamp(self) -> str:
        now = int(self._clock())
        if now != self._stamped_at:
            self._stamped_at = now
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return self._stamp


_PLAIN = re.compile(r"[ !#-\[\]-~]*")
"""Printable ASCII without a quote or a backslash: safe inside a JSON string as it is."""


def _quote(value: str | None) -> str:
    text = (value or "")[:MAX_FIELD_CHARS]
    return f'"{text}"' if _PLAIN.fullmatch(text) else json.dumps(text)


class LineBuffer:
    """Writes decision lines to a stream in batches: 64 lines, or at least every second.

    Neither a system call nor the logging machinery per request on the hot path: lines are
    appended to a list and written together, at most ``FLUSH_EVERY_S`` late (a flusher thread,
    a greenlet under gevent, writes out what a quiet moment leaves behind).
    """

    BATCH = 64
    FLUSH_EVERY_S = 1.0

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            if len(self._lines) < self.BATCH:
                return
            lines, self._lines = self._lines, []
        self._emit(lines)

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            self._emit(lines)

    def _emit(self, lines: list[str]) -> None:
        self._stream.write("\n".join(lines) + "\n")
        self._stream.flush()

    def start_flusher(self) -> None:
        def flush_forever() -> None:
            while True:
                time.sleep(self.FLUSH_EVERY_S)
                self.flush()

        threading.Thread(target=flush_forever, name="decision-log-flush", daemon=True).start()
        atexit.register(self.flush)
