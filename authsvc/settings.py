"""Settings: one frozen object built from environment variables and validated at start.

Every variable is declared once in ``SPECS`` (name, default, parser, help), which feeds both
``Settings.from_environ`` and ``authsvc --help``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from authsvc import login
from authsvc.errors import SettingsError
from authsvc.parsers import (
    LOG_LEVELS,
    Parser,
    access_log,
    access_log_format,
    bind,
    boolean,
    choice,
    claim,
    cookie_names,
    integer,
    number,
    optional_hosts,
    optional_page_url,
    optional_path,
    optional_redis_url,
    optional_url,
    token_types,
    url,
    workers,
)

_USERINFO = re.compile(r"://[^/@]*@")
"""user:password@ in a URL, masked before a bad value is echoed."""


@dataclass(frozen=True, slots=True)
class Spec:
    """One environment variable: where it goes, its default, how it is parsed, what it means."""

    env: str
    field: str
    default: str | None  # None: required
    parse: Parser
    help: str
    is_secret: bool = False


SPECS: tuple[Spec, ...] = (
    Spec(
        "AUTHORIZER_URL",
        "authorizer_url",
        None,
        url,
        "Base URL authsvc uses to reach Authorizer (may be an internal name).",
    ),
    Spec(
        "AUTHORIZER_PUBLIC_URL",
        "authorizer_public_url",
        "",
        optional_url,
        "Authorizer's public URL (the tokens' issuer) when AUTHORIZER_URL is an internal name; "
        "sent as X-Authorizer-URL.",
    ),
    Spec(
        "AUTHORIZER_CLIENT_ID",
        "authorizer_client_id",
        "",
        str,
        "Client ID sent as X-Authorizer-Client-ID (empty: header not sent); when set, a bearer "
        "token's `aud` must equal it.",
    ),
    Spec(
        "AUTHSVC_AUTHORIZER_CONNECT_TIMEOUT",
        "authorizer_connect_timeout_s",
        "0.5",
        number(0.01, 30),
        "Seconds to open a connection to Authorizer.",
    ),
    Spec(
        "AUTHSVC_AUTHORIZER_TIMEOUT",
        "authorizer_read_timeout_s",
        "2",
        number(0.01, 60),
        "Seconds to wait for Authorizer's answer; keep it under the proxy's read timeout.",
    ),
    Spec(
        "AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT",
        "authorizer_rate_limit_wait_s",
        "5",
        number(0, 30),
        "Seconds a confirmation may spend waiting out Authorizer's 429s (honouring "
        "Retry-After) before answering 503; 0 answers 503 at the first 429.",
    ),
    Spec(
        "AUTHSVC_CIRCUIT_FAILURES",
        "circuit_failures",
        "5",
        integer(0, 1000),
        "Consecutive failed Authorizer calls (per worker) that open the circuit: calls stop "
        "and uncached credentials get 503 at once; 0 disables the breaker.",
    ),
    Spec(
        "AUTHSVC_CIRCUIT_OPEN",
        "circuit_open_s",
        "1",
        number(0.1, 300),
        "Seconds the circuit stays open before one trial call; doubled after each failed trial.",
    ),
    Spec(
        "AUTHSVC_CIRCUIT_MAX_OPEN",
        "circuit_max_open_s",
        "30",
        number(0.1, 3600),
        "Longest the open interval grows to.",
    ),
    Spec("AUTHSVC_BIND", "bind", "0.0.0.0:8080", bind, "Address gunicorn listens on."),
    Spec(
        "AUTHSVC_WORKERS",
        "workers",
        "auto",
        workers,
        "Gunicorn worker processes; auto: one per CPU.",
    ),
    Spec(
        "AUTHSVC_WORKER_CLASS",
        "worker_class",
        "gevent",
        choice("gthread", "gevent", "sync"),
        "Gunicorn worker class (see README, Performance).",
    ),
    Spec(
        "AUTHSVC_THREADS",
        "threads",
        "16",
        integer(1, 1024),
        "Threads per worker with the gthread worker class (gevent serves up to 1,000 "
        "connections per worker cooperatively).",
    ),
    Spec(
        "AUTHSVC_UNAUTHENTICATED_STATUS",
        "unauthenticated_status",
        "403",
        choice("403", "401"),
        "Status for a missing or invalid credential; 401 adds WWW-Authenticate: Bearer.",
    ),
    Spec(
        "AUTHSVC_TOKEN_TYPES",
        "token_types",
        "access_token,id_token",
        token_types,
        "Token types (the token's own token_type claim) accepted as credentials.",
    ),
    Spec(
        "AUTHSVC_ROLE_CLAIM",
        "role_claim",
        "role",
        claim,
        "Claim holding the token's roles, falling back to 'roles' (as Authorizer does).",
    ),
    Spec(
        "AUTHSVC_SESSION_COOKIES",
        "session_cookies",
        "cookie_session,cookie_session_domain",
        cookie_names,
        "Authorizer session cookie names, tried in order.",
    ),
    Spec(
        "AUTHSVC_COOKIE_DOMAINS",
        "cookie_domains",
        "",
        optional_hosts,
        "Where Authorizer's session cookies reach (their Domain attributes): empty means "
        "Authorizer's defaults, its public host and .<its last two labels>.",
    ),
    Spec(
        "AUTHSVC_LOGIN_REDIRECT",
        "login_redirect",
        "false",
        boolean,
        "Send browsers without a valid session to the login page (302, or 401 behind nginx "
        "for its error_page), and bring them back afterwards.",
    ),
    Spec(
        "AUTHSVC_LOGIN_URL",
        "login_url",
        "",
        optional_page_url,
        "The login page; redirect_uri=<the page to come back to> is added. Empty: "
        "Authorizer's public URL + /app.",
    ),
    Spec(
        "AUTHSVC_REDIRECT_ALLOWLIST",
        "redirect_allowlist",
        "",
        optional_hosts,
        "Hosts people may be sent back to after signing in, comma-separated; .example.com "
        "allows the domain and its subdomains. Empty: AUTHSVC_COOKIE_DOMAINS.",
    ),
    Spec(
        "AUTHSVC_CACHE_TTL",
        "cache_ttl_s",
        "30",
        number(0, 86400),
        "Seconds a confirmed credential is reused without asking Authorizer (never past the "
        "token's exp; 0 disables). Also bounds how long a logged-out session may still pass.",
    ),
    Spec(
        "AUTHSVC_NEGATIVE_CACHE_TTL",
        "negative_cache_ttl_s",
        "5",
        number(0, 300),
        "Seconds a definitive 'no' (bad signature, expired, revoked, missing role) is reused, "
        "so a client retrying a bad token cannot flood Authorizer; 0 disables. 'Cannot "
        "confirm' (503) is never reused.",
    ),
    Spec(
        "AUTHSVC_CACHE_MAX_ENTRIES",
        "cache_max_entries",
        "100000",
        integer(1, 100_000_000),
        "Most credentials kept in each worker's cache (least recently used are dropped).",
    ),
    Spec(
        "AUTHSVC_DECISION_LOG",
        "decision_log",
        "true",
        boolean,
        "One JSON line per decision at INFO (request id, method, host, path, outcome, reason, "
        "user, latency, cached); never a token or cookie.",
    ),
    Spec(
        "AUTHSVC_ACCESS_LOG",
        "access_log",
        "off",
        access_log,
        "gunicorn's access log: off, - (standard output) or an absolute file path.",
    ),
    Spec(
        "AUTHSVC_ACCESS_LOG_FORMAT",
        "access_log_format",
        '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms %({x-request-id}i)s',
        access_log_format,
        "gunicorn access log format (its atoms: %(h)s, %(m)s, %(U)s, %(s)s, "
        "%({x-request-id}i)s, ...); atoms that may hold a credential (%(r)s, %(q)s, "
        "%({cookie}i)s, ...) are refused.",
    ),
    Spec("AUTHSVC_LOG_LEVEL", "log_level", "INFO", choice(*LOG_LEVELS), "Log level."),
    Spec(
        "AUTHSVC_SHUTDOWN_DELAY",
        "shutdown_delay_s",
        "5",
        number(0, 120),
        "On SIGTERM, seconds /readyz answers 503 while requests are still served, before the "
        "graceful stop (in-flight checks finish); 0 stops at once.",
    ),
    Spec(
        "AUTHSVC_CACHE_URL",
        "cache_url",
        "",
        optional_redis_url,
        "Redis shared by every worker and replica (redis://[:password@]host:6379/0): one "
        "Authorizer call per credential per TTL for the whole fleet. Empty: per-worker only.",
        is_secret=True,
    ),
    Spec(
        "AUTHSVC_CACHE_TIMEOUT",
        "cache_timeout_s",
        "0.1",
        number(0.005, 5),
        "Seconds to wait for Redis before treating it as a miss (then it is left alone 5 s).",
    ),
    Spec(
        "AUTHSVC_VERIFY_MODE",
        "verify_mode",
        "remote",
        choice("remote", "jwks", "hybrid"),
        "remote: Authorizer confirms every uncached credential. jwks: bearer tokens are "
        "verified locally against Authorizer's published keys (cannot see a logout). hybrid: "
        "local first, so forged or expired tokens never reach Authorizer, then Authorizer.",
    ),
    Spec(
        "AUTHSVC_JWT_SECRET",
        "jwt_secret",
        "",
        str,
        "For jwks/hybrid with an HS256/384/512 Authorizer (which publishes no key): its "
        "--jwt-secret.",
        is_secret=True,
    ),
    Spec(
        "AUTHSVC_JWT_SECRET_FILE",
        "jwt_secret_file",
        "",
        optional_path,
        "The same secret read from a file (a mounted Kubernetes secret, say).",
    ),
    Spec(
        "AUTHSVC_JWT_TYPE",
        "jwt_type",
        "HS256",
        choice("HS256", "HS384", "HS512"),
        "The algorithm of that secret: Authorizer's --jwt-type.",
    ),
    Spec(
        "AUTHSVC_JWT_SECONDARY_SECRET",
        "jwt_secondary_secret",
        "",
        str,
        "During an HS key rotation: Authorizer's --jwt-secondary-secret (the old secret, "
        "still accepted after the primary).",
        is_secret=True,
    ),
    Spec(
        "AUTHSVC_JWT_SECONDARY_SECRET_FILE",
        "jwt_secondary_secret_file",
        "",
        optional_path,
        "The same secondary secret read from a file.",
    ),
    Spec(
        "AUTHSVC_JWT_SECONDARY_TYPE",
        "jwt_secondary_type",
        "HS256",
        choice("HS256", "HS384", "HS512"),
        "The algorithm of the secondary secret: Authorizer's --jwt-secondary-type.",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, parsed and checked; build it with ``from_environ``."""

    authorizer_url: str
    authorizer_public_url: str = ""
    authorizer_client_id: str = ""
    authorizer_connect_timeout_s: float = 0.5
    authorizer_read_timeout_s: float = 2.0
    authorizer_rate_limit_wait_s: float = 5.0
    circuit_failures: int = 5
    circuit_open_s: float = 1.0
    circuit_max_open_s: float = 30.0
    bind: str = "0.0.0.0:8080"
    workers: int = 1
    worker_class: str = "gevent"
    threads: int = 16
    unauthenticated_status: str = "403"
    token_types: frozenset[str] = field(default=frozenset({"access_token", "id_token"}))
    role_claim: str = "role"
    session_cookies: tuple[str, ...] = ("cookie_session", "cookie_session_domain")
    cookie_domains: tuple[str, ...] = ()
    login_redirect: bool = False
    login_url: str = ""
    redirect_allowlist: tuple[str, ...] = ()
    cache_ttl_s: float = 30.0
    negative_cache_ttl_s: float = 5.0
    cache_max_entries: int = 100_000
    decision_log: bool = True
    access_log: str = "off"
    access_log_format: str = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
    log_level: str = "INFO"
    shutdown_delay_s: float = 5.0
    cache_url: str = field(default="", repr=False)
    cache_timeout_s: float = 0.1
    verify_mode: str = "remote"
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_file: str = ""
    jwt_type: str = "HS256"
    jwt_secondary_secret: str = field(default="", repr=False)
    jwt_secondary_secret_file: str = ""
    jwt_secondary_type: str = "HS256"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every variable in ``SPECS``; raise one ``SettingsError`` listing every problem."""
        values: dict[str, object] = {}
        problems: list[str] = []
        for spec in SPECS:
            raw = environ.get(spec.env, "").strip()
            if not raw:
                if spec.default is None:
                    problems.append(f"{spec.env}: required, not set")
                    continue
                raw = spec.default
            try:
                values[spec.field] = spec.parse(raw)
            except ValueError as exc:
                shown = "(hidden)" if spec.is_secret else repr(_USERINFO.sub("://***@", raw))
                problems.append(f"{spec.env}: {exc}, got {shown}")
        for secret in ("AUTHSVC_JWT_SECRET", "AUTHSVC_JWT_SECONDARY_SECRET"):
            name = secret.removeprefix("AUTHSVC_").lower()
            path = values.get(f"{name}_file")
            if values.get(name) and path:
                problems.append(f"{secret}_FILE: set it or {secret}, not both")
            elif isinstance(path, str) and path:
                problems.extend(f"{secret}_FILE: {problem}" for problem in _secret_file(path))
        if values.get("verify_mode", "remote") != "remote" and not values.get(
            "authorizer_client_id"
        ):
            # Authorizer 1.x to 2.3 refuse a token issued to another client; a local check
            # must not be looser than any Authorizer it may stand in for.
            problems.append(
                "AUTHORIZER_CLIENT_ID: required with AUTHSVC_VERIFY_MODE=jwks or hybrid "
                "(tokens must be checked for their audience)"
            )
        if problems:
            raise SettingsError(problems)
        return cls(**values)  # type: ignore[arg-type]  # SPECS maps each field to its parser

    @property
    def confirmation_budget_s(self) -> float:
        """The longest one confirmation may take: connect, read, and waiting out 429s."""
        return (
            self.authorizer_connect_timeout_s
            + self.authorizer_read_timeout_s
            + self.authorizer_rate_limit_wait_s
        )

    @property
    def session_cookie_domains(self) -> tuple[str, ...]:
        """AUTHSVC_COOKIE_DOMAINS, else where Authorizer's cookies reach by default."""
        return self.cookie_domains or login.cookie_domains(self.issuer_url)

    @property
    def login_page(self) -> login.LoginPage:
        """The login page and the hosts it may send people back to (their defaults filled)."""
        allowlist = self.redirect_allowlist or login.domain_patterns(self.session_cookie_domains)
        return login.LoginPage(self.login_url or f"{self.issuer_url}/app", allowlist)

    @property
    def issuer_url(self) -> str:
        """The public URL Authorizer must see as its own (X-Authorizer-URL)."""
        return self.authorizer_public_url or self.authorizer_url


def _secret_file(path: str) -> list[str]:
    """What is wrong with a secret file, read once at start (its content is never shown)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the start forever
            return [f"{path!r} is not a regular file"]
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"cannot read {path!r} ({type(exc).__name__})"]
    if not content.strip():
        return [f"{path!r} is empty"]
    return []


def describe() -> str:
    """The settings table for ``authsvc --help``."""
    lines = []
    for spec in SPECS:
        default = "(required)" if spec.default is None else f"default: {spec.default or '(empty)'}"
        lines.append(f"  {spec.env}  [{default}]\n      {spec.help}")
    return "\n".join(lines)
