"""The markdown report: the scenario table, the ratios against issue 3's targets, and the rest.

`render` gives the text bench/run prints; `document` wraps it into BENCHMARKS.md with the
machine description and the exact command.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench import servers
from bench.measure import Measurement
from bench.scenarios import PACED_CONNECTIONS, PACED_RATE_PER_S, USERS, Results

NOISY_SHARE = 0.10
"""Other processes' CPU, as a share of one core, above which a run is flagged as noisy."""


@dataclass(frozen=True, slots=True)
class Ratio:
    """One figure compared with its target; `is_met` is None when there is no target."""

    name: str
    value: float | None
    target: str
    is_met: bool | None
    how: str = ""


@dataclass
class Extras:
    """What is not a wrk run: memory figures and the profile summary."""

    memory: Mapping[str, float] = field(default_factory=dict)
    profile_markdown: str = ""


def ratios(results: Results) -> list[Ratio]:
    """Issue 3's targets, from whatever scenarios were measured."""
    found = results.measurements
    out: list[Ratio] = []
    ceiling = found.get(f"bare.{results.best_worker_class}")
    authsvc = found.get(f"authsvc.{results.authsvc_worker_class}")
    if ceiling and authsvc:
        rate = authsvc.result.rate_per_s / ceiling.result.rate_per_s
        p99 = authsvc.result.p99_us / ceiling.result.p99_us
        how = f"authsvc ({results.authsvc_worker_class}) vs bare app ({results.best_worker_class})"
        out.append(Ratio("authsvc / ceiling, req/s", rate, ">= 0.8", rate >= 0.8, how))
        out.append(Ratio("authsvc / ceiling, p99", p99, "<= 1.5", p99 <= 1.5, how))
    same = found.get(f"authsvc.{results.best_worker_class}")
    if ceiling and same and same is not authsvc:
        # What the default would give if it were the ceiling's worker class.
        how = f"authsvc ({results.best_worker_class}, not the default) vs the same ceiling"
        rate = same.result.rate_per_s / ceiling.result.rate_per_s
        p99 = same.result.p99_us / ceiling.result.p99_us
        out.append(Ratio("authsvc / ceiling, req/s, same class", rate, ">= 0.8", rate >= 0.8, how))
        out.append(Ratio("authsvc / ceiling, p99, same class", p99, "<= 1.5", p99 <= 1.5, how))
    cached = found.get("cached.warm")
    # The proxy's own limit: the recipe's auth location proxying to nginx's own `return 200`
    # (what issue 3 measured, ~3.3x its best Python figure). auth_request straight to an
    # internal location skips the upstream hop altogether: shown for comparison.
    for key, what, has_target in (
        ("limit.proxied", "recipe -> nginx return 200", True),
        ("limit.direct", "auth_request -> internal return 200, no upstream hop", False),
    ):
        limit = found.get(key)
        if cached and limit:
            value = cached.result.rate_per_s / limit.result.rate_per_s
            out.append(
                Ratio(
                    f"nginx cache -> authsvc / nginx limit ({what}), req/s",
                    value,
                    ">= 0.7" if has_target else "(for comparison)",
                    value >= 0.7 if has_target else None,
                )
            )
    if authsvc:
        per_token = calls_per_token(authsvc)
        out.append(
            Ratio(
                "Authorizer calls per distinct token per TTL window",
                per_token,
                f"<= {servers.WORKERS} (1 per worker)",
                per_token is not None and per_token <= servers.WORKERS,
                f"fresh authsvc ({results.authsvc_worker_class}): "
                f"{authsvc.notes.get('calls_first_window', '?')} calls for {USERS} tokens in "
                f"the first {authsvc.notes.get('ttl_s', '?')} s TTL window "
                f"({authsvc.notes.get('calls_since_start', '?')} in all "
                f"{authsvc.notes.get('seconds_since_start', '?')} s of warm-up and runs)",
            )
        )
    nocache = found.get("authsvc.nocache")
    if nocache and nocache.result.requests:
        out.append(
            Ratio(
                "cache disabled (TTL 0): Authorizer calls per request",
                nocache.authorizer_calls / nocache.result.requests,
                "(for comparison)",
                None,
                f"{nocache.result.rate_per_s:,.0f} req/s with every request asking the fake",
            )
        )
    fleet = found.get("fleet.warm")
    if fleet and "calls_first_window" in fleet.notes:
        tokens = int(fleet.notes["tokens"])
        per_token = int(fleet.notes["calls_first_window"]) / tokens
        out.append(
            Ratio(
                "fleet (2 instances, one Redis): Authorizer calls per distinct token per TTL",
                per_token,
                "1",
                per_token <= 1.0,
                f"{fleet.notes['calls_first_window']} calls for {tokens} tokens in the first "
                f"{fleet.notes['ttl_s']} s; {fleet.result.rate_per_s:,.0f} req/s",
            )
        )
    remote, jwks = found.get("cold.remote"), found.get("cold.jwks")
    if remote and jwks and remote.result.rate_per_s:
        out.append(
            Ratio(
                "cache off (every request a miss): jwks / remote, req/s",
                jwks.result.rate_per_s / remote.result.rate_per_s,
                "(report)",
                None,
                f"jwks {jwks.result.rate_per_s:,.0f} req/s, no Authorizer call; remote "
                f"{remote.result.rate_per_s:,.0f} req/s, one call per request",
            )
        )
    for key, what in (("rate.plain", "plain"), ("rate.cached", "nginx cache")):
        if key in found:
            bad = found[key].result.non_2xx + found[key].result.socket_errors
            out.append(
                Ratio(
                    f"non-2xx at 1,000 req/s, Authorizer rate-limited ({what})", bad, "0", bad == 0
                )
            )
    return out


