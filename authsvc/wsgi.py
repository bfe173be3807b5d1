"""The WSGI entry point gunicorn loads in each worker: ``authsvc.wsgi:application``.

The only module besides ``gunicorn_conf`` and ``cli`` that reads ``os.environ``.
"""

from __future__ import annotations

import logging
import os

from authsvc.app import create_app
from authsvc.settings import Settings

settings = Settings.from_environ(os.environ)
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
# Decision lines are JSON documents of their own: no prefix, one per line, on stderr.
_decisions = logging.getLogger("authsvc.decisions")
_decisions.propagate = False
_decision_handler = logging.StreamHandler()
_decision_handler.setFormatter(logging.Formatter("%(message)s"))
_decisions.addHandler(_decision_handler)
# gunicorn_conf sets it (a clean directory per start); prometheus-client reads it too.
application = create_app(settings, multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
