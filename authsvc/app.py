"""create_app: wire settings, Authorizer client, cache and resources into a Falcon app.

``_handle_auth_error`` is the one place that turns an outcome into status, headers and body.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import falcon
from prometheus_client import CollectorRegistry

from authsvc.authorizer import AuthorizerClient
from authsvc.breaker import CircuitBreaker, LoggedEvents
from authsvc.cache import Clock, DecisionCache
from authsvc.decision_log import DecisionLog
from authsvc.errors import AuthError, AuthorizerUnavailable, LoginRequired
from authsvc.jwks import Key, KeyProvider, LocalVerifier
from authsvc.login import LoginPage, domain_patterns, is_allowed_host
from authsvc.metrics import Metrics
from authsvc.periodic import Every
from authsvc.readiness import Readiness
from authsvc.resources import (
    ERROR_HEADER,
    LOGIN_PATH,
    VERIFY_PATH,
    HealthResource,
    LoginResource,
    MetricsResource,
    ReadyResource,
    VerifyResource,
    identity_headers,
    set_freshness,
)
from authsvc.settings import Settings
from authsvc.shared_cache import SharedCache
from authsvc.verifier import Authorizer, Verifier

log = logging.getLogger(__name__)

CACHE_SWEEP_EVERY_S = 5.0
"""How often expired cache entries are dropped (and the entries gauge follows)."""


def create_app(
    settings: Settings,
    *,
    authorizer: Authorizer | None = None,
    cache: DecisionCache | None = None,
    clock: Clock = time.time,
    registry: CollectorRegistry | None = None,
    multiprocess_dir: str | None = None,
    readiness: Readiness | None = None,
    write_decision: Callable[[str], None] | None = None,
    every: Every | None = None,
    is_draining: Callable[[], bool] = lambda: False,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the WSGI app; tests inject a fake ``authorizer``, a ``cache``, a ``clock``, a
    ``registry`` to read metrics from, and ``readiness``. Under gunicorn, ``multiprocess_dir``
    is prometheus-client's directory, where every worker's metrics are added up, and ``every``
    (``periodic.every``) runs the housekeeping jobs: without it, nothing runs in the
    background."""
    metrics = Metrics(registry or CollectorRegistry())
    local: LocalVerifier | None = None
    if authorizer is None:
        # Connections kept to Authorizer: one per concurrent call (threads, or greenlets).
        pool_size = settings.threads if settings.worker_class == "gthread" else 64
        breaker = CircuitBreaker(
            failures=settings.circuit_failures,
            open_s=settings.circuit_open_s,
            max_open_s=settings.circuit_max_open_s,
            monotonic=time.monotonic,
            events=LoggedEvents(metrics, settings.circuit_failures, settings.circuit_open_s),
        )
        metrics.circuit_changed(is_open=False)
        client = AuthorizerClient(settings, pool_size=pool_size, calls=metrics, breaker=breaker)
        authorizer = client
        secrets = _shared_secrets(settings)
        keys: KeyProvider | None = None
        if settings.verify_mode == "remote":
            if secrets:
                log.warning("AUTHSVC_JWT_SECRET(_FILE) is not used with AUTHSVC_VERIFY_MODE=remote")
        else:
            has_primary = bool(settings.jwt_secret or settings.jwt_secret_file)
            if not has_primary:
                log.info(
                    "%s mode: tokens are checked against Authorizer's published keys; an "
                    "HS256 Authorizer publishes none, so set AUTHSVC_JWT_SECRET(_FILE) for it",
                    settings.verify_mode,
                )
            keys = KeyProvider(
                client.fetch_keys,
                static_keys=secrets,
                static_issuer=settings.issuer_url,
                primary_alg=settings.jwt_type if has_primary else None,
            )
            if every is not None:
                keys.refresh_in_background()  # fetched at start, not on the first request
            local = LocalVerifier(keys, role_claim=settings.role_claim, clock=clock)
        if keys is not None and settings.verify_mode == "jwks":
            # Ready while tokens can be verified, whatever Authorizer's own health: taking
            # every replica out of rotation when Authorizer is down would refuse the bearer
            # tokens they can still check (session cookies get 503 meanwhile).
            readiness = readiness or Readiness(
                keys.is_ready, lambda: None, time.monotonic, is_draining=is_draining
            )
        else:
            readiness = readiness or Readiness(
                client.probe,
                lambda: client.last_answer_at,
                time.monotonic,
                is_held_back=lambda: breaker.is_open,
                is_draining=is_draining,
            )
    if cache is None:
        cache = DecisionCache(
            ttl_s=settings.cache_ttl_s,
            negative_ttl_s=settings.negative_cache_ttl_s,
            max_entries=settings.cache_max_entries,
            clock=clock,
            events=metrics,
        )
    if every is not None:
        every(CACHE_SWEEP_EVERY_S, cache.drop_expired, "decision-cache-sweep")
    verifier = Verifier(
        authorizer,
        cache,
        token_types=settings.token_types,
        cookie_names=settings.session_cookies,
        # A follower waits as long as the leader may take, plus a margin to hand over.
        flight_wait_s=settings.confirmation_budget_s + 0.5,
        # Tokens of Authorizer's basic login carry its client id as aud; Authorizer 2.4 no
        # longer checks it, so a token issued to another client would pass without this.
        audience=settings.authorizer_client_id,
        local=local,
        ask_authorizer_too=settings.verify_mode != "jwks",
        shared=SharedCache.from_url(
            settings.cache_url,
            timeout_s=settings.cache_timeout_s,
            ttl_s=settings.cache_ttl_s,
            negative_ttl_s=settings.negative_cache_ttl_s,
            clock=clock,
            # Everything that shapes a verdict: deployments that decide differently never
            # answer for each other (nor old and new settings during a rollout).
            namespace="\n".join(
                (
                    settings.issuer_url,
                    settings.authorizer_client_id,
                    settings.verify_mode,
                    settings.role_claim,
                    ",".join(sorted(settings.token_types)),
                )
            ),
            events=metrics,
        )
        if settings.cache_url
        else None,
    )
    app = falcon.App()
    decisions = DecisionLog(is_enabled=settings.decision_log, clock=clock, write=write_decision)
    login_page = settings.login_page if settings.login_redirect else None
    app.add_sink(VerifyResource(verifier, metrics, decisions, login_page), re.compile(VERIFY_PATH))
    app.add_route(LOGIN_PATH, LoginResource(login_page))
    if login_page is not None:
        _warn_about_unreachable_hosts(settings, login_page)
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(readiness or _always_ready()))
    app.add_route("/metrics", MetricsResource(metrics, multiprocess_dir))
    app.add_error_handler(AuthError, _auth_error_handler(settings))
    app.add_error_handler(Exception, _unexpected_error)
    return app


