"""Verifier: decide one credential against the required roles, through the cache.

A JWT is confirmed once per cache lifetime and its roles are checked locally on every request,
so one Authorizer call serves every ``roles=`` variant of every route. A session cookie's
login-time roles are known only to Authorizer, so a role requirement on a session is asked of
Authorizer (and cached per cookie and role set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from authsvc import policy
from authsvc.cache import DecisionCache, key_for
from authsvc.credentials import Credential
from authsvc.errors import AccessDenied, InvalidCredentials
from authsvc.identity import Identity


class Authorizer(Protocol):
    """What the verifier needs from Authorizer (``AuthorizerClient`` or a test fake)."""

    def verify_token(self, token: str, token_type: str) -> Identity: ...

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity: ...


class Verifier:
    """Confirms credentials (cache first, then Authorizer) and applies the role policy."""

    def __init__(self, authorizer: Authorizer, cache: DecisionCache) -> None:
        self._authorizer = authorizer
        self._cache = cache

    def decide(self, credential: Credential, required: frozenset[str]) -> Identity:
        """Return the identity to pass upstream, or raise an ``AuthError``."""
        if credential.kind == "bearer":
            identity = self._token_identity(credential)
            policy.check(identity, required)
            return identity
        identity = self._session_identity(credential.value, ())
        if not required:
            return identity
        try:
            return self._session_identity(credential.value, tuple(sorted(required)))
        except InvalidCredentials:
            # The session was confirmed just above, so this "unauthorized" is the role check.
            raise AccessDenied("missing role") from None

    def _token_identity(self, credential: Credential) -> Identity:
        key = key_for("bearer", credential.token_type, credential.value)
        identity = self._cache.get(key)
        if identity is None:
            identity = self._authorizer.verify_token(credential.value, credential.token_type)
            self._cache.put(key, identity)
        return identity

    def _session_identity(self, cookie: str, roles: tuple[str, ...]) -> Identity:
        key = key_for("session", cookie, *roles)
        identity = self._cache.get(key)
        if identity is None:
            identity = self._authorizer.verify_session(cookie, roles)
            self._cache.put(key, identity)
        return identity
