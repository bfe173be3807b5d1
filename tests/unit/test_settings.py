from __future__ import annotations

import os
from pathlib import Path

import pytest

from authsvc.errors import SettingsError
from authsvc.settings import SPECS, Settings, describe

BASE = {"AUTHORIZER_URL": "https://auth.example.com/"}


def test_defaults_match_the_documented_ones() -> None:
    settings = Settings.from_environ(BASE)
    assert settings.authorizer_url == "https://auth.example.com"
    assert settings.bind == "0.0.0.0:8080"
    assert settings.unauthenticated_status == "403"
    assert settings.token_types == {"access_token", "id_token"}
    assert settings.role_claim == "role"
    assert settings.cache_ttl_s == 30
    assert settings.workers == (os.cpu_count() or 1)
    assert settings.session_cookies == ("cookie_session", "cookie_session_domain")
    assert settings.issuer_url == "https://auth.example.com"


def test_public_url_becomes_the_issuer() -> None:
    settings = Settings.from_environ(
        {"AUTHORIZER_URL": "http://authorizer:8080", "AUTHORIZER_PUBLIC_URL": "https://a.example"}
    )
    assert settings.issuer_url == "https://a.example"


def test_missing_authorizer_url_is_named() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({})
    assert info.value.problems == ["AUTHORIZER_URL: required, not set"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHORIZER_URL", "auth.example.com"),
        ("AUTHORIZER_URL", "ftp://auth.example.com"),
        ("AUTHORIZER_URL", "https://auth.example.com/?x=1"),
        ("AUTHSVC_CACHE_TTL", "ten"),
        ("AUTHSVC_CACHE_TTL", "-1"),
        ("AUTHSVC_CACHE_TTL", "nan"),
        ("AUTHSVC_UNAUTHENTICATED_STATUS", "402"),
        ("AUTHSVC_TOKEN_TYPES", "access_token,magic_token"),
        ("AUTHSVC_TOKEN_TYPES", ","),
        ("AUTHSVC_BIND", "8080"),
        ("AUTHSVC_BIND", "localhost:99999"),
        ("AUTHSVC_WORKERS", "0"),
        ("AUTHSVC_AUTHORIZER_TIMEOUT", "0"),
        ("AUTHSVC_LOG_LEVEL", "LOUD"),
        ("AUTHORIZER_URL", "http://auth.example.com:abc"),
        ("AUTHORIZER_URL", "http://auth.example.com:99999"),
        ("AUTHSVC_SESSION_COOKIES", "a b,c=d"),
        ("AUTHSVC_BIND", "unix:"),
    ],
)
def test_bad_value_is_refused_with_a_line_naming_the_setting(name: str, value: str) -> None:
    environ = {**BASE, name: value}
    with pytest.raises(SettingsError) as info:
        Settings.from_environ(environ)
    (problem,) = info.value.problems
    assert problem.startswith(f"{name}: ")
    assert repr(value) in problem


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("AUTHSVC_LOG_LEVEL", "debug", "DEBUG"),
        ("AUTHSVC_LOG_LEVEL", " Warning ", "WARNING"),
        ("AUTHSVC_WORKER_CLASS", "GEVENT", "gevent"),
    ],
)
def test_choices_are_taken_in_any_letter_case(name: str, raw: str, value: str) -> None:
    settings = Settings.from_environ({**BASE, name: raw})
    spec = next(spec for spec in SPECS if spec.env == name)
    assert getattr(settings, spec.field) == value


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({"AUTHSVC_CACHE_TTL": "x", "AUTHSVC_WORKERS": "y"})
    assert [p.split(":")[0] for p in info.value.problems] == [
        "AUTHORIZER_URL",
        "AUTHSVC_WORKERS",
        "AUTHSVC_CACHE_TTL",
    ]


def test_lists_are_trimmed_and_deduplicated() -> None:
    settings = Settings.from_environ(
        {
            **BASE,
            "AUTHSVC_TOKEN_TYPES": " id_token , id_token,refresh_token",
            "AUTHSVC_SESSION_COOKIES": "a, b",
        }
    )
    assert settings.token_types == {"id_token", "refresh_token"}
    assert settings.session_cookies == ("a", "b")


def test_help_lists_every_setting_with_its_default() -> None:
    text = describe()
    for spec in SPECS:
        assert spec.env in text
    assert "AUTHORIZER_URL  [(required)]" in text
    assert "AUTHSVC_CACHE_TTL  [default: 30]" in text


def test_readme_settings_table_matches_the_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for spec in SPECS:
        default = (
            "*required*"
            if spec.default is None
            else f"`{spec.default}`"
            if spec.default
            else "(empty)"
        )
        assert f"| `{spec.env}` | {default} |" in readme, spec.env


def test_credentials_in_the_authorizer_url_are_refused_and_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({"AUTHORIZER_URL": "https://user:hunter2@auth.example.com"})
    (problem,) = info.value.problems
    assert problem.startswith("AUTHORIZER_URL: expected a URL without user:password@")
    assert "hunter2" not in problem
    assert "user:" not in problem.split(", got ")[1]