def calls_per_token(measurement: Measurement) -> float | None:
    """Authorizer calls per distinct token within the first TTL window from authsvc's start."""
    raw = measurement.notes.get("calls_first_window")
    return int(raw) / USERS if raw is not None else None


def render(results: Results, extras: Extras) -> str:
    """Every section, as markdown."""
    parts = [
        _noise_warning(list(results.measurements.values())),
        "## Ratios against issue 3's targets\n",
        _ratio_table(ratios(results)),
        "\n## Worker class (bare Falcon app and authsvc behind nginx auth_request)\n",
        _worker_class_section(results),
        "\n## Every scenario\n",
        _scenario_table(list(results.measurements.values())),
        _status_section(results),
        _skipped(results.skipped),
        "\n## Memory per cached credential\n",
        _memory_section(results, extras.memory),
    ]
    if extras.profile_markdown:
        parts += ["\n## Where the time goes on the cached path\n", extras.profile_markdown]
    return "\n".join(part for part in parts if part) + "\n"


def document(
    body: str, *, machine: Sequence[tuple[str, str]], command: str, method: str, date: str
) -> str:
    """BENCHMARKS.md: how it was measured and on what, then the figures."""
    rows = "\n".join(f"| {name} | {value} |" for name, value in machine)
    return (
        "# Benchmarks\n\n"
        f"Measured {date} with:\n\n```sh\n{command}\n```\n\n"
        "## Machine\n\n| | |\n|---|---|\n"
        f"{rows}\n\n"
        "## How\n\n"
        f"{method}\n\n"
        f"{body}"
    )


def _noise_warning(items: Sequence[Measurement]) -> str:
    noisy = [m for m in items if m.cpu_share("other") > NOISY_SHARE]
    if not noisy:
        return ""
    worst = max(m.cpu_share("other") for m in noisy)
    return (
        f"> **Noisy machine**: during {len(noisy)} of {len(items)} runs other processes used "
        f"more than {NOISY_SHARE:.0%} of a core (up to {worst:.0%}; column *other CPU*). "
        "Absolute figures are low by that much; ratios of runs made under the same load are "
        "less affected.\n"
    )


