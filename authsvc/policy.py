"""Policy: which roles a request requires, and whether an identity has them.

Semantics are Authorizer's own ``roles`` check: every required role must be present, exact and
case-sensitive (AND); no required role means no check.
"""

from __future__ import annotations

from collections.abc import Iterable

from authsvc.errors import AccessDenied, InvalidCredentials
from authsvc.identity import Identity


def required_roles(values: Iterable[str]) -> frozenset[str]:
    """The union of every non-empty, comma-separated item of every ``roles`` value.

    ``?roles=admin&roles=`` still requires ``admin``; whitespace around items is ignored.
    """
    return frozenset(item.strip() for value in values for item in value.split(",") if item.strip())


def check(identity: Identity, required: frozenset[str]) -> None:
    """Return if ``identity`` holds every role in ``required``; raise otherwise."""
    if not required:
        return
    if not identity.has_valid_roles:
        # Authorizer answers "invalid claims" for a malformed role claim once a role is asked.
        raise InvalidCredentials("malformed role claim")
    if not required.issubset(identity.roles):
        raise AccessDenied("missing role")
