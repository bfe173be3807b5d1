"""Login redirects: which requests are a person's browser that should be sent to sign in, where
to send it, and which return URLs it may be brought back to (never another site).

A return URL is used only if it is an absolute ``http(s)://`` URL of plain ASCII, without
user-info, backslashes, whitespace, control characters or percent-encoding in the host, whose
host is on the allow-list (``app.example.com`` exactly, or ``.example.com``: that domain and its
subdomains). Anything else is dropped: the login page is shown without a way back, which is
safe; an open redirect is not.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from publicsuffixlist import PublicSuffixList

from authsvc.errors import BadRequest, LoginRedirect, LoginRequired

LOGIN_PARAMETER = "login"
ROUTE_MODES = ("auto", "always", "never")
"""``login=`` on a route: auto (Accept decides), always (every request without an Authorization
header is a browser's), never (this route never sends anyone to sign in)."""
RETURN_PARAMETER = "redirect_uri"
NAVIGATION_METHODS = frozenset({"GET", "HEAD"})
MAX_RETURN_URL = 4096
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_NGINX_HEADERS = ("HTTP_X_ORIGINAL_URI", "HTTP_X_ORIGINAL_URL", "HTTP_X_ORIGINAL_METHOD")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def route_mode(parameters: Iterable[tuple[str, str]]) -> str:
    """The route's ``login`` parameter (default, or empty: ``auto``); an unknown value is a
    config bug."""
    mode = "auto"
    for name, value in parameters:
        if name == LOGIN_PARAMETER:
            if value and value not in ROUTE_MODES:
                raise BadRequest("unknown login parameter")
            mode = value or "auto"
    return mode


def is_navigation(environ: Mapping[str, Any], mode: str = "auto") -> bool:
    """Whether the request is a person's browser loading a page (never an API client).

    An Authorization header, a method other than GET or HEAD (the client's, from the proxy's
    X-Forwarded-Method or X-Original-Method), ``X-Requested-With`` or a ``Sec-Fetch-Mode`` other
    than ``navigate`` mean a program is asking. Otherwise ``auto`` needs an Accept header that
    prefers HTML (the first of its highest-weighted types is text/html or XHTML); ``always``
    (a route that serves only pages) does not.
    """
    if mode == "never" or environ.get("HTTP_AUTHORIZATION"):
        return False
    method = environ.get("HTTP_X_FORWARDED_METHOD") or environ.get("HTTP_X_ORIGINAL_METHOD")
    if (method or environ.get("REQUEST_METHOD", "GET")).upper() not in NAVIGATION_METHODS:
        return False
    if environ.get("HTTP_X_REQUESTED_WITH"):
        return False
    fetch_mode = environ.get("HTTP_SEC_FETCH_MODE", "").strip().lower()
    if fetch_mode and fetch_mode != "navigate":  # empty: a proxy's copy of a missing header
        return False
    return mode == "always" or prefers_html(environ.get("HTTP_ACCEPT", ""))


def prefers_html(accept: str) -> bool:
    """Whether the first of the Accept header's highest-weighted media types is HTML."""
    best_type, best_q = "", 0.0
    for item in accept.split(",")[:64]:
        media_type, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0.0 < q <= 1.0 and q > best_q:
            best_type, best_q = media_type.lower(), q
    return best_type in HTML_TYPES


def forwarded_url(environ: Mapping[str, Any]) -> str | None:
    """The URL the client asked the proxy for, from X-Forwarded-Proto, -Host and -Uri."""
    proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
    host = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
    uri = environ.get("HTTP_X_FORWARDED_URI", "")
    if not proto or not host or not uri.startswith("/"):
        return None
    return f"{proto}://{host}{uri}"


def is_allowed_host(host: str, allowlist: Iterable[str]) -> bool:
    """``host`` (lowercase) equals an entry, or lies within a ``.domain`` entry."""
    for entry in allowlist:
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def safe_return_url(candidate: str | None, allowlist: Iterable[str]) -> str | None:
    """``candidate`` if it is safe to send a browser back to (see the module docstring)."""
    if not candidate or len(candidate) > MAX_RETURN_URL or not candidate.isascii():
        return None
    if _UNSAFE.search(candidate):
        return None
    scheme, separator, _ = candidate.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return None  # javascript:, data:, //evil, https:evil, /relative
    try:  # urlsplit itself refuses some hosts ("[x]", "app]")
        parts = urlsplit(candidate)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if "@" in parts.netloc or "%" in parts.netloc or "[" in parts.netloc:
        return None
    if not host or (port is not None and not 0 < port < 65536) or not _is_host(host):
        return None
    return candidate if is_allowed_host(host, allowlist) else None


def _is_host(host: str) -> bool:
    return is_host_name(host) or is_ip(host)


def is_host_name(name: str) -> bool:
    """Lowercase DNS labels of letters, digits and inner hyphens (an IPv4 address passes too)."""
    return _HOSTNAME.fullmatch(name) is not None


def cookie_domains(authorizer_public_url: str) -> tuple[str, ...]:
    """Where Authorizer's session cookies reach by default: its own host and subdomains
    (``cookie_session``) and ``.<last two labels>`` (``cookie_session_domain``) unless that is
    a public suffix, which browsers refuse (``.co.uk``, ``.github.io``). An IP address or a
    host that is itself a public suffix (``localhost``) is only itself."""
    host = (urlsplit(authorizer_public_url).hostname or "").lower()
    if not host:
        return ()
    if is_ip(host) or is_public_suffix(host):
        return (host,)
    parent = ".".join(host.split(".")[-2:])
    if parent == host or is_public_suffix(parent):
        return (f".{host}",)
    return (f".{host}", f".{parent}")


def is_public_suffix(domain: str) -> bool:
    """Whether anyone may register names under ``domain`` (``com``, ``co.uk``, ``github.io``,
    and any unknown top-level name such as ``localhost``), per the Public Suffix List."""
    return bool(_public_suffixes().is_public(domain.strip(".").lower()))


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: no network


def domain_patterns(cookie_domains: Iterable[str]) -> tuple[str, ...]:
    """Cookie Domain attributes as allow-list entries: a Domain always covers its subdomains
    (``auth.example.com`` is ``.auth.example.com``); an IP address or a public suffix such as
    ``localhost`` is only itself (never every name under it)."""
    return tuple(
        d if d.startswith(".") or is_ip(d) or is_public_suffix(d) else f".{d}"
        for d in cookie_domains
    )


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LoginPage:
    """Where people sign in (``url``), and the hosts they may be sent back to."""

    url: str
    allowlist: tuple[str, ...]

    def location(self, return_url: str | None) -> str:
        """The login page, with ``redirect_uri`` when ``return_url`` is safe."""
        safe = safe_return_url(return_url, self.allowlist)
        if safe is None:
            return self.url
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}{RETURN_PARAMETER}={quote(safe, safe='')}"

    def answer(self, environ: Mapping[str, Any], mode: str) -> LoginRequired | None:
        """What a browser without a valid credential gets, or None for any other client.

        Behind nginx (``X-Original-Method``/``-URI``/``-URL``, which nginx recipes and
        ingress-nginx send), a 401 that the proxy's ``error_page 401`` (ingress-nginx:
        ``auth-signin``) turns into a visit to ``/login``: nginx accepts only 2xx, 401 and 403
        from an auth subrequest. Elsewhere (Traefik, Caddy and Envoy relay the answer as it
        is) a 302 to the login page.
        """
        if not is_navigation(environ, mode):
            return None
        if any(environ.get(name) is not None for name in _NGINX_HEADERS):
            return LoginRequired("login required behind nginx")
        return LoginRedirect(self.location(forwarded_url(environ)))
