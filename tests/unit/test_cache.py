from __future__ import annotations

from authsvc.cache import DecisionCache, key_for
from authsvc.identity import Identity


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_entry_expires_after_the_ttl() -> None:
    clock = FakeClock()
    cache = DecisionCache(ttl_s=30, max_entries=10, clock=clock)
    cache.put(b"k", Identity(subject="u"))
    clock.now += 29.9
    assert cache.get(b"k") == Identity(subject="u")
    clock.now += 0.1
    assert cache.get(b"k") is None
    assert len(cache) == 0


def test_entry_never_outlives_the_token() -> None:
    clock = FakeClock()
    cache = DecisionCache(ttl_s=30, max_entries=10, clock=clock)
    cache.put(b"k", Identity(subject="u", expires_at=clock.now + 5))
    clock.now += 4.9
    assert cache.get(b"k") is not None
    clock.now += 0.1
    assert cache.get(b"k") is None


def test_already_expired_token_is_not_cached() -> None:
    clock = FakeClock()
    cache = DecisionCache(ttl_s=30, max_entries=10, clock=clock)
    cache.put(b"k", Identity(subject="u", expires_at=clock.now))
    assert len(cache) == 0


def test_zero_ttl_disables_the_cache() -> None:
    cache = DecisionCache(ttl_s=0, max_entries=10, clock=FakeClock())
    cache.put(b"k", Identity(subject="u"))
    assert cache.get(b"k") is None


def test_least_recently_used_entry_is_dropped_at_the_bound() -> None:
    cache = DecisionCache(ttl_s=30, max_entries=2, clock=FakeClock())
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
    key = key_for("bearer", "access_token", token)
    assert token.encode() not in key
    assert len(key) == 32
    assert key_for("session", "ab", "c") != key_for("session", "a", "bc")
    assert key_for("session", "abc") != key_for("session", "abc", "")
    assert key_for("bearer", "id_token", token) != key_for("bearer", "access_token", token)
