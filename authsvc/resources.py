"""Falcon resources: /verify (every method, any suffix) and /healthz."""

from __future__ import annotations

import functools
import time
from typing import Any
from urllib.parse import parse_qsl

import falcon
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from authsvc import login, policy
from authsvc.decision_log import DecisionLog
from authsvc.errors import AuthError, LoginRedirect, LoginRequired, MissingCredentials
from authsvc.identity import Identity
from authsvc.login import LoginPage, forwarded_url
from authsvc.metrics import Metrics, exposition, outcome_of
from authsvc.readiness import Readiness
from authsvc.verifier import Verifier

USER_HEADER = "X-Auth-Request-User"
EMAIL_HEADER = "X-Auth-Request-Email"
ROLES_HEADER = "X-Auth-Request-Roles"
ERROR_HEADER = "X-Auth-Request-Error"
REQUEST_ID_HEADER = "X-Request-Id"
LOGIN_PATH = "/login"
VERIFY_PATH = r"^/verify(?:/|$)"
"""/verify and /verify/<anything>: Envoy ext_authz and Gateway API append the original path."""


class VerifyResource:
    """The forward-auth decision, registered as a sink so that EVERY method reaches it.

    NOTE: a Falcon route answers OPTIONS 200 by itself and unknown methods 400/405; for an auth
    endpoint the first is a fail-open hole, so /verify is a sink, which sees every method.
    NOTE: auth_request sends no body and Traefik may send the client's; never read req.stream.
    """

    def __init__(
        self,
        verifier: Verifier,
        metrics: Metrics,
        decisions: DecisionLog,
        login_page: LoginPage | None = None,
    ) -> None:
        """``login_page``: send browsers without a valid credential there (None: never)."""
        self._verifier = verifier
        self._metrics = metrics
        self._decisions = decisions
        self._login_page = login_page

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        started = time.perf_counter()
        environ = req.env  # headers read straight from the environ: cheaper than get_header
        request_id = self._decisions.request_id(environ.get("HTTP_X_REQUEST_ID"))
        resp.set_header(REQUEST_ID_HEADER, request_id)
        try:
            required, login_mode = _route(req.query_string)
            decision = self._verifier.decide(
                environ.get("HTTP_AUTHORIZATION"), req.get_cookie_values, required
            )
        except AuthError as exc:
            self._account(req, request_id, started, exc.reason, exc.subject, exc.is_cached)
            # Only a definitive "no credential" or "bad credential": an Authorizer failing in
            # an unexpected way (UnconfirmedRejection) is no reason to send anyone to sign in.
            if exc.is_authentication and exc.is_definitive and self._login_page is not None:
                login_required = self._login_page.answer(environ, login_mode)
                if login_required is not None:
                    raise login_required from exc
            raise  # to the one handler in app.py, which answers
        self._account(
            req, request_id, started, "allow", decision.identity.subject, decision.is_cached
        )
        resp.status = falcon.HTTP_200  # exactly 200: Envoy treats any other 2xx as a denial
        resp.set_headers(
            (*_freshness_headers(int(decision.fresh_for_s)), *identity_headers(decision.identity))
        )

    def _account(
        self,
        req: falcon.Request,
        request_id: str,
        started: float,
        reason: str,
        user: str,
        is_cached: bool,
    ) -> None:
        latency_s = time.perf_counter() - started
        self._metrics.decision(reason, latency_s)
        self._decisions.record(
            request_id=request_id,
            environ=req.env,
            outcome=outcome_of(reason),
            reason="" if reason == "allow" else reason,
            user=user,
            latency_s=latency_s,
            is_cached=is_cached,
        )


@functools.lru_cache(maxsize=1024)
def _route(query_string: str) -> tuple[frozenset[str], str]:
    """The route's required roles and login mode, parsed once per distinct query string:
    routes repeat theirs on every request."""
    parameters = parse_qsl(query_string, keep_blank_values=True)
    return policy.required_roles(parameters), login.route_mode(parameters)


