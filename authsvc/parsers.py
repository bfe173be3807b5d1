"""Parsers for environment variables: each turns a raw string into a value or raises
``ValueError`` with a message that says what was expected (never echoing a secret)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from authsvc.login import is_host_name, is_public_suffix

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
    """One of ``choices``, in any letter case (``debug`` is ``DEBUG``)."""
    by_folded = {option.casefold(): option for option in choices}

    def parse(raw: str) -> str:
        option = by_folded.get(raw.strip().casefold())
        if option is None:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return option

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


def optional_hosts(raw: str) -> tuple[str, ...]:
    """Comma-separated host names, lowercased: ``app.example.com`` is that host, and
    ``.example.com`` that domain and every subdomain. Empty: the documented default."""
    if not raw:
        return ()
    items = tuple(dict.fromkeys(item.strip().lower() for item in raw.split(",") if item.strip()))
    for item in items:
        if item.startswith("*."):
            raise ValueError(f"write {item[1:]!r} (a leading dot) for a domain and its subdomains")
        if not is_host_name(item.removeprefix(".")):
            raise ValueError(f"{item!r} is not a host name or .domain (no scheme, port or path)")
        if item.startswith(".") and is_public_suffix(item):
            raise ValueError(f"{item!r} is a public suffix: it would take in anyone's site")
    return items


def optional_page_url(raw: str) -> str:
    """An absolute http(s) URL of a page (a query is allowed; no fragment or user:password@)."""
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or raw != raw.strip():
        raise ValueError("expected an absolute http(s) URL such as https://auth.example.com/app")
    if parts.username is not None or parts.fragment or "#" in raw:
        raise ValueError("expected a URL without user:password@ or #fragment")
    return raw


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


_PERCENT = re.compile(r"%(?:%|\(([^)]*)\))?")
_SAFE_ATOMS = frozenset({"h", "l", "t", "s", "m", "U", "H", "b", "B", "a", "T", "D", "M", "L", "p"})
"""gunicorn atoms that never hold a credential: not the request line (r) or query string (q),
which may carry a token; not the Basic-auth user (u); not the Referer (f), a URL of its own."""
_SAFE_REQUEST_HEADERS = frozenset(
    {
        "x-request-id",
        "host",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-method",
        "x-original-method",
        "x-real-ip",
    }
)
"""Request headers that may be logged; X-Forwarded-Uri and X-Original-URI carry the user's query."""


def access_log_format(raw: str) -> str:
    """A gunicorn access log format that cannot print a credential: an allow-list of atoms.

    gunicorn formats with ``%`` and a mapping: ``%(name)s`` (any width or conversion), request
    headers as ``%({name}i)s`` and response headers as ``%({name}o)s`` (names matched without
    regard to case), the environ as ``%({name}e)s``; ``%%`` is a percent sign.
    """
    refused: list[str] = []
    for match in _PERCENT.finditer(raw):
        if match.group(0) == "%%":
            continue
        key = match.group(1)
        if key is None:
            refused.append("a lone % (write %% for a percent sign)")
        elif not _is_safe_atom(key):
            refused.append(f"%({key}) (may log a token or cookie)")
    if refused:
        raise ValueError(
            f"refused: {', '.join(refused)}; allowed: "
            f"%(h)s %(m)s %(U)s %(s)s %(M)s ..., and the request headers "
            f"{', '.join(sorted(_SAFE_REQUEST_HEADERS))} as %({{name}}i)s"
        )
    return raw


def _is_safe_atom(key: str) -> bool:
    if not key.startswith("{"):
        return key in _SAFE_ATOMS
    name, _, kind = key[1:].lower().rpartition("}")
    if kind == "i":
        return name in _SAFE_REQUEST_HEADERS
    if kind == "o":
        return name != "set-cookie"
    return False  # the environ (e) holds the query string and every header


def optional_redis_url(raw: str) -> str:
    """redis://, rediss:// (TLS) or unix:// URL that redis-py can read, or empty.

    The messages never quote the URL: it may hold a password.
    """
    if not raw:
        return raw
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    try:
        parsed = urlsplit(raw)
        port = parsed.port  # raises when a password's "/", "#" or "?" cut the URL short
    except ValueError:
        port, parsed = -1, None
    if parsed is None or port == -1 or (raw.startswith("redis") and not parsed.hostname):
        raise ValueError(
            "not a readable URL: percent-encode /, #, ? and @ in the password (%2F, %23, %3F, %40)"
        ) from None
    options = {name.lower() for name, _ in parse_qsl(parsed.query)}
    if options & _REDIS_TIMEOUT_OPTIONS:
        # They would silently replace AUTHSVC_CACHE_TIMEOUT, the bound on every Redis wait.
        raise ValueError("timeouts go in AUTHSVC_CACHE_TIMEOUT, not in the URL's query")
    return raw


_REDIS_TIMEOUT_OPTIONS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "retry_on_timeout", "health_check_interval"}
)


def optional_path(raw: str) -> str:
    """An absolute file path, or empty."""
    if raw and not raw.startswith("/"):
        raise ValueError("expected an absolute file path")
    return raw


def access_log(raw: str) -> str:
    """off, - (standard output), or a file path."""
    if raw == "off" or raw == "-" or raw.startswith("/"):
        return raw
    raise ValueError("expected off, - (standard output) or an absolute file path")
