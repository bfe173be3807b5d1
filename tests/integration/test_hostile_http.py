"""Hostile HTTP on a raw socket to authsvc as users run it (gunicorn, gevent, one worker).

What gunicorn refuses itself (over-limit request line or headers, control characters) must be
a 4xx that names no credential; everything else must reach authsvc and get a decision. Never a
5xx (no Authorizer outage is scripted here), and never a 200 unless exactly one valid
credential was meant.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fakes.authorizer import FakeAuthorizer, Tokens
from tests.support.stack import running_authsvc

PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Server:
    port: int
    tokens: Tokens  # a real login's tokens, roles ["user", "admin"]
    log: Path  # everything authsvc (gunicorn and its workers) wrote


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes

    @property
    def reason(self) -> str:
        return self.headers.get("x-auth-request-error", "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with FakeAuthorizer(client_id="hostile-http") as fake:
        fake.add_user("ann@example.com", PASSWORD, roles=["user", "admin"])
        tokens = fake.login("ann@example.com", PASSWORD, roles=["user", "admin"])
        workdir = tmp_path_factory.mktemp("hostile-http")
        settings = {"AUTHORIZER_URL": fake.url, "AUTHORIZER_CLIENT_ID": fake.client_id}
        with running_authsvc(workdir, settings, workers=1) as url:
            port = urlsplit(url).port
            assert port is not None
            yield Server(port, tokens, workdir / "authsvc.log")


def exchange(server: Server, head: bytes) -> Answer:
    """Send ``head`` (request line and headers, CRLF-terminated) and read the whole answer."""
    request = head + b"Host: authsvc.test\r\nConnection: close\r\n\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # gunicorn may answer an oversized request and close before reading all of it.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # the unread rest of an oversized request
                break
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    return Answer(int(status_line.split()[1]), headers, body, data)


def get(server: Server, *headers: bytes, target: bytes = b"/verify") -> Answer:
    return exchange(
        server, b"GET " + target + b" HTTP/1.1\r\n" + b"".join(h + b"\r\n" for h in headers)
    )


def bearer(token: str) -> bytes:
    return b"Authorization: Bearer " + token.encode("ascii")


def assert_decision(answer: Answer, status: int, reason: str) -> None:
    assert answer.status == status
    assert answer.reason == reason
    assert f'"error": "{reason}"'.encode() in answer.body


def assert_refused_by_gunicorn(answer: Answer, status: int, says: bytes) -> None:
    """gunicorn's own HTML error page: a 4xx that closes the connection and names only the
    status, never a byte of the request (authsvc.redaction)."""
    assert answer.status == status
    assert "x-auth-request-error" not in answer.headers  # authsvc never saw the request
    assert answer.headers["connection"] == "close"
    assert says in answer.body


def test_one_valid_token_is_allowed(server: Server) -> None:
    """The control for every refusal below."""
    answer = get(server, bearer(server.tokens.access_token), target=b"/verify?roles=admin")
    assert answer.status == 200
    assert answer.headers["x-auth-request-user"] == server.tokens.user_id


# -- two Authorization headers: gunicorn joins them with "," (RFC 9110 5.3) -----------------


def test_the_same_token_twice_is_invalid_never_200(server: Server) -> None:
    token = bearer(server.tokens.access_token)
    assert_decision(get(server, token, token), 403, "invalid_credential")


def test_a_valid_token_and_another_one_are_invalid(server: Server) -> None:
    answer = get(server, bearer(server.tokens.access_token), bearer(server.tokens.id_token))
    assert_decision(answer, 403, "invalid_credential")


def test_a_valid_token_then_basic_credentials_is_invalid(server: Server) -> None:
    answer = get(server, bearer(server.tokens.access_token), b"Authorization: Basic dXNlcjpwYXNz")
    assert_decision(answer, 403, "invalid_credential")


def test_basic_credentials_then_a_valid_token_is_not_a_bearer_credential(server: Server) -> None:
    """Joined, the header's scheme is Basic: ignored, and no session cookie is left."""
    answer = get(server, b"Authorization: Basic dXNlcjpwYXNz", bearer(server.tokens.access_token))
    assert_decision(answer, 403, "missing_credential")


def test_an_empty_authorization_header_beside_a_valid_one_is_never_200(server: Server) -> None:
    for headers in [
        (b"Authorization:", bearer(server.tokens.access_token)),
        (bearer(server.tokens.access_token), b"Authorization:"),
    ]:
        answer = get(server, *headers)
        assert answer.status == 403
        assert answer.reason in {"missing_credential", "invalid_credential"}


