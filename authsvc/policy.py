"""Policy: which roles a request requires, and whether an identity has them.

Semantics are Authorizer's own ``roles`` check: every required role must be present, exact and
case-sensitive (AND); no required role means no check.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from authsvc.errors import AccessDenied, BadRequest, InvalidCredentials
from authsvc.identity import Identity

ROLES_PARAMETER = "roles"


def looks_like_roles(name: str) -> bool:
    """Whether ``name`` is some spelling of "role": its letters and digits, accents and case
    folded away, contain "role" (``ROLES``, ``roles[]``, ``roles%00``, ``rôles``, ``rolesadmin``,
    ``required_roles``, a zero-width space inside)."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    return "role" in "".join(c for c in folded if c.isascii() and c.isalnum())


def required_roles(parameters: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The union of every non-empty, comma-separated item of every ``roles`` parameter.

    ``?roles=admin&roles=`` still requires ``admin``; whitespace around items is ignored.
    Other parameters are ignored (Envoy may append the client's query), except any other
    spelling of ``roles`` (``role``, ``ROLES``, ``roles[]``, `` roles``, ``roles:admin``): a typo
    in a proxy's configuration must not drop a requirement silently. A client can only make its
    own check fail this way.
    """
    roles: set[str] = set()
    for name, value in parameters:
        if name != ROLES_PARAMETER:
            if looks_like_roles(name):
                raise BadRequest("misspelt roles parameter")
            continue
        roles.update(item.strip() for item in value.split(",") if item.strip())
    return frozenset(roles)


def check(identity: Identity, required: frozenset[str]) -> None:
    """Return if ``identity`` holds every role in ``required``; raise otherwise."""
    if not required:
        return
    if not identity.has_valid_roles:
        # Authorizer answers "invalid claims" for a malformed role claim once a role is asked.
        raise InvalidCredentials("malformed role claim")
    if not required.issubset(identity.roles):
        raise AccessDenied("missing role")
