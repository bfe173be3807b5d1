"""AUTHSVC_VERIFY_MODE through the real app and the fake Authorizer: remote, jwks, hybrid."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest

from authsvc.app import create_app
from authsvc.errors import SettingsError
from authsvc.settings import Settings
from tests.fakes.authorizer import FakeAuthorizer
from tests.jwts import make_jwt

PASSWORD = "a verify-mode password"


@pytest.fixture
def fake() -> Iterator[FakeAuthorizer]:
    with FakeAuthorizer() as fake:
        fake.add_user("m@example.com", PASSWORD, roles=["user", "admin"])
        yield fake


def client(fake: FakeAuthorizer, mode: str, **env: str) -> falcon.testing.TestClient:
    settings = Settings.from_environ(
        {
            "AUTHORIZER_URL": fake.url,
            "AUTHORIZER_CLIENT_ID": fake.client_id,
            "AUTHSVC_VERIFY_MODE": mode,
            **env,
        }
    )
    return falcon.testing.TestClient(create_app(settings))


def status(app: falcon.testing.TestClient, token: str, roles: str = "") -> int:
    return app.simulate_get(
        "/verify", query_string=f"roles={roles}", headers={"Authorization": f"Bearer {token}"}
    ).status_code


@pytest.mark.parametrize("mode", ["jwks", "hybrid"])
def test_forged_and_expired_tokens_never_reach_authorizer(fake: FakeAuthorizer, mode: str) -> None:
    app = client(fake, mode)
    login = fake.login("m@example.com", PASSWORD)
    assert status(app, login.access_token) == 200  # keys fetched, the token confirmed
    fake.reset_counters()
    flood = [make_jwt(sub=f"forged-{n}") for n in range(50)]
    claims = fake.token_claims(token_type="id_token")
    flood.append(fake.sign({**claims, "exp": int(claims["exp"]) - 7200}))  # type: ignore[call-overload]
    assert {status(app, token) for token in flood} == {403}
    assert fake.calls.get("validate_jwt_token", 0) == 0


def test_jwks_mode_confirms_locally_and_cannot_see_a_logout(fake: FakeAuthorizer) -> None:
    app = client(fake, "jwks")
    login = fake.login("m@example.com", PASSWORD, roles=["user", "admin"])
    fake.reset_counters()
    assert status(app, login.access_token, "admin") == 200
    assert status(app, login.access_token, "editor") == 403
    assert fake.calls.get("validate_jwt_token", 0) == 0
    other = fake.login("m@example.com", PASSWORD)
    fake.logout(access_token=other.access_token)
    assert status(app, other.access_token) == 200  # the documented trade-off


def test_hybrid_mode_asks_authorizer_for_the_survivors_so_a_logout_counts(
    fake: FakeAuthorizer,
) -> None:
    app = client(fake, "hybrid")
    login = fake.login("m@example.com", PASSWORD)
    fake.logout(access_token=login.access_token)
    fake.reset_counters()
    assert status(app, login.access_token) == 403
    assert fake.calls.get("validate_jwt_token", 0) == 1


def test_jwks_mode_without_reachable_keys_is_503_never_200(fake: FakeAuthorizer) -> None:
    login = fake.login("m@example.com", PASSWORD)
    url = fake.url
    fake.stop()
    settings = Settings.from_environ(
        {
            "AUTHORIZER_URL": url,
            "AUTHORIZER_CLIENT_ID": fake.client_id,
            "AUTHSVC_VERIFY_MODE": "jwks",
            "AUTHSVC_CIRCUIT_FAILURES": "0",
        }
    )
    app = falcon.testing.TestClient(create_app(settings))
    assert status(app, login.access_token) == 503


def test_an_hs_secret_comes_from_a_file_and_both_ways_at_once_are_refused(
    tmp_path: Path,
) -> None:
    with FakeAuthorizer(alg="HS256") as fake:
        fake.add_user("m@example.com", PASSWORD)
        secret = fake.jwt_secret
        assert secret is not None
        path = tmp_path / "secret"
        path.write_bytes(secret + b"\n")
        app = client(fake, "jwks", AUTHSVC_JWT_SECRET_FILE=str(path))
        login = fake.login("m@example.com", PASSWORD)
        fake.reset_counters()
        assert status(app, login.access_token) == 200
        assert fake.calls.get("validate_jwt_token", 0) == 0
        with pytest.raises(SettingsError, match="not both"):
            Settings.from_environ(
                {
                    "AUTHORIZER_URL": fake.url,
                    "AUTHSVC_JWT_SECRET": "x",
                    "AUTHSVC_JWT_SECRET_FILE": str(path),
                }
            )


def test_an_hs256_authorizer_without_a_configured_secret_is_never_a_lockout() -> None:
    """Authorizer publishes no HS key. Without AUTHSVC_JWT_SECRET, valid tokens are not
    "invalid": jwks answers 503 (cannot confirm), hybrid asks Authorizer and allows."""
    with FakeAuthorizer(alg="HS256") as fake:
        fake.add_user("m@example.com", PASSWORD)
        login = fake.login("m@example.com", PASSWORD)
        assert status(client(fake, "jwks", AUTHSVC_CIRCUIT_FAILURES="0"), login.access_token) == 503
        fake.reset_counters()
        assert status(client(fake, "hybrid"), login.access_token) == 200
        assert fake.calls.get("validate_jwt_token", 0) == 1


def test_an_hs_rotation_keeps_old_tokens_valid_through_the_secondary_secret(
    tmp_path: Path,
) -> None:
    """Authorizer's rotation: the old secret becomes --jwt-secondary-secret. Given both,
    jwks mode accepts tokens of either key without asking Authorizer; given only the new
    one, every token issued before the rotation is refused (the lockout the setting avoids)."""
    with FakeAuthorizer(alg="HS256") as fake:
        fake.add_user("m@example.com", PASSWORD)
        before = fake.login("m@example.com", PASSWORD)
        fake.rotate_key()
        after = fake.login("m@example.com", PASSWORD)
        new, old = fake.jwt_secret, fake.jwt_secondary_secret
        assert new is not None
        assert old is not None
        path = tmp_path / "old-secret"
        path.write_bytes(old + b"\n")
        rotated = client(
            fake,
            "jwks",
            AUTHSVC_JWT_SECRET=new.decode(),
            AUTHSVC_JWT_SECONDARY_SECRET_FILE=str(path),
        )
        fake.reset_counters()
        assert status(rotated, before.access_token) == 200
        assert status(rotated, after.access_token) == 200
        assert status(rotated, make_jwt(sub="forged")) == 403
        assert fake.calls.get("validate_jwt_token", 0) == 0
        only_new = client(fake, "hybrid", AUTHSVC_JWT_SECRET=new.decode())
        assert status(only_new, after.access_token) == 200
        assert status(only_new, before.access_token) == 403
        with pytest.raises(SettingsError, match=r"AUTHSVC_JWT_SECONDARY_SECRET_FILE.*not both"):
            Settings.from_environ(
                {
                    "AUTHORIZER_URL": fake.url,
                    "AUTHSVC_JWT_SECONDARY_SECRET": "x",
                    "AUTHSVC_JWT_SECONDARY_SECRET_FILE": str(path),
                }
            )


def test_jwks_mode_fetches_keys_at_start_and_stays_ready_while_authorizer_is_unhealthy(
    fake: FakeAuthorizer,
) -> None:
    """Keys are fetched when the app starts (in the background), so a worker verifies tokens
    even if Authorizer is gone before its first request; and /readyz follows the keys, not
    Authorizer's health: bearer tokens are still checked while Authorizer is down."""
    login = fake.login("m@example.com", PASSWORD)
    fake.reset_counters()
    settings = Settings.from_environ(
        {
            "AUTHORIZER_URL": fake.url,
            "AUTHORIZER_CLIENT_ID": fake.client_id,
            "AUTHSVC_VERIFY_MODE": "jwks",
        }
    )
    app = falcon.testing.TestClient(create_app(settings, every=lambda *args: None))
    deadline = time.monotonic() + 10
    while not any(seen.path == "/.well-known/jwks.json" for seen in fake.requests_seen):
        assert time.monotonic() < deadline, "keys were not fetched at start"
        time.sleep(0.01)
    fake.set_healthy(False)
    assert app.simulate_get("/readyz").status_code == 200
    fake.stop()
    assert status(app, login.access_token) == 200
    remote = falcon.testing.TestClient(
        create_app(Settings.from_environ({"AUTHORIZER_URL": fake.url}))
    )
    assert remote.simulate_get("/readyz").status_code == 503


