"""RSS of a live authsvc worker holding N cached credentials (default 100,000), measured.

Starts the fake Authorizer (HS256, so signing N distinct id_tokens is quick), one authsvc
gevent worker with a long cache TTL, confirms N distinct tokens through it, then reads the
worker's VmRSS from /proc and the cache size from /metrics. One command:

    python -m bench.memory_live --entries 100000

Takes a minute or two: each entry costs one real Authorizer call to the fake.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _confirm(url: str, tokens: Sequence[str]) -> int:
    failures = 0
    with requests.Session() as http:
        http.trust_env = False
        for token in tokens:
            answer = http.get(
                f"{url}/verify", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            failures += answer.status_code != 200
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args(argv)
    with FakeAuthorizer(alg="HS256") as fake, tempfile.TemporaryDirectory() as tmp:
        tokens = [
            fake.sign(fake.token_claims(token_type="id_token", sub=f"user-{i}"))  # noqa: S106
            for i in range(args.entries)
        ]
        port = processes.free_port()
        env = {
            **os.environ,
            "AUTHORIZER_URL": fake.url,
            "AUTHSVC_BIND": f"127.0.0.1:{port}",
            "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
            "AUTHSVC_CACHE_TTL": "3600",
            "AUTHSVC_CACHE_MAX_ENTRIES": str(args.entries + 1000),
            "AUTHSVC_WORKERS": "1",
        }
        url = f"http://127.0.0.1:{port}"
        proc = processes.start(
            "authsvc", [sys.executable, "-m", "authsvc"], log_path=Path(tmp) / "log", env=env
        )
        try:
            processes.wait_for_http(proc, f"{url}/healthz")
            workers = _children(proc.pid)
            before = {pid: _rss_mib(pid) for pid in workers}
            started = time.monotonic()
            chunks = [tokens[i::8] for i in range(8)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                failures = sum(pool.map(lambda chunk: _confirm(url, chunk), chunks))
            elapsed = time.monotonic() - started
            after = {pid: _rss_mib(pid) for pid in workers}
            metrics = requests.get(f"{url}/metrics", timeout=10).text
        finally:
            processes.stop(proc, signum=signal.SIGINT)
        entries = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("authsvc_cache_entries ")
        )
    for pid in workers:
        print(f"worker {pid}: VmRSS {before[pid]:.1f} MiB before, {after[pid]:.1f} MiB after")
    print(f"cached entries (authsvc_cache_entries): {entries:,.0f}; failures: {failures}")
    print(f"filled in {elapsed:.0f} s ({args.entries / elapsed:,.0f} confirmations/s)")
    grown = max(after[pid] - before[pid] for pid in workers)
    print(f"growth per entry: {grown * 1024 * 1024 / max(entries, 1):,.0f} B")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
