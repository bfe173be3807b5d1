"""Hostile and broken input through the real Falcon app, with a scripted Authorizer.

Every answer here is a decision a proxy acts on: never a 500, a 200 only for exactly one
known credential holding the required roles, and garbage refused without asking Authorizer.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.policy import looks_like_roles
from tests.jwts import make_jwt
from tests.unit.test_verify import ADMIN, USER, StubAuthorizer, bearer, client_for

SESSION = "sess-1"  # StubAuthorizer's known session: user-3 with login-time roles ("user",)


@pytest.fixture
def stub() -> StubAuthorizer:
    return StubAuthorizer()


@pytest.fixture
def client(stub: StubAuthorizer) -> falcon.testing.TestClient:
    return client_for(stub)


def exactly(authorization: str | None = None, cookie: str | None = None) -> dict[str, str]:
    """WSGI environ entries carrying these headers byte for byte: falcon.testing's ``headers=``
    would ``str.strip()`` them (vertical tab, NBSP...), which a real server does not."""
    environ = {}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    return environ


def assert_denied(result: falcon.testing.Result, status: int, reason: str) -> None:
    assert result.status_code == status
    assert result.headers["X-Auth-Request-Error"] == reason
    assert result.json["error"] == reason
    assert result.headers["X-Auth-Request-User"] == ""


# -- the Authorization header ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer   {ADMIN}   ",
        f"Bearer\t{ADMIN}\t",
        f" \tBearer \t {ADMIN}",
        f"bearer {ADMIN}",
        f"BEARER {ADMIN}",
        f"bEaReR {ADMIN}",
    ],
    ids=["extra-spaces", "tabs", "leading-whitespace", "lower", "upper", "mixed-case"],
)
def test_one_token_with_any_scheme_case_and_http_whitespace_is_allowed(
    client: falcon.testing.TestClient, stub: StubAuthorizer, header: str
) -> None:
    result = client.simulate_get("/verify", headers={"Authorization": header})
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "admin-1"
    assert len(stub.calls) == 1


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "\t", "Basic dXNlcjpwYXNz", "Negotiate abc", f"Token {ADMIN}", ADMIN],
    ids=["absent", "empty", "spaces", "tab", "basic", "negotiate", "other-scheme", "no-scheme"],
)
def test_no_bearer_scheme_is_a_missing_credential(
    client: falcon.testing.TestClient, stub: StubAuthorizer, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_denied(client.simulate_get("/verify", headers=headers), 403, "missing_credential")
    assert stub.calls == []


def test_another_scheme_leaves_the_session_cookie_to_decide(
    client: falcon.testing.TestClient,
) -> None:
    headers = {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": f"cookie_session={SESSION}"}
    result = client.simulate_get("/verify", headers=headers)
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "user-3"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer \t ",
        f"Bearer {ADMIN},Bearer {ADMIN}",  # gunicorn joins two Authorization headers with ","
        f"Bearer {ADMIN},Basic dXNlcjpwYXNz",
        f"Bearer {ADMIN}, {USER}",
        f"Bearer {ADMIN} {ADMIN}",
        f"Bearer {ADMIN},",
        f"Bearer ,{ADMIN}",
        "Bearer " + ADMIN.replace(".", ",", 1),
        "Bearer " + "a" * 64 * 1024 + ".b.c",
        f"Bearer {ADMIN[:-1]}ÿ",
        f"Bearer {ADMIN}\x00",
        f"Bearer\x00{ADMIN}",
        f"Bearer \x00{ADMIN}",
        f"Bearer {ADMIN}\x0b",
        f"Bearer\xa0{ADMIN}\xa0{USER}",
    ],
    ids=[
        "scheme-alone",
        "scheme-space",
        "scheme-whitespace",
        "duplicate-header",
        "bearer-then-basic",
        "comma-two-tokens",
        "two-tokens",
        "trailing-comma",
        "leading-comma",
        "comma-inside",
        "64KiB",
        "non-ascii",
        "nul-after",
        "nul-as-separator",
        "nul-before",
        "vertical-tab",
        "nbsp-is-not-whitespace",
    ],
)
def test_malformed_bearer_is_invalid_without_asking_authorizer(
    client: falcon.testing.TestClient, stub: StubAuthorizer, header: str
) -> None:
    # The session cookie must not rescue a malformed bearer header either.
    extras = exactly(header, f"cookie_session={SESSION}")
    result = client.simulate_get("/verify", extras=extras)
    if header.startswith("Bearer\x00") or header.startswith("Bearer\xa0"):
        # No "Bearer" scheme at all (NUL and NBSP are not HTTP whitespace): the cookie decides.
        assert result.status_code == 200
        assert result.headers["X-Auth-Request-User"] == "user-3"
        assert [kind for kind, _ in stub.calls] == ["session"]
        return
    assert_denied(result, 403, "invalid_credential")
    assert stub.calls == []


def test_malformed_bearer_is_401_with_a_challenge_in_401_mode(stub: StubAuthorizer) -> None:
    client = client_for(stub, AUTHSVC_UNAUTHENTICATED_STATUS="401")
    result = client.simulate_get("/verify", headers={"Authorization": "Bearer"})
    assert_denied(result, 401, "invalid_credential")
    assert result.headers["WWW-Authenticate"] == 'Bearer realm="authsvc", error="invalid_token"'


# -- the roles parameter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "roles=,admin,",
        "roles=,,,admin,,,&roles=,",
        "roles=admin,admin&roles=admin",
        "roles=%20admin%20",
        "roles=+admin+",
        "roles=%09admin%09,%20user",
        "roles=admin&unrelated=%00%FF&x",
    ],
    ids=["empty-items", "many-empty", "duplicates", "spaces", "plus", "tab", "junk-params"],
)
def test_role_lists_with_noise_require_exactly_the_roles_they_name(
    client: falcon.testing.TestClient, query: str
) -> None:
    allowed = client.simulate_get("/verify", headers=bearer(ADMIN), query_string=query)
    assert allowed.status_code == 200
    denied = client.simulate_get("/verify", headers=bearer(USER), query_string=query)
    assert_denied(denied, 403, "missing_role")


def test_unicode_roles_are_compared_exactly(stub: StubAuthorizer) -> None:
    composed, decomposed = "r\u00e9dacteur", "re\u0301dacteur"  # NFC and NFD of "rédacteur"
    token = make_jwt(sub="u-uni", roles=["管理者", composed])
    stub.tokens[token] = "u-uni"
    client = client_for(stub)

    def status(roles: str) -> int:
        query = urlencode({"roles": roles})
        return client.simulate_get("/verify", headers=bearer(token), query_string=query).status_code

    assert status("管理者") == 200
    assert status(f"管理者,{composed}") == 200
    assert status(decomposed) == 403  # no normalisation: Authorizer compares exactly, too
    assert status("管理") == 403
    assert status("ADMIN") == 403


def test_a_thousand_roles_are_all_required(stub: StubAuthorizer) -> None:
    roles = [f"role-{i}" for i in range(1000)]
    token = make_jwt(sub="many", roles=roles)
    stub.tokens[token] = "many"
    client = client_for(stub)
    every = "roles=" + ",".join(roles)
    assert client.simulate_get(
        "/verify", headers=bearer(token), query_string=every
    ).status_code == (200)
    repeated = "&".join(f"roles={role}" for role in roles)
    assert client.simulate_get(
        "/verify", headers=bearer(token), query_string=repeated
    ).status_code == (200)
    one_more = every + ",role-1000"
    denied = client.simulate_get("/verify", headers=bearer(token), query_string=one_more)
    assert_denied(denied, 403, "missing_role")
    assert len(stub.calls) == 1  # one confirmation; roles are checked locally


def test_a_100_kb_query_is_a_decision_not_an_error(client: falcon.testing.TestClient) -> None:
    """Under gunicorn such a request line is refused (414) before authsvc sees it; the app
    itself must still decide when a server in front allows it."""
    huge_role = "roles=" + "a" * 100_000
    denied = client.simulate_get("/verify", headers=bearer(ADMIN), query_string=huge_role)
    assert_denied(denied, 403, "missing_role")
    padded = "x=" + "b" * 100_000 + "&roles=admin"
    assert client.simulate_get(
        "/verify", headers=bearer(ADMIN), query_string=padded
    ).status_code == (200)
    misspelt = "x=" + "b" * 100_000 + "&role=admin"
    assert_denied(
        client.simulate_get("/verify", headers=bearer(ADMIN), query_string=misspelt),
        400,
        "invalid_request",
    )


@pytest.mark.parametrize(
    "query",
    [
        "Roles=admin",
        "ROLE=admin",
        "roles%5B%5D=admin",
        "role%5B%5D=admin",
        "roles=admin&role=",
        "roles%20=admin",
        "+roles=admin",
        "%09roles%09=admin",
        "roles%0A=admin",
        "%20role=admin",
        # Found by review: NUL, ";", zero-width space, an accent, a word before it.
        "roles%00=admin",
        "roles;=admin",
        "roles%E2%80%8B=admin",
        "r%C3%B4les=admin",
        "required_roles=admin",
        "x-roles=admin",
        "ROLES%00=admin",
        "roles:admin",
        "roles%3Dadmin",  # one name, "roles=admin"
        "roles[0]=admin",
    ],
)
def test_misspelt_roles_fail_closed_even_when_encoded_padded_or_empty(
    client: falcon.testing.TestClient, query: str
) -> None:
    """A requirement the proxy misspelt must not vanish: USER lacks admin, and passing here
    because the parameter went unread would be an allow that was never meant."""
    result = client.simulate_get("/verify", headers=bearer(USER), query_string=query)
    assert_denied(result, 400, "invalid_request")


@pytest.mark.parametrize(
    "query",
    [
        "roleId=3&controlEnabled=true",
        "userRoles=admin",
        "rolesadmin",
        "payroll=1&enrollment=2",
    ],
)
def test_an_apps_parameters_around_the_word_role_are_ignored(
    client: falcon.testing.TestClient, query: str
) -> None:
    """Envoy appends the client's query to the check; an app's own names are no requirement
    (USER lacks admin and is allowed) and no misspelling (no 400)."""
    result = client.simulate_get("/verify", headers=bearer(USER), query_string=query)
    assert result.status_code == 200


# -- cookies ---------------------------------------------------------------------------------


def test_session_cookie_is_found_among_many_cookies(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    others = "; ".join(f"c{i}=" + "v" * 20 for i in range(500))
    result = client.simulate_get(
        "/verify", headers={"Cookie": f"{others}; cookie_session={SESSION}"}
    )
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "user-3"
    assert stub.calls == [("session", ())]


def test_huge_cookie_header_without_a_session_is_a_missing_credential(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_get("/verify", headers={"Cookie": "big=" + "x" * 120_000})
    assert_denied(result, 403, "missing_credential")


def test_oversized_session_cookie_is_invalid_without_asking_authorizer(
    client: falcon.testing.TestClient, stub: StubAuthorizer
) -> None:
    result = client.simulate_get("/verify", headers={"Cookie": "cookie_session=" + "x" * 100_000})
    assert_denied(result, 403, "invalid_credential")
    assert stub.calls == []


@pytest.mark.parametrize(
    ("cookie", "reason"),
    [
        ("cookie_session", "missing_credential"),
        ("=sess-1", "missing_credential"),
        (";;;", "missing_credential"),
        ("cookie_session=", "missing_credential"),
        ("\x00cookie_session=sess-1", "missing_credential"),
        ("cookie_session==sess-1", "invalid_credential"),
        ("cookie_session=sess-1=", "invalid_credential"),
        ("cookie_session=sess-1,other=x", "invalid_credential"),
        ("cookie_session=%ZZ%", "invalid_credential"),
        ("cookie_session=%FF%FE", "invalid_credential"),
        ('cookie_session="unterminated', "invalid_credential"),
    ],
)
def test_malformed_cookie_syntax_is_refused(
    client: falcon.testing.TestClient, cookie: str, reason: str
) -> None:
    assert_denied(client.simulate_get("/verify", headers={"Cookie": cookie}), 403, reason)


@pytest.mark.parametrize(
    "cookie",
    [
        ";;; cookie_session=sess-1 ;;",
        'cookie_session="sess-1"',
        "cookie_session=sess%2D1",
        'x="unterminated; cookie_session=sess-1',
    ],
)
def test_session_cookie_survives_sloppy_syntax_around_it(
    client: falcon.testing.TestClient, cookie: str
) -> None:
    result = client.simulate_get("/verify", headers={"Cookie": cookie})
    assert result.status_code == 200
    assert result.headers["X-Auth-Request-User"] == "user-3"


# -- property: whatever arrives, the answer is a decision ------------------------------------

VALID_TOKENS = {ADMIN: frozenset({"user", "admin"}), USER: frozenset({"user"})}
SESSION_ROLES = frozenset({"user"})
ROLE_NAMES = ["user", "admin", "editor", "", " admin ", "Admin", "管理者"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PROPFIND", "BREW"]
_PROPER_BEARER = re.compile(r"[ \t]*bearer[ \t]+([^ \t]+)[ \t]*", re.IGNORECASE)

# Header values as WSGI hands them over: latin-1 text, CR and LF excluded (no server lets
# them through; falcon.testing refuses them).
header_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"), max_size=40
)
tokens = st.sampled_from(sorted(VALID_TOKENS))
whitespace = st.text(st.sampled_from(" \t"), max_size=3)
# What str.split() or a lax parser would also take for whitespace; HTTP's is SP and HTAB only.
separators = st.one_of(
    whitespace.filter(bool),
    st.text(st.sampled_from(" \t\x0b\x0c\x1c\x85\xa0\x00,;:="), min_size=1, max_size=3),
)
scheme = st.sampled_from(["Bearer", "bearer", "BEARER", "bEARER", "Basic", "Bearer:", "Bearers"])


@st.composite
def authorizations(draw: st.DrawFn) -> str | None:
    shape = draw(st.sampled_from(["none", "proper", "embedded", "two", "junk", "truncated"]))
    token = draw(tokens)
    if shape == "none":
        return None
    if shape == "proper":
        return draw(whitespace) + draw(scheme) + draw(separators) + token + draw(whitespace)
    if shape == "embedded":
        return draw(header_text) + token + draw(header_text)
    if shape == "two":
        separator = draw(st.sampled_from([",", ", ", " ", ",Bearer ", "\t"]))
        return f"Bearer {token}{separator}{draw(tokens)}"
    if shape == "truncated":
        return f"Bearer {token[: draw(st.integers(0, len(token) - 1))]}"
    return draw(header_text)


@st.composite
def cookie_headers(draw: st.DrawFn) -> str | None:
    parts = draw(
        st.lists(
            st.one_of(
                st.just(f"cookie_session={SESSION}"),
                st.just(f"cookie_session_domain={SESSION}"),
                st.builds(lambda v: f"cookie_session={v}", header_text),
                header_text,
            ),
            max_size=4,
        )
    )
    return draw(st.sampled_from(["; ", ";", ","])).join(parts) if parts else None


@st.composite
def queries(draw: st.DrawFn) -> str:
    names = st.sampled_from(
        ["roles", "roles", "x", "Roles", "role", "roles[]", "rolez", " roles", "roleId", "x_roles"]
    )
    values = st.lists(st.sampled_from(ROLE_NAMES), max_size=4).map(",".join)
    pairs = draw(st.lists(st.tuples(names, st.one_of(values, header_text)), max_size=4))
    if draw(st.booleans()):
        return urlencode(pairs)
    # Raw junk too: not every proxy encodes what it appends.
    return draw(header_text.filter(lambda text: not text.startswith("?")))


@pytest.fixture(scope="module")
def property_client() -> falcon.testing.TestClient:
    return client_for(StubAuthorizer())


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")  # PROPFIND, BREW
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(METHODS),
    authorization=authorizations(),
    cookie=cookie_headers(),
    query_string=queries(),
    forwarded=st.dictionaries(
        st.sampled_from(
            ["X-Forwarded-Uri", "X-Forwarded-Host", "X-Request-Id", "X-Original-Method"]
        ),
        header_text,
    ),
)
def test_any_request_gets_a_decision_and_only_a_proper_credential_is_allowed(
    property_client: falcon.testing.TestClient,
    method: str,
    authorization: str | None,
    cookie: str | None,
    query_string: str,
    forwarded: dict[str, str],
) -> None:
    client = property_client
    result = client.simulate_request(
        method,
        "/verify",
        headers=forwarded,
        extras=exactly(authorization, cookie),
        query_string=query_string,
    )

    assert result.status_code in (200, 400, 403), result.status_code  # the stub never fails
    if result.status_code != 200:
        reason = result.headers["X-Auth-Request-Error"]
        assert reason in {
            "missing_credential",
            "invalid_credential",
            "missing_role",
            "invalid_request",
        }
        if method != "HEAD":  # a HEAD answer has no body
            assert result.json["error"] == reason

    pairs = parse_qsl(query_string, keep_blank_values=True)
    required = {
        item.strip() for name, value in pairs if name == "roles" for item in value.split(",")
    } - {""}
    is_misspelt = any(looks_like_roles(name) and name != "roles" for name, _ in pairs)
    proper = _PROPER_BEARER.fullmatch(authorization or "")
    token = proper.group(1) if proper else None
    has_session = cookie is not None and SESSION in unquote(cookie)

    if result.status_code == 200:
        assert not is_misspelt
        by_token = token in VALID_TOKENS and required <= VALID_TOKENS[token]
        by_session = has_session and required <= SESSION_ROLES
        assert by_token or by_session, "allowed without one known credential and its roles"
    if is_misspelt:
        assert result.status_code == 400
    if token in VALID_TOKENS and not is_misspelt and required <= VALID_TOKENS[token]:
        assert result.status_code == 200, "a proper known token holding the roles was refused"