# -- what gunicorn refuses itself ------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \x00",
        b"Authorization: Bearer <token>\x00",
        b"Authorization: Bearer\x00<token>",
        b"Authorization: Bearer <token>\x01",
        b"Authorization: Bearer <token>\x7f",
        b"Authorization: Bearer <token>\rX: y",
    ],
    ids=["nul-alone", "nul-after", "nul-as-separator", "control", "delete", "bare-cr"],
)
def test_control_characters_in_the_header_are_gunicorns_400_naming_no_token(
    server: Server, header: bytes
) -> None:
    token = server.tokens.access_token.encode()
    answer = get(server, header.replace(b"<token>", token))
    assert_refused_by_gunicorn(answer, 400, b"<p>Bad Request</p>")
    assert b"AUTHORIZATION" not in answer.body
    assert token[:40] not in answer.raw


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"GET /verify?access_token=<token>\x01 HTTP/1.1\r\n", "Invalid HTTP request line"),
        (b"GET /verify?access_token=<token> x HTTP/1.1\r\n", "Invalid HTTP Version"),
        (b"G\x01T /verify?access_token=<token> HTTP/1.1\r\n", "Invalid HTTP method"),
        (b"GET /verify HTTP/1.1\r\nX-<token>\x01: y\r\n", "Invalid HTTP header name"),
        (b"GET /verify HTTP/1.1\r\nTransfer-Encoding: <token>\r\n", "Unsupported transfer coding"),
        (b"GET /verify HTTP/1.1\r\nExpect: <token>\r\n", "Unable to comply with expectation"),
    ],
    ids=["request-line", "version", "method", "header-name", "transfer-coding", "expect"],
)
def test_gunicorns_refusals_neither_log_nor_echo_the_request(
    server: Server, head: bytes, kind: str
) -> None:
    """gunicorn itself would log and answer these bytes; authsvc keeps only the kind of error."""
    token = server.tokens.access_token
    answer = exchange(server, head.replace(b"<token>", token.encode()))
    assert 400 <= answer.status < 500  # the client's fault: never a 5xx
    assert token[:40].encode() not in answer.raw
    # gunicorn logs the refusal before it answers, so the line is there now.
    log = server.log.read_text()
    assert f"Invalid request from ip=127.0.0.1: {kind} (detail withheld" in log
    assert token[:40] not in log


def test_obsolete_line_folding_is_gunicorns_400(server: Server) -> None:
    token = server.tokens.access_token.encode()
    answer = get(server, b"Authorization: Bearer\r\n " + token)
    assert_refused_by_gunicorn(answer, 400, b"<p>Bad Request</p>")
    assert token[:40] not in answer.raw


def test_a_100_kb_request_line_is_gunicorns_414(server: Server) -> None:
    """gunicorn's limit_request_line is 8190 (its maximum); authsvc's own URLs are short."""
    target = b"/verify?roles=" + b"a" * 100_000
    answer = get(server, bearer(server.tokens.access_token), target=target)
    assert_refused_by_gunicorn(answer, 414, b"<p>URI Too Long</p>")


def test_a_request_line_just_under_the_limit_is_decided(server: Server) -> None:
    padding = b"x=" + b"p" * 8000
    answer = get(
        server, bearer(server.tokens.access_token), target=b"/verify?" + padding + b"&roles=admin"
    )
    assert answer.status == 200


def test_raw_non_ascii_in_the_query_is_gunicorns_400(server: Server) -> None:
    answer = get(server, bearer(server.tokens.access_token), target=b"/verify?roles=\xc3\xa9")
    assert_refused_by_gunicorn(answer, 400, b"<p>Bad Request</p>")


def test_a_cookie_header_over_128_kib_is_gunicorns_431(server: Server) -> None:
    cookie = b"Cookie: cookie_session=" + server.tokens.session_cookie.encode()
    answer = get(server, cookie + b"; big=" + b"x" * 140_000)
    assert_refused_by_gunicorn(answer, 431, b"<p>Request Header Fields Too Large</p>")


def test_more_than_256_headers_are_gunicorns_431(server: Server) -> None:
    many = [b"X-Noise-%d: v" % i for i in range(300)]
    answer = get(server, bearer(server.tokens.access_token), *many)
    assert_refused_by_gunicorn(answer, 431, b"<p>Request Header Fields Too Large</p>")


# -- what reaches authsvc --------------------------------------------------------------------


def test_a_64_kib_token_reaches_authsvc_and_is_invalid(server: Server) -> None:
    assert_decision(get(server, bearer("a" * 64 * 1024 + ".b.c")), 403, "invalid_credential")


def test_utf8_bytes_in_the_token_are_invalid(server: Server) -> None:
    token = server.tokens.access_token.encode()
    answer = get(server, b"Authorization: Bearer " + token[:-2] + "é".encode())
    assert_decision(answer, 403, "invalid_credential")


def test_a_comma_in_the_token_is_invalid(server: Server) -> None:
    token = server.tokens.access_token
    assert_decision(get(server, bearer(token.replace(".", ",", 1))), 403, "invalid_credential")


@pytest.mark.parametrize(
    "spelling",
    [
        b"Authorization:Bearer  <token>  ",
        b"authorization: bearer\t<token>",
        b"AUTHORIZATION: BEARER <token>",
    ],
)
def test_header_and_scheme_case_and_whitespace_do_not_matter(
    server: Server, spelling: bytes
) -> None:
    answer = get(server, spelling.replace(b"<token>", server.tokens.access_token.encode()))
    assert answer.status == 200


def test_an_underscore_lookalike_header_is_dropped_by_gunicorn(server: Server) -> None:
    """``Authori_zation`` would collide with HTTP_AUTHORIZATION in the environ; gunicorn drops
    header names with underscores, so it never counts as a credential."""
    answer = get(server, b"Authori_zation: Bearer " + server.tokens.access_token.encode())
    assert_decision(answer, 403, "missing_credential")


def test_a_session_cookie_among_thousands_of_cookies_is_found(server: Server) -> None:
    noise = b"; ".join(b"c%d=%s" % (i, b"v" * 30) for i in range(2000))  # about 76 KB
    cookie = b"Cookie: " + noise + b"; cookie_session=" + server.tokens.session_cookie.encode()
    answer = get(server, cookie)
    assert answer.status == 200
    assert answer.headers["x-auth-request-user"] == server.tokens.user_id


@pytest.mark.parametrize(
    "cookie",
    [
        b";;;",
        b"=",
        b"cookie_session",
        b"cookie_session=",
        b'cookie_session="',
        b"cookie_session=%ZZ",
    ],
)
def test_malformed_cookie_syntax_is_a_denial(server: Server, cookie: bytes) -> None:
    answer = get(server, b"Cookie: " + cookie)
    assert answer.status == 403
    assert answer.reason in {"missing_credential", "invalid_credential"}
