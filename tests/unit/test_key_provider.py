"""KeyProvider: when Authorizer's keys are fetched, reused, refreshed and given up on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from authsvc.errors import AuthorizerUnavailable
from authsvc.jwks import Key, KeyProvider, KeySet

ISSUER = "https://auth.example.com"


class Authorizer:
    """Serves numbered key sets; `down` makes every fetch fail."""

    def __init__(self) -> None:
        self.fetches = 0
        self.down = False

    def fetch(self) -> KeySet:
        if self.down:
            raise AuthorizerUnavailable("down")
        self.fetches += 1
        return KeySet((Key("RS256", f"key-{self.fetches}"),), ISSUER)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(
    authorizer: Authorizer, clock: Clock, jobs: list[Callable[[], None]], **kwargs: object
) -> KeyProvider:
    return KeyProvider(
        authorizer.fetch,
        monotonic=clock,
        in_background=jobs.append,  # run by the test, when it chooses
        **kwargs,  # type: ignore[arg-type]  # lifetime_s, static_keys, ...
    )


def world() -> tuple[Authorizer, Clock, list[Callable[[], None]]]:
    return Authorizer(), Clock(), []


def keys(key_set: KeySet) -> list[object]:
    return [key.key for key in key_set.keys]


def test_first_use_fetches_then_reuses() -> None:
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs)
    assert keys(keys_of(False)) == ["key-1"]
    clock.now += 299
    assert keys(keys_of(False)) == ["key-1"]
    assert authorizer.fetches == 1
    assert jobs == []


def test_stale_keys_are_refreshed_in_the_background_while_requests_use_them() -> None:
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs)
    keys_of(False)
    clock.now += 301
    assert keys(keys_of(False)) == ["key-1"]  # answered at once, with the known keys
    assert keys(keys_of(False)) == ["key-1"]
    assert len(jobs) == 1  # one refresh, however many requests saw the keys stale
    jobs.pop()()
    assert keys(keys_of(False)) == ["key-2"]


def test_a_failed_token_refreshes_at_once_but_at_most_every_min_refresh() -> None:
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs, min_refresh_s=5.0)
    keys_of(False)
    clock.now += 6
    assert keys(keys_of(True)) == ["key-2"]  # a rotation: the request waits for new keys
    clock.now += 1
    assert keys(keys_of(True)) == ["key-2"]  # a flood of bad tokens: no fetch each
    assert authorizer.fetches == 2


def test_an_outage_keeps_the_known_keys_until_max_age_then_cannot_confirm() -> None:
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs, max_age_s=900.0)
    keys_of(False)
    authorizer.down = True
    clock.now += 600
    assert keys(keys_of(False)) == ["key-1"]
    jobs.pop()()  # the background refresh fails: the keys stay
    assert keys(keys_of(True)) == ["key-1"]
    clock.now += 301  # 901 s without a successful fetch: a retired key is not trusted forever
    with pytest.raises(AuthorizerUnavailable):
        keys_of(False)
    assert not keys_of.has_keys
    authorizer.down = False
    clock.now += 1
    assert keys(keys_of(False)) == ["key-2"]
    assert keys_of.has_keys


def test_secrets_from_settings_come_first_and_never_age_out() -> None:
    authorizer, clock, jobs = world()
    secret = Key("HS256", b"from settings")
    keys_of = provider(authorizer, clock, jobs, static_keys=[secret], static_issuer=ISSUER)
    # Usable before any fetch (Authorizer may be down when a worker starts); the published
    # keys follow from the background fetch.
    assert keys(keys_of(False)) == [b"from settings"]
    assert keys_of(False).issuer == ISSUER
    jobs.pop()()
    assert keys(keys_of(False)) == [b"from settings", "key-1"]
    authorizer.down = True
    clock.now += 10_000
    assert keys(keys_of(False)) == [b"from settings"]


def test_no_keys_at_all_is_cannot_confirm_and_retried_each_second() -> None:
    authorizer, clock, jobs = world()
    authorizer.down = True
    keys_of = provider(authorizer, clock, jobs)
    with pytest.raises(AuthorizerUnavailable):
        keys_of(False)
    authorizer.down = False
    with pytest.raises(AuthorizerUnavailable):
        keys_of(False)  # within the second: not asked again
    clock.now += 1
    assert keys(keys_of(False)) == ["key-1"]


def test_with_keys_known_a_request_never_waits_for_another_requests_fetch() -> None:
    """A forged-token flood while Authorizer hangs: only the fetching request waits."""
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs)
    keys_of(False)
    clock.now += 301
    keys_of(False)  # stale: a background refresh is started and holds the fetch
    assert len(jobs) == 1
    clock.now += 10
    assert keys(keys_of(True)) == ["key-1"]  # no fetch of its own, no waiting
    assert authorizer.fetches == 1
    jobs.pop()()
    assert keys(keys_of(False)) == ["key-2"]


def test_before_the_first_fetch_a_failed_token_waits_for_it() -> None:
    """At start, a token of a published key must not be refused for want of the fetch."""
    authorizer, clock, jobs = world()
    keys_of = provider(authorizer, clock, jobs, static_keys=[Key("HS256", b"s")])
    assert keys(keys_of(True)) == [b"s", "key-1"]
