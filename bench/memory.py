"""Memory per cached credential, measured in a fresh Python process.

Fills an `authsvc.cache.DecisionCache` with ENTRIES distinct entries built the way authsvc
builds them (key from `authorization_key` over a token-sized header, Identity from a JSON
claim set through `identity_from_claims`), then reports two figures: the growth of this
process's VmRSS, and the bytes tracemalloc sees still allocated (a second, separate fill).
Run it as `python -m bench.memory --entries 100000`; bench/run runs it in a child process.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import secrets
import sys
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from typing import Any

from authsvc.cache import DecisionCache, authorization_key
from authsvc.identity import identity_from_claims
from bench import procs

ENTRIES = 100_000
TOKEN_CHARS = 800  # the size of the fake Authorizer's RS256 access tokens
ROLE_CLAIM = "role"


def new_cache(entries: int) -> DecisionCache:
    """A cache holding up to `entries`, built with whatever keywords this authsvc takes."""
    candidates: dict[str, Any] = {
        "ttl_s": 3600.0,
        "negative_ttl_s": 5.0,
        "max_entries": entries,
        "clock": time.time,
    }
    accepted = inspect.signature(DecisionCache).parameters
    return DecisionCache(**{k: v for k, v in candidates.items() if k in accepted})


def fill(cache: DecisionCache, entries: int) -> None:
    """Distinct users, emails and tokens: the worst case, nothing shared between entries."""
    now = int(time.time())
    for index in range(entries):
        token = secrets.token_urlsafe(TOKEN_CHARS * 3 // 4)
        claims = json.loads(
            json.dumps(
                {
                    "sub": str(uuid.uuid4()),
                    "email": f"user{index}@example.com",
                    "role": ["user"],
                    "token_type": "access_token",
                    "exp": now + 1800,
                }
            )
        )
        cache.put(authorization_key(f"Bearer {token}"), identity_from_claims(claims, ROLE_CLAIM))


def measure(entries: int) -> dict[str, float]:
    """Bytes per entry by RSS growth, then by tracemalloc; plus the baseline RSS in KiB."""
    gc.collect()
    rss_before = procs.rss_kib_self()
    cache = new_cache(entries)
    fill(cache, entries)
    gc.collect()
    rss_after = procs.rss_kib_self()
    filled = len(cache)
    del cache
    gc.collect()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    cache = new_cache(entries)
    fill(cache, entries)
    gc.collect()
    traced_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "entries": filled,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_bytes_per_entry": (rss_after - rss_before) * 1024 / filled,
        "traced_bytes_per_entry": (traced_after - traced_before) / len(cache),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--entries", type=int, default=ENTRIES)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.entries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
