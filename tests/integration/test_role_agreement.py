"""Property: authsvc's cached, local role decision always agrees with Authorizer's own check.

authsvc confirms a token once and checks roles against the cached claims; for every generated
token and role set, the fake Authorizer asked with those roles must give the same answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import falcon.testing
import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

ROLE_NAMES = ["user", "admin", "Admin", "editor", "ops-1", "rôle", "管理者"]
ABSENT = object()

role_lists = st.lists(st.sampled_from(ROLE_NAMES), max_size=4)
odd_elements = st.lists(st.one_of(st.sampled_from(ROLE_NAMES), st.just(""), st.integers(0, 3)))
claim_values = st.one_of(
    st.just(ABSENT), role_lists, odd_elements, st.sampled_from(ROLE_NAMES), st.just([])
)
required_sets = st.lists(st.sampled_from(ROLE_NAMES), max_size=3, unique=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer() as fake:
        yield fake


@pytest.fixture(scope="module")
def client(fake: FakeAuthorizer) -> falcon.testing.TestClient:
    settings = Settings.from_environ({"AUTHORIZER_URL": fake.url, "AUTHSVC_CACHE_TTL": "300"})
    return falcon.testing.TestClient(create_app(settings))


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def authorizer_allows(
    http: requests.Session, fake: FakeAuthorizer, token: str, token_type: str, roles: list[str]
) -> bool:
    """Authorizer's own verdict: validate_jwt_token with `roles`, as its SDK asks."""
    body = {
        "query": "query v($params: ValidateJWTTokenRequest!)"
        "{ validate_jwt_token(params: $params) { is_valid claims } }",
        "variables": {"params": {"token_type": token_type, "token": token, "roles": roles}},
    }
    answer = http.post(f"{fake.url}/graphql", json=body, headers={"Origin": fake.url}, timeout=5)
    assert answer.status_code == 200
    return bool(answer.json()["data"])


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(role=claim_values, roles=claim_values, asked=st.lists(required_sets, min_size=1, max_size=4))
# The fallback rules, always tried: an empty or string `role` falls back to `roles`; a
# malformed element is "invalid claims" once any role is asked.
@example(role=[], roles=["admin"], asked=[["admin"], []])
@example(role="admin", roles=["user"], asked=[["admin"], ["user"]])
@example(role=ABSENT, roles=["admin"], asked=[["admin"]])
@example(role=["admin"], roles=["user"], asked=[["user"], ["admin"]])
@example(role=["admin", 1], roles=ABSENT, asked=[[], ["admin"]])
@example(role=["admin", ""], roles=ABSENT, asked=[["admin"]])
@example(role=["Admin"], roles=ABSENT, asked=[["admin"]])
def test_cached_decision_agrees_with_authorizer(
    fake: FakeAuthorizer,
    client: falcon.testing.TestClient,
    http: requests.Session,
    role: object,
    roles: object,
    asked: list[list[str]],
) -> None:
    claims = fake.token_claims(token_type="id_token")
    for name, value in (("role", role), ("roles", roles)):
        claims.pop(name, None)
        if value is not ABSENT:
            claims[name] = value
    token = fake.sign(claims)
    for required in asked:
        ours = client.simulate_get(
            "/verify",
            headers={"Authorization": f"Bearer {token}"},
            params={"roles": ",".join(required)},
        )
        assert ours.status_code in {200, 403}
        theirs = authorizer_allows(http, fake, token, "id_token", required)
        assert (ours.status_code == 200) == theirs, (
            claims.get("role"),
            claims.get("roles"),
            required,
        )


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    granted=st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=3, unique=True),
    asked=st.lists(required_sets, min_size=1, max_size=4),
)
def test_access_token_and_session_decisions_agree_with_authorizer(
    fake: FakeAuthorizer,
    client: falcon.testing.TestClient,
    http: requests.Session,
    granted: list[str],
    asked: list[list[str]],
) -> None:
    """Real logins: access tokens (roles checked locally) and sessions (asked of Authorizer)."""
    email = f"{uuid.uuid4()}@example.com"
    fake.add_user(email, "password-123", roles=ROLE_NAMES)
    tokens = fake.login(email, "password-123", roles=granted)
    for required in asked:
        query = {"roles": ",".join(required)}
        bearer = client.simulate_get(
            "/verify", headers={"Authorization": f"Bearer {tokens.access_token}"}, params=query
        )
        session = client.simulate_get(
            "/verify", headers={"Cookie": f"cookie_session={tokens.session_cookie}"}, params=query
        )
        theirs = authorizer_allows(http, fake, tokens.access_token, "access_token", required)
        assert (bearer.status_code == 200) == theirs, required
        assert (session.status_code == 200) == theirs, required
