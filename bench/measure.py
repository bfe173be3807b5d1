"""One measured wrk run against a running stack, with what the servers spent on it.

CPU comes from /proc (utime + stime of every process holding each server's listening socket,
before and after the run); wrk's own CPU from the rusage of reaped children; the fake
Authorizer's from this process (it runs here, on threads).
"""

from __future__ import annotations

import os
import resource
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, wrk

Calls = Callable[[], int]
"""Authorizer calls made so far (the fake's validate_jwt_token counter)."""

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CHECK_TIMEOUT_S = 5.0
WORKER_PREFIX = "worker."


class CheckError(RuntimeError):
    """A stack answered a sanity request with an unexpected status; nothing was measured."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One scenario's figures.

    `cpu_s` has CPU seconds per part: nginx, app, authorizer (the fake, in this process), wrk,
    and other (the rest of the machine's busy time meanwhile).
    """

    key: str
    label: str
    result: wrk.Result
    cpu_s: Mapping[str, float]
    authorizer_calls: int
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def server_cpu_us_per_request(self) -> float:
        """nginx plus the Python servers (not the fake Authorizer, not wrk), per request."""
        spent = sum(
            cpu for part, cpu in self.cpu_s.items() if part == "nginx" or part.startswith("app")
        )
        return spent / self.result.requests * 1e6 if self.result.requests else 0.0

    def cpu_share(self, part: str) -> float:
        """CPU of `part` as a fraction of one core over the run."""
        return self.cpu_s.get(part, 0.0) / self.result.duration_s if self.result.duration_s else 0.0


@dataclass(frozen=True, slots=True)
class Load:
    """How to drive a stack: its URL, the wrk script, connections, seconds."""

    url: str
    script: Path
    connections: int
    duration_s: float
    warmup_s: float = 0.0


def status_of(url: str, token: str | None) -> int:
    """The status of one GET of `url`, with `token` as a bearer credential if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310  # loopback URL
    try:
        with _DIRECT.open(request, timeout=CHECK_TIMEOUT_S) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def expect(url: str, token: str | None, status: int) -> None:
    """Raise `CheckError` unless one GET of `url` answers `status`."""
    got = status_of(url, token)
    if got != status:
        who = "a valid token" if token else "no credential"
        raise CheckError(f"GET {url} with {who} answered {got}, expected {status}")


@dataclass(frozen=True, slots=True)
class Job:
    """One scenario to measure: `servers` maps a part ("nginx", "app") to its listening port."""

    key: str
    label: str
    load: Load
    servers: Mapping[str, int]
    notes: Mapping[str, str] = field(default_factory=dict)


def run(
    key: str,
    label: str,
    load: Load,
    *,
    servers: Mapping[str, int],
    calls: Calls,
    repeat: int = 1,
    notes: Mapping[str, str] | None = None,
) -> Measurement:
    """Warm up, then measure `repeat` times; the run with the median rate is kept."""
    job = Job(key, label, load, servers, notes or {})
    return run_interleaved([job], calls=calls, repeat=repeat)[0]


def run_interleaved(jobs: Sequence[Job], *, calls: Calls, repeat: int = 1) -> list[Measurement]:
    """Warm every job up, then measure them in turn (A B A B ...), `repeat` rounds.

    Interleaving spreads any drift of the machine's state over all jobs alike, so their ratios
    hold better than those of runs made minutes apart. Each job keeps its median-rate run.
    """
    for job in jobs:
        if job.load.warmup_s > 0:
            load = job.load
            wrk.run(load.url, load.script, connections=load.connections, duration_s=load.warmup_s)
    groups = [_groups(job.servers) for job in jobs]
    rounds = [
        [_once(job, group, calls) for job, group in zip(jobs, groups, strict=True)]
        for _ in range(max(1, repeat))
    ]
    kept: list[Measurement] = []
    for index in range(len(jobs)):
        runs = sorted((r[index] for r in rounds), key=lambda m: m.result.rate_per_s)
        kept.append(runs[len(runs) // 2])
    return kept


def _groups(servers: Mapping[str, int]) -> dict[str, list[int]]:
    groups = {name: procs.pids_listening(port) for name, port in servers.items()}
    # Each gunicorn worker on its own too: an uneven split means connections landed unevenly.
    for index, pid in enumerate(procs.workers(groups.get("app", []))):
        groups[f"{WORKER_PREFIX}{index}"] = [pid]
    groups["authorizer"] = [os.getpid()]
    return groups


def _once(job: Job, groups: Mapping[str, Sequence[int]], calls: Calls) -> Measurement:
    load = job.load
    calls_before = calls()
    children_before = _children_cpu_s()
    machine_before = procs.machine_busy_s()
    before = procs.snapshot(groups)
    result = wrk.run(
        load.url, load.script, connections=load.connections, duration_s=load.duration_s
    )
    after = procs.snapshot(groups)
    machine = procs.machine_busy_s() - machine_before
    cpu = procs.used(before, after)
    split = [cpu.pop(name) for name in sorted(cpu) if name.startswith(WORKER_PREFIX)]
    cpu["wrk"] = _children_cpu_s() - children_before
    # Whatever else ran on the machine meanwhile: other users' processes, stolen time.
    cpu["other"] = max(0.0, machine - sum(cpu.values()))
    notes = dict(job.notes)
    if split and result.duration_s:
        notes["worker_cpu"] = " / ".join(f"{s / result.duration_s:.0%}" for s in split)
    return Measurement(job.key, job.label, result, cpu, calls() - calls_before, notes)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
