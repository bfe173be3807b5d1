"""The /verify contract through the real Falcon app, with a scripted Authorizer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import falcon.testing
import jwt
import pytest

from authsvc.app import create_app
from authsvc.errors import AuthorizerUnavailable, InvalidCredentials, UnconfirmedRejection
from authsvc.identity import Identity, identity_from_claims
from authsvc.settings import Settings
from tests.jwts import make_jwt

ADMIN = make_jwt(sub="admin-1", roles=["user", "admin"])
USER = make_jwt(sub="user-1", roles=["user"])
ID_TOKEN = make_jwt(sub="user-2", token_type="id_token", role=["editor"], email="e@example.com")
REVOKED = make_jwt(sub="gone")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "BREW"]


class StubAuthorizer:
    """Confirms the tokens it knows; sessions map a cookie to (identity, login-time roles)."""

    def __init__(self) -> None:
        self.tokens = {ADMIN: "admin-1", USER: "user-1", ID_TOKEN: "user-2"}
        self.sessions = {"sess-1": ("user-3", ("user",))}
        self.down = False
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def verify_token(self, token: str, token_type: str) -> Identity:
        self.calls.append(("token", (token_type,)))
        if self.down:
            raise AuthorizerUnavailable("down")
        if token not in self.tokens:
            raise InvalidCredentials("invalid token")
        return identity_from_claims(jwt.decode(token, options={"verify_signature": False}), "role")

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity:
        self.calls.append(("session", tuple(roles)))
        if self.down:
            raise AuthorizerUnavailable("down")
        if cookie not in self.sessions:
            raise InvalidCredentials("unauthorized")
        subject, granted = self.sessions[cookie]
        if not set(roles) <= set(granted):
            raise InvalidCredentials("unauthorized")
        return Identity(subject=subject, email="s@example.com", roles=tuple(roles))


@pytest.fixture
def stub() -> StubAuthorizer:
    return StubAuthorizer()


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def client_for(
    stub: StubAuthorizer, clock: Callable[[], float] = time.time, **env: str
) -> falcon.testing.TestClient:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://authorizer.test", **env})
    return falcon.testing.TestClient(create_app(settings, authorizer=stub, clock=clock))


@pytest.fixture
def client(stub: StubAuthorizer) -> falcon.testing.TestClient:
    return client_for(stub)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")  # PROPFIND, BREW
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", ["/verify", "/verify/", "/verify/api/v1/items"])
def test_every_method_and_suffix_gets_the_same_decision(
    client: falcon.testing.TestClient, method: str, path: str
) -> None:
    allowed = client.simulate_request(
        method, path, headers=bearer(ADMIN), params={"roles": "admin"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["X-Auth-Request-User"] == "admin-1"
    denied = client.simulate_request(method, path, headers=bearer(USER), params={"roles": "admin"})
    assert denied.status_code == 403
    assert denied.headers["X-Auth-Request-Error"] == "missing_role"
    anonymous = client.simulate_request(method, path)
    assert anonymous.status_code == 403
    assert anonymous.headers["X-Auth-Request-Error"] == "missing_credential"


def test_allow_is_exactly_200_with_all_identity_headers(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/verify", headers=bearer(ADMIN))
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "admin-1"
    assert result.headers["X-Auth-Request-Email"] == ""  # access tokens carry no email
    assert result.headers["X-Auth-Request-Roles"] == "user,admin"
    assert ADMIN not in result.text


def test_id_token_roles_come_from_the_role_claim(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/verify", headers=bearer(ID_TOKEN), params={"roles": "editor"})
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-Email"] == "e@example.com"
    assert result.headers["X-Auth-Request-Roles"] == "editor"


@pytest.mark.parametrize(
    "query",
    [
        "roles=admin",
        "roles=user,admin",
        "roles=admin&roles=",
        "roles=&roles=admin",
        "roles=,admin,",
    ],
)
def test_every_listed_role_is_required(client: falcon.testing.TestClient, query: str) -> None:
    assert (
        client.simulate_get("/verify", headers=bearer(USER), query_string=query).status_code == 403
    )
    assert (
        client.simulate_get("/verify", headers=bearer(ADMIN), query_string=query).status_code == 200
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_credential"),
        (bearer("garbage"), "invalid_credential"),
        (bearer(REVOKED), "invalid_credential"),
        (bearer(make_jwt(token_type="refresh_token")), "invalid_credential"),
    ],
)
def test_denial_names_its_reason_in_header_and_body(
    client: falcon.testing.TestClient, headers: dict[str, str], reason: str
) -> None:
    result = client.simulate_get("/verify", headers=headers)
    assert result.status_code == 403
    assert result.headers["X-Auth-Request-Error"] == reason
    assert result.json["error"] == reason
    assert "WWW-Authenticate" not in result.headers
    assert result.headers["X-Auth-Request-User"] == ""


def test_401_mode_challenges_missing_and_invalid_but_not_missing_role(
    stub: StubAuthorizer,
) -> None:
    client = client_for(stub, AUTHSVC_UNAUTHENTICATED_STATUS="401")
    missing = client.simulate_get("/verify")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    invalid = client.simulate_get("/verify", headers=bearer(REVOKED))
    assert invalid.status_code == 401
    assert invalid.headers["WWW-Authenticate"] == 'Bearer realm="authsvc", error="invalid_token"'
    role = client.simulate_get("/verify", headers=bearer(USER), params={"roles": "admin"})
    assert role.status_code == 403
    assert "WWW-Authenticate" not in role.headers


def test_authorizer_outage_is_503_and_not_cached(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    stub.down = True
    result = client.simulate_get("/verify", headers=bearer(ADMIN))
    assert result.status_code == 503
    assert result.headers["X-Auth-Request-Error"] == "authorizer_unavailable"
    assert result.headers["Retry-After"] == "1"
    stub.down = False
    assert client.simulate_get("/verify", headers=bearer(ADMIN)).status_code == 200


def test_open_circuit_answers_503_with_the_time_to_its_next_trial(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    def held_back(token: str, token_type: str) -> Identity:
        refusal = AuthorizerUnavailable("circuit open")
        refusal.retry_after_s = 7
        raise refusal

    stub.verify_token = held_back  # type: ignore[method-assign]  # scripted failure
    result = client.simulate_get("/verify", headers=bearer(ADMIN))
    assert result.status_code == 503
    assert result.headers["Retry-After"] == "7"
    assert result.headers["Cache-Control"] == "no-store"


def test_confirmed_token_is_reused_for_every_role_variant(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    for query in ["", "roles=user", "roles=admin", "roles=user,admin", "roles=ops"]:
        client.simulate_get("/verify", headers=bearer(ADMIN), query_string=query)
    assert stub.calls == [("token", ("access_token",))]


def test_cache_ttl_zero_asks_authorizer_every_time(stub: StubAuthorizer) -> None:
    client = client_for(stub, AUTHSVC_CACHE_TTL="0")
    for _ in range(3):
        assert client.simulate_get("/verify", headers=bearer(ADMIN)).status_code == 200
    assert len(stub.calls) == 3


def test_session_cookie_roles_are_checked_by_authorizer(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    cookie = {"Cookie": "cookie_session=sess-1"}
    ok = client.simulate_get("/verify", headers=cookie, params={"roles": "user"})
    assert ok.status_code == 200
    assert ok.headers["X-Auth-Request-User"] == "user-3"
    assert ok.headers["X-Auth-Request-Email"] == "s@example.com"
    assert ok.headers["X-Auth-Request-Roles"] == "user"
    denied = client.simulate_get("/verify", headers=cookie, params={"roles": "admin"})
    assert denied.status_code == 403
    assert denied.headers["X-Auth-Request-Error"] == "missing_role"
    assert stub.calls == [("session", ()), ("session", ("user",)), ("session", ("admin",))]


def test_unknown_session_cookie_is_invalid(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/verify", headers={"Cookie": "cookie_session=nope"})
    assert result.status_code == 403
    assert result.headers["X-Auth-Request-Error"] == "invalid_credential"


def test_claims_outside_latin1_reach_the_headers_as_utf8(stub: StubAuthorizer) -> None:
    token = make_jwt(sub="ユーザー", roles=["管理者"])
    stub.tokens[token] = "x"
    result = client_for(stub).simulate_get("/verify", headers=bearer(token))
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"].encode("latin-1").decode() == "ユーザー"


def test_healthz_answers_while_the_process_is_up(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/healthz")
    assert result.status_code == 200
    assert result.json == {"status": "ok"}


def test_other_paths_are_not_found(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/verifyx", headers=bearer(ADMIN)).status_code == 404


def test_allow_may_be_reused_until_the_cache_entry_or_the_token_ends(stub: StubAuthorizer) -> None:
    clock = FakeClock()
    client = client_for(stub, clock)
    first = client.simulate_get("/verify", headers=bearer(ADMIN))
    assert first.headers["Cache-Control"] == "private, max-age=30"
    assert first.headers["X-Accel-Expires"] == "30"
    clock.now += 12
    again = client.simulate_get("/verify", headers=bearer(ADMIN))
    assert again.headers["Cache-Control"] == "private, max-age=18"
    short = make_jwt(sub="short", exp=int(clock.now) + 7)
    stub.tokens[short] = "short"
    capped = client.simulate_get("/verify", headers=bearer(short))
    assert capped.status_code == 200
    assert capped.headers["X-Accel-Expires"] in {"6", "7"}


def test_denial_may_be_reused_for_the_negative_ttl(client: falcon.testing.TestClient) -> None:
    for headers in ({}, bearer(REVOKED), bearer(USER)):
        result = client.simulate_get("/verify?roles=admin", headers=headers)
        assert result.status_code == 403
        assert result.headers["Cache-Control"] == "private, max-age=5"
        assert result.headers["X-Accel-Expires"] == "5"


def test_unavailable_is_never_reused(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    stub.down = True
    for _ in range(2):
        result = client.simulate_get("/verify", headers=bearer(ADMIN))
        assert result.status_code == 503
        assert result.headers["Cache-Control"] == "no-store"
        assert result.headers["X-Accel-Expires"] == "0"
    assert len(stub.calls) == 2


def test_disabled_cache_answers_no_store(stub: StubAuthorizer) -> None:
    client = client_for(stub, AUTHSVC_CACHE_TTL="0", AUTHSVC_NEGATIVE_CACHE_TTL="0")
    assert client.simulate_get("/verify", headers=bearer(ADMIN)).headers["Cache-Control"] == (
        "no-store"
    )
    assert client.simulate_get("/verify").headers["Cache-Control"] == "no-store"


def test_definitive_no_is_remembered_for_the_negative_ttl(stub: StubAuthorizer) -> None:
    clock = FakeClock()
    client = client_for(stub, clock)
    for _ in range(5):
        assert client.simulate_get("/verify", headers=bearer(REVOKED)).status_code == 403
    assert len(stub.calls) == 1
    clock.now += 5
    assert client.simulate_get("/verify", headers=bearer(REVOKED)).status_code == 403
    assert len(stub.calls) == 2


def test_refused_token_type_never_reaches_authorizer(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    refresh = make_jwt(token_type="refresh_token")
    stub.tokens[refresh] = "x"
    for _ in range(3):
        result = client.simulate_get("/verify", headers=bearer(refresh))
        assert result.headers["X-Auth-Request-Error"] == "invalid_credential"
    assert stub.calls == []


def test_session_missing_role_is_remembered_per_role_set(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    cookie = {"Cookie": "cookie_session=sess-1"}
    for _ in range(3):
        assert client.simulate_get("/verify?roles=admin", headers=cookie).status_code == 403
        assert client.simulate_get("/verify?roles=user", headers=cookie).status_code == 200
    assert stub.calls == [("session", ()), ("session", ("admin",)), ("session", ("user",))]


@pytest.mark.parametrize("query", ["role=admin", "ROLES=admin", "roles[]=admin", "roles=&Role=x"])
def test_misspelt_roles_parameter_fails_closed(
    client: falcon.testing.TestClient, query: str
) -> None:
    result = client.simulate_get("/verify", headers=bearer(ADMIN), query_string=query)
    assert result.status_code == 400
    assert result.headers["X-Auth-Request-Error"] == "invalid_request"
    assert result.json["error"] == "invalid_request"


def test_remembered_denial_is_reusable_only_for_what_is_left_of_it(stub: StubAuthorizer) -> None:
    clock = FakeClock()
    client = client_for(stub, clock)
    assert client.simulate_get("/verify", headers=bearer(REVOKED)).headers["X-Accel-Expires"] == "5"
    clock.now += 3.5
    later = client.simulate_get("/verify?roles=user", headers=bearer(REVOKED))
    assert later.headers["X-Accel-Expires"] == "1"
    assert later.headers["Cache-Control"] == "private, max-age=1"
    assert len(stub.calls) == 1


def test_unconfirmed_rejection_denies_but_is_never_remembered_or_reusable(
    stub: StubAuthorizer,
) -> None:
    flaky = make_jwt(sub="flaky")

    def storage_failure(token: str, token_type: str) -> Identity:
        stub.calls.append(("token", (token_type,)))
        raise UnconfirmedRejection("validate_jwt_token: sql: database is closed")

    stub.verify_token = storage_failure  # type: ignore[method-assign]  # scripted failure
    client = client_for(stub)
    for _ in range(2):
        result = client.simulate_get("/verify", headers=bearer(flaky))
        assert result.status_code == 403
        assert result.headers["Cache-Control"] == "no-store"
        assert result.headers["X-Accel-Expires"] == "0"
    assert len(stub.calls) == 2
