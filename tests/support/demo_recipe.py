"""The demo's recipe: the `curl` commands scripts/demo prints, and the self-check that runs that
very text through `sh` before printing it, so the demo never shows a command that does not work.

The demo prints passwords (of the fake's demo users) but never a token: the login commands keep
the token in a shell variable, and the self-check reads it back only to pass it on.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

COMMAND_TIMEOUT_S = 15.0
# The login mutation (Authorizer 2.x input type), and a token extractor that needs no jq.
LOGIN_QUERY = "mutation login($params: LoginRequest!) { login(params: $params) { access_token } }"
EXTRACT_TOKEN = (
    'python3 -c \'import json, sys; print(json.load(sys.stdin)["data"]["login"]["access_token"])\''
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A user of the fake Authorizer, and the roles their demo login asks for."""

    name: str
    password: str
    roles: tuple[str, ...]

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"

    @property
    def token_variable(self) -> str:
        """The shell variable the printed login command stores the access token in."""
        return f"{self.name.upper()}_TOKEN"


@dataclass(frozen=True, slots=True)
class Login:
    """Log `user` in at the fake Authorizer; the command sets `$<NAME>_TOKEN`."""

    title: str
    user: DemoUser
    authorizer_url: str

    @property
    def label(self) -> str:
        return f"log in as {self.user.name}"

    @property
    def command(self) -> str:
        body = {
            "query": LOGIN_QUERY,
            "variables": {
                "params": {
                    "email": self.user.email,
                    "password": self.user.password,
                    "roles": list(self.user.roles),
                }
            },
        }
        url = self.authorizer_url
        return (
            f"{self.user.token_variable}=$(curl -sS {url}/graphql \\\n"
            # NOTE: Authorizer 2.2.1+ refuses a POST without an Origin that matches its Host.
            f"    -H {shlex.quote(f'Origin: {url}')} -H 'Content-Type: application/json' \\\n"
            f"    --data {shlex.quote(json.dumps(body))} \\\n"
            f"  | {EXTRACT_TOKEN})"
        )


@dataclass(frozen=True, slots=True)
class Call:
    """A request through nginx, and the answer the self-check requires.

    `error` is the X-Auth-Request-Error the client must see (for a denial); `received` are
    headers the app must have been sent, by lower-case name (for an allowed request).
    """

    label: str
    title: str
    url: str
    status: int
    user: DemoUser | None = None
    error: str = ""
    received: Mapping[str, str] | None = None

    @property
    def command(self) -> str:
        if self.user is None:
            return f"curl -sS -i {self.url}"
        return f'curl -sS -i {self.url} -H "Authorization: Bearer ${self.user.token_variable}"'


Step = Login | Call


@dataclass(frozen=True, slots=True)
class Outcome:
    """One self-check line: did the step work, and a short note (never a token)."""

    step: Step
    is_ok: bool
    note: str


def check(steps: Sequence[Step]) -> list[Outcome]:
    """Run each step's command text with `sh`, in order, passing tokens on to later steps."""
    tokens: dict[str, str] = {}
    outcomes = []
    for step in steps:
        if isinstance(step, Login):
            token, outcome = _check_login(step)
            if token:
                tokens[step.user.token_variable] = token
        else:
            outcome = _check_call(step, tokens)
        outcomes.append(outcome)
    return outcomes


def _check_login(step: Login) -> tuple[str, Outcome]:
    variable = step.user.token_variable
    result = _sh(f'{step.command}\nprintf "%s" "${variable}"', {})
    token = result.stdout.strip()
    if result.returncode != 0 or token.count(".") != 2:
        return "", Outcome(step, False, f"no token in ${variable}: {_last_line(result.stderr)}")
    return token, Outcome(step, True, f"${variable} holds an access token")


def _check_call(step: Call, tokens: Mapping[str, str]) -> Outcome:
    result = _sh(step.command, tokens)
    if result.returncode != 0:
        return Outcome(step, False, f"curl failed: {_last_line(result.stderr)}")
    status, headers, body = _parse_http(result.stdout)
    error = headers.get("x-auth-request-error", "")
    seen = f"{status}" + (f", X-Auth-Request-Error: {error}" if error else "")
    if status != step.status or error != step.error:
        wanted = f"{step.status}" + (f", X-Auth-Request-Error: {step.error}" if step.error else "")
        return Outcome(step, False, f"expected {wanted}, got {seen}")
    if step.received is None:
        return Outcome(step, True, seen)
    try:
        app_headers = json.loads(body)["headers"]
    except (ValueError, KeyError, TypeError):
        return Outcome(step, False, f"got {seen}, but not the app's echo")
    for name, value in step.received.items():
        if app_headers.get(name) != value:
            return Outcome(step, False, f"got {seen}, but the app received {name}: {value!r}")
    shown = ", ".join(f"{name}: {value}" for name, value in step.received.items())
    return Outcome(step, True, f"{seen}; the app received {shown}")


def _sh(script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script],  # noqa: S607  # the user's own `sh`, as they would paste it
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _parse_http(output: str) -> tuple[int, dict[str, str], str]:
    """`curl -i` output: the status, headers by lower-case name, and the body."""
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.splitlines() or [""]
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no error output)"
