"""scripts/demo, run as a user runs it: it comes up, its self-check passes, a printed command works
when pasted into a shell, and Ctrl-C stops everything it started with exit status 0."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import stack_outcomes
from tests.support.demo import READY
from tests.support.stack import LOOPBACK, REPO, require_binary

pytestmark = pytest.mark.e2e

DEMO = REPO / "scripts" / "demo"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 15.0
VERDICT = re.compile(r"^\s+(OK|FAIL)\s+(\d+)\. ")
STEP = re.compile(r"^# (\d+)\. ")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


class Demo:
    """scripts/demo as a child process, its output collected line by line by a reader thread."""

    def __init__(self, cwd: Path) -> None:
        self.popen = subprocess.Popen(
            [DEMO, "--no-install"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="demo-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        """The first line starting with `prefix`; fails once output ends or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {prefix!r} line within {timeout_s:g}s:\n" + self.output)
            if line is None:
                pytest.fail(f"the demo ended before {prefix!r}:\n" + self.output)
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit status once the rest of the output is in."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        status = self.popen.wait(timeout=STOP_TIMEOUT_S)
        self._reader.join(timeout=STOP_TIMEOUT_S)
        while not self._queue.empty() and (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return status

    def close(self) -> None:
        """Stop the demo if a test did not (SIGKILL, by PID, if Ctrl-C is not enough)."""
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(timeout=STOP_TIMEOUT_S)
        assert self.popen.stdout is not None
        self.popen.stdout.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo started from an unrelated directory, stopped (by its PID) whatever happens."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the demo needs it, and so does this test")
    with stack_outcomes():
        require_binary("nginx")
    running = Demo(cwd=tmp_path)
    try:
        yield running
    finally:
        running.close()


def commands(lines: list[str]) -> dict[int, str]:
    """The printed commands by step number: each is a `# N. ...` line, then shell text."""
    found: dict[int, str] = {}
    number = None
    for line in lines:
        if match := STEP.match(line):
            number = int(match[1])
            found[number] = ""
        elif number is not None and line.strip():
            found[number] += line + "\n"
        else:
            number = None
    return found


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


def test_demo_checks_its_commands_serves_them_and_stops_cleanly_on_ctrl_c(demo: Demo) -> None:
    ready = demo.wait_for_line(READY, READY_TIMEOUT_S)
    ports = [int(port) for port in re.findall(rf"http://{re.escape(LOOPBACK)}:(\d+)", ready)]
    verdicts = [match[1] for line in demo.lines if (match := VERDICT.match(line))]
    printed = commands(demo.lines)

    assert len(ports) == 4, ready
    assert verdicts, demo.output
    assert verdicts == ["OK"] * len(printed), demo.output
    assert "TEST DOUBLE" in demo.output
    assert JWT.search(demo.output) is None, "the demo printed a token"

    # Step 1 logs alice in; step 3 calls the protected page with her token.
    pasted = subprocess.run(
        ["sh", "-c", printed[1] + printed[3]],  # noqa: S607  # the user's `sh`, as in a terminal
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stdout.startswith("HTTP/1.1 200"), pasted.stdout[:200]
    app_saw = json.loads(pasted.stdout.replace("\r\n", "\n").partition("\n\n")[2])
    assert app_saw["headers"]["x-auth-request-user"]

    status = demo.stop()

    assert status == 0, demo.output
    assert demo.lines[-1] == "demo: stopped everything it started"
    assert [port for port in ports if is_listening(port)] == []
