"""The fake Authorizer matches the contract (/work/shared/authorizer-contract.md §9), over HTTP.

Each test speaks to a real FakeAuthorizer on loopback with `requests`, the way authsvc will, so a
passing suite means a client written against the fake behaves the same against Authorizer.
"""

from __future__ import annotations

import base64
import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.fakes.authorizer import FakeAuthorizer, FakeAuthorizerError
from tests.fakes.fixtures import FakeAuthorizerFactory

pytest_plugins = ["tests.fakes.fixtures"]

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATE_2_4 = (
    "query validate_jwt_token($params: ValidateJWTTokenRequest!)"
    "{validate_jwt_token(params: $params) { is_valid claims } }"
)
VALIDATE_1_X = (
    "query validateJWTToken($params: ValidateJWTTokenInput!)"
    "{validate_jwt_token(params: $params) { is_valid claims } }"
)
VALIDATE_SESSION = (
    "query validate_session($params: ValidateSessionRequest)"
    "{validate_session(params: $params) { is_valid user { id email roles created_at } } }"
)
LOGIN_2_4 = (
    "mutation login($data: LoginRequest!) { login(params: $data) { message access_token "
    "expires_in refresh_token id_token should_show_totp_screen user { id roles } } }"
)
PASSWORD = "correct horse"
CSRF_MISSING = {
    "error": "csrf_validation_failed",
    "error_description": "Origin or Referer header is required for state-changing requests",
}
RATE_LIMITED = {
    "error": "rate_limit_exceeded",
    "error_description": "Too many requests. Please try again later.",
}


def post(
    fake: FakeAuthorizer,
    path: str,
    payload: object | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    origin: bool = True,
    timeout: float = 5.0,
) -> requests.Response:
    """POST like a correct backend (Origin = the URL it connects to) unless told otherwise."""
    sent = {"Origin": fake.url} if origin else {}
    sent.update(headers or {})
    if data is not None:
        return requests.post(fake.url + path, data=data, headers=sent, timeout=timeout)
    return requests.post(fake.url + path, json=payload, headers=sent, timeout=timeout)


def gql(
    fake: FakeAuthorizer,
    query: str,
    variables: Mapping[str, object] | None = None,
    **options: Any,
) -> requests.Response:
    return post(fake, "/graphql", {"query": query, "variables": dict(variables or {})}, **options)


