"""How Authorizer's answers map to outcomes, and how failures are logged."""

from __future__ import annotations

import logging

import pytest
import requests

from authsvc.authorizer import ThrottledWarnings, _parse
from authsvc.errors import AuthorizerUnavailable, InvalidCredentials


def answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body  # a canned answer, no socket
    return response


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"[" * 100_000 + b"]" * 100_000),  # nested deeper than the JSON parser recurses
        (200, b"<html>"),
        (200, b'{"data": null}'),
        (200, b'{"data": {"validate_jwt_token": null}}'),
        (200, b"[]"),
        (500, b'{"data": {"validate_jwt_token": {"is_valid": true}}}'),
        (422, b'{"errors": [{"message": "Unknown type"}]}'),
    ],
)
def test_unusable_answers_are_unavailable(status: int, body: bytes) -> None:
    with pytest.raises(AuthorizerUnavailable):
        _parse("validate_jwt_token", answer(status, body))


def test_graphql_error_is_a_definitive_no() -> None:
    with pytest.raises(InvalidCredentials):
        _parse("validate_jwt_token", answer(200, b'{"errors":[{"message":"Token is expired"}]}'))


def test_same_failure_is_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    warnings = ThrottledWarnings(10, lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="authsvc.authorizer"):
        for _ in range(5):
            warnings.warn("validate_jwt_token: HTTP 429")
        warnings.warn("validate_jwt_token: ConnectTimeout")
        now[0] += 10
        warnings.warn("validate_jwt_token: HTTP 429")
    assert [r.getMessage() for r in caplog.records] == [
        "cannot confirm credentials with Authorizer: validate_jwt_token: HTTP 429",
        "cannot confirm credentials with Authorizer: validate_jwt_token: ConnectTimeout",
        "cannot confirm credentials with Authorizer: validate_jwt_token: HTTP 429 "
        "(4 more since the last report)",
    ]


@pytest.mark.parametrize(
    "error",
    [
        '{"message":"invalid token","extensions":{"code":"UNAUTHENTICATED"}}',
        '{"message":"invalid token type","extensions":{"code":"INVALID_ARGUMENT"}}',
        '{"message":"Token is expired"}',
        '{"message":"crypto/rsa: verification error"}',
        '{"message":"unexpected signing method: none"}',
        '{"message":"unauthorized"}',
        '{"message":"illegal base64 data at input byte 4"}',
    ],
)
def test_credential_failures_are_definitive(error: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        _parse("validate_jwt_token", answer(200, f'{{"errors":[{error}],"data":null}}'.encode()))
    assert info.value.is_definitive


@pytest.mark.parametrize(
    "error",
    [
        '{"message":"internal system error"}',
        '{"message":"sql: database is closed"}',
        '{"message":"something","extensions":{"code":"INTERNAL"}}',
    ],
)
def test_other_authorizer_errors_deny_but_are_never_remembered(error: str) -> None:
    with pytest.raises(InvalidCredentials) as info:
        _parse("validate_jwt_token", answer(200, f'{{"errors":[{error}],"data":null}}'.encode()))
    assert not info.value.is_definitive
