"""A reply as the HTTP layer writes it, plus the few body shapes every route shares."""

from __future__ import annotations

import json
from dataclasses import dataclass

GIN_JSON = "application/json; charset=utf-8"
GO_TEXT = "text/plain; charset=utf-8"
RATE_LIMITED_BODY = {
    "error": "rate_limit_exceeded",
    "error_description": "Too many requests. Please try again later.",
}


@dataclass(frozen=True)
class Reply:
    """Status, body and headers; `drop` closes the connection without answering (a hang)."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    trickle_s: float = 0.0
    """Above 0: the whole answer is written one byte at a time, this many seconds apart."""

    def with_headers(self, *headers: tuple[str, str]) -> Reply:
        return Reply(self.status, self.body, self.content_type, self.headers + headers, self.drop)


def encode_json(value: object) -> bytes:
    """Compact JSON like Go's encoder (no spaces); lone surrogates cannot reach the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def gin_json(status: int, value: object, *headers: tuple[str, str]) -> Reply:
    """What gin's c.JSON writes: the charset is part of the content type."""
    return Reply(status, encode_json(value), GIN_JSON, headers)


def rate_limited() -> Reply:
    """The limiter's 429, also used by the `rate_limited` fault."""
    return gin_json(429, RATE_LIMITED_BODY, ("Retry-After", "1"))


def not_found() -> Reply:
    """gin's NoRoute answer."""
    return Reply(404, b"404 page not found", GO_TEXT)
