"""Identity: the minimum a decision needs about a confirmed credential, and nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a confirmed credential belongs to; what the cache keeps and the headers show.

    ``roles`` are the roles this credential was granted (for a JWT, its login-time role claim);
    ``has_valid_roles`` is False when that claim held something other than non-empty strings,
    which Authorizer answers with "invalid claims" as soon as any role is required.
    ``expires_at`` is the token's ``exp`` in epoch seconds, or None when unknown (a session).
    """

    subject: str
    email: str = ""
    roles: tuple[str, ...] = ()
    has_valid_roles: bool = True
    token_type: str = ""
    expires_at: float | None = None


def roles_from_claims(
    claims: Mapping[str, object], role_claim: str
) -> tuple[tuple[str, ...], bool]:
    """Read roles exactly as Authorizer does: ``claims[role_claim]``, else ``claims["roles"]``.

    The fallback applies when the first claim yields no array elements; a string counts as no
    roles. Returns the roles and whether every element was a non-empty string.
    """
    raw = claims.get(role_claim)
    if not (isinstance(raw, list) and raw):
        raw = claims.get("roles")
    if not isinstance(raw, list):
        return (), True
    roles = tuple(item for item in raw if isinstance(item, str) and item)
    return roles, len(roles) == len(raw)


def identity_from_claims(claims: Mapping[str, object], role_claim: str) -> Identity:
    """Build an Identity from a validated claim set; a claim of the wrong type reads as absent."""
    subject = claims.get("sub")
    email = claims.get("email")
    token_type = claims.get("token_type")
    exp = claims.get("exp")
    roles, has_valid_roles = roles_from_claims(claims, role_claim)
    return Identity(
        subject=subject if isinstance(subject, str) else "",
        email=email if isinstance(email, str) else "",
        roles=roles,
        has_valid_roles=has_valid_roles,
        token_type=token_type if isinstance(token_type, str) else "",
        expires_at=float(exp)
        if isinstance(exp, int | float) and not isinstance(exp, bool)
        else None,
    )
