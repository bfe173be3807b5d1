"""One JSON line per decision, tied to the request id, and never a credential."""

from __future__ import annotations

import json
import logging
import select

import falcon.testing
import hypothesis
import pytest
from hypothesis import strategies as st

from authsvc.app import create_app
from authsvc.decision_log import MAX_FIELD_CHARS, MAX_LINE_BYTES, DecisionLog, LineBuffer
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
    assert denied["user"] == "user-1"  # who was refused is known for a missing role
    assert denied["cached"] is False
    assert isinstance(denied["request_id"], str)
    assert denied["request_id"] != "req-123"
    # Without the proxy's headers, the request to /verify itself is described.
    assert (denied["method"], denied["path"]) == ("GET", "/verify")


def test_cached_is_true_whenever_the_cache_answered(caplog: pytest.LogCaptureFixture) -> None:
    client = client_for()
    bearer = {"Authorization": f"Bearer {USER}"}
    session = {"Cookie": "cookie_session=sess-1"}
    with caplog.at_level(logging.INFO, logger="authsvc.decisions"):
        client.simulate_get("/verify", headers=bearer)
        client.simulate_get("/verify?roles=admin", headers=bearer)  # roles of a cached token
        client.simulate_get("/verify", headers=session)
        client.simulate_get("/verify", headers=session)
        client.simulate_get("/verify?roles=admin", headers=session)
        client.simulate_get("/verify?roles=admin", headers=session)  # a remembered "no"
    answers = [(line["reason"], line["user"], line["cached"]) for line in lines(caplog)]
    assert answers == [
        ("", "user-1", False),
        ("missing_role", "user-1", True),
        ("", "user-3", False),
        ("", "user-3", True),
        ("missing_role", "user-3", False),
        ("missing_role", "user-3", True),
    ]


def test_no_token_cookie_or_query_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    client = client_for()
    with caplog.at_level(logging.DEBUG):
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}"})
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {REVOKED}"})
        client.simulate_get("/verify", headers={"Cookie": "cookie_session=sess-1"})
        client.simulate_get("/verify", headers={"X-Forwarded-Uri": "/x?token=SECRET"})
        client.simulate_get("/verify", headers={"X-Forwarded-Uri": "/a%3Fb=x#FRAGMENT"})
    text = caplog.text
    assert '"path":"/a%3Fb=x"' in text
    for secret in (ADMIN, REVOKED, ADMIN[:40], REVOKED[-30:], "sess-1", "SECRET", "FRAGMENT"):
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
    odd = make_jwt(sub='a"b\\c\u00e9\u4e2dd')
    stub.tokens[odd] = "x"
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://authorizer.test"})
    client = falcon.testing.TestClient(create_app(settings, authorizer=stub))
    with caplog.at_level(logging.INFO, logger="authsvc.decisions"):
        client.simulate_get(
            "/verify", headers={"Authorization": f"Bearer {odd}", "X-Forwarded-Uri": '/p"q'}
        )
    (line,) = lines(caplog)
    assert line["user"] == 'a"b\\c\u00e9\u4e2dd'
    assert line["path"] == '/p"q'
    assert "\n" not in caplog.records[-1].getMessage()


def wsgi(text: str) -> str:
    """A header value as a WSGI server hands it over: the UTF-8 bytes read as latin-1."""
    return text.encode("utf-8").decode("latin-1")


def cut_from(original: str, logged: object) -> bool:
    """Whether ``logged`` is ``original`` cut at one of the log's field limits."""
    return logged in (original[:MAX_FIELD_CHARS], original[:128], original[:32], "")


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    method=st.text(max_size=20),
    host=st.text(max_size=600),
    path=st.text(max_size=300).map(lambda p: p.replace("?", "").replace("#", "")),
    user=st.text(max_size=600),
    request_id=st.from_regex(r"[A-Za-z0-9._:/+=-]{1,128}", fullmatch=True),
)
def test_any_field_values_give_one_short_valid_json_line_with_the_values_cut_to_length(
    method: str, host: str, path: str, user: str, request_id: str
) -> None:
    written: list[str] = []
    log = DecisionLog(is_enabled=True, write=written.append)
    environ = {
        "HTTP_X_FORWARDED_METHOD": wsgi(method) or "GET",
        "HTTP_X_FORWARDED_HOST": wsgi(host) or "example.com",
        "HTTP_X_FORWARDED_URI": wsgi(path) + "?token=secret",
    }
    log.record(
        request_id=request_id,
        environ=environ,
        outcome="deny",
        reason="missing_role",
        user=user,
        latency_s=0.000123,
        is_cached=True,
    )
    (line,) = written
    assert "\n" not in line
    assert "secret" not in line
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES  # one atomic write to a pipe
    record = json.loads(line)
    assert record["request_id"] == request_id
    assert cut_from(method or "GET", record["method"])
    assert cut_from(host or "example.com", record["host"])
    assert cut_from(path, record["path"])
    assert cut_from(user, record["user"])
    assert (record["outcome"], record["reason"], record["cached"]) == ("deny", "missing_role", True)
    assert record["latency_ms"] == 0.123


def test_batches_are_written_in_whole_lines_no_longer_than_an_atomic_pipe_write() -> None:
    writes: list[bytes] = []

    def record_write(fd: int, data: bytes) -> int:
        writes.append(data)
        return len(data)

    buffer = LineBuffer(2, write=record_write)
    lines = [json.dumps({"n": n, "path": "/p" * (n % 700)}) for n in range(LineBuffer.BATCH)]
    for line in lines[:-1]:
        buffer.write(line)
    assert writes == []  # held until the batch is full (or the flusher runs)
    buffer.write(lines[-1])
    assert len(writes) > 1
    assert all(len(data) <= select.PIPE_BUF and data.endswith(b"\n") for data in writes)
    assert b"".join(writes).decode().splitlines() == lines


def test_flush_writes_what_is_left_and_a_short_write_is_continued() -> None:
    writes: list[bytes] = []

    def short_write(fd: int, data: bytes) -> int:
        writes.append(data[:10])
        return min(len(data), 10)

    buffer = LineBuffer(2, write=short_write)
    buffer.write('{"a":1}')
    buffer.write('{"b":"' + "x" * 30 + '"}')
    buffer.flush()
    assert b"".join(writes).decode().splitlines() == ['{"a":1}', '{"b":"' + "x" * 30 + '"}']
    buffer.flush()
    assert len(writes) == 5  # nothing more to write


def test_a_line_of_long_astral_fields_is_still_one_atomic_write() -> None:
    """An emoji escapes to 12 bytes in JSON: three long fields of them must still fit."""
    written: list[str] = []
    emoji = "\U0001f600" * 1300
    DecisionLog(is_enabled=True, write=written.append).record(
        request_id="r-1",
        environ={
            "HTTP_X_FORWARDED_METHOD": wsgi(emoji),
            "HTTP_X_FORWARDED_HOST": wsgi(emoji),
            "HTTP_X_FORWARDED_URI": wsgi(emoji),
        },
        outcome="deny",
        reason="missing_credential",
        user=emoji,
        latency_s=0.001,
        is_cached=False,
    )
    (line,) = written
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES
    record = json.loads(line)
    assert record["request_id"] == "r-1"
    assert record["path"] == emoji[: len(record["path"])]
