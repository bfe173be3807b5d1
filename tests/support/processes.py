"""Start a real server as a child process, wait until it answers, and stop it again.

Used by the end-to-end tests and the benchmark for authsvc (gunicorn), nginx and Traefik. Every
wait is bounded and, when it gives up, raises `NotReadyError` carrying the tail of the process's
log, so a failed start explains itself in the test report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
POLL_INTERVAL_S = 0.05
PROBE_TIMEOUT_S = 1.0
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 40

# NOTE: urllib would otherwise honour HTTP_PROXY from the environment, even for loopback.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NotReadyError(RuntimeError):
    """A started process exited, or did not answer before its deadline; the message has its log."""


@dataclass(frozen=True, slots=True)
class Process:
    """A child process started by `start`, and the file its stdout and stderr go to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on `host` a moment ago.

    The port is released before the caller binds it, so another process could take it in
    between; on loopback in a test run that race is rare enough to accept.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Process:
    """Start `argv` with stdout and stderr appended to `log_path`, in a session of its own.

    The new session makes the child a process group leader, so `stop` can reach the workers it
    forks (gunicorn, nginx) even if a wrapper script does not pass signals on.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    return Process(name=name, popen=popen, log_path=log_path)


def wait_for_port(
    process: Process, port: int, *, host: str = LOOPBACK, timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Return once `host:port` accepts TCP connections; raise `NotReadyError` otherwise."""

    def accepts() -> bool:
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                return True
        except OSError:
            return False

    _poll(process, f"{host}:{port} to accept connections", accepts, timeout_s)


def wait_for_http(
    process: Process,
    url: str,
    *,
    is_ready: Callable[[int], bool] = lambda status: status == 200,
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Return once a GET of `url` answers a status `is_ready` accepts (by default 200)."""

    def answers() -> bool:
        status = http_status(url)
        return status is not None and is_ready(status)

    _poll(process, f"GET {url} to answer as expected", answers, timeout_s)


def wait_until(
    process: Process, what: str, probe: Callable[[], bool], *, timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Return once `probe()` is true; raise `NotReadyError` if the process dies or time runs out."""
    _poll(process, what, probe, timeout_s)


def http_status(url: str) -> int | None:
    """The status of a GET of `url`, or None when nothing answers."""
    try:
        with _DIRECT.open(url, timeout=PROBE_TIMEOUT_S) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def stop(
    process: Process,
    *,
    timeout_s: float = STOP_TIMEOUT_S,
    signum: signal.Signals = signal.SIGTERM,
) -> None:
    """Stop the process and its group: `signum`, wait up to `timeout_s`, then SIGKILL.

    Safe to call twice. The group is signalled only while the leader is unreaped, so its PID
    cannot have been reused by an unrelated process.
    """
    if process.popen.poll() is not None:
        return
    _signal_group(process, signum)
    try:
        process.popen.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.popen.wait(timeout=timeout_s)


def _signal_group(process: Process, signum: signal.Signals) -> None:
    # NOTE: the leader may have exited (a zombie still holds its PID) with workers gone too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _poll(process: Process, what: str, probe: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        returncode = process.popen.poll()
        if returncode is not None:
            raise NotReadyError(
                f"{process.name} (pid {process.pid}) exited with {returncode} while waiting for "
                f"{what}; last lines of {process.log_path}:\n{process.log_tail()}"
            )
        if probe():
            return
        if time.monotonic() >= deadline:
            raise NotReadyError(
                f"{process.name} (pid {process.pid}) gave up after {timeout_s:g}s waiting for "
                f"{what}; last lines of {process.log_path}:\n{process.log_tail()}"
            )
        time.sleep(POLL_INTERVAL_S)
