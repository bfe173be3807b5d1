"""bench/run: start everything, run every scenario, print the table, maybe write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import machine, profile_verify, pyspy, report, servers, wrk
from bench.report import Extras
from bench.scenarios import Bench, Options, Results
from tests.fakes.authorizer import FakeAuthorizer
from tests.fakes.server import FakeHTTPServer
from tests.support import processes
from tests.support.stack import REPO, StackError

WORKER_CLASSES = ("gevent", "gthread", "sync")
"""sync last: it closes every connection, and its TIME_WAIT sockets outlive its runs."""
GROUPS = ("workers", "limit", "nocache", "rate", "fleet", "profile", "memory")
MEMORY_TIMEOUT_S = 300
FAKE_BACKLOG = 4096
PROFILED_CALLS, PROFILED_CALLS_QUICK = 20_000, 2_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark authsvc behind real nginx on loopback (issue 3's scenarios).",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per run")
    parser.add_argument(
        "--rate-duration", type=float, default=30.0, help="seconds of the 1,000 req/s runs"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s runs, 1 s warm-up")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median kept)")
    parser.add_argument("--nginx-workers", default="1", help="nginx worker_processes (1, auto)")
    parser.add_argument(
        "--worker-classes",
        default=",".join(WORKER_CLASSES),
        help="gunicorn worker classes to compare (comma-separated)",
    )
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"scenario groups to run, comma-separated (default: all of {','.join(GROUPS)})",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiles")
    parser.add_argument("--write", action="store_true", help="write the report to --output")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rate_duration = 2.0, 1.0, 3.0
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-"))
    options = Options(
        workdir=workdir,
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate_duration_s=args.rate_duration,
        connections=args.connections,
        nginx_workers=args.nginx_workers,
        repeat=args.repeat,
        worker_classes=tuple(c for c in args.worker_classes.split(",") if c),
    )
    started = time.monotonic()
    is_clean = False
    try:
        groups = {g for g in args.only.split(",") if g} - (
            {"profile"} if args.no_profile else set()
        )
        if "profile" in groups and importlib.util.find_spec("pyinstrument") is None:
            # Checked up front: finding out after minutes of measuring would lose the table.
            print(
                "bench: pyinstrument is not installed (pip install -e '.[bench]'); "
                "skipping the profiles",
                file=sys.stderr,
            )
            groups.discard("profile")
        unknown = groups - set(GROUPS)
        if unknown:
            print(f"bench: unknown --only group(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        results, extras = _run_all(options, groups=groups, is_quick=args.quick)
        is_clean = True
    except (StackError, processes.NotReadyError, wrk.WrkError, RuntimeError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if is_clean and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"bench: logs in {workdir}", file=sys.stderr)
    body = report.render(results, extras)
    print(body)
    print(f"bench: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.write:
        command = "bench/run " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        args.output.write_text(
            report.document(
                body,
                machine=machine.describe(),
                command=command.strip(),
                method=report.METHOD,
                date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            ),
            encoding="utf-8",
        )
        print(f"bench: wrote {args.output}", file=sys.stderr)
    return 0


def _run_all(options: Options, *, groups: set[str], is_quick: bool) -> tuple[Results, Extras]:
    results = Results()
    extras = Extras()
    # NOTE: socketserver listens with a backlog of 5; a burst of authsvc's first calls then
    # overflows it, connects wait a second for a SYN retry and authsvc answers 503. A real
    # Authorizer (Go) listens with the system's somaxconn, so the bench gives the fake as much.
    FakeHTTPServer.request_queue_size = FAKE_BACKLOG
    with FakeAuthorizer(client_id=servers.CLIENT_ID) as fake:
        bench = Bench(fake, options, results)
        steps = {
            "workers": bench.worker_classes,
            "limit": bench.proxy_limit,
            "nocache": bench.cache_disabled,
            "rate": bench.rate_limited,
            "fleet": bench.fleet,
        }
        for name, step in steps.items():
            if name in groups:
                _say(f"bench: {(step.__doc__ or name).splitlines()[0]}")
                step()
        if "profile" in groups:
            _say("bench: profiling the cached /verify path")
            extras.profile_markdown = _profiles(bench, is_quick=is_quick)
    if "memory" in groups:
        _say("bench: memory per cached credential")
        extras.memory = _memory()
    return results, extras


def _profiles(bench: Bench, *, is_quick: bool) -> str:
    """Both views of the cached path, as the markdown of BENCHMARKS.md's profile section."""
    return (
        "### In process (pyinstrument)\n\n"
        + profile_verify.in_process_markdown(
            bench.tokens, requests=PROFILED_CALLS_QUICK if is_quick else PROFILED_CALLS
        )
        + "\n\n### A loaded gunicorn worker (py-spy)\n\n"
        + pyspy.loaded_worker_markdown(bench, seconds=3 if is_quick else 8)
    )


def _memory() -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=MEMORY_TIMEOUT_S,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)
