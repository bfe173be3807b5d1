"""The ceiling for any Falcon service: an app that answers every request 200 with no body.

Run under authsvc's own gunicorn configuration, so the only difference from authsvc is the
work /verify does:

    gunicorn -c python:authsvc.gunicorn_conf bench.bare_app:application
"""

from __future__ import annotations

from typing import Any

import falcon


class Allow:
    """A sink, as authsvc's /verify is one: every method and path, 200, empty body."""

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        resp.status = falcon.HTTP_200


def create_app() -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App()
    app.add_sink(Allow(), "/")
    return app


application = create_app()
