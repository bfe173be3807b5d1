"""Hostile tokens through the real app and Authorizer client, against the fake Authorizer.

Each forged or broken token is refused with 403 invalid_credential: by authsvc itself when the
token is not even a readable JWT of an accepted type (Authorizer is then never asked), otherwise
by Authorizer's answer (authorizer-contract.md 1.5), which authsvc must never turn into a 200 or
a 5xx.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator

import falcon.testing
import jwt
import pytest

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer(client_id="hostile-client") as fake:
        fake.add_user("ann@example.com", PASSWORD, roles=["user", "admin"])
        yield fake


def app_for(fake: FakeAuthorizer, **env: str) -> falcon.testing.TestClient:
    settings = Settings.from_environ(
        {"AUTHORIZER_URL": fake.url, "AUTHORIZER_CLIENT_ID": fake.client_id, **env}
    )
    return falcon.testing.TestClient(create_app(settings))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segments(header: object, claims: object, signature: str = "c2lnbmF0dXJl") -> str:
    """A token built by hand, whatever its segments hold."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{signature}"


def verify(fake: FakeAuthorizer, token: str) -> tuple[falcon.testing.Result, int]:
    """authsvc's answer for ``token`` from a fresh app, and how often Authorizer was asked."""
    fake.reset_counters()
    result = app_for(fake).simulate_get("/verify", headers={"Authorization": f"Bearer {token}"})
    return result, fake.calls["validate_jwt_token"]


def assert_invalid(result: falcon.testing.Result) -> None:
    assert result.status_code == 403
    assert result.headers["X-Auth-Request-Error"] == "invalid_credential"
    assert result.json["error"] == "invalid_credential"
    assert result.headers["X-Auth-Request-User"] == ""


def id_token(fake: FakeAuthorizer, **overrides: object) -> str:
    """An id_token signed with the fake's own key: Authorizer confirms it unless a claim is
    overridden (None removes it)."""
    claims = {**fake.token_claims(token_type="id_token"), **overrides}
    return fake.sign({name: value for name, value in claims.items() if value is not None})


def test_a_forged_id_token_with_nothing_wrong_is_confirmed(fake: FakeAuthorizer) -> None:
    """The control for the forgeries below: only what each one changes makes it fail."""
    result, asked = verify(fake, id_token(fake, sub="control"))
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "control"
    assert asked == 1


# -- refused by authsvc itself, Authorizer never asked --------------------------------------

LOCAL_REFUSALS: dict[str, Callable[[FakeAuthorizer], str]] = {
    "two-parts": lambda fake: id_token(fake).rsplit(".", 1)[0],
    "four-parts": lambda fake: id_token(fake) + ".c2ln",
    "one-part": lambda fake: id_token(fake).replace(".", ""),
    "header-bad-base64": lambda fake: "A." + id_token(fake).split(".", 1)[1],
    "payload-bad-base64": lambda fake: "{}.A.{}".format(*id_token(fake).split(".")[::2]),
    "payload-not-json": lambda fake: f"{b64(b'{}')}.{b64(b'not json')}.c2ln",
    "payload-json-list": lambda fake: segments({"alg": "RS256"}, ["token_type", "id_token"]),
    "payload-json-string": lambda fake: segments({"alg": "RS256"}, "id_token"),
    "header-json-list": lambda fake: segments(["RS256"], {"token_type": "id_token"}),
    "alg-none-empty-signature": lambda fake: fake.sign(
        fake.token_claims(token_type="id_token"), alg="none"
    ),
    "token-type-missing": lambda fake: id_token(fake, token_type=None),
    "token-type-refresh": lambda fake: fake.sign(fake.token_claims(token_type="refresh_token")),
    "token-type-not-a-string": lambda fake: id_token(fake, token_type=["id_token"]),
}


@pytest.mark.parametrize("forge", LOCAL_REFUSALS.values(), ids=LOCAL_REFUSALS.keys())
def test_unreadable_or_refused_type_is_invalid_without_asking_authorizer(
    fake: FakeAuthorizer, forge: Callable[[FakeAuthorizer], str]
) -> None:
    result, asked = verify(fake, forge(fake))
    assert_invalid(result)
    assert asked == 0


# -- refused by Authorizer ------------------------------------------------------------------


def _other_server_token(fake: FakeAuthorizer) -> str:
    """Validly signed by another Authorizer whose tokens claim this one's issuer."""
    with FakeAuthorizer(client_id=fake.client_id, issuer=fake.issuer) as other:
        return other.sign(other.token_claims(token_type="id_token"))


