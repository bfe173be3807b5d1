"""A bug anywhere behind /verify is a 500 (a denial), logged without the query string."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import falcon.testing
import pytest

from authsvc.app import create_app
from authsvc.identity import Identity
from authsvc.settings import Settings
from tests.jwts import make_jwt


class BrokenAuthorizer:
    def verify_token(self, token: str, token_type: str) -> Identity:
        raise RecursionError("a bug")

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity:
        raise TypeError("a bug")


def test_a_bug_is_a_500_never_an_allow_and_its_log_holds_no_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://127.0.0.1:1"})
    app = falcon.testing.TestClient(create_app(settings, authorizer=BrokenAuthorizer()))
    with caplog.at_level(logging.ERROR):
        answer = app.simulate_get(
            "/verify/ws",
            query_string="access_token=SECRET-IN-QUERY",
            headers={"Authorization": f"Bearer {make_jwt()}"},
        )
    assert answer.status_code == 500
    assert answer.json == {"error": "internal_error", "message": "authsvc failed; see its log"}
    assert answer.headers["X-Auth-Request-User"] == ""
    assert answer.headers["Cache-Control"] == "no-store"
    logged = caplog.text
    assert "unexpected error answering GET /verify/ws" in logged
    assert "RecursionError" in logged
    assert "SECRET-IN-QUERY" not in logged
