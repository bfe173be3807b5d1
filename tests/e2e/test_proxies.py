"""The deploy/ recipes, run for real: nginx and Traefik in front of authsvc and an echo app.

Each scenario runs through both proxies (the `proxy` fixture). Tests assert on the status the
client sees and on what the app received, found by a unique `case` query parameter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import requests

from tests.e2e.conftest import Login, Proxies, stack_outcomes
from tests.support import processes
from tests.support.echo_backend import Echo, EchoBackend
from tests.support.stack import (
    LOOPBACK,
    NGINX_RECIPE,
    Proxy,
    nginx_config_test,
    write_nginx_conf,
)

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10.0
IDENTITY_HEADERS = ("x-auth-request-user", "x-auth-request-email", "x-auth-request-roles")
OTHER_METHODS = ("HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
APP = "/app/page"
ADMIN_ONLY = "/admin/page"  # the example routes /admin/ with roles=admin


def send(
    http: requests.Session,
    url: str,
    method: str = "GET",
    *,
    headers: Mapping[str, str],
    data: bytes | None = None,
) -> tuple[requests.Response, str]:
    """Send a request tagged with a fresh `case` query parameter; return the answer and the tag."""
    case = uuid.uuid4().hex
    response = http.request(
        method, f"{url}?case={case}", headers=dict(headers), data=data, timeout=TIMEOUT_S
    )
    return response, case


def received(app: EchoBackend, case: str) -> list[Echo]:
    """What the app got for the request tagged `case`; empty if the proxy stopped it."""
    return [echo for echo in app.received if f"case={case}" in echo.path]


@dataclass(frozen=True, slots=True)
class Credential:
    """A way to present a login, and the identity the app should then receive.

    Access tokens carry no email claim, and a session cookie's login-time roles are known only
    to Authorizer (which checks required roles itself), so authsvc reports those as empty.
    """

    headers: dict[str, str]
    user_id: str = ""
    email: str = ""
    roles: frozenset[str] = frozenset()


@pytest.fixture(scope="session")
def credentials(user: Login, admin: Login) -> dict[str, Credential]:
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return {
        "none": Credential({}),
        "garbage": Credential(bearer("not.a.jwt")),
        "user": Credential(bearer(user.tokens.access_token), user.tokens.user_id, "", user.roles),
        "admin": Credential(
            bearer(admin.tokens.access_token), admin.tokens.user_id, "", admin.roles
        ),
        "user-id-token": Credential(
            bearer(user.tokens.id_token), user.tokens.user_id, user.email, user.roles
        ),
        "user-cookie": Credential(
            {"Cookie": f"cookie_session={user.tokens.session_cookie}"},
            user.tokens.user_id,
            user.email,
        ),
    }


def assert_identity(echo: Echo, credential: Credential) -> None:
    """The app got authsvc's identity, one copy of each header; nginx omits empty ones."""
    assert echo.headers["x-auth-request-user"] == credential.user_id
    assert echo.headers.get("x-auth-request-email", "") == credential.email
    roles = echo.headers.get("x-auth-request-roles", "")
    assert set(filter(None, roles.split(","))) == credential.roles


ALLOWED = [
    ("GET", APP, "user"),
    ("GET", APP, "user-id-token"),
    ("GET", APP, "user-cookie"),
    ("GET", ADMIN_ONLY, "admin"),
    ("DELETE", ADMIN_ONLY, "admin"),
    *((method, APP, "user") for method in OTHER_METHODS),
]


@pytest.mark.parametrize(("method", "path", "credential"), ALLOWED)
def test_allowed_request_reaches_app_with_identity(
    http: requests.Session,
    proxy: Proxy,
    app: EchoBackend,
    credentials: dict[str, Credential],
    method: str,
    path: str,
    credential: str,
) -> None:
    response, case = send(
        http, f"{proxy.url}{path}", method, headers=credentials[credential].headers
    )

    assert response.status_code == 200
    [echo] = received(app, case)
    assert echo.method == method
    assert_identity(echo, credentials[credential])


DENIED = [
    ("GET", APP, "none", "missing_credential"),
    ("GET", APP, "garbage", "invalid_credential"),
    ("GET", ADMIN_ONLY, "user", "missing_role"),
    ("GET", ADMIN_ONLY, "user-cookie", "missing_role"),
    *((method, APP, "none", "missing_credential") for method in OTHER_METHODS),
    *((method, ADMIN_ONLY, "user", "missing_role") for method in OTHER_METHODS),
]


