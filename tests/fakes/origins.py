"""CSRF and CORS middleware of 2.2.1+ (contract §3): which POSTs are let through, and why not.

A server-to-server caller that sends no Origin gets the first 403 below; that is the most common
way a backend breaks against a 2.4 server, so the texts are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from tests.fakes.wire import Reply, gin_json

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EXEMPT_PATHS = frozenset(
    {
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/register",
        "/authorize/consent",
        "/mcp",
        "/userinfo",
        "/authorize",
    }
)
_EXEMPT_PREFIXES = ("/oauth_callback/", "/scim/v2/")
MISSING_ORIGIN = "Origin or Referer header is required for state-changing requests"
ORIGIN_NOT_ALLOWED = "Origin not allowed"
BAD_CONTENT_TYPE = (
    "State-changing requests must include Content-Type: application/json or X-Requested-With header"
)


def _is_exempt(path: str) -> bool:
    if path in _EXEMPT_PATHS or path.startswith(_EXEMPT_PREFIXES):
        return True
    parts = path.split("/")
    return len(parts) == 5 and parts[1:3] == ["oauth", "saml"] and parts[4] == "acs"


def _source_origin(headers: Mapping[str, str]) -> str:
    """Origin, else the Referer reduced to scheme://host."""
    origin = headers.get("Origin", "")
    if origin:
        return origin
    referer = headers.get("Referer", "")
    if not referer:
        return ""
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}"


def _host_port(url: str) -> str:
    """host[:port] without scheme, lower-cased, ports 80 and 443 dropped (validators/url.go)."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    netloc = parts.netloc.lower()
    for default_port in (":80", ":443"):
        netloc = netloc.removesuffix(default_port)
    return netloc


def _is_wildcard(allowed_origins: str) -> bool:
    entries = [entry.strip() for entry in allowed_origins.split(",") if entry.strip()]
    return not entries or "*" in entries


def is_origin_allowed(origin: str, host: str, allowed_origins: str) -> bool:
    """`*`: the origin's host[:port] as written must equal Host, case-insensitively.

    An explicit list compares normalised host[:port]; `*.example.com` matches proper
    subdomains only.
    """
    if _is_wildcard(allowed_origins):
        origin_host = urlsplit(origin).netloc.rpartition("@")[2]
        return bool(origin_host) and origin_host.lower() == host.lower()
    candidate = _host_port(origin)
    for entry in (e.strip() for e in allowed_origins.split(",") if e.strip()):
        if entry.startswith("*."):
            suffix = _host_port(entry[1:])
            if candidate.endswith(suffix) and len(candidate) > len(suffix):
                return True
        elif _host_port(entry) == candidate:
            return True
    return False


def csrf_rejection(
    method: str, path: str, headers: Mapping[str, str], allowed_origins: str
) -> Reply | None:
    """The 403 for a state-changing request that fails a check, or None to go on."""
    if method not in _STATE_CHANGING or _is_exempt(path):
        return None
    origin = _source_origin(headers)
    if not origin:
        return _forbidden(MISSING_ORIGIN)
    if not is_origin_allowed(origin, headers.get("Host", ""), allowed_origins):
        return _forbidden(ORIGIN_NOT_ALLOWED)
    has_json = "application/json" in headers.get("Content-Type", "").lower()
    if not has_json and not headers.get("X-Requested-With", ""):
        return _forbidden(BAD_CONTENT_TYPE)
    return None


def _forbidden(description: str) -> Reply:
    return gin_json(403, {"error": "csrf_validation_failed", "error_description": description})


def cors_headers(headers: Mapping[str, str], allowed_origins: str) -> tuple[tuple[str, str], ...]:
    """CORS answer headers; the origin is echoed only when it is allowed."""
    origin = headers.get("Origin", "")
    result: list[tuple[str, str]] = []
    if origin and (
        _is_wildcard(allowed_origins)
        or is_origin_allowed(origin, headers.get("Host", ""), allowed_origins)
    ):
        result.append(("Access-Control-Allow-Origin", origin))
    result += [
        ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE, PATCH"),
        (
            "Access-Control-Allow-Headers",
            "Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, "
            "accept, origin, Cache-Control, X-Requested-With, X-Authorizer-URL, "
            "X-Forwarded-Proto, X-Authorizer-Client-ID",
        ),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    return tuple(result)
