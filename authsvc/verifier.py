"""Verifier: decide one credential against the required roles, through the cache.

A JWT is confirmed once per cache lifetime and its roles are checked locally on every request,
so one Authorizer call serves every ``roles=`` variant of every route. A session cookie's
login-time roles are known only to Authorizer, so a role requirement on a session is asked of
Authorizer (and cached per cookie and role set).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from authsvc import credentials, policy
from authsvc.cache import DecisionCache, Hit, Rejection, authorization_key, key_for
from authsvc.credentials import CookieLookup, Credential
from authsvc.errors import AccessDenied, AuthorizerUnavailable, InvalidCredentials
from authsvc.flight import SingleFlight
from authsvc.identity import Identity
from authsvc.jwks import LocalVerifier
from authsvc.shared_cache import SharedCache


class Authorizer(Protocol):
    """What the verifier needs from Authorizer (``AuthorizerClient`` or a test fake)."""

    def verify_token(self, token: str, token_type: str) -> Identity: ...

    def verify_session(self, cookie: str, roles: Sequence[str] = ()) -> Identity: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """An allow: the identity to pass upstream, and how many seconds the answer stays true."""

    identity: Identity
    fresh_for_s: float
    is_cached: bool = False


class Verifier:
    """Confirms credentials (cache first, then Authorizer once per key) and applies roles."""

    def __init__(
        self,
        authorizer: Authorizer,
        cache: DecisionCache,
        *,
        token_types: Collection[str],
        cookie_names: Sequence[str],
        flight_wait_s: float,
        audience: str = "",
        local: LocalVerifier | None = None,
        ask_authorizer_too: bool = True,
        shared: SharedCache | None = None,
    ) -> None:
        """``audience``: the ``aud`` every bearer token must carry ("" accepts any);
        ``local``: verify bearer tokens against Authorizer's keys first (jwks and hybrid
        modes); ``ask_authorizer_too``: then confirm the survivors with Authorizer (hybrid)."""
        self._local = local
        self._shared = shared
        self._ask_authorizer_too = ask_authorizer_too or local is None
        self._authorizer = authorizer
        self._cache = cache
        self._token_types = token_types
        self._cookie_names = cookie_names
        self._audience = audience
        self._flights: SingleFlight[Hit] = SingleFlight(flight_wait_s)

    def decide(
        self, authorization: str | None, cookies: CookieLookup, required: frozenset[str]
    ) -> Decision:
        """Return the allow decision for a request's credential, or raise an ``AuthError``."""
        bearer_key = authorization_key(authorization) if authorization else b""
        # The hot path: a bearer token seen before costs one digest and one lookup, no parsing.
        hit = self._cache.get(bearer_key) if bearer_key else None
        is_cached = hit is not None
        if hit is None:
            credential = credentials.extract(
                authorization, cookies, cookie_names=self._cookie_names
            )
            if credential.kind == "session":
                return self._session_decision(credential, required)
            hit = self._flights.run(bearer_key, lambda: self._ask(bearer_key, credential, ()))
        identity, fresh_for = _allowed(hit, is_cached=is_cached)
        try:
            policy.check(identity, required)
        except AccessDenied as exc:
            exc.subject = identity.subject
            exc.is_cached = is_cached
            raise
        return Decision(identity, fresh_for, is_cached)

    def _session_decision(self, credential: Credential, required: frozenset[str]) -> Decision:
        identity, fresh_for, is_cached = self._confirmed(
            key_for("session", credential.value), credential
        )
        if not required:
            return Decision(identity, fresh_for, is_cached)
        roles = tuple(sorted(required))
        try:
            with_roles, roles_fresh_for, roles_cached = self._confirmed(
                key_for("session", credential.value, *roles), credential, roles
            )
        except InvalidCredentials as exc:
            if not exc.is_definitive:
                raise
            # The session itself was confirmed just above: this "no" is the role check.
            denied = AccessDenied("missing role")
            denied.subject = identity.subject
            denied.is_cached = exc.is_cached
            denied.fresh_for_s = exc.fresh_for_s
            raise denied from None
        return Decision(with_roles, min(fresh_for, roles_fresh_for), is_cached and roles_cached)

    def _confirmed(
        self, key: bytes, credential: Credential, roles: tuple[str, ...] = ()
    ) -> tuple[Identity, float, bool]:
        """The confirmed identity, its freshness, and whether the cache answered."""
        hit = self._cache.get(key)
        is_cached = hit is not None
        if hit is None:
            hit = self._flights.run(key, lambda: self._ask(key, credential, roles))
        identity, fresh_for = _allowed(hit, is_cached=is_cached)
        return identity, fresh_for, is_cached

    def _ask(self, key: bytes, credential: Credential, roles: tuple[str, ...]) -> Hit:
        if credential.kind == "bearer":
            # Local refusals are cheap to repeat, so they are not cached: a flood of garbage
            # must not push confirmed credentials out of the LRU.
            claims = credentials.unverified_claims(credential.value)
            claimed_type = claims.get("token_type")
            token_type = claimed_type if isinstance(claimed_type, str) else ""
            if token_type not in self._token_types:
                raise InvalidCredentials("token type not accepted")
            credentials.check_audience(claims, self._audience)
        if self._shared is not None:
            shared = self._shared.get(key)
            if shared is not None:  # another worker or replica asked already
                self._cache.put_hit(key, shared)
                return shared
        if credential.kind == "bearer" and self._local is not None:
            # A forged, expired or foreign token ends here, without an Authorizer call;
            # like the other local refusals, it is not cached.
            try:
                identity = self._local.verify(credential.value, token_type)
            except AuthorizerUnavailable:
                if not self._ask_authorizer_too:
                    raise  # jwks: no keys, no allow
                # hybrid without keys: Authorizer alone decides, as in remote mode
            else:
                if not self._ask_authorizer_too:
                    check_subject(identity.subject)  # not cached: local refusals never are
                    return self._remember(key, self._cache.put(key, identity))
        try:
            if credential.kind == "bearer":
                identity = self._authorizer.verify_token(credential.value, token_type)
            else:
                identity = self._authorizer.verify_session(credential.value, roles)
            check_subject(identity.subject)
        except InvalidCredentials as exc:
            if exc.is_definitive:
                self._remember(key, self._cache.put_rejection(key, InvalidCredentials))
            raise
        return self._remember(key, self._cache.put(key, identity))

    def _remember(self, key: bytes, hit: Hit) -> Hit:
        """Share a fresh verdict with the other workers and replicas (when Redis is set)."""
        if self._shared is not None:
            self._shared.put(key, hit)
        return hit


def check_subject(subject: str) -> None:
    """An allow names its user: a confirmed credential whose ``sub`` is blank, padded or holds
    control characters would reach the app as an empty or ambiguous X-Auth-Request-User."""
    if not subject or subject.strip() != subject or not subject.isprintable():
        raise InvalidCredentials("the credential names no usable user (sub)")


def _allowed(hit: Hit, *, is_cached: bool) -> tuple[Identity, float]:
    """The identity of a cached or fresh verdict; a remembered "no" is raised again."""
    verdict, fresh_for = hit
    if isinstance(verdict, Rejection):
        error = verdict.error("rejected by Authorizer (remembered)")
        error.fresh_for_s = fresh_for  # what is left of it, not a fresh negative TTL
        error.is_cached = is_cached
        raise error
    return verdict, fresh_for