def _shared_secrets(settings: Settings) -> tuple[Key, ...]:
    """The HS keys of an Authorizer that publishes none, primary first, as Authorizer tries
    them (AUTHSVC_JWT_SECRET[_FILE], then AUTHSVC_JWT_SECONDARY_SECRET[_FILE])."""
    keys = (
        (settings.jwt_type, _secret(settings.jwt_secret, settings.jwt_secret_file)),
        (
            settings.jwt_secondary_type,
            _secret(settings.jwt_secondary_secret, settings.jwt_secondary_secret_file),
        ),
    )
    return tuple(Key(alg, secret.encode("utf-8")) for alg, secret in keys if secret)


def _secret(value: str, path: str) -> str:
    if not path:
        return value
    with open(path, encoding="utf-8") as file:
        return file.read().removesuffix("\n").removesuffix("\r")  # its last newline only


def _unexpected_error(
    req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any
) -> None:
    """A bug: 500 (a denial, behind any proxy), logged with the traceback but without the
    query string, where a client may have put a credential (Falcon's own 500 log shows it)."""
    log.error("unexpected error answering %s %s", req.method, req.path, exc_info=ex)
    resp.status = falcon.HTTP_500
    resp.set_headers(identity_headers(None))
    set_freshness(resp, 0)
    resp.media = {"error": "internal_error", "message": "authsvc failed; see its log"}


def _always_ready() -> Readiness:
    """For an injected Authorizer (tests): nothing to probe."""
    return Readiness(lambda: True, lambda: None, time.monotonic)


def _auth_error_handler(settings: Settings) -> Any:
    use_401 = settings.unauthenticated_status == "401"

    def handle(req: falcon.Request, resp: falcon.Response, ex: AuthError, params: Any) -> None:
        status = int(ex.status)
        if isinstance(ex, LoginRequired):
            # A 302's Location; behind nginx the 401 only triggers its error_page, so no
            # challenge (nginx would copy it onto the redirect the browser gets).
            if ex.location is not None:
                resp.set_header("Location", ex.location)
        elif use_401 and ex.is_authentication:
            status = 401
            challenge = 'Bearer realm="authsvc"'
            if ex.reason == "invalid_credential":
                challenge += ', error="invalid_token"'
            resp.set_header("WWW-Authenticate", challenge)
        resp.status = status
        resp.set_header(ERROR_HEADER, ex.reason)
        resp.set_headers(identity_headers(None))
        # /login's answers depend on headers alone: never reusable.
        set_freshness(resp, 0 if req.path == LOGIN_PATH else _fresh_for_s(ex, settings))
        if status == 503:
            retry_after = ex.retry_after_s if isinstance(ex, AuthorizerUnavailable) else 1
            resp.set_header("Retry-After", str(retry_after))
        resp.media = {"error": ex.reason, "message": ex.detail}
        log.debug("denied %s %s: %s", req.method, req.path, ex.reason)

    return handle


def _fresh_for_s(ex: AuthError, settings: Settings) -> float:
    """How long a proxy may reuse this answer (the nginx decision cache): never "cannot
    confirm", a doubtful no or a login answer. With login redirects on, never an answer about
    a missing or bad credential either: whether it sends the caller to sign in depends on
    headers outside the proxy's cache key (Accept), not on the credential."""
    if ex.status == 503 or not ex.is_definitive or isinstance(ex, LoginRequired):
        return 0
    if settings.login_redirect and ex.is_authentication:
        return 0
    if ex.fresh_for_s is not None:
        return min(ex.fresh_for_s, settings.negative_cache_ttl_s)
    return settings.negative_cache_ttl_s


def _warn_about_unreachable_hosts(settings: Settings, login_page: LoginPage) -> None:
    """A host outside every session cookie domain never receives the cookie: people sent back
    there after signing in are sent to sign in again, forever. And a login page on the address
    authsvc uses to reach Authorizer may be one no browser can reach."""
    if not settings.login_url and not settings.authorizer_public_url:
        log.warning(
            "login redirects send browsers to %s (AUTHORIZER_URL): if that address is internal, "
            "set AUTHORIZER_PUBLIC_URL (or AUTHSVC_LOGIN_URL)",
            login_page.url,
        )
    domains = domain_patterns(settings.session_cookie_domains)
    for entry in login_page.allowlist:
        if not is_allowed_host(entry.lstrip("."), domains):
            log.warning(
                "AUTHSVC_REDIRECT_ALLOWLIST: %s is outside the session cookie domains (%s): "
                "people sent back there arrive without the cookie and are sent to sign in again",
                entry,
                ", ".join(settings.session_cookie_domains),
            )
