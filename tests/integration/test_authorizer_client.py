"""The real AuthorizerClient against the fake Authorizer over HTTP, both dialects."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from authsvc.authorizer import AuthorizerClient
from authsvc.breaker import CircuitBreaker
from authsvc.errors import AuthorizerUnavailable, InvalidCredentials
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer
from tests.support.processes import free_port

PASSWORD = "correct horse battery staple"


def client_for(url: str, **env: str) -> AuthorizerClient:
    return AuthorizerClient(Settings.from_environ({"AUTHORIZER_URL": url, **env}))


@pytest.fixture
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer() as fake:
        fake.add_user("alice@example.com", PASSWORD, roles=["user", "admin"])
        yield fake


@pytest.fixture
def client(fake: FakeAuthorizer) -> Iterator[AuthorizerClient]:
    client = client_for(fake.url, AUTHORIZER_CLIENT_ID=fake.client_id)
    yield client
    client.close()


def test_access_token_is_confirmed_with_its_login_time_roles(
    fake: FakeAuthorizer, client: AuthorizerClient
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    identity = client.verify_token(tokens.access_token, "access_token")
    assert identity.subject == tokens.user_id
    assert identity.roles == ("user",)  # default roles at login, not allowed_roles
    assert identity.token_type == "access_token"
    assert identity.expires_at is not None
    assert time.time() < identity.expires_at <= time.time() + 1800


def test_id_token_roles_and_email_are_read_from_its_claims(
    fake: FakeAuthorizer, client: AuthorizerClient
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD, roles=["user", "admin"])
    identity = client.verify_token(tokens.id_token, "id_token")
    assert identity.email == "alice@example.com"
    assert set(identity.roles) == {"user", "admin"}


def test_logged_out_access_token_is_refused(fake: FakeAuthorizer, client: AuthorizerClient) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    fake.logout(access_token=tokens.access_token)
    with pytest.raises(InvalidCredentials):
        client.verify_token(tokens.access_token, "access_token")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1_000_000_000},  # expired
        {"iss": "https://other.example.com"},  # another issuer
        {"sub": ""},
    ],
)
def test_tokens_authorizer_rejects_are_invalid(
    fake: FakeAuthorizer, client: AuthorizerClient, claims: dict[str, object]
) -> None:
    token = fake.sign({**fake.token_claims(token_type="id_token"), **claims})
    with pytest.raises(InvalidCredentials):
        client.verify_token(token, "id_token")


def test_token_signed_by_another_key_is_invalid(client: AuthorizerClient) -> None:
    with FakeAuthorizer() as other:
        token = other.sign(other.token_claims(token_type="id_token"))
    with pytest.raises(InvalidCredentials):
        client.verify_token(token, "id_token")


def test_session_cookie_is_confirmed_and_roles_checked_by_authorizer(
    fake: FakeAuthorizer, client: AuthorizerClient
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)  # session roles: ["user"]
    identity = client.verify_session(tokens.session_cookie)
    assert identity.subject == tokens.user_id
    assert identity.email == "alice@example.com"
    assert client.verify_session(tokens.session_cookie, ["user"]).roles == ("user",)
    with pytest.raises(InvalidCredentials):
        client.verify_session(tokens.session_cookie, ["admin"])  # the user has it; the session not


def test_requests_carry_origin_client_id_and_public_url(fake: FakeAuthorizer) -> None:
    client = client_for(
        fake.url, AUTHORIZER_CLIENT_ID=fake.client_id, AUTHORIZER_PUBLIC_URL="https://a.example"
    )
    try:
        with pytest.raises(InvalidCredentials):
            client.verify_session("no-such-session")
    finally:
        client.close()
    seen = [r for r in fake.requests_seen if r.path == "/graphql"][-1]
    host = fake.url.removeprefix("http://")
    assert seen.headers["Origin"] == f"http://{host}"
    assert seen.headers["X-Authorizer-Client-ID"] == fake.client_id
    assert seen.headers["X-Authorizer-URL"] == "https://a.example"
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.headers["Accept"] == "application/json"


def test_works_against_authorizer_1x_which_takes_the_issuer_from_x_authorizer_url() -> None:
    """1.x derives `iss` from X-Authorizer-URL; authsvc reaching it by another name must send it."""
    with FakeAuthorizer(dialect="1.x") as fake:
        fake.add_user("bob@example.com", PASSWORD, roles=["user"])
        tokens = fake.login("bob@example.com", PASSWORD)
        public_url = fake.url
        internal_url = public_url.replace("127.0.0.1", "localhost")
        with_public = client_for(internal_url, AUTHORIZER_PUBLIC_URL=public_url)
        without = client_for(internal_url)
        try:
            assert with_public.verify_token(tokens.access_token, "access_token").subject
            assert with_public.verify_session(tokens.session_cookie).subject == tokens.user_id
            with pytest.raises(InvalidCredentials):
                without.verify_token(tokens.access_token, "access_token")
        finally:
            with_public.close()
            without.close()


@pytest.mark.parametrize("fault", ["http_500_html", "truncated_json", "rate_limited", "delay"])
def test_authorizer_faults_are_unavailable_never_a_decision(
    fake: FakeAuthorizer, fault: str
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    client = client_for(fake.url, AUTHSVC_AUTHORIZER_TIMEOUT="0.2")
    fake.set_fault(fault, delay_s=1.0)  # type: ignore[arg-type]  # parametrized literal
    try:
        with pytest.raises(AuthorizerUnavailable):
            client.verify_token(tokens.access_token, "access_token")
    finally:
        fake.set_fault(None)
        client.close()


def test_graphql_errors_without_extensions_are_a_definitive_no(
    fake: FakeAuthorizer, client: AuthorizerClient
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    fake.set_fault("errors_without_extensions")
    with pytest.raises(InvalidCredentials):
        client.verify_token(tokens.access_token, "access_token")


def test_rate_limit_is_unavailable_when_no_wait_is_allowed(fake: FakeAuthorizer) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    fake.set_rate_limit(rps=1, burst=1)
    client = client_for(fake.url, AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT="0")
    try:
        client.verify_token(tokens.access_token, "access_token")
        with pytest.raises(AuthorizerUnavailable):
            client.verify_token(tokens.access_token, "access_token")
    finally:
        client.close()


def test_rate_limit_is_waited_out_within_the_allowed_wait(fake: FakeAuthorizer) -> None:
    """Authorizer answers 429 with Retry-After: 1; a retry after the refill succeeds."""
    tokens = fake.login("alice@example.com", PASSWORD)
    fake.set_rate_limit(rps=4, burst=1)
    client = client_for(fake.url, AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT="3")
    try:
        fake.reset_counters()
        for _ in range(3):
            assert client.verify_token(tokens.access_token, "access_token").subject
        limited = [r for r in fake.requests_seen if r.path == "/graphql"]
        assert len(limited) > 3  # some were answered 429 and tried again
    finally:
        client.close()


def test_wrong_client_id_is_unavailable_not_a_denial(fake: FakeAuthorizer) -> None:
    """A misconfigured authsvc must not turn every user away as if their token were bad."""
    tokens = fake.login("alice@example.com", PASSWORD)
    client = client_for(fake.url, AUTHORIZER_CLIENT_ID="not-the-client")
    try:
        with pytest.raises(AuthorizerUnavailable):
            client.verify_token(tokens.access_token, "access_token")
    finally:
        client.close()


def test_refused_connection_is_unavailable() -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(AuthorizerUnavailable):
            client.verify_token("a.b.c", "access_token")
    finally:
        client.close()


def test_a_trickling_answer_is_abandoned_at_the_deadline(fake: FakeAuthorizer) -> None:
    """Every byte arrives well inside the read timeout, so only the overall deadline (connect
    plus read timeout) can stop the call."""
    tokens = fake.login("alice@example.com", PASSWORD)
    client = client_for(
        fake.url, AUTHSVC_AUTHORIZER_CONNECT_TIMEOUT="0.2", AUTHSVC_AUTHORIZER_TIMEOUT="0.5"
    )
    fake.set_fault("trickle", delay_s=0.1)  # ~40 s for the whole answer
    started = time.monotonic()
    try:
        with pytest.raises(AuthorizerUnavailable, match=r"no whole answer within 0\.7 s"):
            client.verify_token(tokens.access_token, "access_token")
        assert time.monotonic() - started < 1.5
    finally:
        fake.set_fault(None)
        client.close()


def test_circuit_opens_after_repeated_failures_and_closes_when_authorizer_answers(
    fake: FakeAuthorizer,
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    breaker = CircuitBreaker(failures=3, open_s=0.3, max_open_s=1, monotonic=time.monotonic)
    client = AuthorizerClient(Settings.from_environ({"AUTHORIZER_URL": fake.url}), breaker=breaker)
    try:
        fake.set_fault("http_500_html")
        for _ in range(3):
            with pytest.raises(AuthorizerUnavailable, match="500"):
                client.verify_token(tokens.access_token, "access_token")
        fake.reset_counters()
        with pytest.raises(AuthorizerUnavailable, match="circuit open"):
            client.verify_token(tokens.access_token, "access_token")
        assert fake.calls.get("validate_jwt_token", 0) == 0  # held back: Authorizer not asked
        fake.set_fault(None)
        deadline = time.monotonic() + 5
        while True:  # the first call after the open interval is the trial, and it succeeds
            try:
                identity = client.verify_token(tokens.access_token, "access_token")
                break
            except AuthorizerUnavailable:
                assert time.monotonic() < deadline, "the circuit never closed"
                time.sleep(0.05)  # bounded poll while the circuit is open
        assert identity.subject == tokens.user_id
        assert not breaker.is_open
    finally:
        fake.set_fault(None)
        client.close()


def test_a_storm_of_429s_is_logged_once_and_never_an_answer(
    fake: FakeAuthorizer, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = fake.login("alice@example.com", PASSWORD)
    client = client_for(fake.url, AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT="0")
    fake.set_fault("rate_limited")
    try:
        with caplog.at_level(logging.WARNING, logger="authsvc.authorizer"):
            for _ in range(20):
                with pytest.raises(AuthorizerUnavailable):
                    client.verify_token(tokens.access_token, "access_token")
        warnings = [r for r in caplog.records if r.name == "authsvc.authorizer"]
        assert len(warnings) == 1
        assert "429" in warnings[0].getMessage()
        assert tokens.access_token not in caplog.text
    finally:
        fake.set_fault(None)
        client.close()
