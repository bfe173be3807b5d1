"""Request pipeline of the fake: faults, then Authorizer's middleware order, then the routes.

Middleware order follows contract §1.1: CORS (OPTIONS ends here with 204) -> rate limit ->
CSRF -> client-id check (/graphql only) -> handler. The rate limiter runs before CSRF, so
rejected calls still spend budget, as on the real server.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from requests.structures import CaseInsensitiveDict

from tests.fakes import endpoints, origins, wire
from tests.fakes.cookies import parse_cookie_header
from tests.fakes.exchange import Caller, Exchange
from tests.fakes.graphql_endpoint import GraphQLEndpoint, negotiate
from tests.fakes.rest import RestGateway
from tests.fakes.service import AuthService
from tests.fakes.state import RateLimiter
from tests.fakes.wire import Reply

FaultKind = Literal[
    "delay",
    "hang",
    "trickle",
    "http_500_html",
    "truncated_json",
    "errors_without_extensions",
    "rate_limited",
    "internal_system_error",
]
HANG_MAX_S = 60.0
TRICKLE_S = 0.5
"""Default pause between the bytes of a trickled answer: each well inside any read timeout."""
SEEN_LIMIT = 10_000
_RATE_EXEMPT = frozenset({"/", "/health", "/healthz", "/readyz"})
_RATE_EXEMPT_PREFIXES = ("/.well-known/", "/app/", "/dashboard/")
_HTML_500 = (
    b"<html><head><title>500 Internal Server Error</title></head><body>"
    b"<center><h1>500 Internal Server Error</h1></center></body></html>"
)


@dataclass(frozen=True)
class SeenRequest:
    """One request as received: headers are a case-insensitive copy; the body is kept unprinted."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Incoming:
    """A parsed HTTP request handed from the socket layer to the app."""

    method: str
    path: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    peer: str
    is_body_too_large: bool = False


class Recorder:
    """Thread-safe resolver counters and the log of received requests.

    The log keeps the last SEEN_LIMIT requests, so a long benchmark against the standalone
    fake cannot grow it without bound.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._seen: deque[SeenRequest] = deque(maxlen=SEEN_LIMIT)

    def count(self, name: str) -> None:
        with self._lock:
            self._calls[name] += 1

    def see(self, request: Incoming) -> None:
        headers = CaseInsensitiveDict(request.headers)
        seen = SeenRequest(request.method, request.target, headers, request.body)
        with self._lock:
            self._seen.append(seen)

    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)

    def seen(self) -> tuple[SeenRequest, ...]:
        with self._lock:
            return tuple(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._seen.clear()


class Faults:
    """The scripted fault; changing it releases every request currently hanging or delayed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kind: FaultKind | None = None
        self._delay_s = 0.0
        self._release = threading.Event()

    def set(self, kind: FaultKind | None, delay_s: float) -> None:
        with self._lock:
            self._release.set()
            self._kind, self._delay_s = kind, delay_s
            self._release = threading.Event()

    def release_all(self) -> None:
        with self._lock:
            self._release.set()

    def snapshot(self) -> tuple[FaultKind | None, float, threading.Event]:
        with self._lock:
            return self._kind, self._delay_s, self._release


