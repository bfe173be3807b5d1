"""AUTHSVC_LOGIN_REDIRECT through the real app and the fake Authorizer: who is sent to sign in,
with which answer (302 or, behind nginx, 401 then /login), and who never is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import falcon.testing
import pytest

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

PASSWORD = "a login-redirect password"
PUBLIC = "https://auth.example.com"
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app.example.com",
    "X-Forwarded-Uri": "/reports?q=1",
    "X-Forwarded-Method": "GET",
}
BEHIND_NGINX = {**BROWSER, "X-Original-URI": "/reports?q=1", "X-Original-Method": "GET"}
PAGE = "https://app.example.com/reports?q=1"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer(issuer=PUBLIC) as fake:
        fake.add_user("l@example.com", PASSWORD, roles=["user"])
        yield fake


def client(fake: FakeAuthorizer, **env: str) -> falcon.testing.TestClient:
    settings = Settings.from_environ(
        {
            "AUTHORIZER_URL": fake.url,
            "AUTHORIZER_PUBLIC_URL": PUBLIC,
            "AUTHORIZER_CLIENT_ID": fake.client_id,
            "AUTHSVC_LOGIN_REDIRECT": "true",
            **env,
        }
    )
    return falcon.testing.TestClient(create_app(settings))


@pytest.fixture(scope="module")
def app(fake: FakeAuthorizer) -> falcon.testing.TestClient:
    return client(fake)


def return_url(location: str) -> str | None:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{PUBLIC}/app"
    values = parse_qs(parts.query).get("redirect_uri")
    return values[0] if values else None


def test_a_browser_without_a_session_is_sent_to_sign_in_and_back(
    app: falcon.testing.TestClient,
) -> None:
    answer = app.simulate_get("/verify", headers=BROWSER)
    assert answer.status_code == 302
    assert return_url(answer.headers["Location"]) == PAGE
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Accel-Expires"] == "0"
    assert answer.headers["X-Auth-Request-Error"] == "login_required"
    assert answer.headers["X-Auth-Request-User"] == ""


def test_an_expired_or_forged_session_cookie_is_sent_to_sign_in_too(
    app: falcon.testing.TestClient,
) -> None:
    answer = app.simulate_get(
        "/verify", headers={**BROWSER, "Cookie": "cookie_session=bm90LWEtc2Vzc2lvbg"}
    )
    assert answer.status_code == 302


def test_behind_nginx_401_then_login_answers_the_302(app: falcon.testing.TestClient) -> None:
    answer = app.simulate_get("/verify", headers=BEHIND_NGINX)
    assert answer.status_code == 401
    assert "Location" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    # What authsvc-login.conf's @authsvc_login sends: the same headers, to /login.
    login = app.simulate_get("/login", headers=BROWSER)
    assert login.status_code == 302
    assert return_url(login.headers["Location"]) == PAGE


@pytest.mark.parametrize(
    ("rd", "expected"),
    [
        ("https://app.example.com/x?y=1", "https://app.example.com/x?y=1"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/relative", None),
    ],
)
def test_login_takes_the_page_from_rd_when_given_and_safe(
    app: falcon.testing.TestClient, rd: str, expected: str | None
) -> None:
    """ingress-nginx's auth-signin sends browsers to /login?rd=<the page>."""
    answer = app.simulate_get("/login", params={"rd": rd}, headers={"Accept": "text/html"})
    assert answer.status_code == 302
    assert return_url(answer.headers["Location"]) == expected


def test_two_rd_parameters_mean_no_way_back(app: falcon.testing.TestClient) -> None:
    answer = app.simulate_get(
        "/login",
        query_string="rd=https://app.example.com/a&rd=https://evil.example/",
        headers={"Accept": "text/html"},
    )
    assert return_url(answer.headers["Location"]) is None


@pytest.mark.parametrize(
    "headers",
    [
        {**BROWSER, "Accept": "application/json"},
        {**BROWSER, "Authorization": "Bearer not-a-token"},
        {**BROWSER, "X-Forwarded-Method": "POST"},
        {**BEHIND_NGINX, "X-Original-Method": "PUT", "X-Forwarded-Method": "PUT"},
        {**BROWSER, "X-Requested-With": "XMLHttpRequest"},
        {**BROWSER, "Sec-Fetch-Mode": "cors"},
    ],
)
def test_api_clients_get_403_never_a_redirect(
    app: falcon.testing.TestClient, headers: dict[str, str]
) -> None:
    for path in ("/verify", "/login"):
        answer = app.simulate_get(path, headers=headers)
        assert answer.status_code == 403, path
        assert "Location" not in answer.headers


def test_in_401_mode_api_clients_get_401_from_verify_and_login(fake: FakeAuthorizer) -> None:
    app = client(fake, AUTHSVC_UNAUTHENTICATED_STATUS="401")
    api = {**BEHIND_NGINX, "Accept": "application/json"}
    for path in ("/verify", "/login"):
        answer = app.simulate_get(path, headers=api)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Location" not in answer.headers
    assert app.simulate_get("/verify", headers=BROWSER).status_code == 302


def test_a_signed_in_user_lacking_a_role_gets_403_not_the_login_page(
    fake: FakeAuthorizer, app: falcon.testing.TestClient
) -> None:
    login = fake.login("l@example.com", PASSWORD)
    cookie = {"Cookie": f"cookie_session={login.session_cookie}"}
    allowed = app.simulate_get("/verify", headers={**BROWSER, **cookie})
    assert allowed.status_code == 200
    denied = app.simulate_get("/verify", params={"roles": "admin"}, headers={**BROWSER, **cookie})
    assert denied.status_code == 403
    assert "Location" not in denied.headers


