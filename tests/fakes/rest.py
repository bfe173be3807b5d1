"""The 2.4 REST gateway `/v1/*` (grpc-gateway over the same service, contract §2.1).

protojson with proto field names and unpopulated fields emitted: int64 values are JSON strings,
claims are wrapped in `value`. Errors are `{"code","message"}`; every untyped JWT library error
is 500 `internal`, so only the message tells an expired token from an outage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.claimsets import user_view
from tests.fakes.exchange import Caller, Exchange, InternalPanic, RawError, ServiceError
from tests.fakes.service import AuthService
from tests.fakes.wire import Reply, encode_json

_STATUS_BY_CODE = {
    "INVALID_ARGUMENT": (400, "invalid_argument"),
    "FAILED_PRECONDITION": (400, "failed_precondition"),
    "UNAUTHENTICATED": (401, "unauthenticated"),
    "PERMISSION_DENIED": (403, "permission_denied"),
    "TOO_MANY_REQUESTS": (429, "resource_exhausted"),
}
_INT64_FIELDS = frozenset(
    {"created_at", "updated_at", "revoked_timestamp", "has_skipped_mfa_setup_at", "mfa_locked_at"}
)
_JSON = "application/json"
ROUTES = {
    "/v1/validate_jwt_token": "POST",
    "/v1/validate_session": "POST",
    "/v1/login": "POST",
    "/v1/logout": "POST",
    "/v1/profile": "GET",
    "/v1/meta": "GET",
}


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, encode_json({"code": code, "message": message}), _JSON)


def _ok(value: Mapping[str, object], exchange: Exchange | None = None) -> Reply:
    cookies = tuple(("Set-Cookie", line) for line in (exchange.set_cookies if exchange else ()))
    return Reply(200, encode_json(value), _JSON, cookies)


def proto_user(user: Mapping[str, object]) -> dict[str, object]:
    """A User message: int64 as strings, app_data wrapped in `value` or null."""
    encoded: dict[str, object] = {}
    for name, value in user.items():
        if name in _INT64_FIELDS and value is not None:
            encoded[name] = str(value)
        elif name == "app_data":
            encoded[name] = None if value is None else {"value": value}
        elif name == "enrolled_mfa_methods":
            encoded[name] = value or []
        else:
            encoded[name] = value
    return encoded


def _proto_auth(response: Mapping[str, object]) -> dict[str, object]:
    encoded = dict(response)
    encoded["expires_in"] = str(response.get("expires_in") or 0)
    encoded["authenticator_recovery_codes"] = response.get("authenticator_recovery_codes") or []
    user = response.get("user")
    encoded["user"] = proto_user(user) if isinstance(user, dict) else None
    return encoded


def _min_length_error(body: Mapping[str, Any], *fields: str) -> Reply | None:
    """protovalidate's text for required strings, one line per violated field."""
    lines = [
        f" - {name}: value length must be at least 1 characters [string.min_len]"
        for name in fields
        if not isinstance(body.get(name), str) or not body.get(name)
    ]
    if not lines:
        return None
    return _error(400, "invalid_argument", "validation error:\n" + "\n".join(lines))


class RestGateway:
    """Dispatches one /v1 request; `count` records calls by route path."""

    def __init__(self, service: AuthService, count: Callable[[str], None]) -> None:
        self._service = service
        self._count = count

    def handle(self, exchange: Exchange, method: str, path: str, body: bytes) -> Reply:
        expected = ROUTES.get(path)
        if expected is None:
            return _error(404, "not_found", "Not Found")
        if method != expected:
            return _error(405, "method_not_allowed", "Method Not Allowed")
        try:
            decoded = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "invalid_argument", f"proto: syntax error: {exc}")
        if not isinstance(decoded, dict):
            return _error(400, "invalid_argument", "proto: syntax error: expected object")
        self._count(path)
        try:
            return self._dispatch(exchange, path, decoded)
        except ServiceError as exc:
            status, code = _STATUS_BY_CODE.get(exc.code, (500, "internal"))
            return _error(status, code, exc.message)
        except (RawError, InternalPanic) as exc:
            return _error(500, "internal", str(exc))

    def _dispatch(self, exchange: Exchange, path: str, body: dict[str, Any]) -> Reply:
        service, caller = self._service, exchange.caller
        if path == "/v1/validate_jwt_token":
            invalid = _min_length_error(body, "token_type", "token")
            if invalid:
                return invalid
            claims = service.validate_jwt_token(
                caller, body["token_type"], body["token"], body.get("roles"),
                body.get("required_relations"),
            )  # fmt: skip
            return _ok({"is_valid": True, "claims": {"value": claims}})
        if path == "/v1/validate_session":
            invalid = _min_length_error(body, "cookie")
            if invalid:
                return invalid
            user = service.validate_session(
                caller, body["cookie"], body.get("roles"), body.get("required_relations")
            )
            return _ok({"is_valid": True, "user": proto_user(user)})
        if path == "/v1/login":
            response = service.login(
                exchange, body.get("email") or None, body.get("phone_number") or None,
                str(body.get("password") or ""), body.get("roles"), body.get("scope"),
            )  # fmt: skip
            return _ok(_proto_auth(response), exchange)
        if path == "/v1/logout":
            service.logout(exchange)
            return _ok({"message": "Logged out successfully"}, exchange)
        if path == "/v1/profile":
            return _ok(proto_user(self._profile(caller)))
        return _ok(self._meta())

    def _profile(self, caller: Caller) -> Mapping[str, object]:
        token = caller.bearer_token()
        if token is not None:
            user, _ = self._service.access_session(caller, token)
        else:
            user = self._service.browser_session(caller.session_cookie()).user
        return user_view(user, self._service.config.dialect)

    def _meta(self) -> dict[str, object]:
        config = self._service.config
        return {
            "version": "2.4.0-fake",
            "client_id": config.client_id,
            "is_basic_authentication_enabled": True,
            "is_multi_factor_auth_enabled": config.mfa,
            "is_sign_up_enabled": False,
        }
