"""A real redis-server on loopback for the tests (Debian package redis-server)."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from tests.support import processes
from tests.support.stack import LOOPBACK, MissingBinary


def _pings(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """redis-server without persistence on a free port; yields its redis:// URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise MissingBinary("redis-server", "scripts/bootstrap installs it from Debian's packages")
    workdir.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir)]
    process = processes.start("redis-server", argv, log_path=workdir / "redis.log")
    try:
        processes.wait_until(process, f"redis on port {port} to answer PING", lambda: _pings(port))
        yield f"redis://{LOOPBACK}:{port}/0"
    finally:
        processes.stop(process)
