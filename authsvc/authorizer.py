"""AuthorizerClient: the only code that talks to Authorizer, over its GraphQL endpoint.

One pooled ``requests.Session`` per worker. Every HTTP exchange has a connect timeout, a read
timeout and an overall deadline (their sum): ``requests``' read timeout bounds each wait for
bytes, so a server trickling one byte at a time would otherwise hold a call forever. A circuit
breaker (``breaker.py``) stops calls to an Authorizer that keeps failing. Arguments
are passed as an inline input object built from scalar variables, so the document works on
Authorizer 1.x (``*Input`` types) and 2.x (``*Request`` types) alike, and no credential is ever
spliced into query text.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from authsvc.breaker import CircuitBreaker
from authsvc.errors import (
    AuthorizerRateLimited,
    AuthorizerUnavailable,
    InvalidCredentials,
    UnconfirmedRejection,
)
from authsvc.identity import Identity, identity_from_claims
from authsvc.jwks import KeySet, keys_from_jwks
from authsvc.settings import Settings

log = logging.getLogger(__name__)

WARN_EVERY_S = 10.0
"""At most one log line per kind of Authorizer failure per this many seconds."""

JWT_QUERY = (
    "query authsvc_validate_jwt_token($token: String!, $token_type: String!) "
    "{ validate_jwt_token(params: {token: $token, token_type: $token_type}) { is_valid claims } }"
)
SESSION_QUERY = (
    "query authsvc_validate_session($cookie: String!, $roles: [String!]) "
    "{ validate_session(params: {cookie: $cookie, roles: $roles}) { is_valid user { id email } } }"
)


class CallObserver(Protocol):
    """Told about every call to Authorizer (``metrics.Metrics`` implements it)."""

    def authorizer_call(self, operation: str, outcome: str, seconds: float) -> None: ...

    def authorizer_throttled(self, operation: str) -> None:
        """One 429 answer, whether authsvc then waited it out or gave up."""


class _Unobserved:
    def authorizer_call(self, operation: str, outcome: str, seconds: float) -> None:
        pass

    def authorizer_throttled(self, operation: str) -> None:
        pass


class AuthorizerClient:
    """Confirms credentials with Authorizer; raises ``InvalidCredentials`` or
    ``AuthorizerUnavailable``, never a ``requests`` exception."""

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        calls: CallObserver | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._base = settings.authorizer_url
        self._url = settings.authorizer_url + "/graphql"
        self._calls: CallObserver = calls or _Unobserved()
        self.last_answer_at: float | None = None
        """monotonic() of Authorizer's last real answer (a yes or a definitive no)."""
        self._timeout = (settings.authorizer_connect_timeout_s, settings.authorizer_read_timeout_s)
        self._deadline_s = sum(self._timeout)
        # Exchanges run here so the caller can stop waiting at the deadline; a trickling one
        # finishes (or times out) in the background. Threads are greenlets under gevent.
        self._exchanges = concurrent.futures.ThreadPoolExecutor(
            max_workers=pool_size, thread_name_prefix="authorizer"
        )
        self._breaker = breaker or CircuitBreaker(
            failures=0, open_s=1, max_open_s=1, monotonic=monotonic
        )
        self._rate_limit_wait_s = settings.authorizer_rate_limit_wait_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._warnings = ThrottledWarnings(WARN_EVERY_S, monotonic)
        self._role_claim = settings.role_claim
        self._session = requests.Session()
        # NOTE: the session must not pick up proxies or .netrc credentials from the environment.
        self._session.trust_env = False
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(_headers(settings))

    def close(self) -> None:
        self._exchanges.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def verify_token(self, token: str, token_type: str) -> Identity:
        """Confirm a JWT with ``validate_jwt_token``; roles are checked by the caller."""
        data = self._query(
            "validate_jwt_token", JWT_QUERY, {"token": token, "token_type": token_type}
        )
        claims = data.get("claims")
        if data.get("is_valid") is not True or not isinstance(claims, dict):
            raise AuthorizerUnavailable("validate_jwt_token answer without valid claims")
        identity = identity_from_claims(claims, self._role_claim)
        if not identity.subject:
            raise InvalidCredentials("token has no subject")
        return identity

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity:
        """Confirm a session cookie with ``validate_session``, Authorizer checking ``roles``.

        Authorizer checks roles against the session's login-time roles, which it never
        reveals (``user.roles`` is the user's full set), so the Identity carries only the
        roles confirmed here.
        """
        data = self._query(
            "validate_session", SESSION_QUERY, {"cookie": cookie, "roles": list(roles) or None}
        )
        user = data.get("user")
        if data.get("is_valid") is not True or not isinstance(user, dict):
            raise AuthorizerUnavailable("validate_session answer without a user")
        subject, email = user.get("id"), user.get("email")
        if not isinstance(subject, str) or not subject:
            raise InvalidCredentials("session has no subject")
        return Identity(
            subject=subject,
            email=email if isinstance(email, str) else "",
            roles=tuple(sorted(roles)),
            token_type="session",  # noqa: S106  # a label, not a secret
        )

    def _query(self, field: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        next_trial_in = self._breaker.allow()
        if next_trial_in is not None:
            refusal = AuthorizerUnavailable(f"{field}: circuit open after repeated failures")
            refusal.retry_after_s = math.ceil(next_trial_in)
            raise refusal
        started = self._monotonic()
        outcome = "unavailable"
        try:
            result = self._exchange(field, query, variables)
            outcome = "confirmed"
            return result
        except InvalidCredentials:
            outcome = "rejected"
            raise
        except AuthorizerUnavailable as exc:
            if isinstance(exc, AuthorizerRateLimited):
                outcome = "rate_limited"
            self._warnings.warn(str(exc))
            raise
        finally:
            now = self._monotonic()
            if outcome in ("confirmed", "rejected"):
                self.last_answer_at = now
                self._breaker.succeeded()
            else:
                self._breaker.failed()
            self._calls.authorizer_call(field, outcome, now - started)

    def fetch_keys(self) -> KeySet:
        """Authorizer's issuer and signing keys: discovery, then its ``jwks_uri``."""
        discovery = self._get_json("/.well-known/openid-configuration")
        issuer = discovery.get("issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise AuthorizerUnavailable("discovery document without issuer or jwks_uri")
        # The keys are read from Authorizer itself (AUTHORIZER_URL), whatever public host
        # the discovery document names.
        try:
            path = urlsplit(jwks_uri).path or "/.well-known/jwks.json"
        except ValueError:
            raise AuthorizerUnavailable("discovery document with an unreadable jwks_uri") from None
        algorithms = discovery.get("id_token_signing_alg_values_supported")
        if not isinstance(algorithms, list):
            algorithms = []
        signed_with = tuple(alg for alg in algorithms if isinstance(alg, str))
        return KeySet(keys_from_jwks(self._get_json(path)), issuer, signed_with)

    def _get_json(self, path: str) -> dict[str, Any]:
        """A JSON object from Authorizer, whole within the deadline (as a GraphQL answer)."""
        started = self._monotonic()
        outcome = "unavailable"
        exchange = self._exchanges.submit(self._get, path)
        try:
            status, document = exchange.result(timeout=self._deadline_s)
            if status != 200:
                raise AuthorizerUnavailable(f"GET {path}: HTTP {status}")
            if not isinstance(document, dict):
                raise AuthorizerUnavailable(f"GET {path}: not a JSON object")
            outcome = "confirmed"
            return document
        except concurrent.futures.TimeoutError:
            exchange.cancel()
            raise AuthorizerUnavailable(
                f"GET {path}: no whole answer within {self._deadline_s:g} s"
            ) from None
        except (requests.RequestException, ValueError, RecursionError) as exc:
            raise AuthorizerUnavailable(f"GET {path}: {type(exc).__name__}") from None
        finally:
            self._calls.authorizer_call("keys", outcome, self._monotonic() - started)

    def _get(self, path: str) -> tuple[int, object]:
        """One GET and its JSON body (None unless 200), on an exchange thread."""
        with self._session.get(self._base + path, timeout=self._timeout) as response:
            return response.status_code, response.json() if response.status_code == 200 else None

    def probe(self) -> bool:
        """Whether Authorizer's health endpoint answers 200 (``/healthz``, 1.x: ``/health``)."""
        started = self._monotonic()
        healthy = False
        for path in ("/healthz", "/health"):
            try:
                with self._session.get(self._base + path, timeout=self._timeout) as response:
                    healthy = response.status_code == 200
                    if response.status_code != 404:
                        break
            except requests.RequestException:
                break
        self._calls.authorizer_call(
            "health", "confirmed" if healthy else "unavailable", self._monotonic() - started
        )
        if healthy:
            self.last_answer_at = self._monotonic()
        return healthy

    def _post(self, body: dict[str, Any]) -> requests.Response:
        """One POST, its body read in full (on an exchange thread)."""
        response = self._session.post(self._url, json=body, timeout=self._timeout)
        response.close()  # the body is read (no stream=True): the connection goes back
        return response

    def _exchange(self, field: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = {"query": query, "variables": variables, "operationName": f"authsvc_{field}"}
        give_up_at = self._monotonic() + self._rate_limit_wait_s
        while True:
            exchange = self._exchanges.submit(self._post, body)
            try:
                response = exchange.result(timeout=self._deadline_s)
            except concurrent.futures.TimeoutError:
                exchange.cancel()
                raise AuthorizerUnavailable(
                    f"{field}: no whole answer within {self._deadline_s:g} s"
                ) from None
            except requests.RequestException as exc:
                # NOTE: the exception text names the URL only; the token travels in the body.
                raise AuthorizerUnavailable(f"{field}: {type(exc).__name__}") from exc
            if response.status_code != 429:
                return _parse(field, response)
            self._calls.authorizer_throttled(field)
            # Authorizer's limiter refills continuously; jitter spreads the retries of many
            # waiting confirmations over the refill instead of landing them all at once.
            wait_s = _retry_after_s(response) * random.uniform(0.5, 1.5)  # noqa: S311
            if self._monotonic() + wait_s > give_up_at:
                raise AuthorizerRateLimited(f"{field}: rate limited by Authorizer (HTTP 429)")
            self._sleep(wait_s)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` exactly as the Host header requests will send for ``url``.

    Authorizer 2.2.1+ refuses a POST whose Origin host[:port] differs from its Host header;
    http.client leaves a default port out of Host, so it is left out here too.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}"


def _headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        "Origin": origin_of(settings.authorizer_url),
        # Before 2.4, Authorizer takes its own URL (the tokens' iss) from this header.
        "X-Authorizer-URL": settings.issuer_url,
        "User-Agent": "authsvc",
    }
    if settings.authorizer_client_id:
        headers["X-Authorizer-Client-ID"] = settings.authorizer_client_id
    return headers


def _retry_after_s(response: requests.Response) -> float:
    """Retry-After in seconds (Authorizer sends 1), bounded to 0.05..5 s."""
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.05), 5.0)
    except ValueError:
        return 1.0


def _parse(field: str, response: requests.Response) -> dict[str, Any]:
    """Map Authorizer's answer to data, a definitive "no", or "cannot confirm"."""
    status = response.status_code
    if status != 200:
        # 400/403/422 mean authsvc is misconfigured (client id, Origin): say so in the log.
        raise AuthorizerUnavailable(f"{field}: HTTP {status}")
    try:
        payload = response.json()
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise AuthorizerUnavailable(f"{field}: unreadable answer") from None
    if not isinstance(payload, dict):
        raise AuthorizerUnavailable(f"{field}: unreadable answer")
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        # A resolver error (HTTP 200) is Authorizer's definitive "no": bad signature,
        # expired, logged out, wrong issuer.
        message = _first_message(errors)
        if _is_credential_failure(errors[0], message):
            raise InvalidCredentials(f"{field}: {message}")
        raise UnconfirmedRejection(f"{field}: {message}")
    data = payload.get("data")
    result = data.get(field) if isinstance(data, dict) else None
    if not isinstance(result, dict):
        raise AuthorizerUnavailable(f"{field}: answer without data")
    return result


# What Authorizer (1.x to 2.4) answers for a bad credential: typed errors carry one of these
# codes (2.4); the JWT library's own texts and the 1.x messages carry none (contract 1.5).
_CREDENTIAL_CODES = frozenset({"UNAUTHENTICATED", "INVALID_ARGUMENT", "PERMISSION_DENIED"})
_CREDENTIAL_MESSAGES = (
    "invalid token", "invalid claims", "unauthorized", "token is expired",
    "signature is invalid", "crypto/rsa: verification error", "crypto/ecdsa: verification error",
    "unexpected signing method", "token contains an invalid number of segments",
    "illegal base64 data", "invalid character", "token used before issued",
    "token is not valid yet", "missing exp claim", "invalid exp claim", "missing iat claim",
    "invalid iat claim",
)  # fmt: skip


def _is_credential_failure(error: Any, message: str) -> bool:
    """A definitive "no" about the credential, as opposed to Authorizer failing (storage...)."""
    extensions = error.get("extensions") if isinstance(error, dict) else None
    code = extensions.get("code") if isinstance(extensions, dict) else None
    if isinstance(code, str):
        return code in _CREDENTIAL_CODES
    return message.lower().startswith(_CREDENTIAL_MESSAGES)


def _first_message(errors: list[Any]) -> str:
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else None
    # Authorizer's messages are fixed texts; cap the length in case a proxy answers instead.
    return message[:100] if isinstance(message, str) else "error"


class ThrottledWarnings:
    """Logs each kind of failure at most once per interval, with how many were held back.

    A down or rate-limiting Authorizer fails every request; one line per request would bury
    the log and cost the hot path.
    """

    def __init__(self, interval_s: float, monotonic: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._last: dict[str, tuple[float, int]] = {}  # cause -> (logged at, held back since)

    def warn(self, cause: str) -> None:
        now = self._monotonic()
        logged_at, held_back = self._last.get(cause, (float("-inf"), 0))
        if now - logged_at < self._interval_s:
            self._last[cause] = (logged_at, held_back + 1)
            return
        self._last[cause] = (now, 0)
        suffix = f" ({held_back} more since the last report)" if held_back else ""
        log.warning("cannot confirm credentials with Authorizer: %s%s", cause, suffix)
