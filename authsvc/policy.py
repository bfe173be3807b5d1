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
_ROLE_WORDS = ("role", "roles")
_TYPO_MARKS = frozenset("[]:=;,(){}<> \t")


def looks_like_roles(name: str) -> bool:
    """Whether ``name`` is a misspelt ``roles``, as a proxy's configuration might write it.

    Either its ASCII letters and digits, accents and case folded away, are exactly "role" or
    "roles" (``ROLES``, ``role``, ``roles[]``, ``rôles``, `` roles``, ``roles\\x00``, a zero-width
    space inside), or, case folded and without accents or invisible characters, it ends in
    "role"/"roles" right after a character that is not a letter or digit (``required_roles``,
    ``x-roles``), or starts with "role"/"roles" and punctuation a typo leaves (``roles[0]``,
    ``role:admin``, ``roles=admin``). An app's own parameters around the word pass
    (``roleId``, ``controlEnabled``, ``userRoles``, ``rolesadmin``, ``payroll``): Envoy
    appends the client's query to the check.
    """
    folded = unicodedata.normalize("NFKD", name).casefold()
    if "".join(c for c in folded if c.isascii() and c.isalnum()) in _ROLE_WORDS:
        return True
    # Mn: accents left by NFKD; Cf: zero-width and other invisible characters.
    visible = "".join(c for c in folded if unicodedata.category(c) not in ("Mn", "Cf"))
    for word in _ROLE_WORDS:
        before = visible.removesuffix(word)
        if before != visible and before and not before[-1].isalnum():
            return True
    # "role"/"roles" then punctuation a config typo leaves: roles[0], role:admin, roles=admin
    # (the name of roles%3Dadmin); not "_" or "-", which app names use (role_id, roles-x).
    for word in _ROLE_WORDS:
        after = visible.removeprefix(word)
        if after != visible and after and (after[0] in _TYPO_MARKS or not after[0].isprintable()):
            return True
    return False


def required_roles(parameters: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The union of every non-empty, comma-separated item of every ``roles`` parameter.

    ``?roles=admin&roles=`` still requires ``admin``; whitespace around items is ignored.
    Other parameters are ignored (Envoy may append the client's query), except a misspelt
    ``roles`` (see ``looks_like_roles``: ``role``, ``ROLES``, ``roles[]``, `` roles``,
    ``required_roles``), refused with ``BadRequest``: a typo in a proxy's configuration must not
    drop a requirement silently. A client can only make its own check fail this way.
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