REFUSED_BY_AUTHORIZER: dict[str, Callable[[FakeAuthorizer], str]] = {
    # "unexpected signing method: none": a non-empty signature gets past the shape check.
    "alg-none-junk-signature": lambda fake: segments(
        {"alg": "none"}, fake.token_claims(token_type="id_token")
    ),
    # The alg-confusion attack: HS256 keyed with the server's RSA public key.
    "alg-rs256-to-hs256": lambda fake: fake.sign(
        fake.token_claims(token_type="id_token"), alg="HS256"
    ),
    "signature-of-another-key": _other_server_token,
    "signature-tampered": lambda fake: id_token(fake)[:-6] + "AAAAAA",
    "claims-tampered": lambda fake: "{}.{}.{}".format(
        id_token(fake).split(".")[0],
        b64(json.dumps(fake.token_claims(token_type="id_token", sub="someone-else")).encode()),
        id_token(fake).split(".")[2],
    ),
    "exp-missing": lambda fake: id_token(fake, exp=None),
    "exp-a-string": lambda fake: id_token(fake, exp=str(int(time.time()) + 600)),
    "exp-passed": lambda fake: id_token(fake, exp=int(time.time()) - 1),
    "iat-missing": lambda fake: id_token(fake, iat=None),
    "iat-far-future": lambda fake: id_token(fake, iat=int(time.time()) + 10 * 365 * 86400),
    "nbf-future": lambda fake: id_token(fake, nbf=int(time.time()) + 3600),
    "sub-missing": lambda fake: id_token(fake, sub=None),
    "sub-empty": lambda fake: id_token(fake, sub=""),
    "sub-not-a-string": lambda fake: id_token(fake, sub=["admin"]),
    "another-issuer": lambda fake: id_token(fake, iss="https://evil.example"),
    "issuer-with-trailing-slash": lambda fake: id_token(fake, iss=fake.issuer + "/"),
    # An access token Authorizer never issued: no session-store entry for its nonce.
    "access-token-never-issued": lambda fake: fake.sign(fake.token_claims()),
}


@pytest.mark.parametrize("forge", REFUSED_BY_AUTHORIZER.values(), ids=REFUSED_BY_AUTHORIZER.keys())
def test_forged_or_broken_token_is_refused_by_authorizer_and_never_allowed(
    fake: FakeAuthorizer, forge: Callable[[FakeAuthorizer], str]
) -> None:
    result, asked = verify(fake, forge(fake))
    assert_invalid(result)
    assert asked == 1
    # A definitive "no": remembered for the negative TTL, so a retry costs Authorizer nothing.
    assert result.headers["Cache-Control"] == "private, max-age=5"


@pytest.mark.parametrize("audience", ["another-client", "", ["hostile-client"], None], ids=repr)
def test_validly_signed_token_for_another_audience_is_refused_without_asking(
    fake: FakeAuthorizer, audience: object
) -> None:
    """Authorizer 2.4 accepts any string ``aud`` (contract 6.2, step 5): a token issued to
    another client of the same Authorizer must not open this client's routes. authsvc knows
    this client's id (AUTHORIZER_CLIENT_ID), so it refuses such a token itself."""
    result, asked = verify(fake, id_token(fake, aud=audience))
    assert_invalid(result)
    assert asked == 0


def test_id_token_of_this_audience_is_still_confirmed(fake: FakeAuthorizer) -> None:
    result, _ = verify(fake, id_token(fake, aud=fake.client_id))
    assert result.status_code == 200


def test_login_tokens_with_one_claim_changed_and_resigned_are_refused(
    fake: FakeAuthorizer,
) -> None:
    """A real login's access token (with its live session entry), re-signed with the server's
    own key after a change: what Authorizer says decides, and that is never an allow."""
    tokens = fake.login("ann@example.com", PASSWORD, roles=["user", "admin"])
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    good, asked = verify(fake, fake.sign(claims))
    assert good.status_code == 200  # the control: re-signing alone changes nothing
    assert asked == 1
    changes: dict[str, dict[str, object]] = {
        "exp-missing": {"exp": None},
        "exp-a-string": {"exp": str(claims["exp"])},
        "iat-far-future": {"iat": int(time.time()) + 86400 * 3650},
        "sub-missing": {"sub": None},
        "nonce-missing": {"nonce": None},
        "another-issuer": {"iss": "https://evil.example"},
    }
    for name, change in changes.items():
        changed = {k: v for k, v in {**claims, **change}.items() if v is not None}
        result, asked = verify(fake, fake.sign(changed))
        assert (result.status_code, result.headers["X-Auth-Request-Error"]) == (
            403,
            "invalid_credential",
        ), name
        assert asked == 1, name


@pytest.mark.parametrize("change", ["exp", "sub"])
def test_authorizer_1x_internal_error_for_a_missing_claim_is_a_denial_not_remembered(
    change: str,
) -> None:
    """1.x panics on a token without ``exp`` or ``sub`` ("internal system error", contract
    1.5): authsvc denies, and does not remember the denial as if it were definitive."""
    with FakeAuthorizer(dialect="1.x", client_id="hostile-1x") as old:
        claims = old.token_claims(token_type="id_token")
        del claims[change]
        result, asked = verify(old, old.sign(claims))
    assert_invalid(result)
    assert asked == 1
    assert result.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("subject", [" ", "\t", "\r\n", "\x00", " ann", "ann ", "a\x00b", "a\x7fb"])
def test_a_confirmed_token_naming_no_usable_user_is_refused(
    fake: FakeAuthorizer, subject: str
) -> None:
    """Authorizer only asks for a non-empty ``sub``; an allow must name its user exactly, so a
    blank, padded or control-character subject (which would reach the app empty or mangled)
    is refused, and remembered like any definitive no."""
    result, asked = verify(fake, id_token(fake, sub=subject))
    assert_invalid(result)
    assert asked == 1
    assert result.headers["Cache-Control"] == "private, max-age=5"
