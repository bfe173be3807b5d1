"""The GraphQL schema of each dialect, and gqlgen's way of rejecting documents and variables.

Input type names are the version-specific part (2.4 `*Request`, 1.x `*Input`), so a client that
hard-codes one of them fails on the other exactly as against the real servers. graphql-core
does the parsing and validation; this module turns its messages into gqlparser's wording and
checks variables the way gqlparser's `VariableValues` does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    ListTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    build_schema,
    get_location,
    parse,
    type_from_ast,
    validate,
)

from tests.fakes.claimsets import Dialect

_USER_FIELDS = """
  id: ID!
  email: String
  email_verified: Boolean!
  signup_methods: String!
  given_name: String
  family_name: String
  middle_name: String
  nickname: String
  preferred_username: String
  gender: String
  birthdate: String
  phone_number: String
  phone_number_verified: Boolean
  picture: String
  roles: [String!]!
  created_at: Int64
  updated_at: Int64
  revoked_timestamp: Int64
  is_multi_factor_auth_enabled: Boolean
  app_data: Map
"""
_AUTH_FIELDS = """
  message: String!
  should_show_email_otp_screen: Boolean
  should_show_mobile_otp_screen: Boolean
  should_show_totp_screen: Boolean
  access_token: String
  id_token: String
  refresh_token: String
  expires_in: Int64
  user: User
  authenticator_scanner_image: String
  authenticator_secret: String
  authenticator_recovery_codes: [String]
"""
_COMMON = """
scalar Map
scalar Int64
type Response { message: String! }
type ValidateJWTTokenResponse { is_valid: Boolean! claims: Map }
type ValidateSessionResponse { is_valid: Boolean! user: User! }
"""
SDL_2_4 = (
    _COMMON
    + "type User {"
    + _USER_FIELDS
    + """  has_skipped_mfa_setup_at: Int64
  mfa_locked_at: Int64
  enrolled_mfa_methods: [String!]
}
type AuthResponse {"""
    + _AUTH_FIELDS
    + """  should_offer_webauthn_mfa_verify: Boolean
  should_offer_webauthn_mfa_setup: Boolean
  should_offer_email_otp_mfa_setup: Boolean
  should_offer_sms_otp_mfa_setup: Boolean
}
input FgaRelationInput { relation: String! object: String! }
input ValidateJWTTokenRequest {
  token_type: String! token: String! roles: [String!] required_relations: [FgaRelationInput!]
}
input ValidateSessionRequest {
  cookie: String! roles: [String!] required_relations: [FgaRelationInput!]
}
input LoginRequest {
  email: String phone_number: String password: String! roles: [String!] scope: [String!]
  state: String
}
input SessionQueryRequest { roles: [String!] scope: [String!] }
input SkipMFASetupRequest { email: String phone_number: String }
type Query {
  session(params: SessionQueryRequest): AuthResponse!
  validate_jwt_token(params: ValidateJWTTokenRequest!): ValidateJWTTokenResponse!
  validate_session(params: ValidateSessionRequest): ValidateSessionResponse!
}
type Mutation {
  login(params: LoginRequest!): AuthResponse!
  logout: Response!
  skip_mfa_setup(params: SkipMFASetupRequest!): AuthResponse!
}
"""
)
SDL_1_X = (
    _COMMON
    + "type User {"
    + _USER_FIELDS
    + "}\ntype AuthResponse {"
    + _AUTH_FIELDS
    + """}
input ValidateJWTTokenInput { token_type: String! token: String! roles: [String!] }
input ValidateSessionInput { cookie: String! roles: [String!] }
input LoginInput {
  email: String! password: String! roles: [String!] scope: [String!] state: String
}
input SessionQueryInput { roles: [String!] scope: [String!] }
type Query {
  session(params: SessionQueryInput): AuthResponse!
  validate_jwt_token(params: ValidateJWTTokenInput!): ValidateJWTTokenResponse!
  validate_session(params: ValidateSessionInput): ValidateSessionResponse!
}
type Mutation {
  login(params: LoginInput!): AuthResponse!
  logout: Response!
}
"""
)
_QUOTED = re.compile(r"'([^']*)'")
_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@functools.cache
def schema_for(dialect: Dialect) -> GraphQLSchema:
    """Built once per dialect; `Map` and `Int64` pass values through (graphql-core's default)."""
    return build_schema(SDL_2_4 if dialect == "2.4" else SDL_1_X)


@dataclass(frozen=True)
class RequestError:
    """A rejection before execution, in gqlgen's JSON shape (always with extensions.code)."""

    message: str
    code: str
    locations: tuple[tuple[int, int], ...] = ()
    path: tuple[str | int, ...] = ()

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"message": self.message}
        if self.path:
            body["path"] = list(self.path)
        if self.locations:
            body["locations"] = [{"line": line, "column": col} for line, col in self.locations]
        body["extensions"] = {"code": self.code}
        return body


