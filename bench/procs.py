"""What a running server costs, read from /proc: the processes behind a port, CPU time, RSS.

A server is every process holding its listening socket (a gunicorn or nginx master and the
workers it forked), so a measurement needs no PID bookkeeping from whoever started it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_TCP_LISTEN = "0A"


def listening_inodes(port: int) -> set[str]:
    """Socket inodes of TCP sockets listening on `port` (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in (PROC / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == _TCP_LISTEN:
                    inodes.add(fields[9])
    return inodes


def pids_listening(port: int) -> list[int]:
    """Every process with a descriptor on the socket listening on `port`, sorted."""
    targets = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    pids: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        pids.append(int(entry.name))
                        break
    return sorted(pids)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far; 0 once it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # NOTE: the command name (field 2) may hold spaces; the fields after it follow its ")".
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS_PER_S


def parent_pid(pid: int) -> int:
    stat = (PROC / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def workers(pids: Iterable[int]) -> list[int]:
    """The processes among `pids` whose parent is also among them (a master's children)."""
    group = set(pids)
    return sorted(pid for pid in group if _quiet_parent(pid) in group)


def _quiet_parent(pid: int) -> int:
    try:
        return parent_pid(pid)
    except OSError:
        return -1


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds used so far by each named group of processes."""

    seconds: Mapping[str, float]


def snapshot(groups: Mapping[str, Iterable[int]]) -> CpuSnapshot:
    return CpuSnapshot({name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()})


def used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds each group used between two snapshots."""
    return {name: after.seconds[name] - before.seconds[name] for name in before.seconds}


def rss_kib_self() -> int:
    return rss_kib(os.getpid())


def machine_busy_s() -> float:
    """CPU seconds all cores spent in processes (user, nice, system) or stolen, since boot.

    Interrupt and softirq time (loopback networking, mostly) is left out: it is neither ours
    nor anyone else's to count.
    """
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + steal) / CLOCK_TICKS_PER_S
