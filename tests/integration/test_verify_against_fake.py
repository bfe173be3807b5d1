"""The real app (real Authorizer client and cache) against the fake Authorizer over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import falcon.testing
import pytest
import requests

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

PASSWORD = "a long enough password"


@pytest.fixture
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer(client_id="it-client") as fake:
        fake.add_user("ann@example.com", PASSWORD, roles=["user", "admin", "editor"])
        yield fake


def app_for(fake: FakeAuthorizer, **env: str) -> falcon.testing.TestClient:
    settings = Settings.from_environ(
        {"AUTHORIZER_URL": fake.url, "AUTHORIZER_CLIENT_ID": fake.client_id, **env}
    )
    return falcon.testing.TestClient(create_app(settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_one_authorizer_call_serves_every_request_and_role_variant(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD, roles=["user", "editor"])
    client = app_for(fake)
    fake.reset_counters()
    expected = {"": 200, "roles=user": 200, "roles=editor,user": 200, "roles=admin": 403}
    for _ in range(5):
        for query, status in expected.items():
            result = client.simulate_get(
                "/verify", headers=bearer(tokens.access_token), query_string=query
            )
            assert result.status_code == status, query
    assert fake.calls["validate_jwt_token"] == 1


def test_decisions_agree_with_authorizers_own_role_check(fake: FakeAuthorizer) -> None:
    """authsvc checks roles locally; Authorizer, asked with the same roles, must agree."""
    tokens = fake.login("ann@example.com", PASSWORD, roles=["user", "editor"])
    client = app_for(fake)
    for roles in ([], ["user"], ["editor"], ["user", "editor"], ["admin"], ["user", "admin"]):
        ours = client.simulate_get(
            "/verify", headers=bearer(tokens.access_token), params={"roles": ",".join(roles)}
        ).status_code
        assert (ours == 200) == authorizer_allows(fake, tokens.access_token, roles), roles


def authorizer_allows(fake: FakeAuthorizer, token: str, roles: list[str]) -> bool:
    """Ask the fake's own validate_jwt_token with ``roles``, as a 2.4 SDK client would."""
    query = (
        "query validate_jwt_token($params: ValidateJWTTokenRequest!)"
        "{validate_jwt_token(params: $params) { is_valid claims } }"
    )
    body = {
        "query": query,
        "variables": {"params": {"token_type": "access_token", "token": token, "roles": roles}},
    }
    origin = {"Origin": fake.url}
    with requests.post(f"{fake.url}/graphql", json=body, headers=origin, timeout=5) as answer:
        assert answer.status_code == 200
        return answer.json().get("data") is not None


def test_logout_is_seen_once_the_cache_entry_ends(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD)
    cached = app_for(fake)
    uncached = app_for(fake, AUTHSVC_CACHE_TTL="0")
    assert cached.simulate_get("/verify", headers=bearer(tokens.access_token)).status_code == 200
    fake.logout(access_token=tokens.access_token)
    # Within AUTHSVC_CACHE_TTL the confirmed token still passes: the documented trade-off.
    assert cached.simulate_get("/verify", headers=bearer(tokens.access_token)).status_code == 200
    denied = uncached.simulate_get("/verify", headers=bearer(tokens.access_token))
    assert denied.status_code == 403
    assert denied.headers["X-Auth-Request-Error"] == "invalid_credential"


def test_refresh_token_is_refused_without_asking_authorizer(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD, scope=["openid", "offline_access"])
    assert tokens.refresh_token
    fake.reset_counters()
    result = app_for(fake).simulate_get("/verify", headers=bearer(tokens.refresh_token))
    assert result.status_code == 403
    assert result.headers["X-Auth-Request-Error"] == "invalid_credential"
    assert fake.calls["validate_jwt_token"] == 0