@pytest.mark.parametrize(("method", "path", "credential", "reason"), DENIED)
def test_denied_request_is_403_and_never_reaches_app(
    http: requests.Session,
    proxy: Proxy,
    app: EchoBackend,
    credentials: dict[str, Credential],
    method: str,
    path: str,
    credential: str,
    reason: str,
) -> None:
    response, case = send(
        http, f"{proxy.url}{path}", method, headers=credentials[credential].headers
    )

    assert response.status_code == 403
    assert response.headers.get("X-Auth-Request-Error") == reason
    assert received(app, case) == []


def test_request_body_reaches_app_intact(
    http: requests.Session, proxy: Proxy, app: EchoBackend, credentials: dict[str, Credential]
) -> None:
    body = json.dumps({"items": list(range(1000))}).encode()
    response, case = send(
        http,
        f"{proxy.url}{APP}",
        "POST",
        headers={**credentials["user"].headers, "Content-Type": "application/json"},
        data=body,
    )

    assert response.status_code == 200
    [echo] = received(app, case)
    assert (echo.method, echo.body_length) == ("POST", len(body))
    assert echo.headers["content-type"] == "application/json"


def test_client_identity_headers_never_reach_app(
    http: requests.Session, proxy: Proxy, app: EchoBackend, credentials: dict[str, Credential]
) -> None:
    """Forged identity headers, and their underscore lookalikes that WSGI apps read as the same
    header, are replaced by authsvc's answer or dropped."""
    response, case = send(
        http,
        f"{proxy.url}{APP}",
        headers={
            **credentials["user"].headers,
            "X-Auth-Request-User": "admin",
            "X-Auth-Request-Email": "root@example.com",
            "X-Auth-Request-Roles": "admin",
            "X_Auth_Request_User": "admin",
            "X-Auth-Request_Roles": "admin",
        },
    )

    assert response.status_code == 200
    [echo] = received(app, case)
    assert_identity(echo, credentials["user"])
    lookalikes = [name for name in echo.headers if "_" in name and "auth" in name]
    assert lookalikes == []


def test_forged_roles_header_grants_no_role(
    http: requests.Session, proxy: Proxy, app: EchoBackend, credentials: dict[str, Credential]
) -> None:
    response, case = send(
        http,
        f"{proxy.url}{ADMIN_ONLY}",
        headers={**credentials["user"].headers, "X-Auth-Request-Roles": "user,admin"},
    )

    assert response.status_code == 403
    assert received(app, case) == []


@pytest.mark.parametrize(
    "path",
    [
        "/admin%2Fpage",
        "/%2Fadmin/page",
        "/app/..%2Fadmin/page",
        "/app/%2E%2E/admin/page",
        "/app/../admin/page",
        "/%61dmin/page",
    ],
)
def test_encoded_path_cannot_dodge_admin_route(
    http: requests.Session,
    proxy: Proxy,
    app: EchoBackend,
    credentials: dict[str, Credential],
    path: str,
) -> None:
    """Spellings of /admin/page that an app may decode to it must not take the / route.

    nginx matches locations on the decoded, normalized path, so it asks for roles=admin (403).
    Traefik would route some of these by a different path than the app sees, so the recipe
    refuses encoded slashes and the like outright (400).
    """
    case = uuid.uuid4().hex
    request = http.prepare_request(
        requests.Request("GET", proxy.url, headers=credentials["user"].headers)
    )
    # NOTE: requests would decode %2E and %61 and resolve the dots; send the path as written.
    request.url = f"{proxy.url}{path}?case={case}"
    response = http.send(request, timeout=TIMEOUT_S)

    assert response.status_code in (400, 403)
    assert received(app, case) == []


