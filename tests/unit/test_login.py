"""Login redirects: who counts as a browser, and which return URLs are safe (no open redirect)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc import login
from authsvc.errors import BadRequest, LoginRedirect, LoginRequired, SettingsError
from authsvc.login import LoginPage, is_navigation, prefers_html, safe_return_url
from authsvc.settings import Settings

ALLOW = (".example.com", "intranet.corp")
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/",
        "https://example.com/",
        "http://a.b.example.com:8443/x/y?q=1&r=%2F#frag",
        "HTTPS://APP.EXAMPLE.COM/Page",
        "https://intranet.corp/",
        "https://app.example.com/%2F%2Fevil.example",  # a path, not a host
    ],
)
def test_urls_on_allowed_hosts_are_kept_as_they_are(url: str) -> None:
    assert safe_return_url(url, ALLOW) == url


@pytest.mark.parametrize(
    ("trick", "url"),
    [
        ("another site", "https://evil.example/"),
        ("scheme-relative", "//evil.example/"),
        ("scheme-relative to an allowed host", "//app.example.com/"),
        ("backslashes as slashes", "/\\evil.example/"),
        ("backslash after the scheme", "https:\\\\evil.example/"),
        ("backslash before an allowed host", "https://evil.example\\.example.com/"),
        ("scheme without slashes", "https:evil.example"),
        ("scheme with one slash", "https:/evil.example/"),
        ("scheme with three slashes", "https:///evil.example/"),
        ("relative path", "/dashboard"),
        ("user-info naming an allowed host", "https://app.example.com@evil.example/"),
        ("user-info with a password", "https://app.example.com:pw@evil.example/"),
        ("user-info before an allowed host", "https://user@app.example.com/"),
        ("encoded @", "https://app.example.com%40evil.example/"),
        ("encoded dot", "https://evil%2eexample.com/"),
        ("encoded slash in the host", "https://app.example.com%2F@evil.example/"),
        ("NUL in the host", "https://app.example.com%00.evil.example/"),
        ("fragment hiding the host", "https://evil.example#@app.example.com"),
        ("query hiding the host", "https://evil.example?.example.com"),
        ("suffix without a dot", "https://evilexample.com/"),
        ("allowed name as a subdomain", "https://app.example.com.evil.example/"),
        ("trailing dot", "https://app.example.com./"),
        ("javascript", "javascript:alert(1)//https://app.example.com/"),
        ("javascript with a tab", "java\tscript:alert(1)"),
        ("data URL", "data:text/html,<script>alert(1)</script>"),
        ("vbscript", "vbscript:msgbox(1)"),
        ("other scheme", "ftp://app.example.com/"),
        ("newline (header injection)", "https://app.example.com/\r\nSet-Cookie: a=b"),
        ("tab inside the host", "https://app.exa\tmple.com/"),
        ("space", "https://app.example.com /"),
        ("control character", "https://app.example.com/\x07"),
        ("DEL", "https://app.example.com/\x7f"),
        ("ideographic full stop", "https://evil\u3002example.com/"),
        ("fullwidth letters", "https://\uff45vil.example/"),
        ("non-ASCII host", "https://app.exämple.com/"),
        ("bad port", "https://app.example.com:99999/"),
        ("non-numeric port", "https://app.example.com:x/"),
        ("IPv6 literal not allowed", "https://[::1]/"),
        ("empty host", "https://:443/"),
        ("empty", ""),
        ("too long", "https://app.example.com/" + "a" * 5000),
        ("double-encoded URL", "https%3A%2F%2Fevil.example%2F"),
        ("brackets around a name", "https://[x]/"),
        ("brackets around an allowed name", "https://[app.example.com]/"),
        ("a lone closing bracket", "https://app.example.com]/"),
    ],
)
def test_every_redirect_trick_is_refused(trick: str, url: str) -> None:
    assert safe_return_url(url, ALLOW) is None, trick


def test_a_refused_return_url_leaves_the_login_page_without_one() -> None:
    page = LoginPage("https://auth.example.com/app", ALLOW)
    assert page.location("https://evil.example/") == "https://auth.example.com/app"
    assert page.location(None) == "https://auth.example.com/app"


def test_the_return_url_is_encoded_into_the_login_url() -> None:
    page = LoginPage("https://auth.example.com/app?ui=dark", ALLOW)
    target = "https://app.example.com/a?x=1&y=%2F#z"
    location = page.location(target)
    parts = urlsplit(location)
    assert (parts.netloc, parts.path) == ("auth.example.com", "/app")
    assert parse_qs(parts.query) == {"ui": ["dark"], "redirect_uri": [target]}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (FIREFOX, True),
        (CHROME, True),
        ("text/html", True),
        ("application/xhtml+xml", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html", False),  # the first of the best is JSON
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
        ("image/avif,image/webp,*/*;q=0.8", False),
        ("text/html;q=abc, application/json;q=0.1", False),
        ("text/html;q=2", False),
    ],
)
def test_accept_header_preference(accept: str, expected: bool) -> None:
    assert prefers_html(accept) is expected


def environ(**headers: str) -> dict[str, str]:
    env = {"REQUEST_METHOD": "GET", "HTTP_ACCEPT": FIREFOX}
    env.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return env


@pytest.mark.parametrize(
    ("headers", "mode", "expected"),
    [
        ({}, "auto", True),
        ({"sec_fetch_mode": "navigate"}, "auto", True),
        ({"authorization": "Bearer x"}, "auto", False),
        ({"authorization": "Bearer x"}, "always", False),
        ({"x_forwarded_method": "POST"}, "auto", False),
        ({"x_original_method": "DELETE"}, "auto", False),
        ({"x_forwarded_method": "HEAD"}, "auto", True),
        ({"x_requested_with": "XMLHttpRequest"}, "auto", False),
        ({"sec_fetch_mode": "cors"}, "auto", False),
        ({"sec_fetch_mode": ""}, "auto", True),  # a proxy's empty copy of a missing header
        ({"accept": "application/json"}, "auto", False),
        ({"accept": "application/json"}, "always", True),
        ({}, "never", False),
    ],
)
def test_only_a_browser_navigation_counts(
    headers: dict[str, str], mode: str, expected: bool
) -> None:
    assert is_navigation(environ(**headers), mode) is expected


def test_behind_nginx_the_answer_is_401_elsewhere_a_302_back_to_the_page() -> None:
    page = LoginPage("https://auth.example.com/app", ALLOW)
    forwarded = environ(
        x_forwarded_proto="https", x_forwarded_host="app.example.com", x_forwarded_uri="/a?b=1"
    )
    answer = page.answer(forwarded, "auto")
    assert isinstance(answer, LoginRedirect)
    assert answer.location == (
        "https://auth.example.com/app?redirect_uri=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3D1"
    )
    for header in ("HTTP_X_ORIGINAL_URI", "HTTP_X_ORIGINAL_URL", "HTTP_X_ORIGINAL_METHOD"):
        behind_nginx = page.answer({**forwarded, header: "GET"}, "auto")  # ingress-nginx: URL
        assert type(behind_nginx) is LoginRequired, header
    assert page.answer(environ(accept="application/json"), "auto") is None


def test_route_modes() -> None:
    assert login.route_mode([("roles", "admin")]) == "auto"
    assert login.route_mode([("login", "never")]) == "never"
    with pytest.raises(BadRequest):
        login.route_mode([("login", "yes")])


@pytest.mark.parametrize(
    ("public_url", "domains"),
    [
        ("https://auth.example.com", (".auth.example.com", ".example.com")),
        ("https://example.com", (".example.com",)),
        ("http://localhost:8080", ("localhost",)),
        ("http://127.0.0.1:9011", ("127.0.0.1",)),
        # Authorizer's parent-domain cookie would be Domain=.co.uk or .herokuapp.com, which
        # browsers refuse: never an allowed redirect domain either.
        ("https://auth.example.co.uk", (".auth.example.co.uk",)),
        ("https://myauth.herokuapp.com", (".myauth.herokuapp.com",)),
        ("https://auth.corp.github.io", (".auth.corp.github.io",)),
    ],
)
def test_defaults_follow_authorizer_cookie_domains(
    public_url: str, domains: tuple[str, ...]
) -> None:
    settings = Settings.from_environ(
        {"AUTHORIZER_URL": "http://authorizer:8080", "AUTHORIZER_PUBLIC_URL": public_url}
    )
    assert settings.session_cookie_domains == domains
    assert settings.login_page.allowlist == domains
    assert settings.login_page.url == public_url + "/app"


def test_explicit_settings_win() -> None:
    settings = Settings.from_environ(
        {
            "AUTHORIZER_URL": "http://authorizer:8080",
            "AUTHSVC_COOKIE_DOMAINS": "Example.COM",
            "AUTHSVC_REDIRECT_ALLOWLIST": "app.example.com, .internal.example.com",
            "AUTHSVC_LOGIN_URL": "https://login.example.com/signin?x=1",
        }
    )
    assert settings.session_cookie_domains == ("example.com",)
    assert settings.login_page.allowlist == ("app.example.com", ".internal.example.com")
    assert settings.login_page.url == "https://login.example.com/signin?x=1"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUTHSVC_REDIRECT_ALLOWLIST", "*.example.com", "leading dot"),
        ("AUTHSVC_REDIRECT_ALLOWLIST", "https://app.example.com", "no scheme"),
        ("AUTHSVC_REDIRECT_ALLOWLIST", "app.example.com:8443", "no scheme, port"),
        ("AUTHSVC_COOKIE_DOMAINS", "example.com/path", "no scheme"),
        ("AUTHSVC_LOGIN_URL", "/app", "absolute"),
        ("AUTHSVC_LOGIN_URL", "javascript:alert(1)", "absolute"),
        ("AUTHSVC_LOGIN_URL", "https://auth.example.com/app#x", "fragment"),
        ("AUTHSVC_LOGIN_REDIRECT", "maybe", "true or false"),
        ("AUTHSVC_REDIRECT_ALLOWLIST", ".co.uk", "public suffix"),
        ("AUTHSVC_REDIRECT_ALLOWLIST", "app.example.com,.com", "public suffix"),
        ("AUTHSVC_REDIRECT_ALLOWLIST", ".github.io", "public suffix"),
        ("AUTHSVC_COOKIE_DOMAINS", ".co.uk", "public suffix"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({"AUTHORIZER_URL": "http://authorizer:8080", name: value})