def _from_graphql_error(error: GraphQLError, code: str) -> RequestError:
    message = error.message
    if code == _PARSE_FAILED:
        message = message.removeprefix("Syntax Error: ").removesuffix(".")
    elif message.startswith("Unknown type '"):
        # gqlparser names the type without a "Did you mean" list (known_type_names.go).
        message = message.split(". Did you mean", 1)[0].rstrip(".") + "."
    message = _QUOTED.sub(r'"\1"', message)
    locations = tuple((loc.line, loc.column) for loc in error.locations or ())
    return RequestError(message, code, locations)


@functools.lru_cache(maxsize=256)
def checked_document(dialect: Dialect, query: str) -> DocumentNode | tuple[RequestError, ...]:
    """Parse and validate, cached per query text like gqlgen's APQ-less query cache."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return (_from_graphql_error(error, _PARSE_FAILED),)
    errors = validate(schema_for(dialect), document)
    if errors:
        return tuple(_validation_error(document, error) for error in errors)
    return document


def _validation_error(document: DocumentNode, error: GraphQLError) -> RequestError:
    """gqlparser locates an unknown variable type at the variable (`$params`), not the type."""
    converted = _from_graphql_error(error, _VALIDATION_FAILED)
    node = error.nodes[0] if error.nodes else None
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for variable in definition.variable_definitions or ():
            named: TypeNode = variable.type
            while isinstance(named, ListTypeNode | NonNullTypeNode):
                named = named.type
            if named is node and variable.loc is not None:
                location = get_location(variable.loc.source, variable.loc.start)
                return replace(converted, locations=((location.line, location.column),))
    return converted


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | RequestError:
    """gqlparser's OperationList.ForName: "" picks the only operation, else by name."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operation_name:
        if len(operations) == 1:
            return operations[0]
    else:
        for operation in operations:
            if operation.name is not None and operation.name.value == operation_name:
                return operation
    return RequestError(f"operation {operation_name or ''} not found", _VALIDATION_FAILED)


def coerce_variables(
    dialect: Dialect, operation: OperationDefinitionNode, variables: Mapping[str, object]
) -> dict[str, object] | RequestError:
    """gqlparser's VariableValues: the first problem, with a `variable.<name>...` path."""
    coerced: dict[str, object] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        var_type = type_from_ast(schema_for(dialect), definition.type)
        path: tuple[str | int, ...] = ("variable", name)
        if name not in variables:
            if isinstance(var_type, GraphQLNonNull) and definition.default_value is None:
                return RequestError("must be defined", _VALIDATION_FAILED, path=path)
            continue
        try:
            coerced[name] = _coerce(var_type, variables[name], path)  # type: ignore[arg-type]  # validated documents only hold input types
        except _VariableError as error:
            return RequestError(error.message, _VALIDATION_FAILED, path=error.path)
    return coerced


class _VariableError(Exception):
    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


_GO_KINDS = {bool: "bool", dict: "map", list: "slice", str: "string"}
_SCALAR_KINDS: dict[str, tuple[type, ...]] = {
    "String": (str, int, float),  # gqlgen decodes with UseNumber: numbers are json.Number strings
    "ID": (str, int, float),
    "Boolean": (bool,),
    "Int": (str, int, float),
    "Float": (str, int, float),
}


def _coerce(var_type: GraphQLInputType, value: object, path: tuple[str | int, ...]) -> object:
    if isinstance(var_type, GraphQLNonNull):
        if value is None:
            raise _VariableError("cannot be null", path)
        return _coerce(var_type.of_type, value, path)
    if value is None:
        return None
    if isinstance(var_type, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return [_coerce(var_type.of_type, item, (*path, i)) for i, item in enumerate(items)]
    if isinstance(var_type, GraphQLInputObjectType):
        return _coerce_object(var_type, value, path)
    if isinstance(var_type, GraphQLScalarType):
        return _coerce_scalar(var_type, value, path)
    return value


def _coerce_object(
    var_type: GraphQLInputObjectType, value: object, path: tuple[str | int, ...]
) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _VariableError(f"must be a {var_type.name}", path)
    for key in value:
        if key != "__typename" and key not in var_type.fields:
            raise _VariableError("unknown field", (*path, key))
    result: dict[str, object] = {}
    for name, field in var_type.fields.items():
        if name not in value:
            if isinstance(field.type, GraphQLNonNull):
                raise _VariableError("must be defined", (*path, name))
            continue
        result[name] = _coerce(field.type, value[name], (*path, name))
    return result


def _coerce_scalar(
    var_type: GraphQLScalarType, value: object, path: tuple[str | int, ...]
) -> object:
    accepted = _SCALAR_KINDS.get(var_type.name)
    if accepted is None:
        return value  # custom scalars (Map, Int64) are assumed fine, as in gqlparser
    if isinstance(value, bool) and bool not in accepted:
        raise _VariableError(f"cannot use bool as {var_type.name}", path)
    if not isinstance(value, accepted):
        kind = _GO_KINDS.get(type(value), "interface")
        raise _VariableError(f"cannot use {kind} as {var_type.name}", path)
    if var_type.name in ("String", "ID") and isinstance(value, int | float):
        return str(value)
    return value