def validate(
    fake: FakeAuthorizer,
    token: str,
    token_type: str = "access_token",  # noqa: S107  # a token type name
    roles: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """validate_jwt_token with the dialect's SDK document; returns the JSON body (HTTP 200)."""
    params: dict[str, object] = {"token_type": token_type, "token": token}
    if roles is not None:
        params["roles"] = list(roles)
    query = VALIDATE_1_X if fake.dialect == "1.x" else VALIDATE_2_4
    response = gql(fake, query, {"params": params}, **options)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The single resolver error; the envelope always has data null."""
    assert body["data"] is None
    assert len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    assert "locations" not in error
    return error


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def alice(fake_authorizer: FakeAuthorizer) -> str:
    return fake_authorizer.add_user("alice@example.com", PASSWORD, ["user", "admin"])


# -- transport ------------------------------------------------------------------------------


def test_get_graphql_is_404(fake_authorizer: FakeAuthorizer) -> None:
    response = requests.get(fake_authorizer.url + "/graphql", timeout=5)
    assert response.status_code == 404


def test_non_json_media_type_is_transport_not_supported(fake_authorizer: FakeAuthorizer) -> None:
    response = post(
        fake_authorizer,
        "/graphql",
        data=b"query { __typename }",
        headers={"Content-Type": "text/plain", "X-Requested-With": "XMLHttpRequest"},
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "transport not supported"}], "data": None}


def test_charset_parameter_is_accepted(fake_authorizer: FakeAuthorizer) -> None:
    response = post(
        fake_authorizer,
        "/graphql",
        data=b'{"query":"{ __typename }"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    # python-requests sends Accept: */*, which gqlgen answers with the GraphQL media type.
    assert response.headers["Content-Type"] == "application/graphql-response+json"


def test_undecodable_json_is_400_with_go_decoder_text(fake_authorizer: FakeAuthorizer) -> None:
    response = post(
        fake_authorizer, "/graphql", data=b"xyz", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    message = error_of(response.json())["message"]
    assert message == (
        "json request body could not be decoded: "
        "invalid character 'x' looking for beginning of value body:xyz"
    )


def test_body_over_one_mib_is_rejected(fake_authorizer: FakeAuthorizer) -> None:
    big = json.dumps({"query": "{ __typename }", "pad": "x" * (1 << 20)}).encode()
    response = post(
        fake_authorizer, "/graphql", data=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "request body too large" in error_of(response.json())["message"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (VALIDATE_2_4, {"params": {"token_type": "id_token", "token": "TOKEN"}}),
        (
            'query { validate_jwt_token(params: {token_type: "id_token", token: "TOKEN"})'
            " { is_valid claims } }",
            {},
        ),
        (
            "query($t: String!, $tt: String!) { validate_jwt_token(params: "
            "{token: $t, token_type: $tt}) { is_valid claims } }",
            {"t": "TOKEN", "tt": "id_token"},
        ),
    ],
    ids=["variables", "inline", "inline-from-scalars"],
)
def test_variable_and_inline_argument_forms_both_work(
    fake_authorizer: FakeAuthorizer, alice: str, query: str, variables: dict[str, Any]
) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    document = query.replace("TOKEN", tokens.id_token)
    filled = json.loads(json.dumps(variables).replace("TOKEN", tokens.id_token))
    body = gql(fake_authorizer, document, filled).json()
    assert body["data"]["validate_jwt_token"]["is_valid"] is True
    assert body["data"]["validate_jwt_token"]["claims"]["sub"] == alice


def test_login_and_validate_session_work_with_inline_arguments(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    login = gql(
        fake_authorizer,
        'mutation { login(params: {email: "alice@example.com", password: "correct horse", '
        'roles: ["admin"]}) { access_token user { id } } }',
    )
    assert login.json()["data"]["login"]["user"]["id"] == alice
    cookie = login.headers["Set-Cookie"].split("=", 1)[1].split(";")[0]
    session = gql(
        fake_authorizer,
        f'query {{ validate_session(params: {{cookie: "{cookie}", roles: ["admin"]}}) '
        "{ is_valid user { id } } }",
    )
    assert session.json()["data"]["validate_session"] == {"is_valid": True, "user": {"id": alice}}


@pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [
        (None, 422, "application/json"),
        ("application/json", 422, "application/json"),
        ("*/*", 400, "application/graphql-response+json"),
        ("application/graphql-response+json", 400, "application/graphql-response+json"),
    ],
)
def test_unknown_input_type_is_a_validation_error(
    fake_authorizer: FakeAuthorizer, accept: str | None, status: int, content_type: str
) -> None:
    """2.4 rejects the 2023 SDK's `ValidateJWTTokenInput`; the status follows Accept."""
    query = VALIDATE_2_4.replace("ValidateJWTTokenRequest", "ValidateJWTTokenInput")
    body = json.dumps({"query": query, "variables": {}}).encode()
    session = requests.Session()
    session.headers.pop("Accept")
    headers = {"Origin": fake_authorizer.url, "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    with session, session.post(fake_authorizer.url + "/graphql", data=body, headers=headers) as r:
        assert r.status_code == status
        assert r.headers["Content-Type"] == content_type
        errors = r.json()["errors"]
        assert r.json()["data"] is None
    assert errors[0]["message"] == 'Unknown type "ValidateJWTTokenInput".'
    assert errors[0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_1x_accepts_input_types_and_rejects_request_types(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    fake.add_user("bob@example.com", PASSWORD)
    tokens = fake.login("bob@example.com", PASSWORD)
    assert validate(fake, tokens.access_token)["data"]["validate_jwt_token"]["is_valid"] is True
    params = {"params": {"token_type": "access_token", "token": tokens.access_token}}
    response = gql(fake, VALIDATE_2_4, params)
    assert response.status_code == 422  # 1.x: 422 and application/json whatever Accept says
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["message"] == 'Unknown type "ValidateJWTTokenRequest".'


def test_missing_required_variable_names_its_path(fake_authorizer: FakeAuthorizer) -> None:
    response = gql(fake_authorizer, VALIDATE_2_4, {"params": {"token_type": "id_token"}})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"] == "must be defined"
    assert error["path"] == ["variable", "params", "token"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_operation_name_must_match_the_document(fake_authorizer: FakeAuthorizer) -> None:
    payload = {"query": VALIDATE_2_4, "variables": {}, "operationName": "validateJWTToken"}
    response = post(fake_authorizer, "/graphql", payload)
    assert response.json()["errors"][0]["message"] == "operation validateJWTToken not found"


def test_parse_errors_are_graphql_parse_failed(fake_authorizer: FakeAuthorizer) -> None:
    error = gql(fake_authorizer, "query {").json()["errors"][0]
    assert error["message"] == "Expected Name, found <EOF>"
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}


# -- CSRF and headers -----------------------------------------------------------------------


def test_post_without_origin_or_referer_is_403(fake_authorizer: FakeAuthorizer) -> None:
    response = gql(fake_authorizer, "{ __typename }", origin=False)
    assert response.status_code == 403
    assert response.json() == CSRF_MISSING


def test_referer_stands_in_for_a_missing_origin(fake_authorizer: FakeAuthorizer) -> None:
    referer = {"Referer": f"{fake_authorizer.url}/some/page?x=1"}
    response = gql(fake_authorizer, "{ __typename }", origin=False, headers=referer)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("origin_template", "status"),
    [
        ("https://{host}", 200),  # scheme is not compared
        ("HTTP://{HOST}", 200),
        ("http://localhost:1", 403),
        ("http://{hostname}", 403),  # port dropped: no longer the Host header value
    ],
)
def test_wildcard_origins_compare_origin_host_with_host_header(
    fake_authorizer: FakeAuthorizer, origin_template: str, status: int
) -> None:
    host = fake_authorizer.url.removeprefix("http://")
    origin = origin_template.format(host=host, HOST=host.upper(), hostname=host.split(":")[0])
    response = gql(fake_authorizer, "{ __typename }", headers={"Origin": origin})
    assert response.status_code == status
    if status == 403:
        assert response.json()["error_description"] == "Origin not allowed"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://app.example.com", 200),
        ("http://app.example.com:443", 200),
        ("https://api.example.org", 200),
        ("https://example.org", 403),  # the wildcard matches proper subdomains only
        ("https://evil.com", 403),
    ],
)
def test_explicit_allowed_origins(
    fake_authorizer_factory: FakeAuthorizerFactory, origin: str, status: int
) -> None:
    fake = fake_authorizer_factory(allowed_origins="https://app.example.com,*.example.org")
    response = gql(fake, "{ __typename }", headers={"Origin": origin})
    assert response.status_code == status


def test_non_json_content_type_needs_x_requested_with(fake_authorizer: FakeAuthorizer) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = post(fake_authorizer, "/graphql", data=b"query=x", headers=headers)
    assert response.status_code == 403
    assert response.json()["error_description"] == (
        "State-changing requests must include Content-Type: application/json or "
        "X-Requested-With header"
    )


@pytest.mark.parametrize(
    ("client_id", "status"), [("", 200), ("authsvc-test-client", 200), ("someone-else", 400)]
)
def test_client_id_header_is_checked_when_present(
    fake_authorizer: FakeAuthorizer, client_id: str, status: int
) -> None:
    headers = {"X-Authorizer-Client-ID": client_id}
    response = gql(fake_authorizer, "{ __typename }", headers=headers)
    assert response.status_code == status
    if status == 400:
        assert response.json() == {
            "error": "invalid_client_id",
            "error_description": "The client id is invalid",
        }


def test_1x_has_no_csrf_check(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    assert gql(fake, "{ __typename }", origin=False).status_code == 200


# -- rate limit -----------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(rate_limit_rps=0.01, rate_limit_burst=2)
    statuses = [gql(fake, "{ __typename }").status_code for _ in range(2)]
    limited = gql(fake, "{ __typename }")
    assert statuses == [200, 200]
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() == RATE_LIMITED


def test_csrf_rejections_spend_rate_budget(fake_authorizer: FakeAuthorizer) -> None:
    """The limiter runs before CSRF; it can also be switched on at run time."""
    fake_authorizer.set_rate_limit(0.01, burst=2)
    assert gql(fake_authorizer, "{ __typename }", origin=False).status_code == 403
    assert gql(fake_authorizer, "{ __typename }", origin=False).status_code == 403
    assert gql(fake_authorizer, "{ __typename }").status_code == 429
    fake_authorizer.set_rate_limit(0)
    assert gql(fake_authorizer, "{ __typename }").status_code == 200


def test_health_discovery_and_options_are_not_rate_limited(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(rate_limit_rps=0.01, rate_limit_burst=1)
    for path in ("/healthz", "/health", "/readyz", "/.well-known/jwks.json") * 2:
        assert requests.get(fake.url + path, timeout=5).status_code == 200
    for _ in range(3):
        preflight = requests.options(fake.url + "/graphql", timeout=5)
        assert preflight.status_code == 204
    assert gql(fake, "{ __typename }").status_code == 200
    assert gql(fake, "{ __typename }").status_code == 429


# -- tokens ---------------------------------------------------------------------------------


def _jwks_key(fake: FakeAuthorizer) -> jwt.PyJWK:
    keys = requests.get(fake.url + "/.well-known/jwks.json", timeout=5).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] == "authsvc-test-client"
    return jwt.PyJWK(keys[0])


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tokens_have_no_kid_and_verify_against_jwks(
    fake_authorizer_factory: FakeAuthorizerFactory, alg: str
) -> None:
    fake = fake_authorizer_factory(alg=alg)
    fake.add_user("alice@example.com", PASSWORD)
    tokens = fake.login("alice@example.com", PASSWORD)
    assert jwt.get_unverified_header(tokens.access_token) == {"alg": alg, "typ": "JWT"}
    key = _jwks_key(fake)
    claims = jwt.decode(tokens.access_token, key, algorithms=[alg], audience="authsvc-test-client")
    assert claims["iss"] == fake.url


def test_access_and_id_token_claims(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    access = jwt.decode(tokens.access_token, options={"verify_signature": False})
    ident = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert access["roles"] == ["user"]  # --default-roles, not the user's full list
    assert access["allowed_roles"] == ["user", "admin"]
    assert access["scope"] == ["openid", "email", "profile"]
    assert access["login_method"] == "basic_auth"
    assert access["token_type"] == "access_token"
    assert (access["sub"], access["aud"], access["iss"]) == (
        alice,
        "authsvc-test-client",
        fake_authorizer.url,
    )
    assert access["exp"] - access["iat"] == 1800
    assert ident["role"] == ["user"]
    assert "roles" not in ident
    assert ident["nonce"] == access["nonce"]
    assert ident["email"] == "alice@example.com"
    assert ident["token_type"] == "id_token"
    assert 1795 <= tokens.expires_in <= 1800
    assert tokens.refresh_token is None


def test_refresh_token_only_with_offline_access(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    tokens = fake_authorizer.login(
        "alice@example.com", PASSWORD, scope=["openid", "offline_access"]
    )
    assert tokens.refresh_token is not None
    body = validate(fake_authorizer, tokens.refresh_token, "refresh_token")
    assert body["data"]["validate_jwt_token"]["claims"]["token_type"] == "refresh_token"


@pytest.mark.parametrize(("dialect", "published"), [("2.4", False), ("1.x", True)])
def test_hs256_secret_is_published_only_by_1x(
    fake_authorizer_factory: FakeAuthorizerFactory, dialect: str, published: bool
) -> None:
    fake = fake_authorizer_factory(alg="HS256", dialect=dialect)
    keys = requests.get(fake.url + "/.well-known/jwks.json", timeout=5).json()["keys"]
    if not published:
        assert keys == []
        return
    assert keys[0]["kty"] == "oct"
    secret = base64.urlsafe_b64decode(keys[0]["k"] + "==")
    token = fake.sign(fake.token_claims(token_type="id_token"))
    assert jwt.decode(token, secret, algorithms=["HS256"], audience="authsvc-test-client")


def test_1x_id_token_carries_roles_under_roles(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    fake.add_user("bob@example.com", PASSWORD, ["user", "admin"])
    tokens = fake.login("bob@example.com", PASSWORD, roles=["admin"])
    ident = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert ident["roles"] == ["admin"]
    assert "auth_time" not in ident


# -- validate_jwt_token ---------------------------------------------------------------------


def test_valid_access_token_returns_all_claims(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    body = validate(fake_authorizer, tokens.access_token)
    result = body["data"]["validate_jwt_token"]
    assert result["is_valid"] is True
    assert result["claims"] == jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert isinstance(result["claims"]["exp"], int)
    assert "errors" not in body


def test_invalid_token_type_is_invalid_argument(fake_authorizer: FakeAuthorizer) -> None:
    error = error_of(validate(fake_authorizer, "x.y.z", token_type="bearer"))
    assert error == {
        "message": "invalid token type",
        "path": ["validate_jwt_token"],
        "extensions": {"code": "INVALID_ARGUMENT"},
    }


def _raw_cases(fake: FakeAuthorizer) -> list[tuple[str, str]]:
    now = int(time.time())
    claims = fake.token_claims(token_type="id_token")
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = b64(b'{"alg":"RS256","typ":"JWT"}')
    unknown_alg = b64(b'{"alg":"XX1"}')
    return [
        ("", "token contains an invalid number of segments"),
        ("a.b", "token contains an invalid number of segments"),
        ("ab!d.e30.x", "illegal base64 data at input byte 2"),
        (f"{b64(b'{')}.e30.x", "unexpected end of JSON input"),
        (
            f"{b64(b'[1]')}.e30.x",
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (f"{header}.{b64(b'nope')}.x", "invalid character 'o' in literal null (expecting 'u')"),
        (f"{b64(b'{}')}.e30.x", "signing method (alg) is unspecified."),
        (f"{unknown_alg}.e30.x", "signing method (alg) is unavailable."),
        (fake.sign(claims, alg="none"), "unexpected signing method: none"),
        (fake.sign(claims, alg="HS256", key=b"secret"), "unexpected signing method: HS256"),
        (fake.sign(claims, key=other_rsa), "crypto/rsa: verification error"),
        (fake.sign({**claims, "exp": now - 1}), "Token is expired"),
        (fake.sign({**claims, "iat": now + 60}), "Token used before issued"),
        (fake.sign({**claims, "nbf": now + 60}), "Token is not valid yet"),
        (fake.sign({k: v for k, v in claims.items() if k != "exp"}), "missing exp claim"),
        (fake.sign({k: v for k, v in claims.items() if k != "iat"}), "missing iat claim"),
        # A bad signature's text wins over an expiry, as in golang-jwt.
        (fake.sign({**claims, "exp": now - 1}, key=other_rsa), "crypto/rsa: verification error"),
    ]


def test_library_errors_have_raw_text_and_no_extensions(fake_authorizer: FakeAuthorizer) -> None:
    for token, message in _raw_cases(fake_authorizer):
        error = error_of(validate(fake_authorizer, token, token_type="id_token"))
        assert error == {"message": message, "path": ["validate_jwt_token"]}, token


@pytest.mark.parametrize(
    ("alg", "message"),
    [("HS256", "signature is invalid"), ("ES256", "crypto/ecdsa: verification error")],
)
def test_bad_signature_text_depends_on_the_key_type(
    fake_authorizer_factory: FakeAuthorizerFactory, alg: str, message: str
) -> None:
    fake = fake_authorizer_factory(alg=alg)
    foreign: object = (
        b"not-the-secret" if alg == "HS256" else ec.generate_private_key(ec.SECP256R1())
    )
    token = fake.sign(fake.token_claims(token_type="id_token"), key=foreign)
    assert error_of(validate(fake, token, "id_token"))["message"] == message


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("RS256", "RS256", "crypto/rsa: verification error"),
        ("HS256", "HS256", "signature is invalid"),
        ("HS256", "ES256", "crypto/ecdsa: verification error"),
    ],
)
def test_a_rotated_key_stays_valid_as_the_secondary(
    fake_authorizer_factory: FakeAuthorizerFactory, before: str, after: str, message: str
) -> None:
    """--jwt-secondary-*: the old key still validates, new tokens use the new primary, JWKS
    publishes an RS/ES secondary as <client-id>-secondary, and a token neither key signed
    gets the primary's error text."""
    fake = fake_authorizer_factory(alg=before)
    fake.add_user("alice@example.com", PASSWORD)
    old = fake.login("alice@example.com", PASSWORD)
    fake.rotate_key(after)  # type: ignore[arg-type]  # a parametrized literal
    new = fake.login("alice@example.com", PASSWORD)
    assert jwt.get_unverified_header(new.access_token)["alg"] == after
    for token in (old.access_token, new.access_token):
        assert validate(fake, token)["data"]["validate_jwt_token"]["is_valid"] is True
    jwks = requests.get(fake.url + "/.well-known/jwks.json", timeout=5).json()
    kids = [key["kid"] for key in jwks["keys"]]
    published = [] if after.startswith("HS") else ["authsvc-test-client"]
    if not before.startswith("HS"):
        published.append("authsvc-test-client-secondary")
    assert kids == published
    foreign_keys: dict[str, object] = {
        "HS256": b"neither key",
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }
    foreign = fake.sign(fake.token_claims(token_type="id_token"), key=foreign_keys[after])
    assert error_of(validate(fake, foreign, "id_token"))["message"] == message
    fake.rotate_key()  # the first key is dropped now
    gone = message if before == after else f"unexpected signing method: {before}"
    assert error_of(validate(fake, old.access_token))["message"] == gone


def test_1x_has_one_key_only(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    with pytest.raises(ValueError, match="no secondary"):
        fake_authorizer_factory(dialect="1.x").rotate_key()


@pytest.mark.parametrize(
    ("overrides", "token_type", "message"),
    [
        ({"sub": None}, "id_token", "invalid token"),
        ({"sub": 42}, "id_token", "invalid token"),
        ({"nonce": None}, "access_token", "invalid token"),
        ({}, "access_token", "invalid token"),  # no session-store entry for this nonce
        ({"iss": "https://elsewhere.example.com"}, "id_token", "invalid claims"),
        ({"aud": ["authsvc-test-client"]}, "id_token", "invalid claims"),
        ({"role": ["user", 7]}, "id_token", "invalid claims"),
        ({"role": ["user", ""]}, "id_token", "invalid claims"),
    ],
)
def test_typed_failures_carry_unauthenticated(
    fake_authorizer: FakeAuthorizer, overrides: dict[str, object], token_type: str, message: str
) -> None:
    claims = fake_authorizer.token_claims(token_type=token_type)
    claims.update(overrides)
    token = fake_authorizer.sign({k: v for k, v in claims.items() if v is not None})
    error = error_of(validate(fake_authorizer, token, token_type))
    assert error == {
        "message": message,
        "path": ["validate_jwt_token"],
        "extensions": {"code": "UNAUTHENTICATED"},
    }


def test_any_audience_string_passes_in_2_4(fake_authorizer: FakeAuthorizer) -> None:
    token = fake_authorizer.sign(fake_authorizer.token_claims(token_type="id_token", aud="other"))
    assert validate(fake_authorizer, token, "id_token")["data"]["validate_jwt_token"]["is_valid"]


@pytest.mark.parametrize(
    ("requested", "is_allowed"),
    [
        (["user"], True),
        (["admin"], False),
        (["User"], False),
        (["user", "admin"], False),
        ([], True),
    ],
)
def test_requested_roles_are_anded_exact_and_case_sensitive(
    fake_authorizer: FakeAuthorizer, alice: str, requested: list[str], is_allowed: bool
) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)  # token roles: ["user"]
    body = validate(fake_authorizer, tokens.access_token, roles=requested)
    if is_allowed:
        assert body["data"]["validate_jwt_token"]["is_valid"] is True
    else:
        assert error_of(body)["message"] == "unauthorized"
        assert error_of(body)["extensions"] == {"code": "UNAUTHENTICATED"}


def test_login_may_ask_for_a_subset_of_the_users_roles(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD, roles=["admin"])
    assert validate(fake_authorizer, tokens.access_token, roles=["admin"])["data"] is not None
    assert validate(fake_authorizer, tokens.id_token, "id_token", roles=["admin"])["data"]


def test_id_token_role_check_falls_back_to_roles(fake_authorizer: FakeAuthorizer) -> None:
    """Without a `role` claim the check reads `roles`; a string there counts as no roles."""
    claims = fake_authorizer.token_claims(token_type="id_token", role=None, roles=["admin"])
    claims["roles"] = ["admin"]
    token = fake_authorizer.sign(claims)
    assert validate(fake_authorizer, token, "id_token", roles=["admin"])["data"] is not None
    as_string = fake_authorizer.sign({**claims, "roles": "admin"})
    body = validate(fake_authorizer, as_string, "id_token", roles=["admin"])
    assert error_of(body)["message"] == "unauthorized"


def test_token_type_claim_is_not_compared(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    """An id_token passes as access_token while its login lives; any signed token as id_token."""
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    assert validate(fake_authorizer, tokens.id_token, "access_token")["data"] is not None
    assert validate(fake_authorizer, tokens.access_token, "id_token")["data"] is not None


def test_required_relations_need_fga(fake_authorizer: FakeAuthorizer) -> None:
    token = fake_authorizer.sign(fake_authorizer.token_claims(token_type="id_token"))
    relations = [{"relation": "viewer", "object": "doc:1"}]
    params = {"token_type": "id_token", "token": token, "required_relations": relations}
    error = error_of(gql(fake_authorizer, VALIDATE_2_4, {"params": params}).json())
    assert error["message"] == "fine-grained authorization is not enabled"
    assert error["extensions"] == {"code": "FAILED_PRECONDITION"}


def test_1x_errors_have_no_extensions_and_panics_are_generic(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    no_sub = fake.sign(
        {k: v for k, v in fake.token_claims(token_type="id_token").items() if k != "sub"}
    )
    assert error_of(validate(fake, no_sub, "id_token")) == {
        "message": "internal system error",
        "path": ["validate_jwt_token"],
    }
    other_aud = fake.sign(fake.token_claims(token_type="id_token", aud="another-client"))
    assert error_of(validate(fake, other_aud, "id_token")) == {
        "message": "invalid claims",
        "path": ["validate_jwt_token"],
    }
    assert error_of(validate(fake, "x", "bad_type")) == {
        "message": "invalid token type",
        "path": ["validate_jwt_token"],
    }


# -- session store --------------------------------------------------------------------------


def test_logout_kills_the_access_token_but_not_the_id_token(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    fake_authorizer.logout(access_token=tokens.access_token)
    assert error_of(validate(fake_authorizer, tokens.access_token))["message"] == "invalid token"
    still = validate(fake_authorizer, tokens.id_token, "id_token")
    assert still["data"]["validate_jwt_token"]["is_valid"] is True
    session = gql(fake_authorizer, VALIDATE_SESSION, {"params": {"cookie": tokens.session_cookie}})
    assert error_of(session.json())["message"] == "unauthorized"


def test_logout_by_cookie_leaves_other_logins_alone(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    first = fake_authorizer.login("alice@example.com", PASSWORD)
    second = fake_authorizer.login("alice@example.com", PASSWORD)
    fake_authorizer.logout(session_cookie=first.session_cookie)
    assert error_of(validate(fake_authorizer, first.access_token))["message"] == "invalid token"
    assert validate(fake_authorizer, second.access_token)["data"] is not None


def test_logout_reply_and_unidentified_caller(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    reply = gql(fake_authorizer, "mutation logout { logout { message } }", headers=headers)
    assert reply.json() == {"data": {"logout": {"message": "Logged out successfully"}}}
    assert "cookie_session=;" in reply.headers["Set-Cookie"]
    again = gql(fake_authorizer, "mutation logout { logout { message } }", headers=headers)
    assert error_of(again.json())["message"] == "unauthorized"
    with pytest.raises(FakeAuthorizerError, match="unauthorized"):
        fake_authorizer.logout()


def test_session_query_rotates_the_login(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    old = fake_authorizer.login("alice@example.com", PASSWORD)
    new = fake_authorizer.rotate_session(old.session_cookie)
    assert new.session_cookie != old.session_cookie
    assert error_of(validate(fake_authorizer, old.access_token))["message"] == "invalid token"
    assert validate(fake_authorizer, new.access_token)["data"] is not None
    stale = gql(fake_authorizer, VALIDATE_SESSION, {"params": {"cookie": old.session_cookie}})
    assert error_of(stale.json())["message"] == "unauthorized"
    with pytest.raises(FakeAuthorizerError, match="unauthorized"):
        fake_authorizer.rotate_session(old.session_cookie)


def test_revoke_sessions_hook(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD, scope=["offline_access"])
    assert tokens.refresh_token is not None
    fake_authorizer.revoke_sessions(alice)
    assert error_of(validate(fake_authorizer, tokens.access_token))["message"] == "invalid token"
    refresh = validate(fake_authorizer, tokens.refresh_token, "refresh_token")
    assert error_of(refresh)["message"] == "invalid token"
    session = gql(fake_authorizer, VALIDATE_SESSION, {"params": {"cookie": tokens.session_cookie}})
    assert error_of(session.json())["message"] == "unauthorized"


# -- validate_session -----------------------------------------------------------------------


def test_validate_session_reads_params_then_request_cookies(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    assert all(c.isalnum() or c in "-_" for c in tokens.session_cookie)  # opaque base64url
    by_param = gql(fake_authorizer, VALIDATE_SESSION, {"params": {"cookie": tokens.session_cookie}})
    for name in ("cookie_session", "cookie_session_domain"):
        headers = {"Cookie": f"{name}={tokens.session_cookie}"}
        by_cookie = gql(fake_authorizer, VALIDATE_SESSION, headers=headers)
        assert by_cookie.json() == by_param.json()
    user = by_param.json()["data"]["validate_session"]["user"]
    assert user["id"] == alice
    assert user["roles"] == ["user", "admin"]  # every role the user holds
    assert isinstance(user["created_at"], int)


def test_validate_session_checks_login_time_roles(
    fake_authorizer: FakeAuthorizer, alice: str
) -> None:
    """An admin who logged in without asking for admin has a ["user"] session."""
    plain = fake_authorizer.login("alice@example.com", PASSWORD)
    admin = fake_authorizer.login("alice@example.com", PASSWORD, roles=["user", "admin"])
    denied = gql(
        fake_authorizer,
        VALIDATE_SESSION,
        {"params": {"cookie": plain.session_cookie, "roles": ["admin"]}},
    )
    assert error_of(denied.json()) == {
        "message": "unauthorized",
        "path": ["validate_session"],
        "extensions": {"code": "UNAUTHENTICATED"},
    }
    allowed = gql(
        fake_authorizer,
        VALIDATE_SESSION,
        {"params": {"cookie": admin.session_cookie, "roles": ["admin"]}},
    )
    assert allowed.json()["data"]["validate_session"]["is_valid"] is True


@pytest.mark.parametrize("cookie", ["", "garbage", "AAAA"])
def test_bad_or_missing_cookie_is_unauthorized(
    fake_authorizer: FakeAuthorizer, cookie: str
) -> None:
    variables = {"params": {"cookie": cookie}} if cookie else {}
    body = gql(fake_authorizer, VALIDATE_SESSION, variables).json()
    assert error_of(body)["message"] == "unauthorized"


def test_tampered_cookie_is_unauthorized(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    cookie = fake_authorizer.login("alice@example.com", PASSWORD).session_cookie
    middle = len(cookie) // 2
    tampered = cookie[:middle] + ("A" if cookie[middle] != "A" else "B") + cookie[middle + 1 :]
    body = gql(fake_authorizer, VALIDATE_SESSION, {"params": {"cookie": tampered}}).json()
    assert error_of(body)["message"] == "unauthorized"


def test_1x_cookie_is_padded_base64_percent_escaped(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    fake.add_user("bob@example.com", PASSWORD)
    login = "mutation($d: LoginInput!) { login(params: $d) { access_token } }"
    reply = gql(fake, login, {"d": {"email": "bob@example.com", "password": PASSWORD}})
    set_cookie = reply.headers["Set-Cookie"]
    assert "%3D" in set_cookie or "%2B" in set_cookie or "%2F" in set_cookie
    tokens = fake.login("bob@example.com", PASSWORD)
    base64.b64decode(tokens.session_cookie, validate=True)
    query = VALIDATE_SESSION.replace("ValidateSessionRequest", "ValidateSessionInput")
    body = gql(fake, query, {"params": {"cookie": tokens.session_cookie}}).json()
    assert body["data"]["validate_session"]["is_valid"] is True


# -- login ----------------------------------------------------------------------------------


def test_login_reply_and_cookies(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    data = {"email": "alice@example.com", "password": PASSWORD}
    reply = gql(fake_authorizer, LOGIN_2_4, {"data": data})
    login = reply.json()["data"]["login"]
    assert login["message"] == "Logged in successfully"
    assert login["user"] == {"id": alice, "roles": ["user", "admin"]}
    cookies = reply.raw.headers.getlist("Set-Cookie")
    values = {line.split("=", 1)[0]: line.split("=", 1)[1].split(";")[0] for line in cookies}
    assert values["cookie_session"] == values["cookie_session_domain"]
    assert "HttpOnly" in cookies[0]
    assert "Max-Age=86400" in cookies[0]
    assert "SameSite=None" in cookies[0]


def test_login_roles_must_be_held(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    data = {"email": "alice@example.com", "password": PASSWORD, "roles": ["user", "superuser"]}
    error = error_of(gql(fake_authorizer, LOGIN_2_4, {"data": data}).json())
    assert error == {
        "message": "invalid roles",
        "path": ["login"],
        "extensions": {"code": "INVALID_ARGUMENT"},
    }


def test_wrong_password_then_lockout(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    wrong = {"data": {"email": "alice@example.com", "password": "nope"}}
    for _ in range(5):
        error = error_of(gql(fake_authorizer, LOGIN_2_4, wrong).json())
        assert error["message"] == "invalid credentials"
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    right = {"data": {"email": "alice@example.com", "password": PASSWORD}}
    locked = error_of(gql(fake_authorizer, LOGIN_2_4, right).json())
    assert locked["message"] == "too many failed attempts, please try again later"
    assert locked["extensions"] == {"code": "TOO_MANY_REQUESTS"}


def test_1x_wrong_password_message(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    fake.add_user("bob@example.com", PASSWORD)
    with pytest.raises(FakeAuthorizerError, match="bad user credentials"):
        fake.login("bob@example.com", "nope")


def test_mfa_offer_withholds_tokens(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    fake = fake_authorizer_factory(mfa=True)
    fake.add_user("carol@example.com", PASSWORD)
    data = {"email": "carol@example.com", "password": PASSWORD}
    reply = gql(fake, LOGIN_2_4, {"data": data})
    login = reply.json()["data"]["login"]
    assert login["message"] == "Proceed to mfa setup"
    assert login["should_show_totp_screen"] is True
    assert login["access_token"] is None
    assert "mfa_session=" in reply.headers["Set-Cookie"]
    tokens = fake.login("carol@example.com", PASSWORD)  # skips MFA setup like a client would
    assert validate(fake, tokens.access_token)["data"] is not None


# -- REST -----------------------------------------------------------------------------------


def test_rest_validate_jwt_token(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    ok = post(
        fake_authorizer,
        "/v1/validate_jwt_token",
        {"token_type": "access_token", "token": tokens.access_token},
    )
    assert ok.status_code == 200
    assert ok.json()["is_valid"] is True
    assert ok.json()["claims"]["value"]["sub"] == alice
    expired = fake_authorizer.sign({**fake_authorizer.token_claims(), "exp": 1})
    cases = [
        ({"token_type": "access_token", "token": expired}, 500, "internal", "Token is expired"),
        (
            {"token_type": "access_token", "token": "a.b"},
            500,
            "internal",
            "token contains an invalid number of segments",
        ),
        ({"token_type": "bogus", "token": "a.b.c"}, 400, "invalid_argument", "invalid token type"),
        (
            {"token_type": "access_token", "token": tokens.access_token, "roles": ["admin"]},
            401,
            "unauthenticated",
            "unauthorized",
        ),
    ]
    for payload, status, code, message in cases:
        response = post(fake_authorizer, "/v1/validate_jwt_token", payload)
        assert (response.status_code, response.json()) == (
            status,
            {"code": code, "message": message},
        )
    empty = post(fake_authorizer, "/v1/validate_jwt_token", {"token_type": "id_token"})
    assert empty.status_code == 400
    assert empty.json()["message"].startswith("validation error")


def test_rest_login_session_and_logout(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    login = post(fake_authorizer, "/v1/login", {"email": "alice@example.com", "password": PASSWORD})
    body = login.json()
    assert body["expires_in"] in ("1799", "1800")
    assert body["user"]["created_at"].isdigit()
    cookie = login.headers["Set-Cookie"].split("=", 1)[1].split(";")[0]
    session = post(fake_authorizer, "/v1/validate_session", {"cookie": cookie})
    assert session.json()["is_valid"] is True
    assert session.json()["user"]["roles"] == ["user", "admin"]
    bearer = {
        "Authorization": f"Bearer {body['access_token']}",
        "Content-Type": "application/json",  # CSRF wants it even without a body
    }
    out = post(fake_authorizer, "/v1/logout", headers=bearer)
    assert out.json() == {"message": "Logged out successfully"}
    again = post(fake_authorizer, "/v1/validate_session", {"cookie": cookie})
    assert (again.status_code, again.json()["code"]) == (401, "unauthenticated")
    assert post(fake_authorizer, "/v1/logout", origin=False).status_code == 403  # CSRF applies


# -- issuer ---------------------------------------------------------------------------------


def test_configured_issuer_is_issued_and_required(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory(issuer="https://auth.example.com/")
    fake.add_user("alice@example.com", PASSWORD)
    tokens = fake.login("alice@example.com", PASSWORD)
    assert jwt.decode(tokens.id_token, options={"verify_signature": False})["iss"] == (
        "https://auth.example.com"
    )
    assert validate(fake, tokens.access_token)["data"] is not None
    headers = {"X-Authorizer-URL": "https://other.example.com"}  # ignored by 2.4
    assert validate(fake, tokens.access_token, headers=headers)["data"] is not None
    foreign = fake.sign(fake.token_claims(token_type="id_token", iss=fake.url))
    assert error_of(validate(fake, foreign, "id_token"))["message"] == "invalid claims"


def test_1x_issuer_comes_from_x_authorizer_url(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    """A 1.x client that forgets X-Authorizer-URL gets `invalid claims`."""
    fake = fake_authorizer_factory(dialect="1.x")
    fake.add_user("bob@example.com", PASSWORD)
    public = "https://auth.example.com"
    tokens = fake.login("bob@example.com", PASSWORD, authorizer_url=public)
    assert jwt.decode(tokens.access_token, options={"verify_signature": False})["iss"] == public
    forgot = validate(fake, tokens.access_token)
    assert error_of(forgot) == {"message": "invalid claims", "path": ["validate_jwt_token"]}
    sent = validate(fake, tokens.access_token, headers={"X-Authorizer-URL": public + "/"})
    assert sent["data"]["validate_jwt_token"]["is_valid"] is True


# -- other endpoints ------------------------------------------------------------------------


def test_health_endpoints(fake_authorizer: FakeAuthorizer) -> None:
    for path, body in [("/healthz", "ok"), ("/health", "ok"), ("/readyz", "ready")]:
        response = requests.get(fake_authorizer.url + path, timeout=5)
        assert (response.status_code, response.json()["status"]) == (200, body)
    fake_authorizer.set_healthy(False)
    down = requests.get(fake_authorizer.url + "/healthz", timeout=5)
    assert down.status_code == 503
    assert down.json() == {"status": "unhealthy", "error": "storage unavailable"}


def test_1x_health_is_plain_text(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    fake = fake_authorizer_factory(dialect="1.x")
    assert requests.get(fake.url + "/health", timeout=5).text == "OK"
    assert requests.get(fake.url + "/healthz", timeout=5).status_code == 404


def test_openid_configuration(fake_authorizer: FakeAuthorizer) -> None:
    response = requests.get(fake_authorizer.url + "/.well-known/openid-configuration", timeout=5)
    document = response.json()
    assert document["issuer"] == fake_authorizer.url
    assert document["jwks_uri"] == f"{fake_authorizer.url}/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_userinfo_never_returns_roles(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    url = fake_authorizer.url + "/userinfo"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith('Bearer realm="authorizer"')
    assert missing.json()["error"] == "invalid_request"
    bad = requests.get(url, headers={"Authorization": "Bearer x.y.z"}, timeout=5)
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_token")
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    good = requests.get(url, headers={"Authorization": f"Bearer {tokens.access_token}"}, timeout=5)
    info = good.json()
    assert info["sub"] == alice
    assert info["email"] == "alice@example.com"
    assert "roles" not in info
    assert "role" not in info


# -- faults ---------------------------------------------------------------------------------


def test_delay_fault_answers_late_but_normally(fake_authorizer: FakeAuthorizer) -> None:
    fake_authorizer.set_fault("delay", delay_s=0.3)
    started = time.monotonic()
    response = gql(fake_authorizer, "{ __typename }")
    assert time.monotonic() - started >= 0.3
    assert response.json() == {"data": {"__typename": "Query"}}


def test_hang_fault_times_clients_out_and_does_not_block_stop(
    fake_authorizer_factory: FakeAuthorizerFactory,
) -> None:
    fake = fake_authorizer_factory()
    fake.set_fault("hang")
    with pytest.raises(requests.ReadTimeout):
        gql(fake, "{ __typename }", timeout=0.3)
    assert requests.get(fake.url + "/healthz", timeout=5).status_code == 200  # not faulted
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(requests.ConnectionError):
        requests.get(fake.url + "/healthz", timeout=2)


def test_http_500_html_fault(fake_authorizer: FakeAuthorizer) -> None:
    fake_authorizer.set_fault("http_500_html")
    response = gql(fake_authorizer, "{ __typename }")
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<html>")


def test_truncated_json_fault(fake_authorizer: FakeAuthorizer) -> None:
    fake_authorizer.set_fault("truncated_json")
    response = gql(fake_authorizer, VALIDATE_2_4, {"params": {}})
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("errors_without_extensions", "invalid token"),
        ("internal_system_error", "internal system error"),
    ],
)
def test_error_faults_are_200_with_bare_errors(
    fake_authorizer: FakeAuthorizer, kind: Any, message: str
) -> None:
    fake_authorizer.set_fault(kind)
    response = gql(fake_authorizer, VALIDATE_2_4, {"params": {}})
    assert response.status_code == 200
    assert error_of(response.json()) == {"message": message, "path": ["validate_jwt_token"]}


def test_rate_limited_fault_and_clearing_it(fake_authorizer: FakeAuthorizer) -> None:
    fake_authorizer.set_fault("rate_limited")
    limited = gql(fake_authorizer, "{ __typename }")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert limited.json() == RATE_LIMITED
    fake_authorizer.set_fault(None)
    assert gql(fake_authorizer, "{ __typename }").status_code == 200


def test_stopped_server_refuses_connections(fake_authorizer_factory: FakeAuthorizerFactory) -> None:
    fake = fake_authorizer_factory()
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        gql(fake, "{ __typename }", timeout=2)


# -- observation ----------------------------------------------------------------------------


def test_calls_and_requests_seen(fake_authorizer: FakeAuthorizer, alice: str) -> None:
    tokens = fake_authorizer.login("alice@example.com", PASSWORD)
    fake_authorizer.reset_counters()
    validate(fake_authorizer, tokens.access_token, headers={"X-Custom": "yes"})
    post(fake_authorizer, "/v1/validate_jwt_token", {"token_type": "id_token", "token": "a.b"})
    gql(fake_authorizer, "{ __typename }", origin=False)  # rejected before any resolver
    assert fake_authorizer.calls == {"validate_jwt_token": 1, "/v1/validate_jwt_token": 1}
    seen = fake_authorizer.requests_seen
    assert [(r.method, r.path) for r in seen] == [
        ("POST", "/graphql"),
        ("POST", "/v1/validate_jwt_token"),
        ("POST", "/graphql"),
    ]
    assert seen[0].headers["x-custom"] == "yes"
    assert seen[0].headers["ORIGIN"] == fake_authorizer.url


# -- command line ---------------------------------------------------------------------------


def test_command_line_serves_until_sigterm() -> None:
    command = [
        sys.executable, "-m", "tests.fakes.authorizer", "--port", "0",
        "--user", "alice@example.com:secret:user,admin",
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "fake-authorizer printed nothing within 15 s"
        line = process.stdout.readline().strip()
        assert line.startswith("fake-authorizer listening on http://127.0.0.1:")
        assert "TEST DOUBLE" in line
        url = line.split()[3]
        login = {"email": "alice@example.com", "password": "secret", "roles": ["admin"]}
        query = "mutation($d: LoginRequest!) { login(params: $d) { user { roles } } }"
        response = requests.post(
            url + "/graphql",
            json={"query": query, "variables": {"d": login}},
            headers={"Origin": url},
            timeout=5,
        )
        assert response.json()["data"]["login"]["user"]["roles"] == ["user", "admin"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_help_says_test_double() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fakes.authorizer", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "TEST DOUBLE" in result.stdout
