"""deploy/envoy/envoy.yaml at the HTTP level (no Envoy binary runs here): authsvc answers the
checks Envoy's HTTP ext_authz filter sends, as the recipe configures it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fakes.authorizer import FakeAuthorizer
from tests.support.stack import running_authsvc

RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "envoy" / "envoy.yaml"
PASSWORD = "an envoy password"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def ext_authz() -> dict[str, Any]:
    config = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    filters = manager["typed_config"]["http_filters"]
    assert filters[-1]["name"] == "envoy.filters.http.router"  # ext_authz runs before it
    (authz,) = [f for f in filters if f["name"] == "envoy.filters.http.ext_authz"]
    typed: dict[str, Any] = authz["typed_config"]
    return typed


def patterns(section: dict[str, Any], name: str) -> list[str]:
    return [pattern["exact"] for pattern in section[name]["patterns"]]


def test_recipe_fails_closed_and_names_the_right_headers() -> None:
    config = ext_authz()
    assert config["failure_mode_allow"] is False
    service = config["http_service"]
    assert service["path_prefix"] == "/verify"
    assert patterns(service["authorization_request"], "allowed_headers") == [
        "authorization",
        "cookie",
        "x-request-id",
    ]
    assert patterns(service["authorization_response"], "allowed_upstream_headers") == [
        "x-auth-request-user",
        "x-auth-request-email",
        "x-auth-request-roles",
    ]


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """authsvc (as Envoy's http_service) and a valid token; yields (check URL prefix, token)."""
    with FakeAuthorizer() as fake:
        fake.add_user("e@example.com", PASSWORD, roles=["user"])
        token = fake.login("e@example.com", PASSWORD).access_token
        settings = {"AUTHORIZER_URL": fake.url, "AUTHORIZER_CLIENT_ID": fake.client_id}
        workdir = tmp_path_factory.mktemp("envoy")
        with running_authsvc(workdir, settings, workers=1) as url:
            prefix = ext_authz()["http_service"]["path_prefix"]
            yield f"{url}{prefix}", token


def envoy_check(
    url_prefix: str, method: str, original: str, headers: dict[str, str]
) -> requests.Response:
    """The request Envoy sends: original method, path_prefix + original path and query, only
    the allowed headers (and a body-less request: the recipe sets no with_request_body)."""
    allowed = set(patterns(ext_authz()["http_service"]["authorization_request"], "allowed_headers"))
    sent = {name: value for name, value in headers.items() if name.lower() in allowed}
    return requests.request(method, url_prefix + original, headers=sent, timeout=10)


@pytest.mark.parametrize("method", METHODS)
def test_a_valid_credential_is_exactly_200_with_the_identity_for_every_method(
    checks: tuple[str, str], method: str
) -> None:
    url_prefix, token = checks
    answer = envoy_check(
        url_prefix,
        method,
        "/api/orders/7?expand=items",
        {"Authorization": f"Bearer {token}", "X-Forged": "1", "X-Request-Id": "envoy-1"},
    )
    assert answer.status_code == 200  # exactly: Envoy denies on any other 2xx
    upstream = patterns(
        ext_authz()["http_service"]["authorization_response"], "allowed_upstream_headers"
    )
    assert all(name in answer.headers for name in upstream)
    assert answer.headers["x-auth-request-user"]
    assert answer.headers["x-auth-request-roles"] == "user"


@pytest.mark.parametrize("method", METHODS)
def test_no_or_a_bad_credential_is_a_denial_with_its_reason_for_the_client(
    checks: tuple[str, str], method: str
) -> None:
    url_prefix, _ = checks
    for headers, reason in (
        ({}, "missing_credential"),
        ({"Authorization": "Bearer not.a.token"}, "invalid_credential"),
    ):
        answer = envoy_check(url_prefix, method, "/api/orders", headers)
        assert answer.status_code == 403
        client = patterns(
            ext_authz()["http_service"]["authorization_response"], "allowed_client_headers"
        )
        assert "x-auth-request-error" in client
        assert answer.headers["x-auth-request-error"] == reason


def test_the_clients_own_query_never_grants_or_drops_a_role(checks: tuple[str, str]) -> None:
    url_prefix, token = checks
    bearer = {"Authorization": f"Bearer {token}"}
    # A query on the original URL is the check's query: roles= there would be the client's.
    assert envoy_check(url_prefix, "GET", "/api?roles=admin", bearer).status_code == 403
    assert envoy_check(url_prefix, "GET", "/api?role=user", bearer).status_code == 400


@pytest.mark.parametrize(
    "original", ["/api/users?roleId=3&controlEnabled=true", "/api?userRoles=admin&payroll=1"]
)
def test_an_apps_own_parameters_around_the_word_role_are_decided_normally(
    checks: tuple[str, str], original: str
) -> None:
    """Not a misspelt roles= (no 400) and no requirement (the user lacks admin)."""
    url_prefix, token = checks
    answer = envoy_check(url_prefix, "GET", original, {"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.headers["x-auth-request-roles"] == "user"
