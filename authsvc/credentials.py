"""Find the caller's credential: a bearer JWT, else Authorizer's browser session cookie.

Pure functions, no framework import: the resource hands in the raw Authorization header and a
way to look cookies up. Cheap local checks (shape, size, the token's own ``token_type`` claim)
refuse what Authorizer would refuse anyway, so garbage never costs an Authorizer call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

import jwt

from authsvc.errors import InvalidCredentials, MissingCredentials

MAX_TOKEN_CHARS = 32 * 1024
"""Longer bearer tokens are refused without asking Authorizer; real ones are a few KiB."""
MAX_COOKIE_CHARS = 16 * 1024
# NOTE: base64url segments, non-empty signature: no algorithm Authorizer accepts signs with "".
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

# HTTP's whitespace is SP and HTAB only (RFC 9110 5.6.3); str.split() would also split on
# NBSP and other characters a client could smuggle into a latin-1 header.
_SEPARATORS = re.compile(r"[ \t]+")

CookieLookup = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential to confirm: a JWT-shaped bearer token, or a session cookie value."""

    kind: Literal["bearer", "session"]
    value: str

    def __repr__(self) -> str:  # never show the secret value
        return f"Credential(kind={self.kind!r})"


def extract(
    authorization: str | None, cookies: CookieLookup, *, cookie_names: Sequence[str]
) -> Credential:
    """Return the request's credential, or raise ``MissingCredentials``/``InvalidCredentials``.

    A ``Bearer`` Authorization header wins and must hold exactly one JWT-shaped token; a
    malformed one is refused rather than falling back to a cookie. Any other scheme (Basic for
    the upstream, say) is ignored, and the session cookies are tried in ``cookie_names`` order.
    """
    if authorization is not None:
        scheme, *rest = _SEPARATORS.split(authorization.strip(" \t"), 1)
        if scheme.lower() == "bearer":
            return _bearer(rest[0] if rest else "")
    for name in cookie_names:
        for raw in cookies(name) or ():
            value = unquote(raw.strip())  # 1.x cookies arrive percent-escaped
            if value:
                if len(value) > MAX_COOKIE_CHARS:
                    raise InvalidCredentials("session cookie too long")
                return Credential(kind="session", value=value)
    raise MissingCredentials("no bearer token or session cookie")


def _bearer(rest: str) -> Credential:
    parts = _SEPARATORS.split(rest.strip(" \t"))
    if len(parts) != 1:
        raise InvalidCredentials("expected exactly one bearer token")
    token = parts[0]
    if len(token) > MAX_TOKEN_CHARS or not _JWT_SHAPE.fullmatch(token):
        raise InvalidCredentials("bearer token is not a JWT")
    return Credential(kind="bearer", value=token)


def unverified_claims(token: str) -> dict[str, object]:
    """The token's claims, its signature NOT checked: only ever grounds for a refusal.

    Read only on a cache miss, before Authorizer is asked.
    """
    try:
        claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidCredentials("bearer token is not a JWT") from None
    return claims


def token_type_of(token: str) -> str:
    """The token's own, unverified ``token_type`` claim ("" when absent or not a string).

    Authorizer does not compare this claim with the type it is asked to check, so the caller
    must.
    """
    token_type = unverified_claims(token).get("token_type")
    return token_type if isinstance(token_type, str) else ""


def check_audience(claims: Mapping[str, object], audience: str) -> None:
    """Refuse a token issued to another client: its ``aud`` must be exactly ``audience``.

    Authorizer 2.4 accepts any string ``aud`` (1.x to 2.3 required its client id), so a token
    another client of the same Authorizer obtained would otherwise pass; "" skips the check.
    """
    if audience and claims.get("aud") != audience:
        raise InvalidCredentials("token issued to another audience")
