"""What the fake Authorizer decides: validation, login, logout and session rotation.

Transport-free: GraphQL resolvers and REST routes both call AuthService and differ only in how
they render its failures (see tests.fakes.exchange).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.fakes import claimsets, cookies
from tests.fakes.claimsets import FakeConfig, LoginGrant
from tests.fakes.exchange import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    TOO_MANY_REQUESTS,
    UNAUTHENTICATED,
    Caller,
    Exchange,
    InternalPanic,
    RawError,
    ServiceError,
    invalid_claims,
    invalid_token,
    unauthorized,
)
from tests.fakes.state import Clock, LoginThrottle, SessionStore, User, UserDirectory
from tests.fakes.tokens import JwtLibrary, JwtLibraryError, SigningKey, numeric, parse_jwt

MFA_TTL_S = 5 * 60


@dataclass(frozen=True)
class BrowserSession:
    """A decoded, live browser session."""

    user: User
    roles: tuple[str, ...]
    nonce: str
    store_key: str


class AuthService:
    """The resolvers' logic, in the order of checks the contract describes (§6)."""

    def __init__(
        self, config: FakeConfig, key: SigningKey, users: UserDirectory, clock: Clock = time.time
    ) -> None:
        self.config = config
        self.key = key
        self.secondary_key: SigningKey | None = None  # --jwt-secondary-*, 2.x only
        self.users = users
        self.clock = clock
        self.store = SessionStore(hashed=not config.is_legacy, clock=clock)
        self.throttle = LoginThrottle(clock)
        self.codec = cookies.SessionCodec(config.client_secret, legacy=config.is_legacy)
        self._base_url = ""
        self._mfa_lock = threading.Lock()
        self._mfa_sessions: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], float]] = {}

    def bind(self, base_url: str) -> None:
        """Called once the socket is bound: the default issuer is the fake's own URL."""
        self._base_url = base_url

    def issuer(self, caller: Caller | None = None) -> str:
        """2.4: fixed. 1.x without an explicit URL: X-Authorizer-URL, else scheme://Host."""
        if self.config.issuer is not None:
            return normalise_url(self.config.issuer)
        if not self.config.is_legacy or caller is None:
            return self._base_url
        header = caller.headers.get("X-Authorizer-URL", "")
        if header:
            return header.rstrip("/")
        scheme = "https" if caller.headers.get("X-Forwarded-Proto") == "https" else "http"
        return f"{scheme}://{caller.headers.get('Host', '')}".rstrip("/")

    # -- validate_jwt_token ---------------------------------------------------------------

    def validate_jwt_token(
        self,
        caller: Caller,
        token_type: str,
        token: str,
        roles: Sequence[str] | None,
        relations: Sequence[object] | None = None,
    ) -> dict[str, object]:
        """§6.2: type, library, sub, nonce+store, aud+iss, roles, relations; claims on success."""
        if token_type not in claimsets.TOKEN_TYPES:
            raise ServiceError("invalid token type", INVALID_ARGUMENT)
        claims = self.parse(token)
        sub = self._required_string(claims, "sub")
        if not sub:
            raise invalid_token()
        if token_type != "id_token":
            nonce = self._required_string(claims, "nonce")
            if not nonce or not self.store.has(
                self._store_key(claims, sub), f"{token_type}_{nonce}"
            ):
                raise invalid_token()
        self._check_audience_and_issuer(caller, claims)
        held = self._token_roles(claims, token_type)
        if any(role not in held for role in roles or ()):
            raise unauthorized()
        self._check_relations(relations)
        return {name: go_numbers(value) for name, value in claims.items()}

    def parse(self, token: str) -> dict[str, object]:
        """The JWT library plus Authorizer's own exp/iat step (int64 conversion)."""
        library: JwtLibrary = "v3" if self.config.is_legacy else "v4"
        try:
            claims = parse_jwt(token, self.key, library=library, now=self.clock())
        except JwtLibraryError as exc:
            # On any failure the secondary key is tried; if it fails too, the primary's text.
            if self.secondary_key is None:
                raise RawError(str(exc)) from None
            try:
                claims = parse_jwt(token, self.secondary_key, library=library, now=self.clock())
            except JwtLibraryError:
                raise RawError(str(exc)) from None
        for name in ("exp", "iat"):
            value = numeric(claims.get(name))
            if self.config.is_legacy and value is None:
                raise InternalPanic
            if name not in claims:
                raise RawError(f"missing {name} claim")
            if value is None or (name == "exp" and value == 0):
                raise RawError(f"invalid {name} claim")
            claims[name] = int(value)
        return claims

    def _required_string(self, claims: Mapping[str, object], name: str) -> str:
        """2.4 treats a missing or non-string claim as empty; 1.x's type assertion panics."""
        value = claims.get(name)
        if isinstance(value, str):
            return value
        if self.config.is_legacy:
            raise InternalPanic
        return ""

    def _store_key(self, claims: Mapping[str, object], sub: str) -> str:
        login_method = claims.get("login_method")
        if login_method is not None and not isinstance(login_method, str):
            if self.config.is_legacy:
                raise InternalPanic
            login_method = None
        return f"{login_method}:{sub}" if login_method else sub

    def _check_audience_and_issuer(self, caller: Caller, claims: Mapping[str, object]) -> None:
        aud = claims.get("aud")
        aud_ok = aud == self.config.client_id if self.config.is_legacy else isinstance(aud, str)
        if not aud_ok or claims.get("iss") != self.issuer(caller):
            raise invalid_claims()

    def _token_roles(self, claims: Mapping[str, object], token_type: str) -> list[str]:
        """2.4: role claim, falling back to `roles`. 1.x: `roles` except for id_tokens."""
        if self.config.is_legacy:
            name = self.config.role_claim if token_type == "id_token" else "roles"
            values = claims.get(name)
            values = values if isinstance(values, list) else []
            if not all(isinstance(value, str) for value in values):
                raise InternalPanic
            return [str(value) for value in values]
        values = claims.get(self.config.role_claim)
        if not isinstance(values, list) or not values:
            values = claims.get("roles")
        if not isinstance(values, list):
            return []
        if not all(isinstance(value, str) and value for value in values):
            raise invalid_claims()
        return [str(value) for value in values]

    @staticmethod
    def _check_relations(relations: Sequence[object] | None) -> None:
        if relations:
            raise ServiceError("fine-grained authorization is not enabled", FAILED_PRECONDITION)

    # -- browser sessions -----------------------------------------------------------------

    def validate_session(
        self,
        caller: Caller,
        cookie: str | None,
        roles: Sequence[str] | None,
        relations: Sequence[object] | None = None,
    ) -> dict[str, object]:
        """§6.3: every failure is `unauthorized`; roles are the login-time ones."""
        session = self.browser_session(cookie or caller.session_cookie())
        if any(role not in session.roles for role in roles or ()):
            raise unauthorized()
        self._check_relations(relations)
        return claimsets.user_view(session.user, self.config.dialect)

    def browser_session(self, cookie: str | None) -> BrowserSession:
        payload = self.codec.open(cookie) if cookie else None
        if payload is None:
            raise unauthorized()
        sub, nonce = payload.get("sub"), payload.get("nonce")
        login_method, roles = payload.get("login_method"), payload.get("roles")
        exp = numeric(payload.get("exp"))
        if not (isinstance(sub, str) and isinstance(nonce, str) and isinstance(roles, list)):
            raise unauthorized()
        store_key = f"{login_method}:{sub}"
        if not self.store.matches(store_key, f"session_token_{nonce}", cookie or ""):
            raise unauthorized()
        user = self.users.by_id(sub)
        if exp is None or exp <= self.clock() or user is None:
            raise unauthorized()
        return BrowserSession(user, tuple(str(role) for role in roles), nonce, store_key)

    def access_session(self, caller: Caller, token: str) -> tuple[User, dict[str, object]]:
        """The full stateful Bearer check of /userinfo and logout: type, digest, issuer."""
        try:
            claims = self.parse(token)
        except (RawError, InternalPanic):
            raise unauthorized() from None
        sub, nonce = claims.get("sub"), claims.get("nonce")
        if claims.get("token_type") != "access_token" or not isinstance(sub, str):
            raise unauthorized()
        key = self._store_key(claims, sub)
        if not isinstance(nonce, str) or not self.store.matches(
            key, f"access_token_{nonce}", token
        ):
            raise unauthorized()
        user = self.users.by_id(sub)
        if user is None or claims.get("iss") != self.issuer(caller):
            raise unauthorized()
        return user, claims

    def _caller_session(self, caller: Caller) -> tuple[str, str]:
        """Cookie first, then Bearer: (store key, nonce) of the caller's login."""
        cookie = caller.session_cookie()
        if cookie:
            try:
                session = self.browser_session(cookie)
            except ServiceError:
                pass
            else:
                return session.store_key, session.nonce
        token = caller.bearer_token()
        if token is None:
            raise unauthorized()
        user, claims = self.access_session(caller, token)
        return self._store_key(claims, user.id), str(claims["nonce"])

    # -- login, logout, session -----------------------------------------------------------

    def login(
        self,
        exchange: Exchange,
        email: str | None,
        phone_number: str | None,
        password: str,
        roles: Sequence[str] | None,
        scope: Sequence[str] | None,
    ) -> dict[str, object]:
        identifier = email or phone_number
        if not identifier:
            raise ServiceError("email or phone number is required", INVALID_ARGUMENT)
        if not self.config.is_legacy and self.throttle.is_locked(identifier):
            raise ServiceError(
                "too many failed attempts, please try again later", TOO_MANY_REQUESTS
            )
        user = self.users.by_email(email) if email else None
        if user is None or not secrets.compare_digest(user.password, password):
            self.throttle.record_failure(identifier)
            if self.config.is_legacy:
                raise ServiceError("bad user credentials", UNAUTHENTICATED)
            raise ServiceError("invalid credentials", UNAUTHENTICATED)
        self.throttle.reset(identifier)
        if roles and any(role not in user.roles for role in roles):
            raise ServiceError("invalid roles", INVALID_ARGUMENT)
        granted = tuple(roles) if roles else self.config.default_roles
        scopes = tuple(scope) if scope else claimsets.DEFAULT_SCOPE
        if self.config.mfa and not self.config.is_legacy and user.has_skipped_mfa_setup_at is None:
            return self._offer_mfa(exchange, user, granted, scopes)
        grant = claimsets.new_grant(
            user, granted, scopes, self.issuer(exchange.caller), self._now()
        )
        return self._start_session(exchange, grant, "Logged in successfully")

    def _now(self) -> int:
        return int(self.clock())

    def _offer_mfa(
        self, exchange: Exchange, user: User, roles: tuple[str, ...], scope: tuple[str, ...]
    ) -> dict[str, object]:
        """2.4 default: no tokens until the user enrols in or skips TOTP."""
        mfa_id = secrets.token_urlsafe(24)
        with self._mfa_lock:
            self._mfa_sessions[mfa_id] = (user.id, roles, scope, self.clock() + MFA_TTL_S)
        self._set_cookie_pair(exchange, cookies.MFA_COOKIE, mfa_id, MFA_TTL_S)
        return claimsets.auth_response(
            "Proceed to mfa setup",
            should_show_totp_screen=True,
            authenticator_scanner_image="data:image/png;base64,iVBORw0KGgo=",
            authenticator_secret=secrets.token_hex(10).upper(),
            authenticator_recovery_codes=[secrets.token_hex(5) for _ in range(8)],
        )

    def skip_mfa_setup(
        self, exchange: Exchange, email: str | None, phone_number: str | None
    ) -> dict[str, object]:
        caller = exchange.caller
        mfa_id = caller.cookies.get(cookies.MFA_COOKIE) or caller.cookies.get(
            cookies.MFA_DOMAIN_COOKIE
        )
        with self._mfa_lock:
            pending = self._mfa_sessions.pop(mfa_id or "", None)
        user = self.users.by_email(email) if email else None
        if pending is None or user is None or pending[0] != user.id or pending[3] <= self.clock():
            raise unauthorized()
        self.users.mark_mfa_skipped(user.id)
        self._set_cookie_pair(exchange, cookies.MFA_COOKIE, "", -1)
        refreshed = self.users.by_id(user.id) or user
        grant = claimsets.new_grant(
            refreshed, pending[1], pending[2], self.issuer(caller), self._now()
        )
        return self._start_session(exchange, grant, "Logged in successfully")

    def _start_session(
        self, exchange: Exchange, grant: LoginGrant, message: str
    ) -> dict[str, object]:
        """Mint the tokens and cookie of one login and write its three store entries."""
        config = self.config
        access_claims = claimsets.access_claims(config, grant)
        access_token = self.key.sign(access_claims)
        id_token = self.key.sign(claimsets.id_claims(config, grant, access_token))
        refresh_token = None
        key = f"{claimsets.LOGIN_METHOD}:{grant.user.id}"
        if "offline_access" in grant.scope:
            refresh_token = self.key.sign(claimsets.refresh_claims(config, grant))
            refresh_exp = grant.now + config.refresh_ttl_s
            self.store.put(key, f"refresh_token_{grant.nonce}", refresh_token, refresh_exp)
        session_value = self.codec.seal(claimsets.session_payload(config, grant))
        session_exp = grant.now + config.session_ttl_s
        exp = grant.now + claimsets.ACCESS_TTL_S
        self.store.put(key, f"session_token_{grant.nonce}", session_value, session_exp)
        self.store.put(key, f"access_token_{grant.nonce}", access_token, exp)
        self._set_cookie_pair(exchange, cookies.SESSION_COOKIE, session_value, config.session_ttl_s)
        return claimsets.auth_response(
            message,
            access_token=access_token,
            id_token=id_token,
            refresh_token=refresh_token,
            expires_in=max(exp - self._now(), 1),
            user=claimsets.user_view(grant.user, config.dialect),
        )

    def _set_cookie_pair(self, exchange: Exchange, name: str, value: str, max_age: int) -> None:
        """`<name>` on the issuer's host and `<name>_domain` on its parent domain."""
        host_domain, parent_domain = cookies.cookie_domains(self.issuer(exchange.caller))
        pair = ((name, host_domain), (f"{name}_domain", parent_domain))
        for cookie_name, domain in pair:
            exchange.set_cookies.append(
                cookies.set_cookie(
                    cookie_name,
                    value,
                    domain=domain,
                    max_age=max_age,
                    secure=self.config.cookie_secure,
                    legacy=self.config.is_legacy,
                )
            )

    def logout(self, exchange: Exchange) -> None:
        """Delete the caller's login (cookie first, then Bearer); other logins stay valid."""
        store_key, nonce = self._caller_session(exchange.caller)
        self.store.delete_nonce(store_key, nonce)
        self._set_cookie_pair(exchange, cookies.SESSION_COOKIE, "", -1)

    def rotate(
        self, exchange: Exchange, roles: Sequence[str] | None, scope: Sequence[str] | None
    ) -> dict[str, object]:
        """The `session` query: a new nonce, new tokens and cookie; the old ones die."""
        session = self.browser_session(exchange.caller.session_cookie())
        if any(role not in session.roles for role in roles or ()):
            raise unauthorized()
        scopes = tuple(scope) if scope else claimsets.DEFAULT_SCOPE
        grant = claimsets.new_grant(
            session.user, session.roles, scopes, self.issuer(exchange.caller), self._now()
        )
        response = self._start_session(exchange, grant, "Session token refreshed")
        self.store.delete_nonce(session.store_key, session.nonce)
        return response


def normalise_url(url: str) -> str:
    """`--url` reduced to scheme://host[:port] (path and trailing slash stripped)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}"


def go_numbers(value: object) -> object:
    """Integral floats as ints, as Go's encoder prints float64 values such as 1767225600."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {key: go_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [go_numbers(item) for item in value]
    return value
