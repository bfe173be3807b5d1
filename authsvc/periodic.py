"""every(): run a housekeeping job on a background thread (a greenlet under gevent).

Side effects at the edge: only ``wsgi`` starts these, in each worker after the fork; the app
and the tests call the jobs themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Every = Callable[[float, Callable[[], None], str], None]
"""How ``create_app`` asks for a job to run every so many seconds (``every`` below)."""


def every(interval_s: float, job: Callable[[], None], name: str) -> None:
    """Run ``job`` every ``interval_s`` seconds for the life of the process; a failing run is
    logged and the next one still happens."""

    def run_forever() -> None:
        while True:
            time.sleep(interval_s)
            try:
                job()
            except Exception:
                log.exception("%s failed; it runs again in %s s", name, interval_s)

    threading.Thread(target=run_forever, name=name, daemon=True).start()
