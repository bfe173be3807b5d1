"""The outcomes of a /verify request that are not an allow, each with its HTTP status.

::

    AuthError                        base class, never raised itself
    ├── MissingCredentials     403*  no token and no session cookie
    ├── InvalidCredentials     403*  malformed, wrong type, expired, or rejected by Authorizer
    │   └── UnconfirmedRejection 403* an unexpected Authorizer error: denied, never remembered
    ├── AccessDenied           403   identity known, a required role is missing
    ├── BadRequest             400   the proxy's request to authsvc is malformed (config bug)
    ├── LoginRequired          401   a browser without a valid credential, behind nginx: its
    │   │                            error_page 401 sends it to /login (login redirects on)
    │   └── LoginRedirect      302   the same elsewhere: sent to the login page directly
    └── AuthorizerUnavailable  503   timeout, refused, 429, 5xx, unreadable answer; never cached
        └── AuthorizerRateLimited 503  Authorizer kept answering 429 past the allowed wait
    SettingsError                    start-up only; never reaches HTTP

\\* ``AUTHSVC_UNAUTHENTICATED_STATUS=401`` turns these two into 401 with ``WWW-Authenticate``;
the one error handler in ``app.py`` applies that, so the status here is only the default.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar


class AuthError(Exception):
    """Base of every denial; ``reason`` is the stable name used in headers, bodies and logs."""

    status: ClassVar[HTTPStatus] = HTTPStatus.FORBIDDEN
    reason: ClassVar[str] = "denied"
    detail: ClassVar[str] = "access denied"
    """A fixed text for the response body: never the exception message, which may quote input."""
    is_authentication: ClassVar[bool] = False
    """True where 401 mode applies: the caller did not prove who they are."""
    is_definitive: ClassVar[bool] = True
    """False where the answer may change on retry: never remembered, never reusable."""
    fresh_for_s: float | None = None
    """Set on a remembered rejection: how long it stays true (for the freshness headers)."""
    subject: str = ""
    """Who was refused, where that is known (a missing role): for the decision log only."""
    is_cached: bool = False
    """Whether the decision cache answered (a remembered "no", a cached identity's roles)."""


class MissingCredentials(AuthError):
    """No bearer token and no session cookie; the client should log in."""

    reason = "missing_credential"
    detail = "no bearer token or session cookie"
    is_authentication = True


class InvalidCredentials(AuthError):
    """A credential was presented but is malformed, of a refused type, or rejected by Authorizer."""

    reason = "invalid_credential"
    detail = "the credential is malformed, expired, revoked or of a refused type"
    is_authentication = True


class UnconfirmedRejection(InvalidCredentials):
    """Authorizer answered with an error it does not use for bad credentials (a storage
    failure, a 1.x panic): denied, as its error answers are, but never remembered."""

    is_definitive = False


class AccessDenied(AuthError):
    """The credential is valid but lacks a role the route requires; logging in again won't help."""

    reason = "missing_role"
    detail = "the credential lacks a role this route requires"


class BadRequest(AuthError):
    """The request to authsvc itself is wrong, e.g. a misspelt ``roles`` parameter.

    That is a proxy configuration bug which would otherwise drop a role requirement silently,
    so it is refused loudly (nginx turns the 400 into a 500 and logs it) rather than ignored.
    """

    status = HTTPStatus.BAD_REQUEST
    reason = "invalid_request"
    detail = "malformed request to authsvc: required roles go in the 'roles' query parameter"


class LoginRequired(AuthError):
    """A person's browser without a valid credential, with login redirects on; behind nginx,
    whose auth_request understands only 2xx, 401 and 403, the recipe's ``error_page 401``
    sends it on to authsvc's /login."""

    status = HTTPStatus.UNAUTHORIZED
    reason = "login_required"
    detail = "sign in first"
    location: str | None = None
    """Where to sign in (a 302's Location); None when the proxy redirects."""


class LoginRedirect(LoginRequired):
    """The same where the proxy relays authsvc's answer (Traefik, Caddy, Envoy): a 302 to the
    login page, carrying the page to come back to when that is safe."""

    status = HTTPStatus.FOUND

    def __init__(self, location: str) -> None:
        super().__init__("login redirect")
        self.location = location


class AuthorizerUnavailable(AuthError):
    """Authorizer could not confirm the credential (outage, 429, bad answer); safe to retry."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    reason = "authorizer_unavailable"
    detail = "the credential could not be confirmed right now; retry later"
    retry_after_s: int = 1
    """For the Retry-After header: longer while the circuit breaker holds calls back."""


class SettingsError(Exception):
    """The environment holds invalid settings; ``problems`` has one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class AuthorizerRateLimited(AuthorizerUnavailable):
    """Authorizer answered 429 until AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT ran out; retry later."""
