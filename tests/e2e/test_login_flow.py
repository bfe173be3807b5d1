"""The browser loop through real nginx and real Traefik: protected page → 302 to the login page →
sign in at the (fake) Authorizer, which sets the session cookie → back to the page → 200 with
the caller's identity → logout → sent to sign in again.

Host names are real-world shaped: the app at app.example.test, Authorizer at auth.example.test
(its public URL), so the session cookie reaches the app only through Authorizer's parent-domain
cookie (cookie_session_domain, Domain=.example.test), as in production. The browser is the
standard library's cookie jar over real HTTP (tests/support/browser.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import stack_outcomes
from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes
from tests.support.browser import Browser, Page
from tests.support.echo_backend import EchoBackend
from tests.support.stack import running_authsvc, running_nginx, running_traefik

CLIENT_ID = "authsvc-login-e2e"
EMAIL, PASSWORD = "lin@example.com", "lin's password 1"
CACHE_TTL_S = 2
LOGIN = (
    "mutation login($data: LoginRequest!) "
    "{ login(params: $data) { message access_token user { id } } }"
)
LOGOUT = "mutation logout { logout { message } }"


@dataclass(frozen=True)
class Site:
    proxy: str
    port: int
    authorizer: FakeAuthorizer
    user_id: str

    def url(self, path: str, host: str = "app.example.test") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def login_page(self) -> str:
        return f"{self.authorizer.issuer}/app"


@pytest.fixture(scope="module")
def authorizer() -> Iterator[FakeAuthorizer]:
    port = processes.free_port()
    with FakeAuthorizer(
        client_id=CLIENT_ID,
        issuer=f"http://auth.example.test:{port}",
        port=port,
        cookie_secure=False,  # plain http in the test, as --app-cookie-secure=false
    ) as fake:
        yield fake


@pytest.fixture(scope="module")
def user_id(authorizer: FakeAuthorizer) -> str:
    return authorizer.add_user(EMAIL, PASSWORD, roles=["user"])


def login_settings(authorizer: FakeAuthorizer, **overrides: str) -> dict[str, str]:
    return {
        "AUTHORIZER_URL": authorizer.url,
        "AUTHORIZER_PUBLIC_URL": authorizer.issuer,
        "AUTHORIZER_CLIENT_ID": CLIENT_ID,
        "AUTHSVC_LOGIN_REDIRECT": "true",
        "AUTHSVC_CACHE_TTL": str(CACHE_TTL_S),
        **overrides,
    }


@pytest.fixture(scope="module")
def authsvc(tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer) -> Iterator[str]:
    settings = login_settings(authorizer)
    with (
        stack_outcomes(),
        running_authsvc(tmp_path_factory.mktemp("authsvc-login"), settings) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def app() -> Iterator[EchoBackend]:
    with EchoBackend() as backend:
        yield backend


@pytest.fixture(scope="module", params=["nginx", "traefik"])
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    authsvc: str,
    app: EchoBackend,
    authorizer: FakeAuthorizer,
    user_id: str,
) -> Iterator[Site]:
    workdir: Path = tmp_path_factory.mktemp(request.param)
    with stack_outcomes():
        if request.param == "nginx":
            running = running_nginx(
                workdir,
                authsvc_url=authsvc,
                app_url=app.url,
                locations="example-login-locations.conf",
            )
        else:
            running = running_traefik(workdir, authsvc_url=authsvc, app_url=app.url)
        with running as proxy:
            yield Site(request.param, int(urlsplit(proxy.url).port or 0), authorizer, user_id)


def sign_in(browser: Browser, site: Site) -> Page:
    """What Authorizer's login app does in the page: the login mutation from its own origin."""
    answer = browser.graphql(
        site.authorizer.issuer, LOGIN, {"data": {"email": EMAIL, "password": PASSWORD}}
    )
    assert answer.status == 200, answer.body
    assert "errors" not in answer.json(), answer.body
    return answer


