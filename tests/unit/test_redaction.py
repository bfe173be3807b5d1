"""gunicorn's lines about requests it refused keep the kind of error, never the request's bytes."""

from __future__ import annotations

import logging

import pytest

from authsvc.redaction import WITHHELD, WithholdRequestDetail, without_detail

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLW9mLWFubg"


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("detail", "kind"),
    [
        (
            f"Invalid HTTP request line: 'GET /verify?access_token={TOKEN}\\x01 HTTP/1.1'",
            "Invalid HTTP request line",
        ),
        (f"Invalid HTTP header name: 'X-{TOKEN}\\x01'", "Invalid HTTP header name"),
        (f"Unsupported transfer coding: '{TOKEN}'", "Unsupported transfer coding"),
        ("Invalid HTTP Version: (9, 9)", "Invalid HTTP Version"),
        (f'Invalid HTTP method: "{TOKEN}"', "Invalid HTTP method"),
        ("Obsolete line fold", "Obsolete line fold"),
    ],
)
def test_invalid_request_lines_keep_only_the_kind_of_error(detail: str, kind: str) -> None:
    line = record(f"Invalid request from ip=10.0.0.7: {detail}")
    assert WithholdRequestDetail().filter(line) is True  # rewritten, never dropped
    assert line.getMessage() == f"Invalid request from ip=10.0.0.7: {kind} {WITHHELD}"


def test_a_failed_request_keeps_its_method_and_path_but_not_its_query() -> None:
    line = record("Error handling request %s %s", "GET", f"/verify?access_token={TOKEN}&roles=a")
    WithholdRequestDetail().filter(line)
    assert line.getMessage() == "Error handling request GET /verify"


def test_other_lines_are_left_alone() -> None:
    line = record("Booting worker with pid: %s", 42)
    WithholdRequestDetail().filter(line)
    assert line.getMessage() == "Booting worker with pid: 42"


def test_error_pages_carry_the_status_but_not_the_message() -> None:
    written: list[tuple[object, int, str, str]] = []

    def write_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
        written.append((sock, status_int, reason, mesg))

    without_detail(write_error)("sock", 400, "Bad Request", f"Invalid Request Line '{TOKEN}'")
    assert written == [("sock", 400, "Bad Request", "")]


def test_gunicorns_501_for_a_transfer_coding_is_a_400() -> None:
    written: list[int] = []

    def write_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
        written.append(status_int)

    without_detail(write_error)("sock", 501, "Bad Request", "Unsupported transfer coding: 'foo'")
    without_detail(write_error)("sock", 500, "Internal Server Error", "")
    assert written == [400, 500]
