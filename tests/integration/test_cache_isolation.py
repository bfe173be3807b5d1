"""A cached decision answers only for the credential it was made for.

One app, one decision cache, kept for the whole module: every generated request finds the
cache already holding other users' decisions, for other routes, made from other kinds of
credential. Whatever the client varies around its credential (forwarded headers, other
cookies, the order of things), the answer must be the one for its own user: 200 only when its
login-time roles hold the route's roles, and then with its own identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.app import create_app
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer

PASSWORD = "an isolation password"
ROLES = ("user", "admin", "editor", "billing")
ACCOUNTS = {
    "ann": ("user",),
    "bob": ("user", "admin"),
    "cy": ("user", "editor"),
    "dee": ("user", "admin", "editor", "billing"),
}


@dataclass(frozen=True)
class Person:
    user_id: str
    roles: frozenset[str]
    # kind -> the headers that carry it; kept out of failure reports
    credentials: dict[str, dict[str, str]] = field(repr=False)


@dataclass(frozen=True)
class World:
    client: falcon.testing.TestClient
    people: dict[str, Person]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with FakeAuthorizer(client_id="isolation") as fake:
        people = {}
        for name, roles in ACCOUNTS.items():
            fake.add_user(f"{name}@example.com", PASSWORD, roles=roles)
            tokens = fake.login(f"{name}@example.com", PASSWORD, roles=list(roles))
            people[name] = Person(
                user_id=tokens.user_id,
                roles=frozenset(roles),
                credentials={
                    "access_token": {"Authorization": f"Bearer {tokens.access_token}"},
                    "id_token": {"Authorization": f"Bearer {tokens.id_token}"},
                    "session": {"Cookie": f"cookie_session={tokens.session_cookie}"},
                },
            )
        settings_ = Settings.from_environ(
            {"AUTHORIZER_URL": fake.url, "AUTHORIZER_CLIENT_ID": fake.client_id}
        )
        yield World(falcon.testing.TestClient(create_app(settings_)), people)


NOISE_HEADERS = st.dictionaries(
    st.sampled_from(
        ["X-Forwarded-Host", "X-Forwarded-Uri", "X-Original-URI", "X-Request-Id", "Host"]
    ),
    st.sampled_from(["a.example", "/admin", "/", "bob", "ann@example.com", "x" * 40]),
    max_size=3,
)
OTHER_COOKIES = st.lists(
    st.sampled_from(["theme=dark", "cookie_session_x=1", "sid=ann", "lang=en"]), max_size=2
)


@st.composite
def requests_(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...], dict[str, str]]:
    name = draw(st.sampled_from(sorted(ACCOUNTS)))
    kind = draw(st.sampled_from(["access_token", "id_token", "session"]))
    roles = tuple(draw(st.lists(st.sampled_from(ROLES), max_size=3, unique=True)))
    noise = draw(NOISE_HEADERS)
    cookies = draw(OTHER_COOKIES)
    if cookies:
        noise["Cookie"] = "; ".join(cookies)
    return name, kind, roles, noise


def ask(
    world: World, person: Person, kind: str, roles: tuple[str, ...], noise: dict[str, str]
) -> falcon.testing.Result:
    headers = {**noise}
    for header, value in person.credentials[kind].items():
        # Other cookies go around the session cookie, never replace it.
        headers[header] = f"{headers[header]}; {value}" if header in headers else value
    query = f"roles={','.join(roles)}" if roles else ""
    return world.client.simulate_get("/verify", headers=headers, query_string=query)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sequence=st.lists(requests_(), min_size=1, max_size=8))
def test_each_answer_is_for_its_own_credential_whatever_the_cache_holds(
    world: World, sequence: list[tuple[str, str, tuple[str, ...], dict[str, str]]]
) -> None:
    for name, kind, roles, noise in sequence:
        person = world.people[name]
        result = ask(world, person, kind, roles, noise)
        if set(roles) <= person.roles:
            assert result.status_code == 200, (name, kind, roles, result.json)
            assert result.headers["X-Auth-Request-User"] == person.user_id
            if kind != "session":  # validate_session answers no token roles
                assert set(result.headers["X-Auth-Request-Roles"].split(",")) == person.roles
        else:
            assert result.status_code == 403, (name, kind, roles)
            assert result.headers["X-Auth-Request-Error"] == "missing_role"
            assert result.headers["X-Auth-Request-User"] == ""


@pytest.mark.parametrize("kind", ["access_token", "id_token", "session"])
def test_a_near_copy_of_a_cached_credential_is_not_served_from_the_cache(
    world: World, kind: str
) -> None:
    """One character changed, or added, makes another credential: Authorizer is asked, and
    refuses it."""
    dee = world.people["dee"]
    assert ask(world, dee, kind, ("billing",), {}).status_code == 200  # now cached
    ((header, value),) = dee.credentials[kind].items()
    last = value[-1]
    for changed in (value[:-1] + ("A" if last != "A" else "B"), value + "A", value[:-1]):
        result = world.client.simulate_get(
            "/verify", headers={header: changed}, query_string="roles=billing"
        )
        assert result.status_code == 403, changed[-12:]
        assert result.headers["X-Auth-Request-User"] == ""
