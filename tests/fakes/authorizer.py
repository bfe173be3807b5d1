"""FakeAuthorizer: a TEST DOUBLE of an Authorizer server (authorizer.dev), not Authorizer itself.

A real HTTP server on loopback that issues real signed JWTs and answers `/graphql`, `/v1/*`,
discovery, JWKS, health and /userinfo the way Authorizer 2.4 (or, with dialect "1.x", the 2023
releases) does, per /work/shared/authorizer-contract.md. Tests drive it over HTTP like any client,
script faults, and read back what it was sent. Run it standalone with
`python -m tests.fakes.authorizer --port 9011`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from types import FrameType, TracebackType
from typing import Literal

from tests.fakes import claimsets
from tests.fakes.app import FakeApp, FaultKind, SeenRequest
from tests.fakes.claimsets import Dialect, FakeConfig
from tests.fakes.client import FakeAuthorizerError, HelperClient, Tokens
from tests.fakes.server import FakeHTTPServer
from tests.fakes.service import AuthService
from tests.fakes.state import RateLimiter, UserDirectory
from tests.fakes.tokens import SigningKey, sign_jws

__all__ = ["FakeAuthorizer", "FakeAuthorizerError", "FaultKind", "SeenRequest", "Tokens", "main"]

BANNER = (
    "fake-authorizer: a TEST DOUBLE of the Authorizer server for authsvc's tests, not Authorizer"
)


class FakeAuthorizer:
    """One fake server. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        *,
        dialect: Dialect = "2.4",
        alg: Literal["RS256", "HS256", "ES256"] = "RS256",
        client_id: str = "authsvc-test-client",
        client_secret: str = "fake-client-secret",  # noqa: S107  # a fixture, not a secret
        issuer: str | None = None,
        role_claim: str | None = None,
        default_roles: Sequence[str] = ("user",),
        allowed_origins: str = "*",
        rate_limit_rps: float = 0.0,
        rate_limit_burst: int = 20,
        mfa: bool = False,
        cookie_secure: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if dialect not in ("2.4", "1.x"):
            raise ValueError(f"dialect must be '2.4' or '1.x', got {dialect!r}")
        self._config = FakeConfig(
            dialect=dialect,
            alg=alg,
            client_id=client_id,
            client_secret=client_secret,
            issuer=issuer,
            role_claim=role_claim or ("roles" if dialect == "1.x" else "role"),
            default_roles=tuple(default_roles),
            allowed_origins=allowed_origins,
            mfa=mfa,
            cookie_secure=cookie_secure,
        )
        self._key = SigningKey.generate(alg)
        self._users = UserDirectory(time.time)
        self._service = AuthService(self._config, self._key, self._users)
        self._limiter = RateLimiter(rate_limit_rps, rate_limit_burst)
        self._app = FakeApp(self._service, self._limiter)
        self._address = (host, port)
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`; the default issuer of its tokens."""
        if self._url is None:
            raise RuntimeError("FakeAuthorizer.url is known only after start()")
        return self._url

    @property
    def dialect(self) -> Dialect:
        return self._config.dialect

    @property
    def client_id(self) -> str:
        """The `aud` of issued tokens and the only accepted X-Authorizer-Client-ID."""
        return self._config.client_id

    @property
    def issuer(self) -> str:
        """The `iss` that 2.4 issues and requires (1.x without an explicit issuer derives it)."""
        return self._service.issuer()

    @property
    def public_key_pem(self) -> str | None:
        """The verification key as PEM (None for HS256), for clients that verify locally."""
        return self._key.public_key_pem

    @property
    def jwt_secret(self) -> bytes | None:
        """The HMAC secret of an HS* server (its --jwt-secret), else None."""
        private = self._key.private
        return private if isinstance(private, bytes) else None

    @property
    def jwt_secondary_secret(self) -> bytes | None:
        """The HMAC secret of an HS* secondary key (--jwt-secondary-secret), else None."""
        secondary = self._service.secondary_key
        private = secondary.private if secondary is not None else None
        return private if isinstance(private, bytes) else None

    def rotate_key(self, alg: Literal["RS256", "HS256", "ES256"] | None = None) -> None:
        """Authorizer's key rotation (2.x): the primary becomes the secondary (still accepted,
        published in JWKS when RS/ES) and a new primary (of `alg`, default the same) signs
        from now on. An earlier secondary is dropped. 1.x had one key only."""
        if self._config.is_legacy:
            raise ValueError("Authorizer 1.x has no secondary key")
        self._service.secondary_key = self._key
        self._key = SigningKey.generate(alg or self._key.alg)
        self._service.key = self._key

    def start(self) -> FakeAuthorizer:
        """Bind (port 0 picks a free one) and serve on a daemon thread.

        After stop(), start() serves again on the same port with the same users, sessions and
        keys: an Authorizer that went down and came back.
        """
        if self._server is not None:
            raise RuntimeError("FakeAuthorizer already started")
        server = FakeHTTPServer(self._address, self._app)
        host, port = server.server_address[:2]
        self._address = (str(host), int(port))
        self._url = f"http://{host!s}:{port}"
        self._service.bind(self._url)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-authorizer:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket (new connections are refused) and every open one."""
        server, self._server = self._server, None
        if server is None:
            return
        self._app.faults.release_all()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAuthorizer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users and sessions ---------------------------------------------------------------

    def add_user(self, email: str, password: str, roles: Sequence[str] = ("user",)) -> str:
        """Store a verified user holding `roles`; returns its id (a UUID)."""
        return self._users.add(email, password, roles).id

    def login(
        self,
        email: str,
        password: str,
        roles: Sequence[str] | None = None,
        scope: Sequence[str] | None = None,
        *,
        authorizer_url: str | None = None,
    ) -> Tokens:
        """A real `login` mutation over HTTP (with a valid Origin), as a client would send it.

        In MFA mode the login withholds tokens; this helper then calls `skip_mfa_setup` with
        the mfa_session cookie. `authorizer_url` is sent as X-Authorizer-URL, which decides
        `iss` in the 1.x dialect.
        """
        return self._client().login(email, password, roles, scope, authorizer_url)

    def logout(self, *, access_token: str | None = None, session_cookie: str | None = None) -> None:
        """A real `logout` mutation, identified by the cookie and/or the Bearer access token."""
        self._client().logout(access_token, session_cookie)

    def rotate_session(self, session_cookie: str) -> Tokens:
        """The `session` query: a new nonce, tokens and cookie; the old token and cookie die."""
        return self._client().rotate_session(session_cookie)

    def revoke_sessions(self, user_id: str) -> None:
        """Server-side hook (admin revoke): delete every session-store entry of the user."""
        self._service.store.delete_user(user_id)

    def _client(self) -> HelperClient:
        return HelperClient(self.url, self.dialect)

    # -- hostile input --------------------------------------------------------------------

    def sign(
        self,
        claims: Mapping[str, object],
        *,
        headers: Mapping[str, object] | None = None,
        alg: str | None = None,
        key: object | None = None,
        secondary: bool = False,
    ) -> str:
        """Sign any claims with the server key, or with `key`/`alg`, for hostile-input tests.

        `alg="none"` needs no key. An HS alg on an RS/ES server defaults to the public key PEM
        as the HMAC secret (the alg-confusion attack); another asymmetric alg needs `key`.
        A header value of None removes that header (e.g. {"typ": None}). `secondary=True`
        signs with the secondary key (after `rotate_key`), as Authorizer before the rotation.
        """
        if secondary:
            if self._service.secondary_key is None:
                raise ValueError("sign(secondary=True) needs rotate_key() first")
            return self._service.secondary_key.sign(claims, headers)
        chosen = alg or self._key.alg
        if key is None and chosen == self._key.alg:
            return self._key.sign(claims, headers)
        if key is None and chosen.startswith("HS"):
            key = self._key.public_key_pem
        elif key is None and chosen != "none":
            raise ValueError(f"sign(alg={chosen!r}) on a {self._key.alg} server needs key=")
        return sign_jws(claims, alg=chosen, key=key, headers=headers)

    def token_claims(
        self,
        *,
        token_type: str = "access_token",  # noqa: S107  # a token type name, not a secret
        sub: str | None = None,
        roles: Sequence[str] = ("user",),
        **overrides: object,
    ) -> dict[str, object]:
        """A realistic claim set (§5.2) valid now, to feed sign().

        `sub` None means a fresh UUID. Any other claim can be overridden by keyword; an
        override of None deletes that claim (e.g. `exp=None`).

        Access and refresh tokens signed from this have no session-store entry, so
        validate_jwt_token answers `invalid token` for them; id_tokens validate.
        """
        now = int(time.time())
        ttl = claimsets.ACCESS_TTL_S
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self._config.client_id,
            "sub": str(uuid.uuid4()) if sub is None else sub,
            "exp": now + ttl,
            "iat": now,
            "nonce": str(uuid.uuid4()),
            "token_type": token_type,
            "login_method": claimsets.LOGIN_METHOD,
            "allowed_roles": list(roles),
        }
        if token_type == "id_token":
            claims[self._config.role_claim] = list(roles)
            claims["email"] = "user@example.com"
            if not self._config.is_legacy:
                claims.update(auth_time=now, amr=["pwd"], acr="0")
        else:
            claims.update(roles=list(roles), scope=list(claimsets.DEFAULT_SCOPE))
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    # -- scripting and observation --------------------------------------------------------

    def set_fault(self, kind: FaultKind | None, *, delay_s: float = 0.0) -> None:
        """Misbehave on POST /graphql and /v1/*; None restores normal answers.

        `delay` waits delay_s and then answers normally; `hang` never answers (for at most
        delay_s, or 60 s) and drops the connection. Changing the fault or stop() releases
        requests that are waiting.
        """
        self._app.faults.set(kind, delay_s)

    def set_rate_limit(self, rps: float, burst: int = 20) -> None:
        """Per-IP token bucket; rps 0 turns it off (2.4 only; 1.x had no limiter)."""
        self._limiter.configure(rps, burst)

    def set_healthy(self, is_healthy: bool) -> None:
        """Storage down: /health, /healthz and /readyz answer 503."""
        self._app.is_healthy = is_healthy

    @property
    def calls(self) -> Mapping[str, int]:
        """Resolver calls by GraphQL field name, and REST calls by route path (a Counter)."""
        return self._app.recorder.calls()

    @property
    def requests_seen(self) -> Sequence[SeenRequest]:
        return self._app.recorder.seen()

    def reset_counters(self) -> None:
        self._app.recorder.reset()


# -- command line -----------------------------------------------------------------------------


def _parse_user(spec: str) -> tuple[str, str, tuple[str, ...]]:
    """`email:password[:role,role]`."""
    email, _, rest = spec.partition(":")
    password, _, roles = rest.rpartition(":") if rest.count(":") else (rest, "", "")
    if not email or not password:
        raise argparse.ArgumentTypeError(f"expected email:password[:roles], got {spec!r}")
    return email, password, tuple(r for r in roles.split(",") if r) or ("user",)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.authorizer",
        description=f"{BANNER}. Serves until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9011)
    parser.add_argument("--dialect", choices=("2.4", "1.x"), default="2.4")
    parser.add_argument("--alg", choices=("RS256", "HS256", "ES256"), default="RS256")
    parser.add_argument("--client-id", default="authsvc-test-client")
    parser.add_argument("--client-secret", default="fake-client-secret")
    parser.add_argument("--issuer", default=None, help="default: the server's own URL")
    parser.add_argument("--role-claim", default=None)
    parser.add_argument("--default-roles", default="user", help="comma-separated")
    parser.add_argument("--allowed-origins", default="*")
    parser.add_argument("--rate-limit-rps", type=float, default=0.0, help="0 disables")
    parser.add_argument("--rate-limit-burst", type=int, default=20)
    parser.add_argument("--mfa", action="store_true", help="2.4's MFA offer on login")
    parser.add_argument("--insecure-cookies", action="store_true", help="omit Secure")
    parser.add_argument(
        "--user",
        type=_parse_user,
        action="extend",
        nargs="+",
        default=[],
        metavar="EMAIL:PASSWORD[:ROLE,ROLE]",
        help="a user to create (repeatable); roles default to 'user'",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    fake = FakeAuthorizer(
        dialect=args.dialect,
        alg=args.alg,
        client_id=args.client_id,
        client_secret=args.client_secret,
        issuer=args.issuer,
        role_claim=args.role_claim,
        default_roles=tuple(r for r in args.default_roles.split(",") if r),
        allowed_origins=args.allowed_origins,
        rate_limit_rps=args.rate_limit_rps,
        rate_limit_burst=args.rate_limit_burst,
        mfa=args.mfa,
        cookie_secure=not args.insecure_cookies,
        host=args.host,
        port=args.port,
    )
    for email, password, roles in args.user:
        fake.add_user(email, password, roles)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with fake:
        print(f"fake-authorizer listening on {fake.url} (TEST DOUBLE, not Authorizer)", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
