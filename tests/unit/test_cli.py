"""`authsvc check-config`: what an operator sees before starting the service."""

from __future__ import annotations

import os

import pytest

from authsvc import cli


def check_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str
) -> tuple[int, str, str]:
    for name in list(os.environ):
        if name.startswith(("AUTHSVC_", "AUTHORIZER_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli.main(["check-config"])
    out, err = capsys.readouterr()
    return code, out, err


def test_empty_settings_show_what_they_stand_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check_config(
        monkeypatch,
        capsys,
        AUTHORIZER_URL="http://authorizer:8080",
        AUTHORIZER_PUBLIC_URL="https://auth.example.com",
    )
    assert code == 0
    lines = out.splitlines()
    assert "AUTHSVC_LOGIN_URL=(default: https://auth.example.com/app)" in lines
    assert "AUTHSVC_COOKIE_DOMAINS=(default: .auth.example.com,.example.com)" in lines
    assert "AUTHSVC_REDIRECT_ALLOWLIST=(default: .auth.example.com,.example.com)" in lines


def test_secrets_are_hidden_and_bad_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check_config(
        monkeypatch, capsys, AUTHORIZER_URL="http://a:1", AUTHSVC_JWT_SECRET="s3cret"
    )
    assert code == 0
    assert "AUTHSVC_JWT_SECRET=(hidden)" in out.splitlines()
    assert "s3cret" not in out
    code, _, err = check_config(
        monkeypatch, capsys, AUTHORIZER_URL="http://a:1", AUTHSVC_REDIRECT_ALLOWLIST="*.x.com"
    )
    assert code == 2
    assert err.startswith("authsvc: invalid setting AUTHSVC_REDIRECT_ALLOWLIST:")
