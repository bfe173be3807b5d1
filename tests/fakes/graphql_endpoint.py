"""POST /graphql as gqlgen serves it: body decoding, status and content type, error shapes.

Statuses: 400 for an undecodable body, 422 (400 when the reply is
application/graphql-response+json) for parse and validation errors, 200 for everything a
resolver says, including its errors, which carry `path` but no `locations`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import DocumentNode, GraphQLError, GraphQLResolveInfo, execute_sync

from tests.fakes import go_compat
from tests.fakes.claimsets import FakeConfig
from tests.fakes.exchange import Exchange, InternalPanic, ServiceError
from tests.fakes.graphql_schema import (
    RequestError,
    checked_document,
    coerce_variables,
    schema_for,
    select_operation,
)
from tests.fakes.service import AuthService
from tests.fakes.wire import Reply, encode_json

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def negotiate(accept: str | None, config: FakeConfig) -> str:
    """gqlgen's determineResponseContentType: the first Accept part that names a type wins."""
    if config.is_legacy or not accept:
        return JSON
    for part in accept.split(","):
        media_type = part.split(";", 1)[0].strip().lower()
        if media_type in ("*/*", "application/*", GRAPHQL_RESPONSE_JSON):
            return GRAPHQL_RESPONSE_JSON
        if media_type == JSON:
            return JSON
    return JSON


@dataclass(frozen=True)
class _Prepared:
    """A document that passed parsing, validation and variable checks."""

    document: DocumentNode
    variables: dict[str, object]


class GraphQLEndpoint:
    """Runs one GraphQL request against the AuthService; `count` records resolver calls."""

    def __init__(self, service: AuthService, count: Callable[[str], None]) -> None:
        self._service = service
        self._config = service.config
        self._count = count
        self._root: dict[str, Callable[..., object]] = {
            "validate_jwt_token": self._validate_jwt_token,
            "validate_session": self._validate_session,
            "session": self._session,
            "login": self._login,
            "logout": self._logout,
            "skip_mfa_setup": self._skip_mfa_setup,
        }

    def handle(self, exchange: Exchange, accept: str | None, body: bytes) -> Reply:
        content_type = negotiate(accept, self._config)
        try:
            query, operation_name, variables = _decode_params(body)
        except go_compat.GoError as error:
            text = body.decode("utf-8", "replace")
            message = f"json request body could not be decoded: {error} body:{text}"
            return _reply(400, content_type, {"errors": [{"message": message}], "data": None})
        outcome = self._prepare(query, operation_name, variables)
        if isinstance(outcome, tuple):
            status = 400 if content_type == GRAPHQL_RESPONSE_JSON else 422
            errors = [error.as_json() for error in outcome]
            return _reply(status, content_type, {"errors": errors, "data": None})
        result = execute_sync(
            schema_for(self._config.dialect),
            outcome.document,
            root_value=self._root,
            context_value=exchange,
            variable_values=outcome.variables,
            operation_name=operation_name or None,
        )
        if result.errors:
            payload: dict[str, object] = {
                "errors": [self._format_error(error) for error in result.errors],
                "data": None,
            }
        else:
            payload = {"data": result.data}
        cookies = tuple(("Set-Cookie", line) for line in exchange.set_cookies)
        return _reply(200, content_type, payload).with_headers(*cookies)

    def _prepare(
        self, query: str, operation_name: str, variables: Mapping[str, object]
    ) -> tuple[RequestError, ...] | _Prepared:
        checked = checked_document(self._config.dialect, query)
        if isinstance(checked, tuple):
            return checked
        operation = select_operation(checked, operation_name)
        if isinstance(operation, RequestError):
            return (operation,)
        coerced = coerce_variables(self._config.dialect, operation, variables)
        if isinstance(coerced, RequestError):
            return (coerced,)
        return _Prepared(checked, coerced)

    def _format_error(self, error: GraphQLError) -> dict[str, object]:
        """message, path, and extensions.code only for typed errors in 2.4."""
        original = error.original_error
        message = "internal system error" if isinstance(original, InternalPanic) else error.message
        body: dict[str, object] = {"message": message}
        if error.path:
            body["path"] = list(error.path)
        if isinstance(original, ServiceError) and not self._config.is_legacy:
            body["extensions"] = {"code": original.code}
        return body

    # -- resolvers: graphql-core calls them with (info, **arguments) ----------------------

    def _validate_jwt_token(self, info: GraphQLResolveInfo[Any], params: dict[str, Any]) -> object:
        self._count("validate_jwt_token")
        claims = self._service.validate_jwt_token(
            _exchange(info).caller,
            params["token_type"],
            params["token"],
            params.get("roles"),
            params.get("required_relations"),
        )
        return {"is_valid": True, "claims": claims}

    def _validate_session(
        self, info: GraphQLResolveInfo[Any], params: dict[str, Any] | None = None
    ) -> object:
        self._count("validate_session")
        params = params or {}
        user = self._service.validate_session(
            _exchange(info).caller,
            params.get("cookie"),
            params.get("roles"),
            params.get("required_relations"),
        )
        return {"is_valid": True, "user": user}

    def _session(
        self, info: GraphQLResolveInfo[Any], params: dict[str, Any] | None = None
    ) -> object:
        self._count("session")
        params = params or {}
        return self._service.rotate(_exchange(info), params.get("roles"), params.get("scope"))

    def _login(self, info: GraphQLResolveInfo[Any], params: dict[str, Any]) -> object:
        self._count("login")
        return self._service.login(
            _exchange(info),
            params.get("email"),
            params.get("phone_number"),
            params["password"],
            _strings(params.get("roles")),
            _strings(params.get("scope")),
        )

    def _logout(self, info: GraphQLResolveInfo[Any]) -> object:
        self._count("logout")
        self._service.logout(_exchange(info))
        return {"message": "Logged out successfully"}

    def _skip_mfa_setup(self, info: GraphQLResolveInfo[Any], params: dict[str, Any]) -> object:
        self._count("skip_mfa_setup")
        return self._service.skip_mfa_setup(
            _exchange(info), params.get("email"), params.get("phone_number")
        )


def _exchange(info: GraphQLResolveInfo[Any]) -> Exchange:
    return cast(Exchange, info.context)


def _strings(value: object) -> Sequence[str] | None:
    return [str(item) for item in value] if isinstance(value, list) else None


def _decode_params(body: bytes) -> tuple[str, str, Mapping[str, object]]:
    """graphql.RawParams decoded with json.Decoder, so trailing bytes are ignored."""
    params = go_compat.decode_first_object(body, "graphql.RawParams") or {}
    fields = (("query", "string"), ("operationName", "string"), ("variables", "map"))
    for name, kind in fields:
        value = params.get(name)
        expected = dict if kind == "map" else str
        if value is not None and not isinstance(value, expected):
            go_type = "map[string]interface {}" if kind == "map" else "string"
            raise go_compat.struct_field_error(value, "RawParams", name, go_type)
    variables = params.get("variables")
    return (
        str(params.get("query") or ""),
        str(params.get("operationName") or ""),
        cast(Mapping[str, object], variables or {}),
    )


def _reply(status: int, content_type: str, payload: Mapping[str, object]) -> Reply:
    return Reply(status, encode_json(payload), content_type)
