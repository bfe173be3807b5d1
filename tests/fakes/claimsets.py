"""Configuration of one fake server, and the claim sets and user views it issues (contract §5.2).

2.4 and 1.x differ in lifetimes, in the id_token's role claim and in a few extra claims; both
are built here so the differences sit side by side.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tests.fakes.state import User
from tests.fakes.tokens import at_hash

Dialect = Literal["2.4", "1.x"]
TOKEN_TYPES = ("access_token", "id_token", "refresh_token")
DEFAULT_SCOPE = ("openid", "email", "profile")
LOGIN_METHOD = "basic_auth"
ACCESS_TTL_S = 30 * 60
DAY_S = 24 * 60 * 60
YEAR_S = 365 * DAY_S


@dataclass(frozen=True)
class FakeConfig:
    """Everything fixed at construction. `issuer` None means "derive it" (see AuthService)."""

    dialect: Dialect
    alg: str
    client_id: str
    client_secret: str
    issuer: str | None
    role_claim: str
    default_roles: tuple[str, ...]
    allowed_origins: str
    mfa: bool
    cookie_secure: bool

    @property
    def is_legacy(self) -> bool:
        """1.x (2023): no CSRF, rate limit, REST, typed codes or HS key hiding."""
        return self.dialect == "1.x"

    @property
    def session_ttl_s(self) -> int:
        return YEAR_S if self.is_legacy else DAY_S

    @property
    def refresh_ttl_s(self) -> int:
        return YEAR_S if self.is_legacy else 30 * DAY_S


@dataclass(frozen=True)
class LoginGrant:
    """Who logged in and with what: the login-time roles and scope shared by all its tokens."""

    user: User
    roles: tuple[str, ...]
    scope: tuple[str, ...]
    nonce: str
    issuer: str
    now: int


def new_grant(
    user: User, roles: Sequence[str], scope: Sequence[str], issuer: str, now: int
) -> LoginGrant:
    return LoginGrant(user, tuple(roles), tuple(scope), str(uuid.uuid4()), issuer, now)


def _common(
    config: FakeConfig, grant: LoginGrant, token_type: str, ttl_s: int
) -> dict[str, object]:
    return {
        "iss": grant.issuer,
        "aud": config.client_id,
        "sub": grant.user.id,
        "exp": grant.now + ttl_s,
        "iat": grant.now,
        "token_type": token_type,
        "login_method": LOGIN_METHOD,
        "allowed_roles": list(grant.user.roles),
        "nonce": grant.nonce,
    }


def access_claims(config: FakeConfig, grant: LoginGrant) -> dict[str, object]:
    """Login-time roles always under `roles`, whatever the role claim is."""
    claims = _common(config, grant, "access_token", ACCESS_TTL_S)
    claims.update(scope=list(grant.scope), roles=list(grant.roles))
    return claims


def id_claims(config: FakeConfig, grant: LoginGrant, access_token: str) -> dict[str, object]:
    """User fields (never `roles`) plus the reserved claims; roles under the role claim."""
    claims: dict[str, object] = {
        name: value
        for name, value in user_view(grant.user, config.dialect).items()
        if value is not None and name != "roles"
    }
    claims.update(_common(config, grant, "id_token", ACCESS_TTL_S))
    claims["at_hash"] = at_hash(access_token, config.alg)
    if not config.is_legacy:
        claims.update(auth_time=grant.now, amr=["pwd"], acr="0")
        claims["enrolled_mfa_methods"] = None
    claims[config.role_claim] = list(grant.roles)
    return claims


def refresh_claims(config: FakeConfig, grant: LoginGrant) -> dict[str, object]:
    claims = _common(config, grant, "refresh_token", config.refresh_ttl_s)
    claims.update(scope=list(grant.scope), roles=list(grant.roles))
    if not config.is_legacy:
        claims.update(auth_time=grant.now, client_id=config.client_id, family_id=str(uuid.uuid4()))
    return claims


def session_payload(config: FakeConfig, grant: LoginGrant) -> dict[str, object]:
    """Plaintext of the session cookie: the login-time roles live here too."""
    return {
        "sub": grant.user.id,
        "roles": list(grant.roles),
        "scope": list(grant.scope),
        "nonce": grant.nonce,
        "iat": grant.now,
        "auth_time": grant.now,
        "exp": grant.now + config.session_ttl_s,
        "login_method": LOGIN_METHOD,
    }


def user_view(user: User, dialect: Dialect) -> dict[str, object]:
    """The GraphQL `User`: every role the user holds, timestamps in Unix seconds."""
    view: dict[str, object] = {
        "id": user.id,
        "email": user.email,
        "email_verified": True,
        "signup_methods": LOGIN_METHOD,
        "given_name": None,
        "family_name": None,
        "middle_name": None,
        "nickname": None,
        "preferred_username": user.email,
        "gender": None,
        "birthdate": None,
        "phone_number": None,
        "phone_number_verified": False,
        "picture": None,
        "roles": list(user.roles),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "revoked_timestamp": None,
        "is_multi_factor_auth_enabled": False,
        "app_data": None,
    }
    if dialect == "2.4":
        view.update(
            has_skipped_mfa_setup_at=user.has_skipped_mfa_setup_at,
            mfa_locked_at=None,
            enrolled_mfa_methods=None,
        )
    return view


def auth_response(message: str, **fields: object) -> dict[str, object]:
    """An AuthResponse with every field present (GraphQL picks the selected ones)."""
    response: dict[str, object] = dict.fromkeys(
        (
            "access_token",
            "id_token",
            "refresh_token",
            "expires_in",
            "user",
            "authenticator_scanner_image",
            "authenticator_secret",
            "authenticator_recovery_codes",
        )
    )
    for flag in (
        "should_show_email_otp_screen",
        "should_show_mobile_otp_screen",
        "should_show_totp_screen",
        "should_offer_webauthn_mfa_verify",
        "should_offer_webauthn_mfa_setup",
        "should_offer_email_otp_mfa_setup",
        "should_offer_sms_otp_mfa_setup",
    ):
        response[flag] = False
    response.update(fields, message=message)
    return response