class FakeApp:
    """Turns an Incoming request into a Reply; shared by every handler thread."""

    def __init__(self, service: AuthService, limiter: RateLimiter) -> None:
        self.service = service
        self.config = service.config
        self.limiter = limiter
        self.recorder = Recorder()
        self.faults = Faults()
        self.is_healthy = True
        self._graphql = GraphQLEndpoint(service, self.recorder.count)
        self._rest = RestGateway(service, self.recorder.count)

    def handle(self, request: Incoming) -> Reply:
        self.recorder.see(request)
        is_api = (request.path == "/graphql" and request.method == "POST") or (
            request.path.startswith("/v1/") and request.method != "OPTIONS"
        )
        if is_api:
            faulted = self._fault(request)
            if faulted is not None:
                return faulted
        cors = origins.cors_headers(request.headers, self.config.allowed_origins)
        if request.method == "OPTIONS":
            return Reply(204).with_headers(*cors)
        reply = self._guarded(request).with_headers(*cors)
        kind, delay_s, _ = self.faults.snapshot()
        if is_api and kind == "trickle":  # the genuine answer, one byte every delay_s
            reply = dataclasses.replace(reply, trickle_s=delay_s or TRICKLE_S)
        return reply

    def _guarded(self, request: Incoming) -> Reply:
        if self.config.is_legacy:
            return self._route(request)
        exempt = request.path in _RATE_EXEMPT or request.path.startswith(_RATE_EXEMPT_PREFIXES)
        if not exempt and not self.limiter.allow(request.peer):
            return wire.rate_limited()
        rejection = origins.csrf_rejection(
            request.method, request.path, request.headers, self.config.allowed_origins
        )
        return rejection or self._route(request)

    def _route(self, request: Incoming) -> Reply:
        path, method = request.path, request.method
        if path == "/graphql":
            return self._graphql_route(request) if method == "POST" else wire.not_found()
        if path.startswith("/v1/") and not self.config.is_legacy:
            exchange = self._exchange(request)
            return self._rest.handle(exchange, method, path, request.body)
        if path == "/userinfo" and method in ("GET", "POST"):
            return endpoints.userinfo(self.service, self._exchange(request).caller)
        if method != "GET":
            return wire.not_found()
        return self._get_route(request)

    def _get_route(self, request: Incoming) -> Reply:
        path, legacy = request.path, self.config.is_legacy
        if path == "/health" or (not legacy and path in ("/healthz", "/readyz")):
            return endpoints.health(self.config, path, is_healthy=self.is_healthy)
        discovery_paths = ["/.well-known/openid-configuration"]
        if not legacy:
            discovery_paths.append("/.well-known/oauth-authorization-server")
        if path in discovery_paths:
            issuer = self.service.issuer(self._exchange(request).caller)
            return endpoints.discovery(self.config, issuer)
        if path == "/.well-known/jwks.json":
            return endpoints.jwks(self.service)
        if path == "/app" or path.startswith("/app/"):
            return endpoints.login_page()
        if path == "/" and not legacy:
            return Reply(307, b"", None, (("Location", "/dashboard"),))
        return wire.not_found()

    def _graphql_route(self, request: Incoming) -> Reply:
        headers = request.headers
        client_id = headers.get("X-Authorizer-Client-ID", "")
        if not self.config.is_legacy and client_id and client_id != self.config.client_id:
            body = {"error": "invalid_client_id", "error_description": "The client id is invalid"}
            return wire.gin_json(400, body)
        media_type = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            unsupported = {"errors": [{"message": "transport not supported"}], "data": None}
            return Reply(400, wire.encode_json(unsupported), wire.GO_TEXT)
        if request.is_body_too_large:
            message = "could not get json request body: http: request body too large"
            too_large = {"errors": [{"message": message}], "data": None}
            content_type = negotiate(headers.get("Accept"), self.config)
            return Reply(400, wire.encode_json(too_large), content_type)
        exchange = self._exchange(request)
        return self._graphql.handle(exchange, headers.get("Accept"), request.body)

    @staticmethod
    def _exchange(request: Incoming) -> Exchange:
        cookies = parse_cookie_header(request.headers.get("Cookie", ""))
        return Exchange(Caller(request.headers, cookies))

    # -- faults ---------------------------------------------------------------------------

    def _fault(self, request: Incoming) -> Reply | None:
        kind, delay_s, release = self.faults.snapshot()
        if kind is None or kind == "trickle":  # trickle: the genuine answer, slowly (handle)
            return None
        if kind == "delay":
            release.wait(delay_s)
            return None
        if kind == "hang":
            release.wait(delay_s if delay_s > 0 else HANG_MAX_S)
            return Reply(0, drop=True)
        if kind == "http_500_html":
            return Reply(500, _HTML_500, "text/html; charset=utf-8")
        if kind == "rate_limited":
            return wire.rate_limited()
        is_rest = request.path.startswith("/v1/")
        content_type = (
            "application/json" if is_rest else negotiate(request.headers.get("Accept"), self.config)
        )
        field_name = _root_field(request.body)
        if kind == "truncated_json":
            whole = {"data": {field_name: {"is_valid": True, "claims": {"sub": "x"}}}}
            body = wire.encode_json(whole)
            return Reply(200, body[: len(body) // 2], content_type)
        message = (
            "invalid token" if kind == "errors_without_extensions" else "internal system error"
        )
        if is_rest:
            status = 401 if kind == "errors_without_extensions" else 500
            rest_body: dict[str, object] = {"message": message}
            if kind == "internal_system_error":
                rest_body = {"code": "internal", "message": message}
            return Reply(status, wire.encode_json(rest_body), content_type)
        errors = [{"message": message, "path": [field_name]}]
        return Reply(200, wire.encode_json({"errors": errors, "data": None}), content_type)


def _root_field(body: bytes) -> str:
    """The first root field the request asks for, to fill `path` in a faked error."""
    try:
        document = parse(_query_of(body))
    except (GraphQLError, ValueError):
        return "validate_jwt_token"
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    return (selection.alias or selection.name).value
    return "validate_jwt_token"


def _query_of(body: bytes) -> str:
    decoded = json.loads(body.decode("utf-8"))
    query = decoded.get("query") if isinstance(decoded, dict) else None
    if not isinstance(query, str):
        raise ValueError("no query")
    return query
