from __future__ import annotations

import pytest

from authsvc.cache import DecisionCache, Rejection, key_for
from authsvc.errors import InvalidCredentials
from authsvc.identity import Identity


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_cache(
    clock: FakeClock, *, ttl_s: float = 30, negative_ttl_s: float = 5, max_entries: int = 10
) -> DecisionCache:
    return DecisionCache(
        ttl_s=ttl_s, negative_ttl_s=negative_ttl_s, max_entries=max_entries, clock=clock
    )


def test_entry_expires_after_the_ttl(clock: FakeClock) -> None:
    cache = make_cache(clock)
    assert cache.put(b"k", Identity(subject="u")) == (Identity(subject="u"), 30)
    clock.now += 29.5
    hit = cache.get(b"k")
    assert hit is not None
    assert hit[0] == Identity(subject="u")
    assert hit[1] == pytest.approx(0.5)
    clock.now += 0.5
    assert cache.get(b"k") is None
    assert len(cache) == 0


def test_entry_never_outlives_the_token(clock: FakeClock) -> None:
    cache = make_cache(clock)
    identity = Identity(subject="u", expires_at=clock.now + 5)
    assert cache.put(b"k", identity) == (identity, 5)
    clock.now += 4.9
    assert cache.get(b"k") is not None
    clock.now += 0.1
    assert cache.get(b"k") is None


def test_already_expired_token_is_not_cached(clock: FakeClock) -> None:
    cache = make_cache(clock)
    identity = Identity(subject="u", expires_at=clock.now - 1)
    assert cache.put(b"k", identity) == (identity, 0)
    assert len(cache) == 0


def test_zero_ttl_disables_the_cache(clock: FakeClock) -> None:
    cache = make_cache(clock, ttl_s=0, negative_ttl_s=0)
    cache.put(b"k", Identity(subject="u"))
    cache.put_rejection(b"r", InvalidCredentials)
    assert cache.get(b"k") is None
    assert cache.get(b"r") is None


def test_rejection_is_kept_for_the_negative_ttl_only(clock: FakeClock) -> None:
    cache = make_cache(clock, ttl_s=30, negative_ttl_s=5)
    cache.put_rejection(b"k", InvalidCredentials)
    assert cache.get(b"k") == (Rejection(InvalidCredentials), 5)
    clock.now += 5
    assert cache.get(b"k") is None


def test_least_recently_used_entry_is_dropped_at_the_bound(clock: FakeClock) -> None:
    cache = make_cache(clock, max_entries=2)
    cache.put(b"a", Identity(subject="a"))
    cache.put(b"b", Identity(subject="b"))
    assert cache.get(b"a") is not None  # a is now more recent than b
    cache.put(b"c", Identity(subject="c"))
    assert len(cache) == 2
    assert cache.get(b"b") is None
    assert cache.get(b"a") is not None
    assert cache.get(b"c") is not None


def test_keys_are_digests_that_never_collide_across_part_boundaries() -> None:
    token = "header.payload.signature"
    key = key_for("bearer", token)
    assert token.encode() not in key
    assert len(key) == 32
    assert key_for("session", "ab", "c") != key_for("session", "a", "bc")
    assert key_for("session", "abc") != key_for("session", "abc", "")
    assert key_for("bearer", token) != key_for("session", token)


class SizeEvents:
    """Records what the cache reports as its size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def cache_lookup(self, *, hit: bool) -> None:
        pass

    def cache_evicted(self) -> None:
        pass

    def cache_size(self, entries: int) -> None:
        self.sizes.append(entries)


def test_sweep_drops_only_expired_entries_and_reports_the_new_size(clock: FakeClock) -> None:
    events = SizeEvents()
    cache = DecisionCache(ttl_s=30, negative_ttl_s=5, max_entries=100, clock=clock, events=events)
    for n in range(10):
        cache.put(key_for("long", str(n)), Identity(subject=f"u{n}"))
        cache.put(key_for("short", str(n)), Identity(subject=f"s{n}", expires_at=clock.now + 3))
        cache.put_rejection(key_for("bad", str(n)), InvalidCredentials)
    assert events.sizes[-1] == 30
    clock.now += 10
    pauses: list[None] = []
    assert cache.sweep(chunk=7, pause=lambda: pauses.append(None)) == 20
    assert len(pauses) == 5  # 30 keys in chunks of 7: requests get a turn between chunks
    assert len(cache) == 10
    assert events.sizes[-1] == 10
    assert all(cache.get(key_for("long", str(n))) is not None for n in range(10))
    assert cache.sweep() == 0


def test_an_expired_entry_found_by_a_lookup_leaves_the_size_too(clock: FakeClock) -> None:
    events = SizeEvents()
    cache = DecisionCache(ttl_s=30, negative_ttl_s=5, max_entries=10, clock=clock, events=events)
    cache.put(b"a", Identity(subject="a"))
    cache.put(b"b", Identity(subject="b"))
    clock.now += 30
    assert cache.get(b"a") is None
    assert events.sizes[-1] == 1
