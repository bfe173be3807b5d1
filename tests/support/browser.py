"""A browser stand-in for end-to-end tests: a real cookie jar (the standard library's, with its
Domain and Path rules) over real HTTP, with host names under ``.test`` resolved to
loopback, as /etc/hosts entries would. Redirects are not followed: each hop is the test's to
check and follow.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
TEST_DOMAIN = ".test"
NAVIGATION_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
}


@dataclass(frozen=True)
class Page:
    status: int
    headers: Message
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def json(self) -> Any:
        return json.loads(self.body)


class _LoopbackConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        if not (self.host == TEST_DOMAIN[1:] or self.host.endswith(TEST_DOMAIN)):
            raise OSError(f"the test browser only visits *{TEST_DOMAIN}, not {self.host}")
        self.sock = socket.create_connection((LOOPBACK, self.port or 80), self.timeout)


class _LoopbackHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_LoopbackConnection, req)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back to the caller as it is


class Browser:
    """One user's browser: cookies persist across requests, as set by the servers."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self._timeout_s = timeout_s
        self._opener = urllib.request.build_opener(
            _LoopbackHandler, _KeepRedirects, urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def navigate(self, url: str, **headers: str) -> Page:
        """Load ``url`` as a page (Accept prefers HTML, Sec-Fetch-Mode: navigate)."""
        return self.request("GET", url, {**NAVIGATION_HEADERS, **headers})

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Page:
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                return Page(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:  # any 3xx, 4xx or 5xx: an answer all the same
            with error:
                return Page(error.code, error.headers, error.read())

    def graphql(self, url: str, query: str, variables: Mapping[str, object]) -> Page:
        """What the login app's script does: POST /graphql from its own origin."""
        parts = urlsplit(url)
        body = json.dumps({"query": query, "variables": dict(variables)}).encode()
        headers = {"Content-Type": "application/json", "Origin": f"{parts.scheme}://{parts.netloc}"}
        return self.request("POST", f"{parts.scheme}://{parts.netloc}/graphql", headers, body)

    def cookie_names_for(self, host: str) -> set[str]:
        """The cookies this browser would send to ``host``."""
        request = urllib.request.Request(f"http://{host}/")
        self.cookies.add_cookie_header(request)
        header = request.get_header("Cookie") or ""
        return {item.split("=", 1)[0].strip() for item in header.split(";") if item.strip()}
