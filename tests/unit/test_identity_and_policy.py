from __future__ import annotations

import pytest

from authsvc import policy
from authsvc.errors import AccessDenied, BadRequest, InvalidCredentials
from authsvc.identity import Identity, identity_from_claims, roles_from_claims


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"role": ["admin"], "roles": ["user"]}, (("admin",), True)),
        ({"role": [], "roles": ["user"]}, (("user",), True)),  # no elements: fall back
        ({"role": "admin", "roles": ["user"]}, (("user",), True)),  # a string counts as none
        ({"roles": ["user", "editor"]}, (("user", "editor"), True)),
        ({"roles": "admin"}, ((), True)),
        ({}, ((), True)),
        ({"roles": ["user", 3, ""]}, (("user",), False)),
    ],
)
def test_roles_are_read_as_authorizer_reads_them(
    claims: dict[str, object], expected: tuple[tuple[str, ...], bool]
) -> None:
    assert roles_from_claims(claims, "role") == expected


def test_identity_takes_only_well_typed_claims() -> None:
    identity = identity_from_claims(
        {"sub": "u1", "email": 5, "exp": "1700000000", "token_type": "id_token", "role": ["a"]},
        "role",
    )
    assert identity == Identity(subject="u1", roles=("a",), token_type="id_token")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], set()),
        ([""], set()),
        (["admin"], {"admin"}),
        (["admin", ""], {"admin"}),  # a trailing empty value must not drop the requirement
        (["", "admin"], {"admin"}),
        (["admin,editor"], {"admin", "editor"}),
        ([",admin,,editor,"], {"admin", "editor"}),
        (["admin", "editor,ops"], {"admin", "editor", "ops"}),
        ([" admin , editor "], {"admin", "editor"}),
        (["admin,admin"], {"admin"}),
    ],
)
def test_required_roles_are_the_union_of_every_item(values: list[str], expected: set[str]) -> None:
    assert policy.required_roles(("roles", value) for value in values) == expected


@pytest.mark.parametrize(
    "name",
    [
        "role",
        "ROLES",
        "Roles",
        "Role",
        "roles[]",
        "role[]",
        "rôles",
        " roles",
        "roles\x00",
        "ro\u200bles",  # zero-width space
        "\uff32\uff2f\uff2c\uff25\uff33",  # fullwidth ROLES, folded by NFKD
        "required_roles",
        "user_roles",
        "x-roles",
        "X-Role",
        "required_rôles",
        "user.roles",
        "roles:admin",  # "roles" then a separator
        "roles[0]",
        "roles=admin",  # the name of ?roles%3Dadmin
        "role[0]",
        "role:admin",
    ],
)
def test_misspelt_roles_parameter_is_refused_not_ignored(name: str) -> None:
    assert policy.looks_like_roles(name)
    with pytest.raises(BadRequest):
        policy.required_roles([(name, "admin")])


@pytest.mark.parametrize(
    "name",
    [
        "roleId",
        "role_id",
        "controlEnabled",  # "controlenabled" contains "role"
        "userRoles",
        "userroles",
        "rolesadmin",
        "rolesx",
        "payroll",
        "payrole",
        "enrollment",
        "parole",
        "rol",
    ],
)
def test_an_apps_own_parameter_around_the_word_role_is_ignored(name: str) -> None:
    """Envoy appends the client's query to the check: these are app parameters, not roles."""
    assert not policy.looks_like_roles(name)
    assert policy.required_roles([(name, "admin"), ("roles", "user")]) == {"user"}


def test_other_parameters_are_ignored() -> None:
    assert policy.required_roles([("page", "2"), ("roles", "admin"), ("sort", "rol")]) == {"admin"}


def test_all_required_roles_must_be_held() -> None:
    identity = Identity(subject="u", roles=("user", "editor"))
    policy.check(identity, frozenset())
    policy.check(identity, frozenset({"editor"}))
    policy.check(identity, frozenset({"user", "editor"}))
    with pytest.raises(AccessDenied):
        policy.check(identity, frozenset({"user", "admin"}))
    with pytest.raises(AccessDenied):
        policy.check(identity, frozenset({"Editor"}))  # exact, case-sensitive


def test_malformed_role_claim_fails_only_when_a_role_is_required() -> None:
    identity = Identity(subject="u", roles=("user",), has_valid_roles=False)
    policy.check(identity, frozenset())
    with pytest.raises(InvalidCredentials):
        policy.check(identity, frozenset({"user"}))
