"""scripts/demo: the whole flow on loopback, for someone without an Authorizer at hand.

Starts a FAKE Authorizer (the test double in tests/fakes, in this process) with two users,
authsvc under gunicorn, an echo app and real nginx running the deploy/ recipe; checks the `curl`
commands it is about to print (tests/support/demo_recipe.py), prints them, and serves until
SIGINT or SIGTERM, then stops everything it started and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes
from tests.support.demo_recipe import Call, DemoUser, Login, Outcome, Step, check
from tests.support.echo_backend import EchoBackend
from tests.support.stack import LOOPBACK, StackError, running_authsvc, running_nginx

# Fixed when free, so the printed commands stay the same from one run to the next.
NGINX_PORT, AUTHSVC_PORT, AUTHORIZER_PORT, APP_PORT = 8000, 8080, 9011, 8001
CLIENT_ID = "authsvc-demo"
ALICE = DemoUser("alice", "alice-demo-password", ("user",))
BOB = DemoUser("bob", "bob-demo-password", ("user", "admin"))
READY = "demo: ready"
RULE = "=" * 96
BANNER = f"""{RULE}
 authsvc demo. The Authorizer below is a TEST DOUBLE (tests/fakes/authorizer.py, running inside
 this script), NOT the real Authorizer server: its users, passwords and tokens exist only here.
{RULE}"""


@dataclass(frozen=True, slots=True)
class Urls:
    """Where each part of the running demo listens."""

    authorizer: str
    authsvc: str
    app: str
    nginx: str


class _Stopped(Exception):
    """SIGINT or SIGTERM arrived while the demo was serving."""


class StopSignal:
    """SIGINT and SIGTERM: noted at any time, acted on only once everything is up.

    NOTE: raising during start-up could land between starting a child process and recording
    it, leaving it running; so start-up finishes (every wait is bounded) before the demo stops.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._is_waiting = False

    def install(self) -> StopSignal:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def wait(self) -> None:
        """Return once SIGINT or SIGTERM has arrived, perhaps already during start-up."""
        with contextlib.suppress(_Stopped):
            self._is_waiting = True
            while self.signum is None:
                signal.pause()
        self._is_waiting = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        if self._is_waiting:
            self._is_waiting = False  # a second signal must not interrupt the clean-up
            raise _Stopped


def run() -> int:
    """The demo; scripts/demo calls this once what it needs is installed. Returns the exit code."""
    if shutil.which("curl") is None:
        _say("demo: needs curl, to check and to show its commands: apt-get install curl")
        return 1
    stop = StopSignal().install()
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-demo-"))
    is_clean = False
    try:
        with contextlib.ExitStack() as running:
            urls, user_ids = _start(running, workdir)
            _say(f"{BANNER}\n{_services(urls, workdir)}\n")
            steps = recipe(urls, user_ids)
            outcomes = check(steps)
            _say(_report(outcomes))
            if not all(outcome.is_ok for outcome in outcomes):
                _say("demo: a command did not work as shown; stopping (logs are kept)")
                return 1
            _say(_commands(steps))
            _say(
                f"{READY}: nginx {urls.nginx}, authsvc {urls.authsvc}, fake Authorizer "
                f"{urls.authorizer}, app {urls.app}. Ctrl-C stops everything."
            )
            stop.wait()
            _say("demo: stopping")
        _say("demo: stopped everything it started")
        is_clean = True
        return 0
    except (StackError, processes.NotReadyError) as exc:
        _say(f"demo: could not start: {exc}")
        return 1
    finally:
        if is_clean:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            _say(f"demo: logs kept in {workdir}")