def test_auth_check_carries_method_and_uri_but_no_body(
    http: requests.Session,
    spied_proxy: Proxy,
    auth_spy: EchoBackend,
    app: EchoBackend,
    credentials: dict[str, Credential],
) -> None:
    """What authsvc receives: a GET with the roles, the original method and URI in headers set
    by the proxy (not the client's copies), the credential, and no body."""
    body = b'{"name": "a new record"}'
    response, case = send(
        http,
        f"{spied_proxy.url}{ADMIN_ONLY}",
        "POST",
        data=body,
        headers={
            **credentials["user"].headers,
            "Content-Type": "application/json",
            "X-Original-URI": "/public",
            "X-Original-Method": "GET",
            "X-Forwarded-Uri": "/public",
            "X-Forwarded-Method": "GET",
            "X-Auth-Request-User": "admin",
        },
    )

    assert response.status_code == 200
    uri = f"{ADMIN_ONLY}?case={case}"
    [check] = [echo for echo in auth_spy.received if echo.headers.get("x-forwarded-uri") == uri]
    assert (check.method, check.path, check.body_length) == ("GET", "/verify?roles=admin", 0)
    assert check.headers["x-forwarded-method"] == "POST"
    assert check.headers.get("x-original-uri", uri) == uri
    assert check.headers.get("x-original-method", "POST") == "POST"
    assert check.headers["authorization"] == credentials["user"].headers["Authorization"]
    [echo] = received(app, case)
    assert echo.body_length == len(body)
    # The spy allowed without naming anyone, so no identity header may reach the app at all.
    assert [name for name in IDENTITY_HEADERS if name in echo.headers] == []


OUTAGE_STATUS = {"nginx": 500, "traefik": 503, "caddy": 503}
"""nginx turns any auth answer but 2xx/401/403 into a 500; Traefik and Caddy pass authsvc's
503 on."""


def test_authorizer_outage_fails_closed(
    http: requests.Session,
    proxy_during_outage: Proxy,
    app: EchoBackend,
    credentials: dict[str, Credential],
) -> None:
    response, case = send(
        http, f"{proxy_during_outage.url}{APP}", headers=credentials["user"].headers
    )

    assert response.status_code == OUTAGE_STATUS[proxy_during_outage.name]
    assert response.headers.get("X-Auth-Request-Error") == "authorizer_unavailable"
    assert received(app, case) == []


def test_nginx_auth_location_is_internal(
    http: requests.Session, proxies: Proxies, authsvc: str, credentials: dict[str, Credential]
) -> None:
    nginx = proxies.get("nginx", authsvc)
    response = http.get(
        f"{nginx.url}/_authsvc", headers=credentials["user"].headers, timeout=TIMEOUT_S
    )

    assert response.status_code == 404


def test_nginx_example_site_passes_config_test(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`nginx -t` accepts example-site.conf as written, upstream blocks included.

    Only `listen 80;` moves to a free loopback port: nginx -t binds the listen sockets, and
    port 80 needs root.
    """
    workdir = tmp_path_factory.mktemp("nginx-t")
    site = (NGINX_RECIPE / "example-site.conf").read_text()
    assert site.count("listen 80;") == 1
    conf = write_nginx_conf(
        workdir, site.replace("listen 80;", f"listen {LOOPBACK}:{processes.free_port()};")
    )

    with stack_outcomes():
        result = nginx_config_test(workdir, conf)

    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr


def test_401_reaches_client_with_www_authenticate(
    http: requests.Session, proxy_with_401: Proxy, app: EchoBackend
) -> None:
    """Both proxies pass a 401 on with authsvc's challenge, so clients know to authenticate."""
    response, case = send(http, f"{proxy_with_401.url}{APP}", headers={})

    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert response.headers.get("X-Auth-Request-Error") == "missing_credential"
    assert received(app, case) == []


def test_many_client_headers_never_push_the_check_past_authsvcs_limits(
    http: requests.Session, proxy: Proxy, app: EchoBackend, user: Login
) -> None:
    """Only the credential and request-describing headers travel to authsvc, not the rest."""
    headers = {f"X-Filler-{i}": "v" for i in range(300)}
    headers["Authorization"] = f"Bearer {user.tokens.access_token}"
    response, case = send(http, f"{proxy.url}{APP}", headers=headers)
    assert response.status_code == 200
    (echo,) = received(app, case)
    assert echo.headers["x-auth-request-user"] == user.tokens.user_id
    assert echo.headers["x-filler-299"] == "v"  # the app still gets them


def test_client_error_header_never_reaches_app(
    http: requests.Session, proxy: Proxy, app: EchoBackend, user: Login
) -> None:
    headers = {
        "Authorization": f"Bearer {user.tokens.access_token}",
        "X-Auth-Request-Error": "forged",
    }
    response, case = send(http, f"{proxy.url}{APP}", headers=headers)
    assert response.status_code == 200
    (echo,) = received(app, case)
    assert "x-auth-request-error" not in echo.headers
