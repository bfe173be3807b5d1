"""py-spy on a loaded authsvc worker: where a gunicorn worker's time goes behind nginx.

Samples only threads holding the GIL (`--gil`), so threads waiting for work are left out, and
splits the samples by layer: authsvc's code, Falcon outside it, gunicorn and the rest.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence

from bench import measure, procs, servers, wrk
from bench.profile_verify import TOP_FUNCTIONS, category
from bench.scenarios import Bench

PYSPY_RATE_HZ = 200


# -- py-spy: a loaded gunicorn worker behind nginx --------------------------------------------

_STARTUP_FILES = ("authsvc/cli.py", "authsvc")
"""The console script's frames sit under every worker's main thread; they are not /verify."""


def pyspy_stacks(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (collapsed) output as [(frames as (function, file), count)], root first."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in raw.splitlines():
        text, _, count = line.rpartition(" ")
        if not text or not count.isdigit():
            continue
        frames: list[tuple[str, str]] = []
        for frame in text.split(";"):
            if frame.startswith("process "):
                continue
            function, _, where = frame.rpartition(" (")
            frames.append((function, where.rstrip(")").rsplit(":", 1)[0]))
        stacks.append((frames, int(count)))
    return stacks


def _layer(frames: Sequence[tuple[str, str]]) -> str:
    files = [file for _, file in frames if file not in _STARTUP_FILES]
    if any(file.startswith("authsvc/") for file in files):
        return "authsvc code (with what it calls)"
    if any(file.startswith("falcon/") for file in files):
        return "falcon, outside authsvc"
    return "gunicorn and the rest, outside falcon"


def pyspy_markdown(raw: str, *, worker_class: str, seconds: float, rate: int) -> str:
    """Samples of GIL-holding threads of a loaded worker, split by layer and by leaf frame."""
    stacks = [(frames, n) for frames, n in pyspy_stacks(raw) if frames]
    total = sum(n for _, n in stacks)
    if not total:
        return "py-spy recorded no samples."
    layers: dict[str, int] = {}
    leaves: dict[str, int] = {}
    packages: dict[str, int] = {}
    for frames, n in stacks:
        layer = _layer(frames)
        layers[layer] = layers.get(layer, 0) + n
        function, file = frames[-1]
        leaves[f"{function} ({file})"] = leaves.get(f"{function} ({file})", 0) + n
        package = category("/" + file) or "Python stdlib"
        packages[package] = packages.get(package, 0) + n
    lines = [
        f"py-spy (`record --gil --nonblocking --subprocesses`, {rate} Hz, {seconds:g} s) on "
        f"authsvc's gunicorn ({worker_class}, 2 workers) while wrk drives nginx -> authsvc "
        f"with a warm cache: {total:,} samples of threads holding the GIL (waiting threads "
        "are not sampled).",
        "",
        "| Where (by the frames on the stack) | Samples |",
        "|---|---:|",
    ]
    lines += [
        f"| {k} | {v / total:.0%} |" for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
    ]
    lines += ["", "| Package of the innermost frame | Samples |", "|---|---:|"]
    lines += [
        f"| {k} | {v / total:.0%} |" for k, v in sorted(packages.items(), key=lambda kv: -kv[1])
    ]
    lines += ["", "| Innermost frame | Samples |", "|---|---:|"]
    lines += [
        f"| `{k}` | {v / total:.1%} |"
        for k, v in sorted(leaves.items(), key=lambda kv: -kv[1])[:TOP_FUNCTIONS]
    ]
    return "\n".join(lines)


def loaded_worker_markdown(bench: Bench, *, seconds: float) -> str:
    """py-spy on authsvc (default worker class) while wrk drives nginx -> authsvc."""
    binary = shutil.which("py-spy")
    if binary is None:
        return "py-spy is not installed (`pip install py-spy`); no worker profile."
    worker_class = servers.default_of("AUTHSVC_WORKER_CLASS")
    output = bench.options.workdir / "py-spy.txt"
    with bench.authsvc({}) as app, bench.site(app.address) as site:
        measure.expect(site.url, bench.check_token, 200)
        connections = bench.options.connections
        wrk.run(site.url, bench.script, connections=connections, duration_s=2)
        pids = procs.pids_listening(app.port)
        (master,) = set(pids) - set(procs.workers(pids))
        load = wrk.start(site.url, bench.script, connections=connections, duration_s=seconds + 2)
        argv = [binary, "record", "--pid", str(master), "--subprocesses", "--gil"]
        argv += ["--nonblocking", "--format", "raw", "--rate", str(PYSPY_RATE_HZ)]
        argv += ["--duration", str(round(seconds)), "--output", str(output)]
        time.sleep(1)
        spy = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        result = wrk.finish(load, seconds + 2)
    if spy.returncode != 0 or not output.exists():
        return f"py-spy failed ({spy.returncode}): {spy.stderr.strip()[-500:]}"
    text = pyspy_markdown(
        output.read_text(), worker_class=worker_class, seconds=round(seconds), rate=PYSPY_RATE_HZ
    )
    return text + (
        f"\n\nwrk's rate while py-spy sampled: {result.rate_per_s:,.0f} req/s (profiling "
        "costs CPU on these 2 cores; the figures above are shares, not rates)."
    )
