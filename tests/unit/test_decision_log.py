"""One JSON line per decision, tied to the request id, and never a credential."""

from __future__ import annotations

import json
import logging

import falcon.testing
import pytest

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.jwts import make_jwt
from tests.unit.test_verify import ADMIN, REVOKED, USER, StubAuthorizer


def client_for(**env: str) -> falcon.testing.TestClient:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://authorizer.test", **env})
    return falcon.testing.TestClient(create_app(settings, authorizer=StubAuthorizer()))


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "authsvc.decisions"]


def test_each_decision_is_one_json_line_with_the_proxys_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_for()
    forwarded = {
        "X-Request-Id": "req-123",
        "X-Forwarded-Method": "POST",
        "X-Forwarded-Host": "api.example.com",
        "X-Forwarded-Uri": "/orders/7?access_token=SECRET",
    }
    with caplog.at_level(logging.INFO, logger="authsvc.decisions"):
        ok = client.simulate_get(
            "/verify", headers={"Authorization": f"Bearer {ADMIN}", **forwarded}
        )
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}", **forwarded})
        client.simulate_get("/verify?roles=admin", headers={"Authorization": f"Bearer {USER}"})
    assert ok.headers["X-Request-Id"] == "req-123"
    first, second, denied = lines(caplog)
    assert first == {
        "time": first["time"],
        "request_id": "req-123",
        "method": "POST",
        "host": "api.example.com",
        "path": "/orders/7",
        "outcome": "allow",
        "reason": "",
        "user": "admin-1",
        "latency_ms": first["latency_ms"],
        "cached": False,
    }
    assert second["cached"] is True
    assert denied["outcome"] == "deny"
    assert denied["reason"] == "missing_role"
    assert isinstance(denied["request_id"], str)
    assert denied["request_id"] != "req-123"


def test_no_token_cookie_or_query_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    client = client_for()
    with caplog.at_level(logging.DEBUG):
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}"})
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {REVOKED}"})
        client.simulate_get("/verify", headers={"Cookie": "cookie_session=sess-1"})
        client.simulate_get("/verify", headers={"X-Forwarded-Uri": "/x?token=SECRET"})
    text = caplog.text
    for secret in (ADMIN, REVOKED, ADMIN[:40], REVOKED[-30:], "sess-1", "SECRET"):
        assert secret not in text


def test_generated_request_ids_are_unique_and_malformed_ones_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_for()
    ids = {client.simulate_get("/verify").headers["X-Request-Id"] for _ in range(50)}
    assert len(ids) == 50
    odd = client.simulate_get("/verify", headers={"X-Request-Id": "a b\x7f" + "x" * 300})
    assert " " not in odd.headers["X-Request-Id"]
    assert len(odd.headers["X-Request-Id"]) < 40


def test_decision_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(AUTHSVC_DECISION_LOG="false")
    with caplog.at_level(logging.INFO, logger="authsvc.decisions"):
        client.simulate_get("/verify")
    assert lines(caplog) == []


def test_odd_characters_are_escaped_as_json(caplog: pytest.LogCaptureFixture) -> None:
    stub = StubAuthorizer()
    odd = make_jwt(sub='a"b\\c\u00e9\u2028\n')
    stub.tokens[odd] = "x"
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://authorizer.test"})
    client = falcon.testing.TestClient(create_app(settings, authorizer=stub))
    with caplog.at_level(logging.INFO, logger="authsvc.decisions"):
        client.simulate_get(
            "/verify", headers={"Authorization": f"Bearer {odd}", "X-Forwarded-Uri": '/p"q'}
        )
    (line,) = lines(caplog)
    assert line["user"] == 'a"b\\c\u00e9\u2028\n'
    assert line["path"] == '/p"q'
    assert "\n" not in caplog.records[-1].getMessage()
