"""What the figures were measured on: hardware, kernel, and the versions of everything in play."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tests.support.stack import REPO


def describe() -> list[tuple[str, str]]:
    """(name, value) pairs for the machine table of BENCHMARKS.md."""
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", _cpu_model()),
        ("Memory", _memory()),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("nginx", _command_output(["/usr/sbin/nginx", "-v"]).removeprefix("nginx version: ")),
        ("wrk", _command_output(["wrk", "-v"]).split(" [")[0]),
        ("gunicorn", _version("gunicorn")),
        ("falcon", _version("falcon")),
        ("gevent", _version("gevent")),
        ("authsvc commit", _commit()),
    ]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _commit() -> str:
    head = _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _command_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "authsvc"])
    return head + (" (authsvc/ has uncommitted changes)" if dirty != "unknown" else "")