def sent_to_login(page: Page, site: Site) -> str | None:
    """The page to come back to, if `page` is a 302 to the login page (else fails)."""
    assert page.status == 302, (page.status, page.body)
    location = urlsplit(page.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == site.login_page
    back = parse_qs(location.query).get("redirect_uri")
    return back[0] if back else None


def test_the_whole_browser_loop(site: Site, app: EchoBackend) -> None:
    browser = Browser()
    page = site.url("/reports/q3?view=full&next=%2Fhome")

    # 1. No session: sent to the login page, carrying the page to come back to.
    first = browser.navigate(page)
    assert sent_to_login(first, site) == page
    assert first.headers.get("Cache-Control") == "no-store"

    # 2. The login page loads; signing in sets Authorizer's session cookies.
    assert browser.navigate(first.location).status == 200
    sign_in(browser, site)
    # Only the parent-domain cookie reaches the app's host: the one authsvc reads there.
    assert browser.cookie_names_for(f"app.example.test:{site.port}") == {"cookie_session_domain"}

    # 3. Back at the page: let through, with the caller's identity for the app.
    back = browser.navigate(page)
    assert back.status == 200, back.body
    seen = json.loads(back.body)
    assert seen["path"] == "/reports/q3?view=full&next=%2Fhome"
    assert seen["headers"]["x-auth-request-user"] == site.user_id
    assert seen["headers"]["x-auth-request-email"] == EMAIL

    # 4. Signed in but lacking a role: 403, not the login page (signing in again won't help).
    assert browser.navigate(site.url("/admin/panel")).status == 403

    # 5. Logout (the login app's logout mutation, with the cookie): sent to sign in again
    # once authsvc's cached allow has run out (AUTHSVC_CACHE_TTL).
    logged_out_at = time.monotonic()
    assert browser.graphql(site.authorizer.issuer, LOGOUT, {}).status == 200
    while True:
        again = browser.navigate(page)
        if again.status != 200:
            break
        assert time.monotonic() - logged_out_at < CACHE_TTL_S + 1, "still allowed past the TTL"
        time.sleep(0.1)
    assert sent_to_login(again, site) == page


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json"},
        {"Accept": "*/*"},
        {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
        {"Accept": "text/html", "Sec-Fetch-Mode": "cors"},
        {"Accept": "text/html", "Authorization": "Bearer not-a-token"},
    ],
)
def test_api_clients_are_never_redirected(site: Site, headers: dict[str, str]) -> None:
    answer = Browser().request("GET", site.url("/api/items"), headers)
    assert answer.status == 403
    assert not answer.location


def test_a_page_post_without_a_session_is_refused_not_redirected(site: Site) -> None:
    answer = Browser().request(
        "POST", site.url("/form"), {"Accept": "text/html", "Content-Type": "text/plain"}, b"x"
    )
    assert answer.status == 403


def test_a_host_outside_the_allowlist_gets_the_login_page_without_a_way_back(site: Site) -> None:
    """app.other.test never receives Authorizer's cookie (another parent domain), and is not
    on the default allow-list: the login page is shown, but nobody is sent back there."""
    answer = Browser().navigate(site.url("/x", host="app.other.test"))
    assert sent_to_login(answer, site) is None


def test_a_long_page_url_still_gets_its_redirect(site: Site) -> None:
    """The Location holds the page's URL percent-encoded: about three times its length."""
    page = site.url("/" + "/".join(["seg%20ment"] * 330))  # about 3,600 characters
    answer = Browser().navigate(page)
    assert sent_to_login(answer, site) == page


def test_a_head_request_is_a_page_load_and_the_redirect_carries_no_challenge(site: Site) -> None:
    answer = Browser().request(
        "HEAD", site.url("/reports"), {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}
    )
    assert answer.status == 302
    assert "WWW-Authenticate" not in answer.headers


@pytest.fixture(scope="module")
def nginx_401(
    tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer, app: EchoBackend
) -> Iterator[Site]:
    """nginx's login recipe in front of an authsvc answering 401 to API clients."""
    settings = login_settings(authorizer, AUTHSVC_UNAUTHENTICATED_STATUS="401")
    with (
        stack_outcomes(),
        running_authsvc(tmp_path_factory.mktemp("authsvc-login-401"), settings) as url,
        running_nginx(
            tmp_path_factory.mktemp("nginx-401"),
            authsvc_url=url,
            app_url=app.url,
            locations="example-login-locations.conf",
        ) as proxy,
    ):
        yield Site("nginx", int(urlsplit(proxy.url).port or 0), authorizer, "")


def test_in_401_mode_an_api_client_behind_nginx_keeps_verifys_answer(nginx_401: Site) -> None:
    """Its 401 goes through the error_page too; /login answers 401 again, and the client sees
    /verify's one challenge and reason, not /login's."""
    answer = Browser().request(
        "GET", nginx_401.url("/api/items"), {"Authorization": "Bearer not.a.token"}
    )
    assert answer.status == 401
    assert answer.headers.get_all("WWW-Authenticate") == [
        'Bearer realm="authsvc", error="invalid_token"'
    ]
    assert answer.headers.get_all("X-Auth-Request-Error") == ["invalid_credential"]
    assert answer.headers.get("X-Auth-Request-User") is None  # /login's copies stay behind
    assert not answer.location
    browser = Browser().navigate(nginx_401.url("/reports"))
    assert sent_to_login(browser, nginx_401) == nginx_401.url("/reports")
