"""Local JWT verification against Authorizer's published keys, with Authorizer's own checks.

Authorizer's tokens carry no ``kid`` and its JWKS names keys by client ID (plus
``<client-id>-secondary`` during a rotation), so keys are chosen the way Authorizer chooses
them: every key whose algorithm equals the token's ``alg`` is tried in order, primary first.
HS* deployments publish no key: the shared secret comes from settings.

What is checked (contract §5.1, §6.2), and nothing is looser:
``token_type`` is one of Authorizer's three; signature with ``alg`` pinned to the key; ``exp``
and ``iat`` present and numeric, ``now >= exp``, ``iat > now`` and ``nbf > now`` refused with no
leeway; ``sub`` a non-empty string; access and refresh tokens carry a non-empty ``nonce``;
``aud`` a string; ``iss`` exactly the issuer. Roles are read by ``identity_from_claims`` and
checked by ``policy`` as for a remote answer. What cannot be seen locally: a logout or a
revocation (Authorizer's session store). ``hybrid`` mode asks Authorizer for that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from authsvc.errors import AuthorizerUnavailable, InvalidCredentials
from authsvc.identity import Identity, identity_from_claims

log = logging.getLogger(__name__)

TOKEN_TYPES = frozenset({"access_token", "id_token", "refresh_token"})
_STORE_BACKED = frozenset({"access_token", "refresh_token"})
NO_KEYS_RETRY_S = 1.0
ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
)


@dataclass(frozen=True, slots=True)
class Key:
    """One verification key: its algorithm and what PyJWT verifies with (a key or a secret)."""

    alg: str
    key: Any


@dataclass(frozen=True, slots=True)
class KeySet:
    """The keys to try, primary first, and the issuer tokens must name."""

    keys: tuple[Key, ...]
    issuer: str


def keys_from_jwks(document: object) -> tuple[Key, ...]:
    """The usable signing keys of a JWKS document, in its order (primary before secondary).

    Entries without a known ``alg`` or that PyJWT cannot load are skipped: a key that cannot
    be read cannot confirm anything.
    """
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: list[Key] = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or entry.get("alg") not in ALGORITHMS:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(Key(str(entry["alg"]), jwt.PyJWK(entry).key))
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError, TypeError):
            log.warning("skipping a JWKS entry that cannot be loaded (kid %r)", entry.get("kid"))
    return tuple(keys)


class LocalVerifier:
    """Verifies a JWT against a key set, exactly as Authorizer does (minus its session store)."""

    def __init__(
        self,
        key_sets: Callable[[bool], KeySet],
        *,
        role_claim: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``key_sets(refresh)`` returns the current keys; ``refresh=True`` asks for fresh ones
        (rate-limited by the provider) after a token failed against the known ones."""
        self._key_sets = key_sets
        self._role_claim = role_claim
        self._clock = clock

    def verify(self, token: str, token_type: str) -> Identity:
        """The token's identity, or ``InvalidCredentials`` (``AuthorizerUnavailable`` when no
        keys could be had at all)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidCredentials("token is not a JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise InvalidCredentials("token signed with an unaccepted algorithm")
        if token_type not in TOKEN_TYPES:
            raise InvalidCredentials("invalid token type")
        key_set = self._key_sets(False)
        if not key_set.keys:
            key_set = self._key_sets(True)  # rate-limited by the provider
            if not key_set.keys:
                # An HS256 Authorizer publishes no key: without AUTHSVC_JWT_SECRET there is
                # nothing to check against, which is not the token's fault (jwks: 503; hybrid
                # asks Authorizer).
                raise AuthorizerUnavailable(
                    "no key to verify tokens with: Authorizer publishes none and "
                    "AUTHSVC_JWT_SECRET is not set"
                )
        claims = self._verified_claims(token, alg, key_set)
        if claims is None:  # maybe the keys rotated: one rate-limited refresh, then give up
            claims = self._verified_claims(token, alg, self._key_sets(True))
        if claims is None:
            raise InvalidCredentials("signature is invalid")
        return self._identity(claims, token_type)

    def _verified_claims(self, token: str, alg: str, key_set: KeySet) -> dict[str, Any] | None:
        for key in key_set.keys:
            if key.alg != alg:  # the algorithm is pinned to the key: no alg confusion
                continue
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.alg],
                    leeway=0,
                    options={
                        "require": ["exp", "iat"],
                        "verify_aud": False,  # any string audience (checked below)
                        "verify_iss": False,  # compared exactly below
                    },
                )
            except jwt.ExpiredSignatureError:
                raise InvalidCredentials("token is expired") from None
            except jwt.ImmatureSignatureError:
                raise InvalidCredentials("token used before issued") from None
            except jwt.PyJWTError:
                continue  # Authorizer tries the next key on any failure
            if claims.get("iss") != key_set.issuer:
                raise InvalidCredentials("invalid claims: issuer")
            return claims
        return None

    def _identity(self, claims: dict[str, Any], token_type: str) -> Identity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidCredentials("invalid token: no subject")
        if token_type in _STORE_BACKED:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not nonce:
                raise InvalidCredentials("invalid token: no nonce")
        if not isinstance(claims.get("aud"), str):
            raise InvalidCredentials("invalid claims: audience")
        if not _numeric(claims.get("exp")) or not _numeric(claims.get("iat")):
            raise InvalidCredentials("invalid claims: exp and iat must be numbers")
        identity = identity_from_claims(claims, self._role_claim)
        if not identity.has_valid_roles:  # Authorizer reads the role claim on every check
            raise InvalidCredentials("invalid claims: roles")
        return identity


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class KeyProvider:
    """Authorizer's keys, fetched at start, refreshed when their lifetime ends and (at most once
    per ``min_refresh_s``) when a token fails against them. A failed fetch keeps the keys already
    known; with none at all, verification answers "cannot confirm", never an allow.
    """

    def __init__(
        self,
        fetch: Callable[[], KeySet],
        *,
        lifetime_s: float = 300.0,
        min_refresh_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        static_keys: Sequence[Key] = (),
    ) -> None:
        """``fetch`` reads discovery and JWKS; ``static_keys`` (an HS secret) come first."""
        self._fetch = fetch
        self._lifetime_s = lifetime_s
        self._min_refresh_s = min_refresh_s
        self._monotonic = monotonic
        self._static = tuple(static_keys)
        self._lock = threading.Lock()
        self._current: KeySet | None = None
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")

    def __call__(self, refresh: bool) -> KeySet:
        now = self._monotonic()
        current = self._current
        is_stale = current is None or now - self._fetched_at >= self._lifetime_s
        if current is not None and not is_stale and not refresh:
            return current
        with self._lock:
            if self._current is not None and self._current is not current:
                return self._current  # another thread just fetched
            # Without any keys, retry every second (each request would otherwise ask).
            wait_s = self._min_refresh_s if self._current is not None else NO_KEYS_RETRY_S
            if now - self._tried_at >= wait_s:
                self._tried_at = now
                try:
                    fetched = self._fetch()
                except AuthorizerUnavailable as exc:
                    log.warning("cannot fetch Authorizer's keys: %s", exc)
                else:
                    self._current = KeySet(self._static + fetched.keys, fetched.issuer)
                    self._fetched_at = now
            if self._current is None:
                raise AuthorizerUnavailable("Authorizer's signing keys are not known yet")
            return self._current
