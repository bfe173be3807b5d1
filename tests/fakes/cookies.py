"""The browser-session cookie: its sealed value, the Set-Cookie lines, and reading Cookie headers.

2.4 seals the session JSON with AES-256-GCM under HKDF-SHA256(client secret, info
`authorizer-aes-key`) and writes unpadded base64url; 1.x used an unauthenticated AES stream mode
(CFB) with a fixed IV and padded standard base64, which gin percent-escapes on the way out. The
1.x stand-in uses CTR, the same shape without cryptography's CFB deprecation warning. Either way
the value is opaque to a client, and tampering is detected (GCM) or yields undecodable JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote_plus, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_COOKIE = "cookie_session"
SESSION_DOMAIN_COOKIE = "cookie_session_domain"
MFA_COOKIE = "mfa_session"
MFA_DOMAIN_COOKIE = "mfa_session_domain"
_GCM_NONCE_BYTES = 12
_HAS_LETTER = re.compile(r"[A-Za-z]")


class SessionCodec:
    """Seals and opens session payloads; `open` returns None for anything it cannot read."""

    def __init__(self, client_secret: str, *, legacy: bool) -> None:
        self._legacy = legacy
        secret = client_secret.encode("utf-8")
        if legacy:
            self._key = hashlib.sha256(secret).digest()
        else:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authorizer-aes-key")
            self._key = hkdf.derive(secret)

    def seal(self, payload: Mapping[str, object]) -> str:
        plaintext = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        if self._legacy:
            encryptor = self._stream().encryptor()
            sealed = encryptor.update(plaintext) + encryptor.finalize()
            return base64.b64encode(sealed).decode("ascii")
        nonce = os.urandom(_GCM_NONCE_BYTES)
        sealed = nonce + AESGCM(self._key).encrypt(nonce, plaintext, None)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, value: str) -> dict[str, object] | None:
        try:
            plaintext = self._open_bytes(value)
            payload = json.loads(plaintext.decode("utf-8"))
        except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def _open_bytes(self, value: str) -> bytes:
        if self._legacy:
            decryptor = self._stream().decryptor()
            raw = base64.b64decode(value.encode("ascii"), validate=True)
            return decryptor.update(raw) + decryptor.finalize()
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ValueError("not base64url")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        nonce, sealed = raw[:_GCM_NONCE_BYTES], raw[_GCM_NONCE_BYTES:]
        return AESGCM(self._key).decrypt(nonce, sealed, None)

    def _stream(self) -> Cipher[modes.CTR]:
        return Cipher(algorithms.AES(self._key), modes.CTR(self._key[:16]))


def cookie_domains(issuer: str) -> tuple[str | None, str | None]:
    """Domain attributes of cookie_session and cookie_session_domain, as Go would write them.

    The second is `.` plus the host's last two labels (`localhost` stays as it is). Go's
    net/http drops a Domain it considers invalid, e.g. `.0.1` derived from 127.0.0.1.
    """
    host = urlsplit(issuer).hostname or ""
    labels = host.split(".")
    if len(labels) == 1 or (len(labels) == 2 and labels[0] != "www"):
        root = host
    elif len(labels) == 2:
        root = labels[1]
    else:
        root = ".".join(labels[-2:])
    parent = root if root == "localhost" else f".{root}"
    return _valid_domain(host), _valid_domain(parent)


def _valid_domain(domain: str) -> str | None:
    bare = domain.lstrip(".")
    try:
        ipaddress.IPv4Address(bare)
    except ValueError:
        return domain if _HAS_LETTER.search(bare) else None
    return domain if bare == domain else None


def set_cookie(
    name: str,
    value: str,
    *,
    domain: str | None,
    max_age: int,
    secure: bool,
    legacy: bool,
) -> str:
    """One Set-Cookie value in Go's attribute order; 1.x values are query-escaped by gin."""
    shown = quote(value, safe="") if legacy else value
    parts = [f"{name}={shown}", "Path=/"]
    if domain:
        parts.append(f"Domain={domain}")
    parts.append(f"Max-Age={max(max_age, 0)}")
    parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append("SameSite=None")
    return "; ".join(parts)


def parse_cookie_header(header: str) -> dict[str, str]:
    """Request cookies, each value query-unescaped like gin's Context.Cookie; first one wins."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = unquote_plus(value.strip().strip('"'))
    return cookies