def test_authorizer_down_is_503_for_browsers_too_never_a_redirect(fake: FakeAuthorizer) -> None:
    app = client(fake, AUTHSVC_CACHE_TTL="0", AUTHSVC_CIRCUIT_FAILURES="0")
    login = fake.login("l@example.com", PASSWORD)
    fake.set_fault("http_500_html")
    try:
        answer = app.simulate_get(
            "/verify", headers={**BROWSER, "Cookie": f"cookie_session={login.session_cookie}"}
        )
    finally:
        fake.set_fault(None)
    assert answer.status_code == 503
    assert "Location" not in answer.headers


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("login=never", BROWSER, 403),
        ("login=always", {**BROWSER, "Accept": "*/*"}, 302),
        ("login=always", {**BROWSER, "Accept": "*/*", "Authorization": "Bearer x"}, 403),
        ("login=sometimes", BROWSER, 400),
    ],
)
def test_routes_choose_with_the_login_parameter(
    app: falcon.testing.TestClient, query: str, headers: dict[str, str], status: int
) -> None:
    assert app.simulate_get("/verify", query_string=query, headers=headers).status_code == status


def test_off_by_default_browsers_get_the_plain_403(fake: FakeAuthorizer) -> None:
    app = client(fake, AUTHSVC_LOGIN_REDIRECT="false")
    for path in ("/verify", "/login"):
        answer = app.simulate_get(path, headers=BROWSER)
        assert answer.status_code == 403, path
        assert "Location" not in answer.headers


def test_with_login_redirects_no_refusal_of_a_credential_is_cacheable_by_the_proxy(
    fake: FakeAuthorizer, app: falcon.testing.TestClient
) -> None:
    """Whether it redirects depends on Accept, which is not in nginx's cache key."""
    api = {"Accept": "application/json", "Cookie": "cookie_session=bm90LWEtc2Vzc2lvbg"}
    assert app.simulate_get("/verify", headers=api).headers["X-Accel-Expires"] == "0"
    plain = client(fake, AUTHSVC_LOGIN_REDIRECT="false")
    assert plain.simulate_get("/verify", headers=api).headers["X-Accel-Expires"] == "5"


def test_an_allowlisted_host_the_cookie_never_reaches_is_warned_about(
    fake: FakeAuthorizer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authsvc.app"):
        client(fake, AUTHSVC_REDIRECT_ALLOWLIST="app.example.com,app.other.org")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "app.other.org is outside the session cookie domains" in warnings[0]


@pytest.mark.parametrize("fault", ["internal_system_error", "http_500_html"])
def test_an_authorizer_error_answer_never_sends_a_signed_in_user_to_sign_in(
    fake: FakeAuthorizer, fault: str
) -> None:
    """An error Authorizer does not use for bad credentials (a storage failure): refused or
    cannot confirm, never a login page. ("invalid token" without extensions, as 1.x answers
    a bad credential, does send the browser to sign in: that session is over.)"""
    app = client(fake, AUTHSVC_CACHE_TTL="0", AUTHSVC_NEGATIVE_CACHE_TTL="0")
    login = fake.login("l@example.com", PASSWORD)
    fake.set_fault(fault)  # type: ignore[arg-type]  # a parametrized literal
    try:
        answer = app.simulate_get(
            "/verify", headers={**BROWSER, "Cookie": f"cookie_session={login.session_cookie}"}
        )
    finally:
        fake.set_fault(None)
    assert answer.status_code in (403, 503)
    assert "Location" not in answer.headers


def test_the_401_behind_nginx_carries_no_challenge_and_login_answers_are_never_reusable(
    app: falcon.testing.TestClient,
) -> None:
    """nginx copies a 401's WWW-Authenticate onto the redirect its error_page produces."""
    assert "WWW-Authenticate" not in app.simulate_get("/verify", headers=BEHIND_NGINX).headers
    refused = app.simulate_get("/login", headers={**BROWSER, "Accept": "application/json"})
    assert refused.headers["Cache-Control"] == "no-store"


def test_login_follows_the_verdict_of_verify_when_nginx_passes_it(
    app: falcon.testing.TestClient,
) -> None:
    """A route with login=always judged a page load that /login alone would not."""
    verdict = {**BROWSER, "Accept": "*/*", "X-Auth-Request-Error": "login_required"}
    assert app.simulate_get("/login", headers=verdict).status_code == 302
    # A route with login=never: /verify's verdict is not login_required, even for a browser.
    never = {**BROWSER, "X-Auth-Request-Error": "missing_credential"}
    assert app.simulate_get("/login", headers=never).status_code == 403
    # Whatever the verdict claims, a caller with a credential header gets no redirect.
    forged = {**verdict, "Authorization": "Bearer x"}
    assert app.simulate_get("/login", headers=forged).status_code == 403


def test_an_internal_login_url_is_warned_about(
    fake: FakeAuthorizer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_environ({"AUTHORIZER_URL": fake.url, "AUTHSVC_LOGIN_REDIRECT": "true"})
    with caplog.at_level(logging.WARNING, logger="authsvc.app"):
        create_app(settings)
    assert any("set AUTHORIZER_PUBLIC_URL" in r.getMessage() for r in caplog.records)
