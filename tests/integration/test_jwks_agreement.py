"""Differential: local (jwks) verification decides exactly as the fake Authorizer does.

Tokens start from real logins (so access tokens have a live session-store entry, the one thing
local verification cannot see) and are then mutated and re-signed: expired, issued in the
future, without sub/exp/iat/nonce, another issuer, a non-string audience, other role claims,
another token type, signed by another key, alg none, alg confusion. For each, with each role
requirement, authsvc's remote decision (Authorizer's answer, then the role check) and its local
decision must be the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import strategies as st

from authsvc import policy
from authsvc.authorizer import AuthorizerClient
from authsvc.errors import AuthError, AuthorizerUnavailable
from authsvc.jwks import Key, KeyProvider, LocalVerifier
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

PASSWORD = "a differential password"
ROLES = ("user", "admin", "editor")
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC = ec.generate_private_key(ec.SECP256R1())


class Stack:
    """A fake with `alg` keys, or "OLD>NEW": keys rotated after the login (OLD is secondary)."""

    def __init__(self, algs: str) -> None:
        first, _, self.rotated_to = algs.partition(">")
        self.fake = FakeAuthorizer(alg=first)  # type: ignore[arg-type]  # a parametrized literal
        self.alg = self.rotated_to or first

    def __enter__(self) -> Stack:
        self.fake.start()
        self.fake.add_user("a@example.com", PASSWORD, roles=list(ROLES))
        self.login = self.fake.login("a@example.com", PASSWORD, roles=["user", "admin"])
        if self.rotated_to:
            self.fake.rotate_key(self.rotated_to)  # type: ignore[arg-type]  # a literal
        settings = Settings.from_environ(
            {"AUTHORIZER_URL": self.fake.url, "AUTHORIZER_CLIENT_ID": self.fake.client_id}
        )
        self.client = AuthorizerClient(settings)
        secrets = (self.fake.jwt_secret, self.fake.jwt_secondary_secret)  # as in settings
        static = tuple(Key("HS256", secret) for secret in secrets if secret is not None)
        self.local = LocalVerifier(
            KeyProvider(self.client.fetch_keys, static_keys=static), role_claim="role"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.fake.stop()


@pytest.fixture(
    scope="module", params=["RS256", "ES256", "HS256", "ES256>ES256", "HS256>RS256", "RS256>HS256"]
)
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with Stack(request.param) as running:
        yield running


def decide(verify: Any, token: str, token_type: str, required: frozenset[str]) -> str:
    try:
        identity = verify(token, token_type)
        policy.check(identity, required)
    except AuthorizerUnavailable as exc:
        return f"unavailable: {exc}"
    except AuthError as exc:
        DETAILS.append(str(exc))
        return exc.reason
    return f"allow {identity.subject} {sorted(identity.roles)}"


DETAILS: list[str] = []
MUTATIONS: dict[str, Any] = {
    "none": {},
    "expired": {"exp": -10},
    "expires_now": {"exp": 0},
    "future_iat": {"iat": 3600},
    "no_exp": {"exp": None},
    "no_iat": {"iat": None},
    "exp_as_string": {"exp": "soon"},
    "no_sub": {"sub": None},
    "empty_sub": {"sub": ""},
    "no_nonce": {"nonce": None},
    "other_issuer": {"iss": "https://evil.example.com"},
    "audience_list": {"aud": ["authsvc"]},
    "other_audience": {"aud": "another-client"},
    "no_audience": {"aud": None},
    "roles_admin_only": {"roles": ["admin"], "role": ["admin"]},
    "roles_string": {"roles": "admin", "role": "admin"},
    "roles_with_empty": {"roles": ["admin", ""], "role": ["admin", ""]},
    "no_roles": {"roles": None, "role": None},
    "future_nbf": {"nbf": 3600},
}
SIGNERS = ("server", "secondary", "other_key", "alg_none", "alg_confusion")


def mutated(stack: Stack, base: str, mutation: dict[str, Any], signer: str) -> str:
    claims: dict[str, Any] = jwt.decode(base, options={"verify_signature": False})
    now = int(time.time())
    for name, value in mutation.items():
        if value is None:
            claims.pop(name, None)
        elif name in ("exp", "iat", "nbf") and isinstance(value, int):
            claims[name] = now + value
        else:
            claims[name] = value
    if signer == "server":
        return stack.fake.sign(claims)
    if signer == "secondary":  # the key before the rotation (the server key without one)
        return stack.fake.sign(claims, secondary=bool(stack.rotated_to))
    if signer == "alg_none":
        return stack.fake.sign(claims, alg="none")
    if signer == "alg_confusion":
        if stack.alg == "HS256":
            return stack.fake.sign(claims, alg="HS256", key=b"not-the-secret")
        return stack.fake.sign(claims, alg="HS256")  # the public key PEM as the HMAC secret
    other = {"RS256": OTHER_RSA, "ES256": OTHER_EC, "HS256": b"another-secret"}[stack.alg]
    return stack.fake.sign(claims, alg=stack.alg, key=other)


@hypothesis.settings(max_examples=400, deadline=None, derandomize=True)
@hypothesis.given(
    mutation=st.sampled_from(sorted(MUTATIONS)),
    signer=st.sampled_from(SIGNERS),
    token_type=st.sampled_from(("access_token", "id_token")),
    required=st.frozensets(st.sampled_from(ROLES), max_size=2),
)
def test_local_verification_decides_as_authorizer_does(
    stack: Stack, mutation: str, signer: str, token_type: str, required: frozenset[str]
) -> None:
    base = stack.login.access_token if token_type == "access_token" else stack.login.id_token
    token = mutated(stack, base, MUTATIONS[mutation], signer)
    remote = decide(stack.client.verify_token, token, token_type, required)
    local = decide(stack.local.verify, token, token_type, required)
    assert not remote.startswith("unavailable"), remote
    assert local == remote, (mutation, signer, token_type, sorted(required), DETAILS[-2:])


def test_a_logout_is_what_local_verification_cannot_see(stack: Stack) -> None:
    """The documented trade-off: hybrid mode exists for this."""
    login = stack.fake.login("a@example.com", PASSWORD)
    stack.fake.logout(access_token=login.access_token)
    assert decide(stack.client.verify_token, login.access_token, "access_token", frozenset()) == (
        "invalid_credential"
    )
    assert decide(stack.local.verify, login.access_token, "access_token", frozenset()).startswith(
        "allow"
    )


def test_an_rs_rotation_is_picked_up_by_the_next_key_refresh() -> None:
    """New tokens after a rotation fail against the known keys: the next refresh (at most one
    per 5 s) fetches the new primary, and the old key stays valid as the published secondary."""
    clock = [1000.0]
    with FakeAuthorizer(alg="RS256") as fake:
        fake.add_user("a@example.com", PASSWORD)
        before = fake.login("a@example.com", PASSWORD)
        settings = Settings.from_environ({"AUTHORIZER_URL": fake.url})
        client = AuthorizerClient(settings)
        local = LocalVerifier(
            KeyProvider(client.fetch_keys, monotonic=lambda: clock[0]), role_claim="role"
        )
        try:
            assert decide(
                local.verify, before.access_token, "access_token", frozenset()
            ).startswith("allow")
            fake.rotate_key()
            after = fake.login("a@example.com", PASSWORD)
            clock[0] += 1.0  # a refresh 1 s after the last one is not made
            assert decide(local.verify, after.access_token, "access_token", frozenset()) == (
                "invalid_credential"
            )
            clock[0] += 5.0
            for token in (after.access_token, before.access_token):
                assert decide(local.verify, token, "access_token", frozenset()).startswith("allow")
        finally:
            client.close()
