"""Where the time goes on authsvc's cached /verify path.

pyinstrument over N direct WSGI calls of `create_app(settings, authorizer=<stub>)` with a warm
cache, in this process, plus the same calls, unprofiled, against the bare Falcon app (the
in-process ceiling). bench/run adds py-spy on a loaded gunicorn worker (bench/pyspy.py).
Run alone with `python -m bench.profile_verify --requests 20000`; pyinstrument and py-spy are
bench-only tools (see bench/README.md).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import falcon.testing
import jwt

from authsvc.app import create_app
from authsvc.errors import InvalidCredentials
from authsvc.identity import Identity, identity_from_claims
from authsvc.settings import Settings
from bench import bare_app
from bench.scenarios import login
from tests.fakes.authorizer import FakeAuthorizer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HARNESS = "bench harness"
CATEGORIES = (
    ("/authsvc/", "authsvc"),
    ("/falcon/", "falcon"),
    ("/gunicorn/", "gunicorn"),
    ("/gevent/", "gevent"),
    ("/jwt/", "PyJWT"),
    ("/bench/", HARNESS),
    ("site-packages", "other libraries"),
)
TOP_FUNCTIONS = 12


class ClaimsAuthorizer:
    """A stub Authorizer that confirms a token from its own claims: fills the cache, no I/O."""

    def verify_token(self, token: str, token_type: str) -> Identity:
        claims = jwt.decode(token, options={"verify_signature": False})
        return identity_from_claims(claims, "role")

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity:
        raise InvalidCredentials("the profile uses bearer tokens only")


def environs(tokens: Sequence[str]) -> list[dict[str, Any]]:
    """What nginx's auth subrequest (deploy/nginx recipe) sends, one environ per token."""
    return [
        falcon.testing.create_environ(
            path="/verify",
            query_string="roles=",
            headers={
                "Host": "authsvc",
                "Authorization": f"Bearer {token}",
                "X-Original-Method": "GET",
                "X-Original-URI": "/ok.txt",
                "X-Forwarded-Method": "GET",
                "X-Forwarded-Proto": "http",
                "X-Forwarded-Host": "127.0.0.1",
                "X-Forwarded-Uri": "/ok.txt",
                "User-Agent": "wrk",
            },
        )
        for token in tokens
    ]


def authsvc_app() -> WsgiApp:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://127.0.0.1:9"})
    app: WsgiApp = create_app(settings, authorizer=ClaimsAuthorizer())
    return app


