from __future__ import annotations

import pytest

from authsvc.authorizer import origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://authorizer:8080", "http://authorizer:8080"),
        ("http://authorizer:80", "http://authorizer"),
        ("https://Auth.Example.com:443", "https://auth.example.com"),
        ("https://auth.example.com:8443/base", "https://auth.example.com:8443"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_origin_matches_the_host_header_requests_sends(url: str, origin: str) -> None:
    assert origin_of(url) == origin
