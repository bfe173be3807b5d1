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
import os
import re
import secrets
import select
import threading
import time
from collections.abc import Callable, Mapping

from authsvc import periodic

log = logging.getLogger("authsvc.decisions")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
MAX_FIELD_CHARS = 512
MAX_LINE_BYTES = 4000
"""Under PIPE_BUF (4,096 on Linux): one line is one atomic write, even to a shared pipe."""


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
        environ: Mapping[str, str],
        outcome: str,
        reason: str,
        user: str,
        latency_s: float,
        is_cached: bool,
    ) -> None:
        """``environ`` is the WSGI environ of the /verify request (its headers, read directly)."""
        if not self._is_enabled or (self._write is None and not log.isEnabledFor(logging.INFO)):
            return
        get = environ.get
        # Without the proxy's headers (Envoy appends the original path to /verify instead),
        # the request to /verify itself is what there is to describe.
        uri = get("HTTP_X_FORWARDED_URI") or get("HTTP_X_ORIGINAL_URI") or get("PATH_INFO", "")
        method = (
            get("HTTP_X_FORWARDED_METHOD")
            or get("HTTP_X_ORIGINAL_METHOD")
            or get("REQUEST_METHOD", "")
        )
        host = get("HTTP_X_FORWARDED_HOST") or get("HTTP_HOST") or ""
        # The query and a fragment (never sent by browsers, but a header is anyone's) may
        # carry a credential: only the path is logged.
        path = _QUERY_OR_FRAGMENT.split(uri, 1)[0]
        # Built by hand: this runs for every request, and json.dumps of a dict costs several
        # times as much. One check covers every free-text field: when they are all short,
        # printable ASCII without a quote or a backslash, they are valid JSON strings as they are.
        text = request_id + method + host + path + user
        if len(text) <= MAX_FIELD_CHARS and _PLAIN.fullmatch(text):
            line = (
                f'{{"time":"{self._timestamp()}","request_id":"{request_id}",'
                f'"method":"{method}","host":"{host}","path":"{path}","outcome":"{outcome}",'
                f'"reason":"{reason}","user":"{user}","latency_ms":{latency_s * 1000:.3f},'
                f'"cached":{"true" if is_cached else "false"}}}'
            )
        else:
            line = self._escaped_line(
                request_id, method, host, path, outcome, reason, user, latency_s, is_cached
            )
        if self._write is None:
            log.info("%s", line)
        else:
            self._write(line)

    def _escaped_line(
        self,
        request_id: str,
        method: str,
        host: str,
        path: str,
        outcome: str,
        reason: str,
        user: str,
        latency_s: float,
        is_cached: bool,
    ) -> str:
        """The line for odd values: JSON-escaped, header bytes read as the UTF-8 they are, and
        fields cut so that the whole line stays within MAX_LINE_BYTES."""
        # An astral character escapes to 12 bytes: cut harder until the line fits.
        for limit in (MAX_FIELD_CHARS, 128, 32, 0):
            line = json.dumps(
                {
                    "time": self._timestamp(),
                    "request_id": request_id,
                    "method": _from_header(method)[:limit],
                    "host": _from_header(host)[:limit],
                    "path": _from_header(path)[:limit],
                    "outcome": outcome,
                    "reason": reason,
                    "user": user[:limit],
                    "latency_ms": round(latency_s * 1000, 3),
                    "cached": is_cached,
                },
                separators=(",", ":"),
            )
            if len(line) <= MAX_LINE_BYTES:  # all ASCII (json.dumps escapes the rest)
                break
        return line

    def _timestamp(self) -> str:
        """UTC, to the millisecond; the part up to the second is formatted once per second."""
        now = self._clock()
        second = int(now)
        if second != self._stamped_at:
            self._stamped_at = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"


_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
"""Printable ASCII without a quote or a backslash: safe inside a JSON string as it is."""


def _from_header(value: str) -> str:
    """WSGI hands header bytes over as latin-1 text; proxies send UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not from a header after all
        return value


class LineBuffer:
    """Writes decision lines to a file descriptor in batches: 64 lines, or at least every second.

    Neither a system call nor the logging machinery per request on the hot path: lines are
    appended to a list and written together, at most ``FLUSH_EVERY_S`` late (a flusher thread,
    a greenlet under gevent, writes out what a quiet moment leaves behind).

    Each ``os.write`` holds whole lines and at most ``PIPE_BUF`` bytes: stderr is often a pipe
    shared by every worker (Docker, systemd), and only writes that small are atomic there, so
    the lines of different workers never interleave mid-line.
    """

    BATCH = 64
    FLUSH_EVERY_S = 1.0

    def __init__(self, fd: int, *, write: Callable[[int, bytes], int] = os.write) -> None:
        self._fd = fd
        self._os_write = write
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
        for chunk in pipe_sized_chunks(lines):
            while chunk:
                chunk = chunk[self._os_write(self._fd, chunk) :]

    def start_flusher(self) -> None:
        periodic.every(self.FLUSH_EVERY_S, self.flush, "decision-log-flush")
        atexit.register(self.flush)


def pipe_sized_chunks(lines: list[str]) -> list[bytes]:
    """``lines``, newline-terminated, grouped into as few pieces of at most PIPE_BUF bytes as
    whole lines allow (a longer line, which the decision log never makes, goes alone)."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8", "backslashreplace") + b"\n"
        if current and size + len(data) > select.PIPE_BUF:
            chunks.append(b"".join(current))
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        chunks.append(b"".join(current))
    return chunks
