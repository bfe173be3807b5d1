"""The decision log and the access log of a real multi-worker gunicorn, read through a pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from tests.support import processes

WORKERS = 3
REQUESTS = 6000
LONG_PATH = "/orders/" + "x" * 490  # 64 decision lines of this size are ~40 KB: far over PIPE_BUF


@dataclass
class PipeReader:
    """Reads a child's output pipe slowly, so the pipe fills up and writers must wait, as
    behind a busy log shipper; keeps everything it read."""

    fd: int
    chunks: list[bytes] = field(default_factory=list)

    def run(self) -> None:
        while data := os.read(self.fd, 512):
            self.chunks.append(data)
            time.sleep(0.0005)  # a slow consumer, not a wait for readiness

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PipeReader]]:
    """authsvc with 3 workers and the access log on, stdout and stderr on one pipe; its
    Authorizer is a closed port (the requests below carry no credential)."""
    port = processes.free_port()
    env = {
        **os.environ,
        "AUTHORIZER_URL": f"http://127.0.0.1:{processes.free_port()}",
        "AUTHSVC_BIND": f"127.0.0.1:{port}",
        "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
        "AUTHSVC_WORKERS": str(WORKERS),
        "AUTHSVC_ACCESS_LOG": "-",
    }
    read_end, write_end = os.pipe()
    popen = subprocess.Popen(
        [sys.executable, "-m", "authsvc"],
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=write_end,
        env=env,
        start_new_session=True,
    )
    os.close(write_end)
    reader = PipeReader(read_end)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    process = processes.Process(
        name="authsvc", popen=popen, log_path=tmp_path_factory.mktemp("pipe") / "unused.log"
    )
    try:
        processes.wait_for_http(process, f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", reader
    finally:
        processes.stop(process, signum=signal.SIGTERM)  # graceful: workers write out the rest
        thread.join(timeout=30)
        os.close(read_end)


def test_decision_lines_of_several_workers_on_one_pipe_stay_whole(
    served: tuple[str, PipeReader],
) -> None:
    url, reader = served

    def send(n: int) -> int:
        headers = {"X-Request-Id": f"pipe-{n}", "X-Forwarded-Uri": LONG_PATH}
        return requests.get(f"{url}/verify", headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(send, range(REQUESTS)))
    assert set(statuses) == {403}
    deadline = time.monotonic() + 20
    while reader.text().count('"request_id":"pipe-') < REQUESTS:
        assert time.monotonic() < deadline, "decision lines are missing"
        time.sleep(0.05)  # bounded poll for the batches and the slow reader
    lines = [line for line in reader.text().splitlines() if '"request_id":"pipe-' in line]
    decoded = [json.loads(line) for line in lines]  # raises on a line cut or interleaved
    assert sorted(d["request_id"] for d in decoded) == sorted(f"pipe-{n}" for n in range(REQUESTS))
    assert {d["path"] for d in decoded} == {LONG_PATH}


def test_access_log_shows_the_path_but_never_the_query(served: tuple[str, PipeReader]) -> None:
    url, reader = served
    answer = requests.get(
        f"{url}/verify/api/orders?access_token=QUERYSECRET-1",
        headers={"X-Request-Id": "acc-1"},
        timeout=10,
    )
    assert answer.status_code == 403
    deadline = time.monotonic() + 10
    while not [line for line in reader.text().splitlines() if line.endswith(" acc-1")]:
        assert time.monotonic() < deadline, "no access log line"
        time.sleep(0.05)  # bounded poll for the slow reader
    (line,) = [line for line in reader.text().splitlines() if line.endswith(" acc-1")]
    assert '"GET /verify/api/orders" 403' in line
    assert "QUERYSECRET" not in reader.text()
