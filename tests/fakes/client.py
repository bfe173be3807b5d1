"""The fake's own helper client: real HTTP calls to /graphql, made the way a client makes them.

FakeAuthorizer.login, logout and rotate_session go through here rather than calling the service
directly, so the tokens and cookies a test receives went through the same transport, CSRF and
cookie encoding as everyone else's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import requests

from tests.fakes.claimsets import Dialect
from tests.fakes.cookies import MFA_COOKIE, SESSION_COOKIE

TIMEOUT_S = 10.0
_AUTH_SELECTION = "message access_token expires_in refresh_token id_token user { id email roles }"


@dataclass(frozen=True)
class Tokens:
    """What one login (or session rotation) handed out. `session_cookie` is the decoded value."""

    access_token: str
    id_token: str
    refresh_token: str | None
    session_cookie: str
    expires_in: int
    user_id: str


class FakeAuthorizerError(RuntimeError):
    """A helper call (login, logout, rotate_session) was answered with an error."""


@dataclass(frozen=True)
class HelperClient:
    """Speaks the dialect's SDK documents to `url`, sending Origin = url like a good backend."""

    url: str
    dialect: Dialect

    def login(
        self,
        email: str,
        password: str,
        roles: Sequence[str] | None,
        scope: Sequence[str] | None,
        authorizer_url: str | None,
    ) -> Tokens:
        params: dict[str, object] = {"email": email, "password": password}
        if roles is not None:
            params["roles"] = list(roles)
        if scope is not None:
            params["scope"] = list(scope)
        input_type = "LoginInput" if self.dialect == "1.x" else "LoginRequest"
        query = (
            f"mutation login($data: {input_type}!) "
            f"{{ login(params: $data) {{ {_AUTH_SELECTION} }} }}"
        )
        headers = {"X-Authorizer-URL": authorizer_url} if authorizer_url else {}
        data, set_cookies = self._graphql(query, {"data": params}, headers)
        auth = data["login"]
        if auth.get("access_token") is None and MFA_COOKIE in set_cookies:
            # 2.4's MFA offer: skip enrolment with the mfa_session cookie, as the SDK would.
            skip = (
                "mutation skip($email: String) { skip_mfa_setup(params: {email: $email}) "
                f"{{ {_AUTH_SELECTION} }} }}"
            )
            mfa_cookie = {"Cookie": f"{MFA_COOKIE}={set_cookies[MFA_COOKIE]}"}
            data, set_cookies = self._graphql(skip, {"email": email}, {**headers, **mfa_cookie})
            auth = data["skip_mfa_setup"]
        return _tokens(auth, set_cookies)

    def logout(self, access_token: str | None, session_cookie: str | None) -> None:
        headers: dict[str, str] = {}
        if access_token is not None:
            headers["Authorization"] = f"Bearer {access_token}"
        if session_cookie is not None:
            headers["Cookie"] = self._session_cookie_header(session_cookie)
        self._graphql("mutation logout { logout { message } }", {}, headers)

    def rotate_session(self, session_cookie: str) -> Tokens:
        query = f"query session {{ session {{ {_AUTH_SELECTION} }} }}"
        headers = {"Cookie": self._session_cookie_header(session_cookie)}
        data, set_cookies = self._graphql(query, {}, headers)
        return _tokens(data["session"], set_cookies)

    def _session_cookie_header(self, value: str) -> str:
        """1.x values are std base64: send them percent-escaped, as a browser holds them."""
        shown = quote(value, safe="") if self.dialect == "1.x" else value
        return f"{SESSION_COOKIE}={shown}"

    def _graphql(
        self, query: str, variables: Mapping[str, object], headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """POST the document; returns `data` and the Set-Cookie values, or raises."""
        body = {"query": query, "variables": dict(variables)}
        sent = {"Origin": self.url, "Content-Type": "application/json", **headers}
        with (
            requests.Session() as session,
            session.post(f"{self.url}/graphql", json=body, headers=sent, timeout=TIMEOUT_S) as r,
        ):
            status = r.status_code
            try:
                payload = r.json()
            except requests.JSONDecodeError:
                payload = None
            raw_cookies: list[str] = r.raw.headers.getlist("Set-Cookie")
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if status != 200 or errors or not isinstance(payload, dict):
            detail = errors[0].get("message") if errors else f"HTTP {status}"
            raise FakeAuthorizerError(f"fake authorizer refused the call: {detail}")
        set_cookies: dict[str, str] = {}
        for line in raw_cookies:
            name, _, rest = line.partition("=")
            set_cookies.setdefault(name.strip(), rest.split(";", 1)[0])
        return payload["data"], set_cookies


def _tokens(auth: Mapping[str, Any], set_cookies: Mapping[str, str]) -> Tokens:
    user = auth.get("user") or {}
    return Tokens(
        access_token=str(auth["access_token"]),
        id_token=str(auth["id_token"]),
        refresh_token=auth.get("refresh_token"),
        session_cookie=unquote(set_cookies.get(SESSION_COOKIE, "")),
        expires_in=int(auth.get("expires_in") or 0),
        user_id=str(user.get("id", "")),
    )
