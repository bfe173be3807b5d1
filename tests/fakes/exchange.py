"""What a resolver gets from HTTP and gives back: the Caller, the Exchange, and the failures.

Three kinds of failure, rendered differently by GraphQL and REST: ServiceError (typed, with a
code), RawError (JWT library text, untyped) and InternalPanic (a 1.x resolver panic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.fakes import cookies

UNAUTHENTICATED = "UNAUTHENTICATED"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
FAILED_PRECONDITION = "FAILED_PRECONDITION"


class ServiceError(Exception):
    """A typed service error; 2.4 shows `code` as extensions.code and maps it to a REST status."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RawError(Exception):
    """An untyped error (JWT library text): no extensions in GraphQL, 500 `internal` in REST."""


class InternalPanic(Exception):
    """A 1.x resolver panic (type assertion on a missing claim); gqlgen reports it generically."""

    def __init__(self) -> None:
        super().__init__("internal system error")


def unauthorized() -> ServiceError:
    return ServiceError("unauthorized", UNAUTHENTICATED)


def invalid_token() -> ServiceError:
    return ServiceError("invalid token", UNAUTHENTICATED)


def invalid_claims() -> ServiceError:
    return ServiceError("invalid claims", UNAUTHENTICATED)


@dataclass(frozen=True)
class Caller:
    """What the service may read from the HTTP request."""

    headers: Mapping[str, str]
    cookies: Mapping[str, str]

    def bearer_token(self) -> str | None:
        """The token of `Authorization: Bearer <token>`, or None."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def session_cookie(self) -> str | None:
        """cookie_session, else cookie_session_domain (apps on sibling subdomains see only it)."""
        return self.cookies.get(cookies.SESSION_COOKIE) or self.cookies.get(
            cookies.SESSION_DOMAIN_COOKIE
        )


@dataclass
class Exchange:
    """One request's caller plus the Set-Cookie lines the service wants sent back."""

    caller: Caller
    set_cookies: list[str] = field(default_factory=list)