def call_all(app: WsgiApp, envs: Sequence[dict[str, Any]], requests: int) -> list[str]:
    """`requests` WSGI calls rotating over `envs`; returns the statuses seen (for checking)."""
    statuses: set[str] = set()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.add(status)

    for env in itertools.islice(itertools.cycle(envs), requests):
        body = app(dict(env), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return sorted(statuses)


def us_per_call(app: WsgiApp, envs: Sequence[dict[str, Any]], requests: int) -> float:
    call_all(app, envs, len(envs))  # warm: fills the cache, imports, first-call costs
    started = time.perf_counter()
    call_all(app, envs, requests)
    return (time.perf_counter() - started) / requests * 1e6


@dataclass(frozen=True, slots=True)
class Profile:
    """Self time by category and by function, and inclusive time of authsvc's own functions."""

    total_s: float
    by_category: Mapping[str, float]
    by_function: Mapping[str, float]
    authsvc_inclusive: Mapping[str, float]


def category(file_path: str | None) -> str | None:
    """The package a frame's file belongs to; None for frames with no file (C built-ins)."""
    if not file_path or file_path.startswith("<"):
        return None
    for marker, name in CATEGORIES:
        if marker in file_path:
            return name
    return "Python stdlib"


def pyinstrument_profile(app: WsgiApp, envs: Sequence[dict[str, Any]], requests: int) -> Profile:
    from pyinstrument import Profiler  # bench-only dependency

    call_all(app, envs, len(envs))
    profiler = Profiler(interval=0.0001)
    profiler.start()
    call_all(app, envs, requests)
    session = profiler.stop()
    by_category: dict[str, float] = {}
    by_function: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    root = session.root_frame()
    if root is None:
        raise RuntimeError("pyinstrument recorded no samples")
    _walk(root, "Python stdlib", by_category, by_function, inclusive)
    return Profile(root.time, by_category, by_function, inclusive)


def _walk(
    frame: Any,
    parent_category: str,
    by_category: dict[str, float],
    by_function: dict[str, float],
    inclusive: dict[str, float],
) -> None:
    own = category(frame.file_path) or parent_category
    real = [child for child in frame.children if not child.is_synthetic_leaf]
    self_time = frame.time - sum(child.time for child in real)
    if not frame.is_synthetic:
        name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        by_function[name] = by_function.get(name, 0.0) + self_time
        if category(frame.file_path) == "authsvc":
            short = f"{frame.function} ({frame.file_path_short})"
            inclusive[short] = inclusive.get(short, 0.0) + frame.time
    by_category[own] = by_category.get(own, 0.0) + self_time
    for child in real:
        _walk(child, own, by_category, by_function, inclusive)


def profile_markdown(profile: Profile, *, requests: int) -> str:
    """The pyinstrument view as markdown."""
    # The harness's loop is not the app's time: shares are of the time inside the WSGI calls.
    total = (profile.total_s - profile.by_category.get(HARNESS, 0.0)) or 1.0
    lines = [
        f"pyinstrument, {requests:,} direct WSGI calls of authsvc's app (warm cache, stub "
        f"Authorizer; {profile.total_s / requests * 1e6:.0f} µs per call while sampled). "
        "Shares of the time inside the WSGI calls; C built-ins count for the package that "
        "called them:",
        "",
        "| Package | Self time |",
        "|---|---:|",
    ]
    for name, seconds in sorted(profile.by_category.items(), key=lambda kv: -kv[1]):
        if name == HARNESS:
            continue
        lines.append(f"| {name} | {seconds / total:.0%} |")
    lines += ["", "Top functions by self time:", "", "| Function | Self time |", "|---|---:|"]
    functions = [kv for kv in profile.by_function.items() if "bench/" not in kv[0]]
    for name, seconds in sorted(functions, key=lambda kv: -kv[1])[:TOP_FUNCTIONS]:
        lines.append(f"| `{name}` | {seconds / total:.1%} |")
    lines += ["", "authsvc functions, inclusive (what they call counts):", ""]
    lines += ["| Function | Inclusive time |", "|---|---:|"]
    for name, seconds in sorted(profile.authsvc_inclusive.items(), key=lambda kv: -kv[1])[
        :TOP_FUNCTIONS
    ]:
        lines.append(f"| `{name}` | {seconds / total:.0%} |")
    return "\n".join(lines)


def in_process_markdown(tokens: Sequence[str], *, requests: int) -> str:
    """Timing of authsvc against the bare app in process, then the pyinstrument profile."""
    envs = environs(tokens)
    app = authsvc_app()
    statuses = call_all(app, envs, len(envs))
    if statuses != ["200 OK"]:
        raise RuntimeError(f"the profiled app answered {statuses}, expected only 200 OK")
    authsvc_us = us_per_call(app, envs, requests)
    bare_us = us_per_call(bare_app.create_app(), envs, requests)
    head = (
        f"In process, unprofiled, {requests:,} calls each: authsvc **{authsvc_us:.1f} µs** per "
        f"/verify call, the bare Falcon app {bare_us:.1f} µs (authsvc's own work: "
        f"{authsvc_us - bare_us:.1f} µs per call; ratio {bare_us / authsvc_us:.2f}).\n"
    )
    return (
        head + "\n" + profile_markdown(pyinstrument_profile(app, envs, requests), requests=requests)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_verify", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args(argv)
    with FakeAuthorizer() as fake:
        tokens = [login(fake, index) for index in range(args.users)]
    print(in_process_markdown(tokens, requests=args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