def test_a_secret_of_another_algorithm_than_authorizers_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """AUTHSVC_JWT_TYPE=HS512 against an HS256 Authorizer refuses every token: said once,
    loudly, when the keys are fetched."""
    with FakeAuthorizer(alg="HS256") as fake:
        fake.add_user("m@example.com", PASSWORD)
        secret = fake.jwt_secret
        assert secret is not None
        app = client(fake, "jwks", AUTHSVC_JWT_SECRET=secret.decode(), AUTHSVC_JWT_TYPE="HS512")
        login = fake.login("m@example.com", PASSWORD)
        with caplog.at_level(logging.ERROR, logger="authsvc.jwks"):
            assert status(app, login.access_token) == 403
            assert status(app, login.access_token) == 403
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "AUTHSVC_JWT_TYPE is HS512, but Authorizer signs with HS256" in errors[0]
    assert secret.decode() not in errors[0]


def test_a_secret_set_in_remote_mode_is_reported_as_unused(
    fake: FakeAuthorizer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authsvc.app"):
        client(fake, "remote", AUTHSVC_JWT_SECRET="forgotten")
    assert any(
        "is not used with AUTHSVC_VERIFY_MODE=remote" in r.getMessage() for r in caplog.records
    )


def test_jwks_mode_with_an_hs_secret_serves_even_if_authorizer_is_down_at_start() -> None:
    """The secret is enough to verify: the issuer comes from settings until discovery answers.
    Without a secret, an HS256 Authorizer's tokens cannot be checked: not ready."""
    with FakeAuthorizer(alg="HS256") as fake:
        fake.add_user("m@example.com", PASSWORD)
        login = fake.login("m@example.com", PASSWORD)
        secret = fake.jwt_secret
        assert secret is not None
        without_secret = client(fake, "jwks")
        assert without_secret.simulate_get("/readyz").status_code == 503
        fake.stop()
        app = client(fake, "jwks", AUTHSVC_JWT_SECRET=secret.decode())
        assert status(app, login.access_token) == 200
        assert app.simulate_get("/readyz").status_code == 200
