"""The fake's signing key: JWS signing, the JWKS it publishes, and a golang-jwt look-alike parser.

Authorizer hands golang-jwt's error strings straight to its callers, so `parse_jwt` follows
golang-jwt's order of checks (segments, base64, JSON, alg, key function, claims, signature) and
its texts rather than PyJWT's. Signing goes through PyJWT's algorithm objects, so the tokens are
ordinary RFC 7515 JWS that any library verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import get_default_algorithms

from tests.fakes import go_compat

JwtLibrary = Literal["v4", "v3"]
SUPPORTED_ALGS = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "ES") for bits in (256, 384, 512)
)
# Every name golang-jwt registers; any other `alg` is "unavailable" rather than "unexpected".
_GOLANG_JWT_ALGS = SUPPORTED_ALGS | {"PS256", "PS384", "PS512", "EdDSA", "none"}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}
_CURVE_NAMES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_CURVE_BYTES = {"ES256": 32, "ES384": 48, "ES512": 66}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | bytes


class JwtLibraryError(Exception):
    """golang-jwt rejected the token; str() is the library text that Authorizer returns as is."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS and JWK use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


@dataclass(frozen=True)
class SigningKey:
    """The primary key of one fake server: `alg` plus the private key or the HMAC secret."""

    alg: str
    private: PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        """A fresh key per server, so tokens from one fake never verify on another."""
        if alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported alg {alg!r}; choose one of {sorted(SUPPORTED_ALGS)}")
        if alg.startswith("HS"):
            return cls(alg, secrets.token_urlsafe(32).encode("ascii"))
        if alg.startswith("RS"):
            return cls(alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return cls(alg, ec.generate_private_key(_CURVES[alg]))

    @property
    def public_key_pem(self) -> str | None:
        """PEM of the public key (None for HMAC), for clients that verify locally."""
        if isinstance(self.private, bytes):
            return None
        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def jwks(self, kid: str, *, publish_hmac_secret: bool) -> list[dict[str, object]]:
        """The `keys` array: kid is the client id; HS keys only where 1.x leaked them."""
        if isinstance(self.private, bytes):
            if not publish_hmac_secret:
                return []
            jwk: dict[str, object] = {"kty": "oct", "k": b64url(self.private)}
            return [{**jwk, "alg": self.alg, "use": "sig", "kid": kid}]
        if isinstance(self.private, rsa.RSAPrivateKey):
            numbers = self.private.public_key().public_numbers()
            return [
                {
                    "use": "sig",
                    "kty": "RSA",
                    "kid": kid,
                    "alg": self.alg,
                    "n": _int_b64url(numbers.n),
                    "e": _int_b64url(numbers.e),
                }
            ]
        point = self.private.public_key().public_numbers()
        size = _CURVE_BYTES[self.alg]
        return [
            {
                "use": "sig",
                "kty": "EC",
                "kid": kid,
                "alg": self.alg,
                "crv": _CURVE_NAMES[self.alg],
                "x": _int_b64url(point.x, size),
                "y": _int_b64url(point.y, size),
            }
        ]

    def sign(
        self, claims: Mapping[str, object], headers: Mapping[str, object] | None = None
    ) -> str:
        """A JWS with header {"alg","typ":"JWT"} (no kid) unless `headers` says otherwise."""
        return sign_jws(claims, alg=self.alg, key=self.private, headers=headers)

    def verify_signature(self, signing_input: bytes, signature: bytes) -> str | None:
        """None when valid, else the Go error text for this key type."""
        if isinstance(self.private, bytes):
            digest = getattr(hashlib, f"sha{self.alg[2:]}")
            expected = hmac.new(self.private, signing_input, digest).digest()
            return None if hmac.compare_digest(expected, signature) else "signature is invalid"
        algorithm = _HASHES[self.alg[2:]]()
        if isinstance(self.private, rsa.RSAPrivateKey):
            try:
                self.private.public_key().verify(
                    signature, signing_input, padding.PKCS1v15(), algorithm
                )
            except InvalidSignature:
                return "crypto/rsa: verification error"
            return None
        size = _CURVE_BYTES[self.alg]
        if len(signature) != 2 * size:
            return "crypto/ecdsa: verification error"
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            self.private.public_key().verify(
                encode_dss_signature(r, s), signing_input, ec.ECDSA(algorithm)
            )
        except InvalidSignature:
            return "crypto/ecdsa: verification error"
        return None


def sign_jws(
    claims: Mapping[str, object],
    *,
    alg: str,
    key: object,
    headers: Mapping[str, object] | None = None,
) -> str:
    """Sign anything, including hostile tokens: a header value of None removes that header.

    PyJWT's `sign` is called without `prepare_key` for HMAC, so an RSA public key PEM can be
    used as an HMAC secret (the classic alg-confusion attack) and `alg: none` works.
    """
    header: dict[str, object] = {"alg": alg, "typ": "JWT"}
    for name, value in (headers or {}).items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    segments = [_json_segment(header), _json_segment(claims)]
    signing_input = ".".join(segments).encode("ascii")
    algorithm = get_default_algorithms()[alg]
    if alg.startswith("HS"):
        prepared: object = key.encode("utf-8") if isinstance(key, str) else key
    elif alg == "none" or not isinstance(key, str | bytes):
        prepared = key
    else:
        prepared = algorithm.prepare_key(key)
    signature = algorithm.sign(signing_input, prepared)
    return f"{segments[0]}.{segments[1]}.{b64url(signature)}"


def _json_segment(value: Mapping[str, object]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def parse_jwt(token: str, key: SigningKey, *, library: JwtLibrary, now: float) -> dict[str, object]:
    """golang-jwt ParseWithClaims into MapClaims, with Authorizer's alg-pinning key function.

    Raises JwtLibraryError with the exact text. The claims check runs before the signature
    check, but a bad signature's text wins, as in golang-jwt (ValidationError.Inner).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtLibraryError("token contains an invalid number of segments")
    padded = library == "v3"
    try:
        header_bytes = go_compat.b64url_decode(parts[0], padded=padded)
    except go_compat.GoError as exc:
        if token.lower().startswith("bearer "):
            raise JwtLibraryError("tokenstring should not contain 'bearer '") from None
        raise JwtLibraryError(str(exc)) from None
    try:
        header = go_compat.unmarshal_object(header_bytes, "map[string]interface {}") or {}
        claims_bytes = go_compat.b64url_decode(parts[1], padded=padded)
        claims = go_compat.decode_first_object(claims_bytes, "jwt.MapClaims") or {}
    except go_compat.GoError as exc:
        raise JwtLibraryError(str(exc)) from None
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwtLibraryError("signing method (alg) is unspecified.")
    if alg not in _GOLANG_JWT_ALGS:
        raise JwtLibraryError("signing method (alg) is unavailable.")
    if alg != key.alg:
        raise JwtLibraryError(f"unexpected signing method: {alg}")
    claims_error = _claims_error(claims, int(now), library)
    signature_error = _signature_error(parts, key, padded=padded)
    if signature_error is not None:
        raise JwtLibraryError(signature_error)
    if claims_error is not None:
        raise JwtLibraryError(claims_error)
    return claims


def _signature_error(parts: list[str], key: SigningKey, *, padded: bool) -> str | None:
    try:
        signature = go_compat.b64url_decode(parts[2], padded=padded)
    except go_compat.GoError as exc:
        return str(exc)
    return key.verify_signature(f"{parts[0]}.{parts[1]}".encode(), signature)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _claims_error(claims: Mapping[str, object], now: int, library: JwtLibrary) -> str | None:
    """MapClaims.Valid(): exp, then iat, then nbf; the last failure's text is the one kept."""
    checks = (
        ("exp", "Token is expired"),
        ("iat", "Token used before issued"),
        ("nbf", "Token is not valid yet"),
    )
    error = None
    for name, text in checks:
        if name not in claims:
            continue
        value = _number(claims[name])
        if value is None:
            # v4 rejects a non-number; v3's type switch falls through to "not required".
            if library == "v4":
                error = text
            continue
        # Zero means "absent" to both versions (v4 tests the float, v3 the truncated int64).
        bound = math.floor(value) if library == "v4" else math.trunc(value)
        if (value if library == "v4" else bound) == 0:
            continue
        if not _is_within(name, bound, now, library):
            error = text
    return error


def _is_within(name: str, bound: int, now: int, library: JwtLibrary) -> bool:
    """v4: valid while now < exp; v3: while now <= exp. Both: iat and nbf <= now."""
    if name == "exp":
        return now < bound if library == "v4" else now <= bound
    return now >= bound


def numeric(value: object) -> float | None:
    """A JSON number as golang-jwt sees it (bool is not a number)."""
    return _number(value)


def at_hash(access_token: str, alg: str) -> str:
    """OIDC at_hash: left half of the access token's digest, base64url."""
    digest = hashlib.new(f"sha{alg[2:]}", access_token.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])
