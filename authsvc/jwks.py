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
    algorithms: tuple[str, ...] = ()
    """What discovery says Authorizer signs with (``id_token_signing_alg_values_supported``)."""


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
    """Authorizer's keys, fetched at start and again when their lifetime ends (in the
    background: requests keep using the known keys meanwhile) and, at most once per
    ``min_refresh_s``, when a token fails against them (that request waits for the new keys: a
    rotation must not refuse the new key's tokens; other requests never wait for a fetch while
    keys are known). Keys that could not be refreshed for ``max_age_s`` are no longer used, so
    a key Authorizer retired during an outage is not trusted forever; with no usable keys,
    verification answers "cannot confirm", never an allow. ``static_keys`` (HS secrets from
    settings) are always used, first, with ``static_issuer`` until discovery names the issuer.
    """

    def __init__(
        self,
        fetch: Callable[[], KeySet],
        *,
        lifetime_s: float = 300.0,
        min_refresh_s: float = 5.0,
        max_age_s: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
        static_keys: Sequence[Key] = (),
        static_issuer: str = "",
        primary_alg: str | None = None,
        in_background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``fetch`` reads discovery and JWKS; ``primary_alg`` is the algorithm of the primary
        secret in settings, checked against what discovery says Authorizer signs with;
        ``in_background`` runs a refresh off the request path (default: a daemon thread, a
        greenlet under gevent)."""
        self._fetch = fetch
        self._lifetime_s = lifetime_s
        self._min_refresh_s = min_refresh_s
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._static = tuple(static_keys)
        self._static_issuer = static_issuer
        self._primary_alg = primary_alg
        self._in_background = in_background or _daemon_thread
        self._lock = threading.Lock()  # held by whoever is fetching
        self._current: KeySet | None = None
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._warned_about_algorithms = False

    def __call__(self, refresh: bool) -> KeySet:
        now, fetched_at = self._monotonic(), self._fetched_at
        usable = self._usable(now)
        if usable is not None and not refresh:
            if now - fetched_at >= self._lifetime_s:
                self.refresh_in_background()
            return usable
        keys = self._fetch_now(usable, fetched_at)
        if keys is None:
            raise AuthorizerUnavailable("Authorizer's signing keys are not known")
        return keys

    def is_ready(self) -> bool:
        """Whether tokens can be verified now (fetching keys if none are known)."""
        try:
            return bool(self(False).keys)
        except AuthorizerUnavailable:
            return False

    @property
    def has_keys(self) -> bool:
        """Whether usable keys are known."""
        usable = self._usable(self._monotonic())
        return usable is not None and bool(usable.keys)

    def refresh_in_background(self) -> None:
        """Start one refresh off the request path, unless one runs or ran too recently."""
        if self._monotonic() - self._tried_at < self._min_refresh_s:
            return
        if not self._lock.acquire(blocking=False):
            return  # a fetch is under way
        self._tried_at = self._monotonic()

        def refresh() -> None:
            try:
                self._store(self._fetch_logged())
            finally:
                self._lock.release()

        try:
            self._in_background(refresh)
        except BaseException:
            self._lock.release()
            raise

    def _usable(self, now: float) -> KeySet | None:
        current = self._current
        if current is not None and now - self._fetched_at < self._max_age_s:
            return current
        if not self._static:
            return None
        # Fetched keys too old to trust (or none yet): secrets from settings stay valid.
        return KeySet(self._static, current.issuer if current else self._static_issuer)

    def _fetch_now(self, usable: KeySet | None, fetched_at: float) -> KeySet | None:
        """Fetch on this request (rate-limited); the keys to use afterwards. ``usable`` and
        ``fetched_at`` are what the caller saw. With keys known, a request never waits for
        another's fetch: it goes on with those keys."""
        # Without any keys, retry every second (each request would otherwise ask).
        wait_s = self._min_refresh_s if usable is not None else NO_KEYS_RETRY_S
        # Until a first fetch succeeds (a worker starting), wait for one under way.
        never_fetched = self._current is None
        if not never_fetched and self._monotonic() - self._tried_at < wait_s:
            return usable
        if not self._lock.acquire(blocking=never_fetched):
            return usable
        try:
            now = self._monotonic()
            if self._fetched_at != fetched_at:
                return self._usable(now)  # another request fetched while this one waited
            if now - self._tried_at < wait_s:
                return usable
            self._tried_at = now
            self._store(self._fetch_logged())
            return self._usable(self._monotonic())
        finally:
            self._lock.release()

    def _fetch_logged(self) -> KeySet | None:
        try:
            return self._fetch()
        except AuthorizerUnavailable as exc:
            log.warning("cannot fetch Authorizer's keys: %s", exc)
        except Exception as exc:  # a bug or an answer nothing expected: never a crash here
            log.warning("cannot fetch Authorizer's keys: %s", type(exc).__name__)
        return None

    def _store(self, fetched: KeySet | None) -> None:
        """Called with the lock held, after a fetch (on a request or in the background)."""
        if fetched is not None:
            self._current = self._with_static(fetched)
            self._fetched_at = self._monotonic()

    def _with_static(self, fetched: KeySet) -> KeySet:
        primary = self._primary_alg
        if (
            primary
            and fetched.algorithms
            and primary not in fetched.algorithms
            and not self._warned_about_algorithms
        ):
            self._warned_about_algorithms = True
            # Every token Authorizer signs would be refused: say so loudly, once.
            log.error(
                "AUTHSVC_JWT_TYPE is %s, but Authorizer signs with %s (its discovery document): "
                "its tokens cannot be verified with that secret",
                primary,
                ", ".join(fetched.algorithms),
            )
        return KeySet(self._static + fetched.keys, fetched.issuer, fetched.algorithms)


def _daemon_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="authsvc-key-refresh", daemon=True).start()
