"""Falcon resources: /verify (every method, any suffix) and /healthz."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import falcon

from authsvc import credentials, policy
from authsvc.identity import Identity
from authsvc.settings import Settings
from authsvc.verifier import Verifier

USER_HEADER = "X-Auth-Request-User"
EMAIL_HEADER = "X-Auth-Request-Email"
ROLES_HEADER = "X-Auth-Request-Roles"
ERROR_HEADER = "X-Auth-Request-Error"
VERIFY_PATH = r"^/verify(?:/|$)"
"""/verify and /verify/<anything>: Envoy ext_authz and Gateway API append the original path."""


class VerifyResource:
    """The forward-auth decision, registered as a sink so that EVERY method reaches it.

    NOTE: a Falcon route answers OPTIONS 200 by itself and unknown methods 400/405; for an auth
    endpoint the first is a fail-open hole, so /verify is a sink, which sees every method.
    NOTE: auth_request sends no body and Traefik may send the client's; never read req.stream.
    """

    def __init__(self, settings: Settings, verifier: Verifier) -> None:
        self._verifier = verifier
        self._cookie_names = settings.session_cookies

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        credential = credentials.extract(
            req.get_header("Authorization"),
            req.get_cookie_values,
            cookie_names=self._cookie_names,
        )
        required = policy.required_roles(parse_qsl(req.query_string, keep_blank_values=True))
        decision = self._verifier.decide(credential, required)
        resp.status = falcon.HTTP_200  # exactly 200: Envoy treats any other 2xx as a denial
        set_freshness(resp, decision.fresh_for_s)
        set_identity_headers(resp, decision.identity)


def set_freshness(resp: falcon.Response, fresh_for_s: float) -> None:
    """Tell a proxy-side decision cache how long this answer may be reused (0: never).

    ``Cache-Control: private`` keeps shared caches out; nginx's proxy_cache refuses "private"
    answers, so ``X-Accel-Expires`` (which nginx honours first and never forwards) carries the
    same lifetime to the optional nginx decision cache in deploy/nginx.
    """
    seconds = max(int(fresh_for_s), 0)
    # NOTE: X-Accel-Expires must come first: nginx before 1.23 reads the headers in order, and
    # a Cache-Control "private" seen first makes the answer uncacheable for good.
    resp.set_header("X-Accel-Expires", str(seconds))
    resp.set_header("Cache-Control", f"private, max-age={seconds}" if seconds else "no-store")


def set_identity_headers(resp: falcon.Response, identity: Identity | None) -> None:
    """Always send all three headers (empty when unknown) so no client copy survives upstream."""
    resp.set_header(USER_HEADER, _header_value(identity.subject if identity else ""))
    resp.set_header(EMAIL_HEADER, _header_value(identity.email if identity else ""))
    resp.set_header(ROLES_HEADER, _header_value(",".join(identity.roles) if identity else ""))


def _header_value(text: str) -> str:
    """Claims as UTF-8 bytes on the wire (WSGI wants latin-1 str); control characters dropped."""
    if text.isascii() and text.isprintable():
        return text
    cleaned = "".join(ch for ch in text if ch.isprintable())
    return cleaned.encode("utf-8").decode("latin-1")


class HealthResource:
    """Liveness: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}

    on_head = on_get
