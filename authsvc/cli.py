"""The ``authsvc`` command: validate settings, then run gunicorn with ``authsvc.gunicorn_conf``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from authsvc import __version__
from authsvc.errors import SettingsError
from authsvc.settings import SPECS, Settings, describe

DESCRIPTION = """\
Forward-auth service: reverse proxies call /verify for every request; authsvc answers 200
with X-Auth-Request-User/-Email/-Roles, or 401/403 (missing or invalid credential, missing
role) or 503 (Authorizer could not confirm). Configured by environment variables only."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authsvc",
        description=DESCRIPTION,
        epilog="settings (environment variables):\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"authsvc {__version__}")
    parser.add_argument(
        "command",
        nargs="?",
        choices=("serve", "check-config"),
        default="serve",
        help="serve (default): run the service; check-config: validate and print the settings",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"authsvc: invalid setting {problem}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        defaults = _derived_defaults(settings)
        for spec in SPECS:
            value = "(hidden)" if spec.is_secret else _show(getattr(settings, spec.field))
            if not value and spec.field in defaults:
                value = f"(default: {defaults[spec.field]})"
            print(f"{spec.env}={value}")
        return 0
    return _serve()


def _derived_defaults(settings: Settings) -> dict[str, str]:
    """What an empty setting stands for, where that depends on other settings."""
    page = settings.login_page
    return {
        "cookie_domains": _show(settings.session_cookie_domains),
        "login_url": page.url,
        "redirect_allowlist": _show(page.allowlist),
    }


def _show(value: object) -> str:
    if isinstance(value, frozenset | tuple):
        return ",".join(sorted(value) if isinstance(value, frozenset) else value)
    return str(value)


def _serve() -> int:
    # Imported here so --help and check-config work without gunicorn's start-up cost.
    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = ["authsvc", "-c", "python:authsvc.gunicorn_conf"]
    WSGIApplication("%(prog)s").run()
    return 0  # run() exits the process itself


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
