"""The WSGI entry point gunicorn loads in each worker: ``authsvc.wsgi:application``.

The only module besides ``gunicorn_conf`` and ``cli`` that reads ``os.environ``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys

from authsvc import periodic
from authsvc.app import create_app
from authsvc.decision_log import LineBuffer
from authsvc.readiness import DRAIN_MARKER_ENV
from authsvc.settings import Settings

settings = Settings.from_environ(os.environ)
logging.basicConfig(
    level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
)
# Decision lines are JSON documents of their own, one per line on stderr: written in batches
# straight to its file descriptor, in whole-line writes that other workers' lines (and other
# log records, each one write of its own) cannot split.
_decision_lines = LineBuffer(sys.stderr.fileno())
_decision_lines.start_flusher()  # here, in the worker: gunicorn loads the app after forking
# gunicorn_conf sets it (a clean directory per start); prometheus-client reads it too.
application = create_app(
    settings,
    multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"),
    write_decision=_decision_lines.write
    if logging.getLevelName(settings.log_level) <= logging.INFO
    else None,
    every=periodic.every,
    is_draining=functools.partial(os.path.exists, os.environ.get(DRAIN_MARKER_ENV, "")),
)
