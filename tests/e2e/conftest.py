"""Session fixtures for the end-to-end tests: the fake Authorizer, authsvc under gunicorn, an echo
app, and real nginx and Traefik running the deploy/ recipes unchanged.

The processes are started by tests/support/stack.py (shared with scripts/demo and the
benchmark); here its start-up errors become skips (a missing binary) or failures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.fakes.authorizer import FakeAuthorizer, Tokens
from tests.support import processes
from tests.support.echo_backend import EchoBackend
from tests.support.stack import (
    LOOPBACK,
    MissingBinary,
    Proxy,
    StackError,
    running_authsvc,
    running_caddy,
    running_nginx,
    running_traefik,
)

PROXY_NAMES = ("nginx", "traefik", "caddy")
CLIENT_ID = "authsvc-e2e"
USER = ("ada@example.com", "ada's password 1", ("user",))
ADMIN = ("grace@example.com", "grace's password 1", ("user", "admin"))


@dataclass(frozen=True, slots=True)
class Login:
    """A signed-in test user and the roles their credentials carry."""

    email: str
    roles: frozenset[str]
    tokens: Tokens


@contextlib.contextmanager
def stack_outcomes() -> Iterator[None]:
    """Turn the stack's start-up errors into test outcomes: a missing binary skips, with its
    reason; any other `StackError` (a broken install or recipe) fails."""
    try:
        yield
    except MissingBinary as exc:
        pytest.skip(str(exc))
    except StackError as exc:
        pytest.fail(str(exc))


class Proxies:
    """Starts each (proxy, authsvc URL) pair on first use and keeps it for the session."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, app_url: str) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._app_url = app_url
        self._running: dict[tuple[str, str], Proxy] = {}
        self._stack = contextlib.ExitStack()

    def get(self, name: str, authsvc_url: str) -> Proxy:
        key = (name, authsvc_url)
        if key not in self._running:
            launch = {"nginx": running_nginx, "traefik": running_traefik, "caddy": running_caddy}[
                name
            ]
            workdir = self._tmp_path_factory.mktemp(name)
            with stack_outcomes():
                self._running[key] = self._stack.enter_context(
                    launch(workdir, authsvc_url=authsvc_url, app_url=self._app_url)
                )
        return self._running[key]

    def close(self) -> None:
        self._stack.close()


# --- Fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def authorizer() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer(client_id=CLIENT_ID) as fake:
        for email, password, roles in (USER, ADMIN):
            fake.add_user(email, password, roles)
        yield fake


def _login(authorizer: FakeAuthorizer, account: tuple[str, str, tuple[str, ...]]) -> Login:
    email, password, roles = account
    tokens = authorizer.login(email, password, roles=list(roles))
    return Login(email=email, roles=frozenset(roles), tokens=tokens)


@pytest.fixture(scope="session")
def user(authorizer: FakeAuthorizer) -> Login:
    """A signed-in user with the role "user" only."""
    return _login(authorizer, USER)


@pytest.fixture(scope="session")
def admin(authorizer: FakeAuthorizer) -> Login:
    """A signed-in user whose credentials carry "user" and "admin"."""
    return _login(authorizer, ADMIN)


@pytest.fixture(scope="session")
def app() -> Iterator[EchoBackend]:
    """The protected application: echoes what the proxy passed on, and records it."""
    with EchoBackend() as backend:
        yield backend


@pytest.fixture(scope="session")
def auth_spy() -> Iterator[EchoBackend]:
    """Stands in for authsvc: allows every request and records the check the proxy sent."""
    with EchoBackend() as backend:
        yield backend


def authsvc_settings(authorizer: FakeAuthorizer, **overrides: str) -> dict[str, str]:
    return {"AUTHORIZER_URL": authorizer.url, "AUTHORIZER_CLIENT_ID": CLIENT_ID, **overrides}


@pytest.fixture(scope="session")
def authsvc(tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer) -> Iterator[str]:
    """authsvc with its defaults (403 for every denial), asking the fake Authorizer."""
    workdir = tmp_path_factory.mktemp("authsvc")
    with stack_outcomes(), running_authsvc(workdir, authsvc_settings(authorizer)) as url:
        yield url


@pytest.fixture(scope="session")
def authsvc_without_authorizer(
    tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer
) -> Iterator[str]:
    """authsvc whose Authorizer URL is a closed port: whatever it must confirm ends in 503."""
    closed = f"http://{LOOPBACK}:{processes.free_port()}"
    workdir = tmp_path_factory.mktemp("authsvc-outage")
    with (
        stack_outcomes(),
        running_authsvc(workdir, authsvc_settings(authorizer, AUTHORIZER_URL=closed)) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def authsvc_answering_401(
    tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer
) -> Iterator[str]:
    """authsvc with AUTHSVC_UNAUTHENTICATED_STATUS=401."""
    settings = authsvc_settings(authorizer, AUTHSVC_UNAUTHENTICATED_STATUS="401")
    with stack_outcomes(), running_authsvc(tmp_path_factory.mktemp("authsvc-401"), settings) as url:
        yield url


@pytest.fixture(scope="session")
def proxies(tmp_path_factory: pytest.TempPathFactory, app: EchoBackend) -> Iterator[Proxies]:
    running = Proxies(tmp_path_factory, app.url)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session", params=PROXY_NAMES)
def proxy(request: pytest.FixtureRequest, proxies: Proxies, authsvc: str) -> Proxy:
    """Each proxy in turn, in front of authsvc and the app."""
    return proxies.get(request.param, authsvc)


@pytest.fixture(scope="session", params=PROXY_NAMES)
def spied_proxy(request: pytest.FixtureRequest, proxies: Proxies, auth_spy: EchoBackend) -> Proxy:
    """Each proxy in turn, asking `auth_spy` instead of authsvc."""
    return proxies.get(request.param, auth_spy.url)


@pytest.fixture(scope="session", params=PROXY_NAMES)
def proxy_during_outage(
    request: pytest.FixtureRequest, proxies: Proxies, authsvc_without_authorizer: str
) -> Proxy:
    """Each proxy in turn, in front of an authsvc that cannot reach Authorizer."""
    return proxies.get(request.param, authsvc_without_authorizer)


@pytest.fixture(scope="session", params=PROXY_NAMES)
def proxy_with_401(
    request: pytest.FixtureRequest, proxies: Proxies, authsvc_answering_401: str
) -> Proxy:
    """Each proxy in turn, in front of an authsvc answering 401 to missing credentials."""
    return proxies.get(request.param, authsvc_answering_401)


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    """The client. It ignores HTTP_PROXY and friends: every server here is on loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session
