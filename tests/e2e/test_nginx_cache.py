"""The optional nginx decision cache (deploy/nginx/authsvc-auth-cached.conf) through real nginx.

A stored allow must only ever answer the same credential on a route requiring the same roles.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import Login, stack_outcomes
from tests.fakes.authorizer import FakeAuthorizer
from tests.support import stack
from tests.support.echo_backend import EchoBackend

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cached_nginx(
    tmp_path_factory: pytest.TempPathFactory, authsvc: str, app: EchoBackend
) -> Iterator[str]:
    with stack_outcomes():
        proxy = stack.running_cached_nginx(
            tmp_path_factory.mktemp("nginx-cache"), authsvc_url=authsvc, app_url=app.url
        )
        with proxy as running:
            yield running.url


@pytest.fixture(scope="module")
def cached_nginx_during_outage(
    tmp_path_factory: pytest.TempPathFactory, authsvc_without_authorizer: str, app: EchoBackend
) -> Iterator[str]:
    with stack_outcomes():
        proxy = stack.running_cached_nginx(
            tmp_path_factory.mktemp("nginx-cache-outage"),
            authsvc_url=authsvc_without_authorizer,
            app_url=app.url,
        )
        with proxy as running:
            yield running.url


def get(
    http: requests.Session, url: str, *, token: str = "", cookie: str = ""
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = f"cookie_session={cookie}"
    return http.get(url, headers=headers, timeout=15)


def test_repeated_credential_is_answered_by_nginx(
    http: requests.Session, cached_nginx: str, user: Login
) -> None:
    token = user.tokens.access_token
    first = get(http, f"{cached_nginx}/cache-a", token=token)
    second = get(http, f"{cached_nginx}/cache-a", token=token)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["X-Authsvc-Cache"] in {"MISS", "HIT"}
    assert second.headers["X-Authsvc-Cache"] == "HIT"
    assert second.json()["headers"]["x-auth-request-user"] == user.tokens.user_id


def test_cached_allow_never_answers_another_user(
    http: requests.Session, cached_nginx: str, user: Login, admin: Login
) -> None:
    get(http, f"{cached_nginx}/cache-b", token=user.tokens.access_token)
    other = get(http, f"{cached_nginx}/cache-b", token=admin.tokens.access_token)
    assert other.status_code == 200
    assert other.headers["X-Authsvc-Cache"] == "MISS"
    assert other.json()["headers"]["x-auth-request-user"] == admin.tokens.user_id


def test_cached_session_never_answers_another_session(
    http: requests.Session, cached_nginx: str, user: Login, admin: Login
) -> None:
    get(http, f"{cached_nginx}/cache-c", cookie=user.tokens.session_cookie)
    mine = get(http, f"{cached_nginx}/cache-c", cookie=user.tokens.session_cookie)
    other = get(http, f"{cached_nginx}/cache-c", cookie=admin.tokens.session_cookie)
    assert mine.headers["X-Authsvc-Cache"] == "HIT"
    assert other.headers["X-Authsvc-Cache"] == "MISS"
    assert other.json()["headers"]["x-auth-request-user"] == admin.tokens.user_id


def test_cached_allow_never_answers_a_stricter_route(
    http: requests.Session, cached_nginx: str, user: Login
) -> None:
    token = user.tokens.access_token
    for _ in range(2):
        assert get(http, f"{cached_nginx}/cache-d", token=token).status_code == 200
    stricter = get(http, f"{cached_nginx}/admin/cache-d", token=token)
    assert stricter.status_code == 403
    assert stricter.headers["X-Auth-Request-Error"] == "missing_role"
    assert stricter.headers["X-Authsvc-Cache"] == "MISS"


def test_denial_is_cached_briefly(http: requests.Session, cached_nginx: str) -> None:
    garbage = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    first = get(http, f"{cached_nginx}/cache-e", token=garbage)
    second = get(http, f"{cached_nginx}/cache-e", token=garbage)
    assert (first.status_code, second.status_code) == (403, 403)
    assert second.headers["X-Authsvc-Cache"] == "HIT"
    assert second.headers["X-Auth-Request-Error"] == "invalid_credential"


def test_unavailable_is_never_cached(
    http: requests.Session, cached_nginx_during_outage: str, user: Login
) -> None:
    for _ in range(3):
        answer = get(http, f"{cached_nginx_during_outage}/cache-f", token=user.tokens.access_token)
        assert answer.status_code == 500  # nginx's answer to the auth subrequest's 503
        assert answer.headers["X-Auth-Request-Error"] == "authorizer_unavailable"
        assert answer.headers["X-Authsvc-Cache"] != "HIT"


def test_authsvc_is_asked_once_for_many_requests(
    http: requests.Session, cached_nginx: str, authorizer: FakeAuthorizer, admin: Login
) -> None:
    token = admin.tokens.id_token
    for _ in range(20):
        assert get(http, f"{cached_nginx}/admin/cache-g", token=token).status_code == 200
    assert sum(1 for r in authorizer.requests_seen if token.encode() in r.body) <= 2


def test_decision_cache_directory_is_in_memory() -> None:
    """Each cache file holds its key in clear, i.e. a live credential: never on disk."""
    zone = (stack.NGINX_RECIPE / "authsvc-cache-zone.conf").read_text()
    assert stack.CACHE_ZONE_PATH.startswith(("/run/", "/dev/shm/"))  # noqa: S108  # a check, not a use
    assert f"proxy_cache_path {stack.CACHE_ZONE_PATH} " in zone