def _start(running: contextlib.ExitStack, workdir: Path) -> tuple[Urls, dict[str, str]]:
    """Start the four parts on loopback; `running` stops them. Returns URLs and user ids."""
    fake = FakeAuthorizer(client_id=CLIENT_ID, host=LOOPBACK, port=_port(AUTHORIZER_PORT))
    authorizer = running.enter_context(fake)
    user_ids = {
        user.name: authorizer.add_user(user.email, user.password, user.roles)
        for user in (ALICE, BOB)
    }
    settings = {"AUTHORIZER_URL": authorizer.url, "AUTHORIZER_CLIENT_ID": CLIENT_ID}
    authsvc_dir = workdir / "authsvc"
    authsvc_dir.mkdir()
    authsvc_url = running.enter_context(
        running_authsvc(authsvc_dir, settings, port=_port(AUTHSVC_PORT))
    )
    app = running.enter_context(EchoBackend(port=_port(APP_PORT)))
    nginx_dir = workdir / "nginx"
    nginx_dir.mkdir()
    nginx = running.enter_context(
        running_nginx(nginx_dir, authsvc_url=authsvc_url, app_url=app.url, port=_port(NGINX_PORT))
    )
    return Urls(authorizer.url, authsvc_url, app.url, nginx.url), user_ids


def _port(preferred: int) -> int:
    """`preferred` if nothing listens on it on loopback, else a free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # NOTE: as the servers themselves do, so a port in TIME_WAIT from a last run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, preferred))
        except OSError:
            return processes.free_port()
    return preferred


def recipe(urls: Urls, user_ids: dict[str, str]) -> list[Step]:
    """The steps to print, in order; each later step may use the tokens of earlier ones."""
    page, admin_page = f"{urls.nginx}/hello", f"{urls.nginx}/admin/hello"

    def identity(user: DemoUser) -> dict[str, str]:
        return {
            "x-auth-request-user": user_ids[user.name],
            "x-auth-request-roles": ",".join(user.roles),
        }

    return [
        Login(
            f"Log in as alice at the fake Authorizer, asking for roles {json.dumps(ALICE.roles)}; "
            "the access token goes into $ALICE_TOKEN.",
            ALICE,
            urls.authorizer,
        ),
        Call(
            "no token",
            "No token: 403, with X-Auth-Request-Error: missing_credential.",
            page,
            403,
            error="missing_credential",
        ),
        Call(
            "alice's token",
            "With alice's token: 200, and the app's answer shows what it received from nginx, "
            "X-Auth-Request-User (alice's user id) included.",
            page,
            200,
            ALICE,
            received=identity(ALICE),
        ),
        Call(
            "admin route, alice's token",
            "The admin route (roles=admin) with alice's token: 403 missing_role.",
            admin_page,
            403,
            ALICE,
            error="missing_role",
        ),
        Login(
            f"Log in as bob, asking for roles {json.dumps(BOB.roles)}; "
            "the access token goes into $BOB_TOKEN.",
            BOB,
            urls.authorizer,
        ),
        Call(
            "admin route, bob's token",
            "The admin route with bob's token: 200.",
            admin_page,
            200,
            BOB,
            received=identity(BOB),
        ),
    ]


def _services(urls: Urls, workdir: Path) -> str:
    rows = [
        ("fake Authorizer", urls.authorizer, "TEST DOUBLE, with the demo users"),
        *(
            ("", "", f"  {user.email} / {user.password}, roles {','.join(user.roles)}")
            for user in (ALICE, BOB)
        ),
        ("authsvc", urls.authsvc, f"gunicorn, AUTHORIZER_URL={urls.authorizer}"),
        ("app", urls.app, "answers with the request it received, as JSON"),
        ("nginx", urls.nginx, "deploy/nginx/example-locations.conf:"),
        ("", "", "  / needs a signed-in user, /admin/ the role admin"),
        ("logs", str(workdir), ""),
    ]
    return "\n".join(f"  {name:<16} {where:<22}  {what}".rstrip() for name, where, what in rows)


def _report(outcomes: Sequence[Outcome]) -> str:
    lines = ["Self-check: the demo ran each command below once, exactly as printed."]
    for number, outcome in enumerate(outcomes, start=1):
        verdict = "OK  " if outcome.is_ok else "FAIL"
        lines.append(f"  {verdict}  {number}. {outcome.step.label}: {outcome.note}")
    return "\n".join(lines) + "\n"


def _commands(steps: Sequence[Step]) -> str:
    blocks = ["Try it yourself (paste into sh, bash or zsh):"]
    blocks += [
        f"# {number}. {step.title}\n{step.command}" for number, step in enumerate(steps, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def _say(text: str) -> None:
    print(text, flush=True)
