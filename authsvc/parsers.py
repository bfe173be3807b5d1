"""Parsers for environment variables: each turns a raw string into a value or raises
``ValueError`` with a message that says what was expected (never echoing a secret)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import urlsplit

TOKEN_TYPES = frozenset({"access_token", "id_token", "refresh_token"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# RFC 6265 cookie-name = token (RFC 9110 tchar).
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

Parser = Callable[[str], object]


def url(raw: str) -> str:
    """An http(s) base URL with a valid host and port, and no credentials, query or fragment."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s) URL such as https://auth.example.com")
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not 0..65535
    except ValueError:
        raise ValueError("expected a port number between 1 and 65535") from None
    if parts.username is not None or parts.password is not None:
        # It would be printed by check-config and sent on as X-Authorizer-URL.
        raise ValueError("expected a URL without user:password@")
    if parts.query or parts.fragment:
        raise ValueError("expected a base URL without query or fragment")
    return raw.rstrip("/")


def optional_url(raw: str) -> str:
    return url(raw) if raw else ""


def number(minimum: float, maximum: float) -> Callable[[str], float]:
    message = f"expected a number of seconds between {minimum} and {maximum}"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(message) from None
        if not minimum <= value <= maximum:  # also refuses nan
            raise ValueError(message)
        return value

    return parse


def integer(minimum: int, maximum: int) -> Callable[[str], int]:
    message = f"expected a whole number between {minimum} and {maximum}"

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(message) from None
        if not minimum <= value <= maximum:
            raise ValueError(message)
        return value

    return parse


def workers(raw: str) -> int:
    """A worker count, or "auto": the CPUs this process may run on (honours cpusets)."""
    if raw == "auto":
        return max(len(os.sched_getaffinity(0)), 1)
    return integer(1, 256)(raw)


def choice(*choices: str) -> Parser:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return parse


def names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, trimmed and deduplicated, in order; at least one."""
    items = tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
    if not items:
        raise ValueError("expected a comma-separated list with at least one name")
    return items


def cookie_names(raw: str) -> tuple[str, ...]:
    items = names(raw)
    for item in items:
        if not _COOKIE_NAME.fullmatch(item):
            raise ValueError(f"{item!r} is not a valid cookie name")
    return items


def token_types(raw: str) -> frozenset[str]:
    items = frozenset(names(raw))
    unknown = sorted(items - TOKEN_TYPES)
    if unknown:
        known = ", ".join(sorted(TOKEN_TYPES))
        raise ValueError(f"unknown token type {unknown[0]!r}; known: {known}")
    return items


def bind(raw: str) -> str:
    if raw.startswith("unix:") and len(raw) > len("unix:"):
        return raw
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT (for example 127.0.0.1:8080) or unix:PATH")
    return raw


def claim(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a claim name")
    return raw.strip()


def boolean(raw: str) -> bool:
    """true/false (also 1/0, yes/no, on/off), case-insensitive; anything else is refused."""
    value = raw.lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


_ACCESS_LOG_ATOM = re.compile(r"%\((?:\{([^}]*)\}([a-z])|([a-zA-Z]+))\)s")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def access_log_format(raw: str) -> str:
    """A gunicorn access log format without the atoms that may carry a credential: the
    request line and query string (%(r)s, %(q)s: a token in the query), the credential
    headers, and environ variables (%({...}e)s)."""
    refused: list[str] = []
    for atom in _ACCESS_LOG_ATOM.finditer(raw):
        name, kind, plain = atom.groups()
        if plain in ("r", "q") or kind == "e" or (kind == "i" and name.lower() in _SECRET_HEADERS):
            refused.append(atom.group(0))
    if refused:
        raise ValueError(
            f"{', '.join(refused)} may log a token or cookie; "
            "use %(m)s %(U)s for the method and the path without its query"
        )
    return raw


def access_log(raw: str) -> str:
    """off, - (standard output), or a file path."""
    if raw == "off" or raw == "-" or raw.startswith("/"):
        return raw
    raise ValueError("expected off, - (standard output) or an absolute file path")