@pytest.mark.parametrize(
    "fmt",
    [
        '%(h)s "%(r)s" %(s)s',
        "%(U)s?%(q)s",
        "%(r)20s",
        "%(q)r",
        "%({Authorization}i)s",
        "%({authorization}i)r",
        "%({cookie}I)s",
        "%({x-forwarded-uri}i)s",
        "%({X-Original-URI}i)s",
        "%({HTTP_AUTHORIZATION}e)s",
        "%(u)s",
        "%(f)s",
        "%({set-cookie}o)s",
        "100% %(s)s",
    ],
)
def test_access_log_formats_that_could_log_a_credential_are_refused(fmt: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({"AUTHORIZER_URL": "http://a.test", "AUTHSVC_ACCESS_LOG_FORMAT": fmt})
    assert "AUTHSVC_ACCESS_LOG_FORMAT" in str(caught.value)
    assert "%(U)s" in str(caught.value)


@pytest.mark.parametrize(
    "fmt",
    [
        '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms %({x-request-id}i)s',
        "%(t)s %(m)-7s %(U)s %(s)03d %(D)dus %({X-Forwarded-For}i)s %({x-auth-request-user}o)s",
        "100%% %(s)s %%(r)s",
    ],
)
def test_access_log_formats_without_credentials_are_accepted(fmt: str) -> None:
    settings = Settings.from_environ(
        {"AUTHORIZER_URL": "http://a.test", "AUTHSVC_ACCESS_LOG_FORMAT": fmt}
    )
    assert settings.access_log_format == fmt


def test_the_default_access_log_format_names_no_query_string() -> None:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://a.test"})
    assert "%(r)s" not in settings.access_log_format
    assert "%(U)s" in settings.access_log_format


@pytest.mark.parametrize(
    "url",
    ["redis://:s3cr/etPASS@127.0.0.1:6390/0", "redis://:a#hunter2@h:6379/0", "redis://:a?b@h/0"],
)
def test_a_redis_url_cut_short_by_its_password_is_refused_without_showing_it(url: str) -> None:
    """An unencoded / # or ? in the password would crash every worker at start, with part of
    the password in the traceback; it is refused up front, and the password stays hidden."""
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({**BASE, "AUTHSVC_CACHE_URL": url})
    (problem,) = info.value.problems
    assert problem.startswith("AUTHSVC_CACHE_URL: not a readable URL: percent-encode")
    for part in ("s3cr", "etPASS", "hunter2", "a#", ":a?b"):
        assert part not in problem


def test_a_percent_encoded_redis_password_is_accepted() -> None:
    settings = Settings.from_environ({**BASE, "AUTHSVC_CACHE_URL": "redis://:p%2Fq@h:6379/1"})
    assert settings.cache_url == "redis://:p%2Fq@h:6379/1"


def test_no_secret_setting_shows_in_the_settings_repr() -> None:
    """Settings are printed in tracebacks and debuggers: secrets must not be."""
    environ = {"AUTHORIZER_URL": "http://127.0.0.1:1"}
    secret_specs = [spec for spec in SPECS if spec.is_secret]
    assert {spec.env for spec in secret_specs} >= {
        "AUTHSVC_JWT_SECRET",
        "AUTHSVC_JWT_SECONDARY_SECRET",
    }
    for spec in secret_specs:
        environ[spec.env] = f"s3cret-of-{spec.field}"
    environ["AUTHSVC_CACHE_URL"] = "redis://:s3cret-of-cache_url@redis:6379/0"
    shown = repr(Settings.from_environ(environ))
    for spec in secret_specs:
        assert f"s3cret-of-{spec.field}" not in shown, spec.env


def test_local_verification_needs_the_client_id_for_the_audience_check() -> None:
    """Authorizer 1.x to 2.3 refuse another client's token: jwks/hybrid must not be looser."""
    for mode in ("jwks", "hybrid"):
        with pytest.raises(SettingsError, match="AUTHORIZER_CLIENT_ID: required with"):
            Settings.from_environ({**BASE, "AUTHSVC_VERIFY_MODE": mode})
    Settings.from_environ({**BASE, "AUTHSVC_VERIFY_MODE": "jwks", "AUTHORIZER_CLIENT_ID": "c"})


def test_secret_files_are_read_at_start_and_their_problems_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    missing = tmp_path / "missing"
    with pytest.raises(SettingsError) as info:
        Settings.from_environ(
            {
                **BASE,
                "AUTHSVC_JWT_SECRET_FILE": str(missing),
                "AUTHSVC_JWT_SECONDARY_SECRET_FILE": str(empty),
            }
        )
    assert info.value.problems == [
        f"AUTHSVC_JWT_SECRET_FILE: cannot read {str(missing)!r} (FileNotFoundError)",
        f"AUTHSVC_JWT_SECONDARY_SECRET_FILE: {str(empty)!r} is empty",
    ]


@pytest.mark.parametrize("option", ["socket_timeout=30", "Socket_Connect_Timeout=9"])
def test_redis_timeouts_in_the_url_are_refused(option: str) -> None:
    """They would silently replace AUTHSVC_CACHE_TIMEOUT."""
    with pytest.raises(SettingsError, match="AUTHSVC_CACHE_TIMEOUT"):
        Settings.from_environ({**BASE, "AUTHSVC_CACHE_URL": f"redis://:pw@redis/0?{option}"})
    Settings.from_environ({**BASE, "AUTHSVC_CACHE_URL": "redis://redis/0?client_name=authsvc"})


def test_a_secret_file_that_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SettingsError, match="is not a regular file"):
        Settings.from_environ({**BASE, "AUTHSVC_JWT_SECRET_FILE": str(fifo)})
