from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from authsvc.credentials import MAX_TOKEN_CHARS, CookieLookup, Credential, extract, token_type_of
from authsvc.errors import InvalidCredentials, MissingCredentials
from tests.jwts import make_jwt

NAMES = ("cookie_session", "cookie_session_domain")
TOKEN = make_jwt()


def cookies(jar: Mapping[str, Sequence[str]]) -> CookieLookup:
    return lambda name: jar.get(name)


def find(authorization: str | None, jar: Mapping[str, Sequence[str]] | None = None) -> Credential:
    return extract(authorization, cookies(jar or {}), cookie_names=NAMES)


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"Bearer   {TOKEN}  ",
        f" Bearer {TOKEN}",
        f"Bearer\t{TOKEN}",
    ],
)
def test_bearer_token_is_found_whatever_the_scheme_case(header: str) -> None:
    assert find(header) == Credential(kind="bearer", value=TOKEN)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer {TOKEN}, Bearer {TOKEN}",  # two Authorization headers joined by the server
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.b.",  # alg none: empty signature
        f"Bearer {TOKEN},x",
        "Bearer " + "a" * MAX_TOKEN_CHARS + ".b.c",
        "Bearer тест.тест.тест",
        "Bearer a.!!!.c",
        "Bearer a\x00b.c.d",
    ],
)
def test_malformed_bearer_token_is_invalid_without_cookie_fallback(header: str) -> None:
    with pytest.raises(InvalidCredentials):
        find(header, {"cookie_session": ["session-value"]})


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"token_type": "refresh_token"}, "refresh_token"),
        ({"token_type": "id_token"}, "id_token"),
        ({"token_type": None}, ""),
        ({"token_type": 7}, ""),
    ],
)
def test_token_type_is_the_tokens_own_claim(claims: dict[str, object], expected: str) -> None:
    assert token_type_of(make_jwt(**claims)) == expected


@pytest.mark.parametrize(
    "token",
    [
        "e30.WzFd.c2ln",  # payload is a JSON list, not an object
        "e30.bm90IGpzb24.c2ln",  # payload is not JSON
        "e30.!!!.c2ln",
    ],
)
def test_unreadable_payload_is_invalid(token: str) -> None:
    with pytest.raises(InvalidCredentials):
        token_type_of(token)


def test_session_cookie_is_used_without_bearer_and_tried_in_order() -> None:
    assert find(None, {"cookie_session_domain": ["b"]}) == Credential("session", "b")
    assert find(None, {"cookie_session": ["a"], "cookie_session_domain": ["b"]}).value == "a"
    assert find(None, {"cookie_session": [""], "cookie_session_domain": ["b"]}).value == "b"


def test_other_authorization_schemes_fall_back_to_the_cookie() -> None:
    assert find("Basic dXNlcjpwYXNz", {"cookie_session": ["a"]}).value == "a"
    with pytest.raises(MissingCredentials):
        find("Basic dXNlcjpwYXNz")
    with pytest.raises(MissingCredentials):
        find(f"Bearer\xa0{TOKEN}")  # NBSP is not HTTP whitespace: no Bearer scheme here


def test_percent_escaped_cookie_is_decoded() -> None:
    """Authorizer 1.x cookies arrive escaped and its validate_session does not unescape."""
    assert find(None, {"cookie_session": ["ab%2Bc%3D%3D"]}).value == "ab+c=="


@pytest.mark.parametrize("header", [None, "", "   "])
def test_nothing_presented_is_missing(header: str | None) -> None:
    with pytest.raises(MissingCredentials):
        find(header)


def test_oversized_cookie_is_invalid() -> None:
    with pytest.raises(InvalidCredentials):
        find(None, {"cookie_session": ["x" * 20_000]})


def test_repr_never_shows_the_credential() -> None:
    assert TOKEN not in repr(find(f"Bearer {TOKEN}"))
    assert "secret-cookie" not in repr(find(None, {"cookie_session": ["secret-cookie"]}))
