"""pytest fixtures for the fake Authorizer; tests/conftest.py imports them.

`fake_authorizer` is a started 2.4 server with the defaults; `fake_authorizer_factory` builds
servers with other settings (dialect, alg, rate limit, MFA, ...) and stops them all afterwards.

PYTEST_DONT_REWRITE: this module holds no asserts; the marker lets it be both imported by
tests/conftest.py and listed in `pytest_plugins` without an "already imported" warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.authorizer import FakeAuthorizer

FakeAuthorizerFactory = Callable[..., FakeAuthorizer]


@pytest.fixture
def fake_authorizer() -> Iterator[FakeAuthorizer]:
    """A started FakeAuthorizer (2.4, RS256, rate limit off), stopped after the test."""
    with FakeAuthorizer() as fake:
        yield fake


@pytest.fixture
def fake_authorizer_factory() -> Iterator[FakeAuthorizerFactory]:
    """`factory(**FakeAuthorizer kwargs)` returns a started server; all are stopped after."""
    started: list[FakeAuthorizer] = []

    def factory(**options: Any) -> FakeAuthorizer:
        fake = FakeAuthorizer(**options).start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        fake.stop()
