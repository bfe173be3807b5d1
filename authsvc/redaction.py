"""Keep what clients send out of gunicorn's own log lines and error pages.

gunicorn refuses a malformed request itself, before authsvc sees it, and both logs and answers
the offending bytes: the request line (whose query string may carry ``?access_token=...``), a
header name, a transfer coding, an ``Expect`` value. Those bytes are the client's and may be a
credential, so authsvc keeps only the kind of error (``Invalid HTTP request line``) in the log
and only the status in the error page. ``authsvc.gunicorn_conf`` installs both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

_INVALID_REQUEST = "Invalid request from ip="
_FAILED_REQUEST = "Error handling request"
WITHHELD = "(detail withheld: it may hold a credential)"
# The kind of error ends where gunicorn starts quoting what it received.
_END_OF_KIND = re.compile(r"[:'\"(]")


class WithholdRequestDetail(logging.Filter):
    """Rewrites gunicorn's lines about bad requests so they carry no byte of the request."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_INVALID_REQUEST):
            ip, _, detail = message[len(_INVALID_REQUEST) :].partition(": ")
            kind = _END_OF_KIND.split(detail, maxsplit=1)[0].strip()
            record.msg = f"{_INVALID_REQUEST}%s: %s {WITHHELD}"
            record.args = (ip, kind)
        elif message.startswith(_FAILED_REQUEST):
            # "Error handling request GET /verify?access_token=..." (an exception escaped the
            # app): the method and path are useful, the query string is the client's.
            record.msg = f"{_FAILED_REQUEST} %s"
            record.args = (message[len(_FAILED_REQUEST) :].strip().partition("?")[0],)
        return True


WriteError = Callable[[Any, int, str, str], None]


def without_detail(write_error: WriteError) -> WriteError:
    """gunicorn's ``util.write_error``, answering the status and reason but not the bytes."""

    def write_status_only(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        # gunicorn answers an unknown Transfer-Encoding with "501 Bad Request": the client's
        # fault, so a 400, never a 5xx a proxy would count against authsvc.
        if status_int == 501:
            status_int = 400
        write_error(sock, status_int, reason, "")

    return write_status_only