def _ratio_table(items: Sequence[Ratio]) -> str:
    lines = ["| Ratio | Value | Target | Met | Compared |", "|---|---:|---|---|---|"]
    for item in items:
        met = {True: "yes", False: "**NO**", None: "-"}[item.is_met]
        value = "n/a" if item.value is None else f"{item.value:.3f}"
        if isinstance(item.value, int):
            value = str(item.value)
        lines.append(f"| {item.name} | {value} | {item.target} | {met} | {item.how} |")
    return "\n".join(lines)


def _worker_class_section(results: Results) -> str:
    lines = [
        "| Worker class | bare app req/s | bare p99 ms | bare CPU µs/req "
        "| authsvc req/s | authsvc p99 ms | authsvc CPU µs/req | Authorizer calls per token "
        "| worker CPU, bare / authsvc |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    bare = [m for k, m in results.measurements.items() if k.startswith("bare.")]
    if not bare:
        return "Not measured."
    for measured in bare:
        worker_class = measured.key.split(".", 1)[1]
        auth = results.measurements.get(f"authsvc.{worker_class}")
        per_token = calls_per_token(auth) if auth else None
        calls = "-" if per_token is None else f"{per_token:.2f}"
        auth_split = auth.notes.get("worker_cpu", "-") if auth else "-"
        split = f"{measured.notes.get('worker_cpu', '-')}; {auth_split}"
        lines.append(
            f"| {worker_class} | {_triple(measured)} | {_triple(auth)} | {calls} | {split} |"
        )
    best = results.best_worker_class
    leanest = min(bare, key=lambda m: m.server_cpu_us_per_request).key.split(".", 1)[1]
    tightest = min(bare, key=lambda m: m.result.p99_us).key.split(".", 1)[1]
    lines.append(
        f"\nBare app: most req/s **{best}**, least CPU per request **{leanest}**, lowest p99 "
        f"**{tightest}**. authsvc's configured default "
        f"(`AUTHSVC_WORKER_CLASS`): **{results.authsvc_worker_class}**. "
        f"{servers.WORKERS} workers each; CPU is nginx plus gunicorn master and workers. "
        "Authorizer calls per token: per distinct token, from authsvc's start (fresh cache) "
        "until just before the first cache TTL ends. Worker CPU: each gunicorn worker's share of "
        "a core (an uneven split means the connections landed unevenly)."
    )
    return "\n".join(lines)


def _triple(m: Measurement | None) -> str:
    if m is None:
        return "- | - | -"
    return (
        f"{m.result.rate_per_s:,.0f} | {_ms(m.result.p99_us)} | {m.server_cpu_us_per_request:.0f}"
    )


def _scenario_table(items: Sequence[Measurement]) -> str:
    lines = [
        "| Scenario | req/s | p50 ms | p99 ms | max ms | non-2xx | server CPU µs/req "
        "| nginx CPU | app CPU | fake Authorizer CPU | wrk CPU | other CPU | Authorizer calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in items:
        r = m.result
        lines.append(
            f"| {m.label} | {r.rate_per_s:,.0f} | {_ms(r.p50_us)} | {_ms(r.p99_us)} "
            f"| {_ms(r.max_us)} | {r.non_2xx + r.socket_errors} "
            f"| {m.server_cpu_us_per_request:.0f} | {_pct(m, 'nginx')} | {_pct(m, 'app')} "
            f"| {_pct(m, 'authorizer')} | {_pct(m, 'wrk')} | {_pct(m, 'other')} "
            f"| {m.authorizer_calls:,} |"
        )
    lines.append(
        "\nCPU columns are shares of one core over the run (2 cores = 200%); *other* is the "
        "rest of the machine's process and stolen CPU time meanwhile (anything else running; "
        "from /proc/stat, interrupts excluded): high values mean a noisy measurement. "
        "Authorizer calls are the fake's `validate_jwt_token` resolver calls during the "
        "measured run."
    )
    return "\n".join(lines)


def _status_section(results: Results) -> str:
    lines: list[str] = []
    for m in results.measurements.values():
        r = m.result
        if r.non_2xx or r.socket_errors or m.key.startswith("rate."):
            statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(r.statuses.items()))
            lines.append(
                f"- {m.label}: {r.requests:,} requests in {r.duration_s:.1f} s "
                f"({r.rate_per_s:,.0f} req/s achieved); statuses {statuses or 'none'}; "
                f"socket errors {r.socket_errors}; Authorizer calls {m.authorizer_calls}."
            )
    if not lines:
        return ""
    return "\n### Status breakdown\n\n" + "\n".join(lines)


def _skipped(skipped: Mapping[str, str]) -> str:
    if not skipped:
        return ""
    return "\n### Not measured\n\n" + "\n".join(f"- {k}: {why}" for k, why in skipped.items())


def _memory_section(results: Results, memory: Mapping[str, float]) -> str:
    if not memory:
        return "Not measured."
    entries = int(memory["entries"])
    rss_per = memory["rss_bytes_per_entry"]
    traced_per = memory["traced_bytes_per_entry"]
    lines = [
        f"- Bytes per entry, {entries:,} entries in a fresh process (`python -m bench.memory`):",
        f"  **{rss_per:,.0f} B** by RSS growth, {traced_per:,.0f} B by tracemalloc (live Python "
        "allocations only). Entries are the worst case: a distinct user, email and token each.",
    ]
    if results.worker_rss_kib:
        base = sum(results.worker_rss_kib) / len(results.worker_rss_kib) / 1024
        projected = base + entries * rss_per / 1024 / 1024
        lines += [
            f"- Worker RSS measured after the warm run (VmRSS of each authsvc "
            f"{results.authsvc_worker_class} worker, 50 entries): "
            + ", ".join(f"{kib / 1024:.1f} MiB" for kib in results.worker_rss_kib),
            f"- Projected RSS per worker with {entries:,} cached credentials: "
            f"**{projected:.0f} MiB** (measured baseline {base:.1f} MiB + {entries:,} x "
            f"{rss_per:,.0f} B; a projection, not a measurement of a loaded worker).",
        ]
    return "\n".join(lines)


def _ms(us: int) -> str:
    return f"{us / 1000:.2f}"


def _pct(m: Measurement, part: str) -> str:
    share = m.cpu_share(part)
    return "-" if math.isclose(share, 0.0) and part not in m.cpu_s else f"{share:.0%}"


METHOD = f"""\
- Everything runs on loopback, started by `bench/run` itself: the fake Authorizer (the test
  double in tests/fakes, on threads inside the bench process), gunicorn (authsvc via its console
  script, or `bench.bare_app` under `-c python:authsvc.gunicorn_conf` with the same AUTHSVC_*
  settings), and real nginx using the deploy/nginx recipe files unchanged.
- Load: `wrk -t1 -c<N>` with a Lua script that rotates {USERS} users' access tokens
  (`Authorization: Bearer`) per request and counts every status; a warm-up run precedes each
  measured run. nginx's protected location serves a 2-byte static file (content phase, so the
  auth_request check always runs first). The fixed-rate runs pace a shared schedule of
  {PACED_RATE_PER_S:,.0f} req/s in wrk's `delay()` hook (LuaJIT ffi clock) over
  {PACED_CONNECTIONS} connections (enough to keep that rate while a cold start stalls).
- CPU: utime+stime from /proc/<pid>/stat of every process holding each server's listening
  socket (nginx master+worker, gunicorn master+workers), before and after the run; wrk's from
  the rusage of reaped children; the fake Authorizer's from the bench process itself.
- The ceiling is the bare Falcon app under the fastest worker class; authsvc runs under its
  configured default class, 2 workers (one per core), default settings otherwise. With
  `--repeat N` each scenario is measured N times on the same servers and the run with the
  median rate is kept.
- The fake Authorizer's listen backlog is raised from socketserver's 5 to 4096 (a real
  Authorizer listens with the system's somaxconn): with 5, bursts of authsvc's first calls
  overflowed it and became 503s that only the fake causes."""
