"""Gunicorn settings for authsvc, loaded as ``-c python:authsvc.gunicorn_conf``.

Sized for life behind a reverse proxy: header limits above the proxy's own, no scheme-header
parsing that could answer 400 to a proxy's X-Forwarded-*, and a keep-alive longer than the
proxy's upstream keep-alive so a reused connection is never closed under a request (502).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import tempfile
import time
from typing import Any

from gunicorn import util as _gunicorn_util

from authsvc import redaction
from authsvc.readiness import DRAIN_MARKER_ENV
from authsvc.settings import Settings

_settings = Settings.from_environ(os.environ)

wsgi_app = "authsvc.wsgi:application"
proc_name = "authsvc"
bind = [_settings.bind]
workers = _settings.workers
worker_class = _settings.worker_class
threads = _settings.threads
# nginx's upstream keepalive_timeout defaults to 60 s, Traefik's idle timeout to 90 s.
keepalive = 95
timeout = 30
# In-flight /verify calls end within the confirmation budget (connect + read + 429 wait).
# NOTE: the gevent worker also waits this long for idle keep-alive connections (a proxy's
# pool) to close before it exits, so keep it short: a restart costs this much per worker.
graceful_timeout = int(_settings.confirmation_budget_s) + 2

# NOTE: nginx's large_client_header_buffers allows 8 KiB per header by default and is often
# raised; a 9 KiB cookie must not become gunicorn's 400/431, which nginx turns into a 500.
limit_request_line = 8190  # gunicorn's maximum; authsvc's own URLs are short
limit_request_fields = 256
limit_request_field_size = 128 * 1024

# authsvc never looks at wsgi.url_scheme; an empty map means contradictory X-Forwarded-Proto /
# X-Forwarded-Ssl headers can never make gunicorn answer 400 to the proxy.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1,::1"

# gunicorn 24+ opens a control socket under $HOME by default; authsvc needs none, and the
# container's root filesystem may be read-only.
control_socket_disable = True

# Worker heartbeat files: /dev/shm is writable (tmpfs) even in a container whose root
# filesystem is read-only, and avoids disk stalls on /tmp.
# gunicorn creates them with mkstemp (private, unpredictable names), so S108 does not apply.
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# Metrics of all workers add up through prometheus-client's multiprocess files. The directory
# is set before any worker imports prometheus-client (which reads it at import), emptied at
# start (files of an earlier run would be added to this run's counts), and a dead worker's
# files are marked so its gauges drop out while its counters keep counting.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    worker_tmp_dir or tempfile.gettempdir(), f"authsvc-metrics-{os.getpid()}"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


# Graceful drain: on SIGTERM the workers' /readyz answers 503 (they see this marker file) for
# AUTHSVC_SHUTDOWN_DELAY seconds while they keep serving, so load balancers and orchestrators
# stop sending first; then gunicorn's graceful stop lets in-flight /verify calls finish.
# SIGINT and SIGQUIT stop at once, as gunicorn's do.
_drain_marker = os.path.join(_metrics_dir, "draining")
os.environ[DRAIN_MARKER_ENV] = _drain_marker


def on_starting(server: object) -> None:
    os.makedirs(_metrics_dir, exist_ok=True)
    for stale in [*glob.glob(os.path.join(_metrics_dir, "*.db")), _drain_marker]:
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)


def when_ready(server: Any) -> None:
    stop_gracefully = server.handle_term  # called from the arbiter's loop, not a signal frame

    def drain_then_stop() -> None:
        delay_s = _settings.shutdown_delay_s
        if delay_s > 0 and not os.path.exists(_drain_marker):
            with open(_drain_marker, "w", encoding="utf-8"):
                pass
            server.log.info("SIGTERM: /readyz answers 503 for %g s, then a graceful stop", delay_s)
            time.sleep(delay_s)  # the workers keep serving meanwhile
        stop_gracefully()

    server.handle_term = drain_then_stop


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    pid: int = worker.pid  # type: ignore[attr-defined]  # a gunicorn Worker
    multiprocess.mark_process_dead(pid, _metrics_dir)  # type: ignore[no-untyped-call]  # upstream


def on_exit(server: object) -> None:
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


accesslog = None if _settings.access_log == "off" else _settings.access_log
access_log_format = _settings.access_log_format
errorlog = "-"
loglevel = _settings.log_level.lower()

# gunicorn logs and answers the bytes of a request it refuses (a request line with
# ?access_token=..., a header name): keep only the kind of error. Set here, before the workers
# fork, so every worker inherits both.
logging.getLogger("gunicorn.error").addFilter(redaction.WithholdRequestDetail())
_gunicorn_util.write_error = redaction.without_detail(_gunicorn_util.write_error)


def post_request(worker: object, req: object, environ: object, resp: object) -> None:
    """With gevent, yield after each answer so accepted connections get their turn.

    A busy gevent worker otherwise keeps serving the connections it is already reading from,
    and a newly accepted one waits: the latency tail grows under load.
    """
    if worker_class == "gevent":
        import gevent  # only importable/meaningful in the gevent worker

        gevent.sleep(0)
