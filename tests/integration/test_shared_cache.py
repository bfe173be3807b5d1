"""The shared decision cache on a real redis-server: fleet-wide reuse, and failures as misses."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest
import redis
import requests

from authsvc.app import create_app
from authsvc.cache import Rejection
from authsvc.errors import InvalidCredentials
from authsvc.identity import Identity
from authsvc.settings import Settings
from authsvc.shared_cache import PREFIX, SharedCache
from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes
from tests.support.redis_server import running_redis
from tests.support.resp_server import RespServer
from tests.support.stack import MissingBinary

PASSWORD = "a shared-cache password"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with running_redis(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except MissingBinary as exc:
        pytest.skip(str(exc))


class Events:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def shared_cache_event(self, event: str) -> None:
        self.seen.append(event)


def test_verdicts_round_trip_with_their_remaining_life(redis_url: str) -> None:
    events = Events()
    cache = SharedCache.from_url(
        redis_url, timeout_s=0.5, events=events, ttl_s=30, negative_ttl_s=5
    )
    identity = Identity("u-1", "u@example.com", ("admin", "user"), True, "access_token", 2e9)
    cache.put(b"\x01" * 32, (identity, 30.0))
    cache.put(b"\x02" * 32, (Rejection(InvalidCredentials), 5.0))
    hit = cache.get(b"\x01" * 32)
    assert hit is not None
    assert hit[0] == identity
    assert 29 < hit[1] <= 30
    rejected = cache.get(b"\x02" * 32)
    assert rejected is not None
    assert rejected[0] == Rejection(InvalidCredentials)
    assert cache.get(b"\x03" * 32) is None
    assert events.seen == ["hit", "hit", "miss"]
    keys = redis.Redis.from_url(redis_url).keys(PREFIX + "*")
    assert all(len(key) == len(PREFIX) + 64 for key in keys)  # digests, never credentials


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b"[]",
        b'{"px": 1000, "sub": "", "email": "", "roles": []}',
        b'{"px": 1000, "rejected": "allow"}',
        b'{"rejected": "invalid_credential"}',  # no written expiry
        b'{"px": 1e3, "rejected": "invalid_credential"}',
        b'{"px": true, "rejected": "invalid_credential"}',
        b"[" * 100_000,  # nesting deep enough to exhaust the JSON decoder's recursion
        b'{"px": 1000, "rejected": "invalid_credential", "pad": "' + b"x" * 5000 + b'"}',
    ],
)
def test_anything_unexpected_in_redis_is_a_miss(redis_url: str, stored: bytes) -> None:
    events = Events()
    cache = SharedCache.from_url(redis_url, timeout_s=0.5, events=events)
    redis.Redis.from_url(redis_url).set(cache.redis_key(b"\xab" * 32), stored, px=10_000)
    assert cache.get(b"\xab" * 32) is None
    assert events.seen == ["unreadable"]


def test_deployments_sharing_a_redis_never_answer_for_each_other(redis_url: str) -> None:
    prod = SharedCache.from_url(redis_url, timeout_s=0.5, namespace="https://auth\nprod\nremote")
    staging = SharedCache.from_url(
        redis_url, timeout_s=0.5, namespace="https://staging-auth\nprod\nremote"
    )
    jwks = SharedCache.from_url(redis_url, timeout_s=0.5, namespace="https://auth\nprod\njwks")
    staging.put(b"\x05" * 32, (Identity("someone"), 30.0))
    jwks.put(b"\x06" * 32, (Identity("logged-out"), 30.0))
    assert staging.get(b"\x05" * 32) is not None
    assert prod.get(b"\x05" * 32) is None
    assert prod.get(b"\x06" * 32) is None  # a jwks replica's allow ignores logouts


def test_a_reader_never_serves_a_decision_older_than_its_own_ttl(redis_url: str) -> None:
    """A deployment with a longer TTL (or before a TTL was lowered) wrote the decision. Its
    age is told by Redis's clock alone, so no replica's clock can stretch it."""
    writer = SharedCache.from_url(redis_url, timeout_s=0.5, ttl_s=300)
    writer.put(b"\x09" * 32, (Identity("logged-out-later"), 300.0))
    writer.put(b"\x0a" * 32, (Rejection(InvalidCredentials), 300.0))
    raw = redis.Redis.from_url(redis_url)

    def age(key: bytes, seconds: int) -> None:  # as if written `seconds` ago
        raw.pexpire(writer.redis_key(key), (300 - seconds) * 1000)

    def reader(ttl_s: float) -> SharedCache:
        return SharedCache.from_url(redis_url, timeout_s=0.5, ttl_s=ttl_s, negative_ttl_s=ttl_s)

    assert reader(0).get(b"\x09" * 32) is None  # AUTHSVC_CACHE_TTL=0: never a cached allow
    age(b"\x09" * 32, 10)
    age(b"\x0a" * 32, 10)
    hit = reader(30).get(b"\x09" * 32)
    assert hit is not None
    assert hit[1] == pytest.approx(20, abs=0.5)
    assert reader(5).get(b"\x0a" * 32) is None
    age(b"\x09" * 32, 60)
    assert reader(30).get(b"\x09" * 32) is None
    assert writer.get(b"\x09" * 32) is not None


def test_a_shared_allow_never_outlives_the_tokens_exp(redis_url: str) -> None:
    now = 1_900_000_000.0
    cache = SharedCache.from_url(redis_url, timeout_s=0.5, ttl_s=30, clock=lambda: now)
    cache.put(b"\x07" * 32, (Identity("u", expires_at=now - 60), 30.0))  # Redis TTL 30 s
    cache.put(b"\x08" * 32, (Identity("u", expires_at=now + 5), 30.0))
    assert cache.get(b"\x07" * 32) is None
    hit = cache.get(b"\x08" * 32)
    assert hit is not None
    assert hit[1] <= 5


def test_a_redis_that_is_down_is_a_miss_quickly_and_left_alone_for_a_while() -> None:
    events = Events()
    closed = f"redis://127.0.0.1:{processes.free_port()}/0"
    cache = SharedCache.from_url(closed, timeout_s=0.2, events=events)
    assert cache.get(b"\x01" * 32) is None
    assert cache.get(b"\x01" * 32) is None  # resting: not even tried
    cache.put(b"\x01" * 32, (Identity("u"), 30.0))
    assert events.seen == ["error"]


@pytest.mark.parametrize("reply", [b":5\r\n", b"*1\r\n$1\r\na\r\n", b"+OK\r\n", b"-ERR nope\r\n"])
def test_a_reply_of_another_type_is_a_miss_never_an_exception(reply: bytes) -> None:
    with RespServer(reply) as server:
        cache = SharedCache.from_url(server.url, timeout_s=0.5)
        assert cache.get(b"\x01" * 32) is None


def test_a_url_option_redis_py_chokes_on_is_a_miss_never_a_500(redis_url: str) -> None:
    """redis-py accepts ?timeout=5 in the URL, then fails on every command with a TypeError."""
    events = Events()
    cache = SharedCache.from_url(redis_url + "?timeout=5", timeout_s=0.5, events=events)
    assert cache.get(b"\x01" * 32) is None
    cache.put(b"\x01" * 32, (Identity("u"), 30.0))
    assert events.seen == ["error"]


def test_a_trickling_redis_cannot_hold_a_decision_past_the_deadline() -> None:
    """Each byte arrives within the socket timeout; the whole answer never does in time."""
    value = b'{"px": 1000, "rejected": "invalid_credential"}'
    reply = b"$%d\r\n%s\r\n" % (len(value), value)
    events = Events()
    with RespServer(reply, trickle_s=0.05) as server:
        cache = SharedCache.from_url(server.url, timeout_s=0.2, events=events)
        started = time.monotonic()
        assert cache.get(b"\x01" * 32) is None
        assert time.monotonic() - started < 1.0
        assert cache.get(b"\x01" * 32) is None  # resting: not asked again
        assert events.seen == ["error"]


@contextlib.contextmanager
def authsvc(tmp_path: Path, fake: FakeAuthorizer, redis_url: str) -> Iterator[str]:
    """An authsvc instance (2 workers) on the shared Redis; yields its URL."""
    port = processes.free_port()
    env = {
        **os.environ,
        "AUTHORIZER_URL": fake.url,
        "AUTHORIZER_CLIENT_ID": fake.client_id,
        "AUTHSVC_BIND": f"127.0.0.1:{port}",
        "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
        "AUTHSVC_WORKERS": "2",
        "AUTHSVC_CACHE_URL": redis_url,
    }
    process = processes.start(
        "authsvc", [sys.executable, "-m", "authsvc"], log_path=tmp_path / f"{port}.log", env=env
    )
    try:
        processes.wait_for_http(process, f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop(process)


def test_two_authsvc_instances_share_one_authorizer_call_per_token(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        FakeAuthorizer() as fake,
        contextlib.ExitStack() as stack,
        requests.Session() as session,
    ):
        fake.add_user("s@example.com", PASSWORD)
        tokens = [fake.login("s@example.com", PASSWORD).access_token for _ in range(10)]
        instances = [stack.enter_context(authsvc(tmp_path, fake, redis_url)) for _ in range(2)]
        fake.reset_counters()
        for url in instances:
            for token in tokens * 4:  # several requests each: both workers of each instance
                answer = session.get(
                    f"{url}/verify", headers={"Authorization": f"Bearer {token}"}, timeout=10
                )
                assert answer.status_code == 200
        # Ten tokens, two instances of two workers each: ten Authorizer calls in all.
        assert fake.calls.get("validate_jwt_token", 0) == len(tokens)


def test_deployments_reading_roles_from_different_claims_never_share(redis_url: str) -> None:
    """A reads roles from allowed_roles (the user's full set), B from role (login-time)."""
    with FakeAuthorizer() as fake:
        fake.add_user("r@example.com", PASSWORD, roles=["user", "admin"])
        id_token = fake.login("r@example.com", PASSWORD, roles=["user"]).id_token

        def app(**env: str) -> falcon.testing.TestClient:
            settings = Settings.from_environ(
                {
                    "AUTHORIZER_URL": fake.url,
                    "AUTHORIZER_CLIENT_ID": fake.client_id,
                    "AUTHSVC_CACHE_URL": redis_url,
                    **env,
                }
            )
            return falcon.testing.TestClient(create_app(settings))

        headers = {"Authorization": f"Bearer {id_token}"}
        first = app(AUTHSVC_ROLE_CLAIM="allowed_roles")
        assert (
            first.simulate_get("/verify", params={"roles": "admin"}, headers=headers).status_code
            == 200
        )
        second = app()
        assert (
            second.simulate_get("/verify", params={"roles": "admin"}, headers=headers).status_code
            == 403
        )