def test_id_token_passed_off_as_an_access_token_is_checked_as_an_id_token(
    fake: FakeAuthorizer,
) -> None:
    """Authorizer ignores the token_type claim; authsvc asks with the token's own type."""
    tokens = fake.login("ann@example.com", PASSWORD, roles=["user", "admin"])
    client = app_for(fake, AUTHSVC_TOKEN_TYPES="access_token")
    result = client.simulate_get("/verify", headers=bearer(tokens.id_token))
    assert result.status_code == 403
    ok = app_for(fake).simulate_get("/verify", headers=bearer(tokens.id_token))
    assert ok.status_code == 200
    assert ok.headers["X-Auth-Request-Email"] == "ann@example.com"
    assert ok.headers["X-Auth-Request-Roles"] == "user,admin"


def test_session_cookie_is_checked_against_login_time_roles(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD)  # session roles: the default ["user"]
    client = app_for(fake)
    cookie = {"Cookie": f"cookie_session={tokens.session_cookie}"}
    ok = client.simulate_get("/verify", headers=cookie)
    assert ok.status_code == 200
    assert ok.headers["X-Auth-Request-User"] == tokens.user_id
    assert client.simulate_get("/verify?roles=user", headers=cookie).status_code == 200
    denied = client.simulate_get("/verify?roles=admin", headers=cookie)  # the user has admin
    assert denied.status_code == 403
    assert denied.headers["X-Auth-Request-Error"] == "missing_role"
    fake.logout(session_cookie=tokens.session_cookie)
    after = app_for(fake).simulate_get("/verify", headers=cookie)
    assert after.headers["X-Auth-Request-Error"] == "invalid_credential"


def test_rate_limited_authorizer_gives_503_never_200(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD)
    fake.set_rate_limit(rps=0.001, burst=1)
    client = app_for(fake, AUTHSVC_CACHE_TTL="0")
    assert client.simulate_get("/verify", headers=bearer(tokens.access_token)).status_code == 200
    limited = client.simulate_get("/verify", headers=bearer(tokens.access_token))
    assert limited.status_code == 503
    assert limited.headers["X-Auth-Request-Error"] == "authorizer_unavailable"


def test_works_against_authorizer_1x() -> None:
    with FakeAuthorizer(dialect="1.x") as old:
        old.add_user("ann@example.com", PASSWORD, roles=["user", "admin"])
        tokens = old.login("ann@example.com", PASSWORD, roles=["admin"])
        client = app_for(old, AUTHSVC_ROLE_CLAIM="roles")
        for token in (tokens.access_token, tokens.id_token):
            result = client.simulate_get("/verify?roles=admin", headers=bearer(token))
            assert result.status_code == 200
        cookie = {"Cookie": f"cookie_session={tokens.session_cookie}"}
        assert client.simulate_get("/verify?roles=admin", headers=cookie).status_code == 200


def test_no_token_or_cookie_appears_in_any_answer(fake: FakeAuthorizer) -> None:
    tokens = fake.login("ann@example.com", PASSWORD)
    client = app_for(fake)
    answers = [
        client.simulate_get("/verify", headers=bearer(tokens.access_token)),
        client.simulate_get("/verify?roles=nope", headers=bearer(tokens.access_token)),
        client.simulate_get("/verify", headers=bearer(tokens.access_token[:-4] + "AAAA")),
        client.simulate_get(
            "/verify", headers={"Cookie": f"cookie_session={tokens.session_cookie}x"}
        ),
    ]
    for answer in answers:
        text = answer.text + "".join(f"{k}: {v}" for k, v in answer.headers.items())
        assert tokens.access_token[:40] not in text
        assert tokens.session_cookie[:20] not in text


def test_authorizer_internal_error_is_not_remembered(fake: FakeAuthorizer) -> None:
    """A 1.x-style "internal system error" denies now, but the next answer is asked afresh."""
    tokens = fake.login("ann@example.com", PASSWORD)
    client = app_for(fake)
    fake.set_fault("internal_system_error")
    denied = client.simulate_get("/verify", headers=bearer(tokens.access_token))
    assert denied.status_code == 403
    assert denied.headers["Cache-Control"] == "no-store"
    fake.set_fault(None)
    assert client.simulate_get("/verify", headers=bearer(tokens.access_token)).status_code == 200