def set_freshness(resp: falcon.Response, fresh_for_s: float) -> None:
    """Tell a proxy-side decision cache how long this answer may be reused (0: never)."""
    resp.set_headers(_freshness_headers(int(fresh_for_s)))


@functools.lru_cache(maxsize=512)
def _freshness_headers(seconds: int) -> tuple[tuple[str, str], ...]:
    """``Cache-Control: private`` keeps shared caches out; nginx's proxy_cache refuses
    "private" answers, so ``X-Accel-Expires`` (which nginx honours first and never forwards)
    carries the same lifetime to the optional nginx decision cache in deploy/nginx.

    NOTE: X-Accel-Expires must come first: nginx before 1.23 reads the headers in order, and
    a Cache-Control "private" seen first makes the answer uncacheable for good.
    """
    seconds = max(seconds, 0)
    cache_control = f"private, max-age={seconds}" if seconds else "no-store"
    return (("X-Accel-Expires", str(seconds)), ("Cache-Control", cache_control))


def identity_headers(identity: Identity | None) -> tuple[tuple[str, str], ...]:
    """All three headers, always (empty when unknown), so no client copy survives upstream."""
    if identity is None:
        return _NO_IDENTITY
    return (
        (USER_HEADER, _header_value(identity.subject)),
        (EMAIL_HEADER, _header_value(identity.email)),
        (ROLES_HEADER, _header_value(",".join(identity.roles))),
    )


_NO_IDENTITY = ((USER_HEADER, ""), (EMAIL_HEADER, ""), (ROLES_HEADER, ""))


def _header_value(text: str) -> str:
    """Claims as UTF-8 bytes on the wire (WSGI wants latin-1 str); control characters dropped."""
    if text.isascii() and text.isprintable():
        return text
    cleaned = "".join(ch for ch in text if ch.isprintable())
    return cleaned.encode("utf-8").decode("latin-1")


class LoginResource:
    """/login: where nginx's ``error_page 401`` (or ingress-nginx's auth-signin) sends a browser
    that must sign in; answers a 302 to the login page. The page to come back to is the ``rd``
    parameter, else X-Forwarded-Proto/-Host/-Uri; it is kept only when safe (see login.py)."""

    def __init__(self, login_page: LoginPage | None) -> None:
        """``login_page`` None (login redirects off): every caller gets the plain refusal."""
        self._login_page = login_page

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # nginx's @authsvc_login passes /verify's verdict, which already applied the route's
        # login= mode: only "login_required" redirects. Without one (a browser sent here by
        # ingress-nginx's auth-signin), /login judges the request itself. A caller with an
        # Authorization header never gets a redirect, whatever it claims.
        verdict = req.env.get("HTTP_X_AUTH_REQUEST_ERROR")
        if verdict is None:
            is_page_load = login.is_navigation(req.env)
        else:
            is_page_load = verdict == LoginRequired.reason
        if self._login_page is None or not is_page_load or req.env.get("HTTP_AUTHORIZATION"):
            raise MissingCredentials("no redirect")  # API clients never get one
        given = [value for name, value in parse_qsl(req.query_string) if name == "rd"]
        return_url = given[0] if len(given) == 1 else None if given else forwarded_url(req.env)
        raise LoginRedirect(self._login_page.location(return_url))

    on_head = on_get


class MetricsResource:
    """Prometheus exposition of every worker's metrics."""

    def __init__(self, metrics: Metrics, multiprocess_dir: str | None) -> None:
        self._registry = metrics.registry
        self._multiprocess_dir = multiprocess_dir

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The classic text format every Prometheus 2.x scrapes (generate_latest writes it).
        resp.content_type = CONTENT_TYPE_PLAIN_0_0_4
        resp.data = exposition(self._registry, self._multiprocess_dir)

    on_head = on_get


class ReadyResource:
    """Readiness: 503 with the reason while Authorizer is not answering."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        problem = self._readiness.problem()
        if problem is None:
            resp.media = {"status": "ready"}
        else:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "not ready", "reason": problem}

    on_head = on_get


class HealthResource:
    """Liveness: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}

    on_head = on_get
