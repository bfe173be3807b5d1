"""The scenarios of issue 3, each run against processes started for it and stopped after it.

Every scenario drives nginx (the real `auth_request` path) with wrk, rotating 50 users' access
tokens; the stacks differ in what answers nginx's auth subrequest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import measure, nginx, procs, servers, wrk
from bench.measure import Load, Measurement
from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes
from tests.support.redis_server import running_redis
from tests.support.stack import LOOPBACK

USERS = 50
PASSWORD = "bench-password-1"  # noqa: S105  # a fixture user of the fake Authorizer
RATE_LIMIT_RPS, RATE_LIMIT_BURST = 30.0, 20  # Authorizer 2.x's default per client IP
PACED_RATE_PER_S = 1000.0
PACED_CONNECTIONS = 200
VALIDATE_JWT = "validate_jwt_token"
FLEET_USERS = 500
FLEET_INSTANCES = 2
FLEET_USERS_OFFSET = 1000  # fleet users' numbers, clear of the 51 of the other scenarios


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line chose."""

    workdir: Path
    duration_s: float
    warmup_s: float
    rate_duration_s: float
    connections: int
    nginx_workers: str
    repeat: int
    worker_classes: tuple[str, ...]


@dataclass
class Results:
    """Everything measured, by scenario key, plus facts gathered on the way."""

    measurements: dict[str, Measurement] = field(default_factory=dict)
    best_worker_class: str = ""
    authsvc_worker_class: str = ""
    worker_rss_kib: list[int] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements[measurement.key] = measurement
        return measurement


class Bench:
    """Holds the fake Authorizer and the users' tokens; each method runs one scenario group."""

    def __init__(self, fake: FakeAuthorizer, options: Options, results: Results) -> None:
        self.fake = fake
        self.options = options
        self.results = results
        results.authsvc_worker_class = servers.default_of("AUTHSVC_WORKER_CLASS")
        tokens = [login(fake, index) for index in range(USERS + 1)]
        # The extra user's token is for sanity checks only, so they add no cached entry.
        self.tokens, self.check_token = tokens[:USERS], tokens[USERS]
        self._dirs = itertools.count(1)
        self.script = wrk.write_script(
            options.workdir / "rotate.lua",
            self.tokens,
            url_path=nginx.PROTECTED_PATH,
            count_statuses=True,
        )
        self.paced_script = wrk.write_script(
            options.workdir / "paced.lua",
            self.tokens,
            url_path=nginx.PROTECTED_PATH,
            count_statuses=True,
            rate_per_s=PACED_RATE_PER_S,
        )

    # -- scenario groups ------------------------------------------------------------------

    def worker_classes(self) -> None:
        """Scenario 1: per worker class, the bare Falcon app and authsvc (warm cache)."""
        for worker_class in self.options.worker_classes:
            self._worker_class_pair(worker_class)
        measured = [self.results.measurements[f"bare.{wc}"] for wc in self.options.worker_classes]
        best = max(measured, key=lambda m: m.result.rate_per_s)
        self.results.best_worker_class = best.key.split(".", 1)[1]

    def proxy_limit(self) -> None:
        """Scenario 3: nginx's own auth_request limit, and nginx's decision cache -> authsvc.

        All three stacks run at once and are measured in turn, so their ratios share one
        machine state.
        """
        with contextlib.ExitStack() as running:
            port = processes.free_port()
            workdir = self._dir("nginx-direct")
            body = nginx.direct_site(port, workdir)
            direct = running.enter_context(self._nginx(workdir, body, port))
            port, target_port = processes.free_port(), processes.free_port()
            workdir = self._dir("nginx-proxied")
            body = nginx.protected_site(
                port, f"{LOOPBACK}:{target_port}", workdir=workdir, is_cached=False
            ) + nginx.allow_all_server(target_port)
            proxied = running.enter_context(self._nginx(workdir, body, port))
            measure.expect(direct.url, None, 200)
            measure.expect(proxied.url, None, 200)
            jobs = [
                self._job("limit.direct", "nginx auth_request -> internal return 200", direct),
                self._job("limit.proxied", "nginx recipe -> nginx return 200", proxied),
            ]
            if nginx.has_cache_recipe():
                app = running.enter_context(self.authsvc({}))
                cached = running.enter_context(self.site(app.address, is_cached=True))
                measure.expect(cached.url, self.check_token, 200)
                measure.expect(cached.url, None, 403)
                jobs.append(
                    self._job("cached.warm", "nginx decision cache -> authsvc", cached, app)
                )
            else:
                self.results.skipped["cached.warm"] = "deploy/nginx has no decision-cache recipe"
            for measured in measure.run_interleaved(
                jobs, calls=self._calls, repeat=self.options.repeat
            ):
                self.results.add(measured)

    def cache_disabled(self) -> None:
        """Scenario 4: AUTHSVC_CACHE_TTL=0, every request asks the (fake) Authorizer."""
        with self.authsvc({"AUTHSVC_CACHE_TTL": "0"}) as app, self.site(app.address) as site:
            measure.expect(site.url, self.check_token, 200)
            self._measure("authsvc.nocache", "nginx -> authsvc, cache disabled (TTL 0)", site, app)

    def rate_limited(self) -> None:
        """Scenario 5: Authorizer's default rate limit, fresh authsvc, 1,000 req/s for a while."""
        variants = [("rate.plain", "nginx -> fresh authsvc", False)]
        if nginx.has_cache_recipe():
            variants.append(("rate.cached", "nginx decision cache -> fresh authsvc", True))
        else:
            self.results.skipped["rate.cached"] = "deploy/nginx has no decision-cache recipe yet"
        for key, label, is_cached in variants:
            with self.authsvc({}) as app, self.site(app.address, is_cached=is_cached) as site:
                self.fake.set_rate_limit(RATE_LIMIT_RPS, RATE_LIMIT_BURST)
                try:
                    load = Load(
                        site.url, self.paced_script, PACED_CONNECTIONS, self.options.rate_duration_s
                    )
                    self.results.add(
                        measure.run(
                            key,
                            f"{label}, {PACED_RATE_PER_S:,.0f} req/s, Authorizer limit "
                            f"{RATE_LIMIT_RPS:g}/s burst {RATE_LIMIT_BURST}",
                            load,
                            servers={"nginx": site.port, "app": app.port},
                            calls=self._calls,
                        )
                    )
                finally:
                    self.fake.set_rate_limit(0)

    def fleet(self) -> None:
        """Scenario 6 (issue 6): two authsvc instances on one Redis, and jwks vs remote mode.

        Both instances (2 workers each) share one Redis decision cache behind one nginx, which
        spreads the checks round-robin; FLEET_USERS distinct tokens. Counted from the fleet's
        start, as for one instance: every Authorizer call the tokens cost in one TTL window.
        Then, with the cache off (TTL 0, so every request is a cold miss), one authsvc in
        `jwks` mode against one in `remote` mode, measured in turn.
        """
        tokens = [login(self.fake, FLEET_USERS_OFFSET + i) for i in range(FLEET_USERS)]
        script = wrk.write_script(
            self.options.workdir / "fleet.lua",
            tokens,
            url_path=nginx.PROTECTED_PATH,
            count_statuses=True,
        )
        ttl_s = float(servers.default_of("AUTHSVC_CACHE_TTL"))
        with contextlib.ExitStack() as running:
            redis_url = running.enter_context(running_redis(self._dir("redis")))
            apps = [
                running.enter_context(self.authsvc({"AUTHSVC_CACHE_URL": redis_url}))
                for _ in range(FLEET_INSTANCES)
            ]
            site = running.enter_context(self.site([app.address for app in apps]))
            measure.expect(site.url, None, 403)
            self.fake.reset_counters()
            first_window: list[int] = []
            timer = threading.Timer(
                max(ttl_s - 1.0, 0.0), lambda: first_window.append(self._calls())
            )
            timer.daemon = True
            timer.start()
            load = Load(
                site.url,
                script,
                self.options.connections,
                self.options.duration_s,
                self.options.warmup_s,
            )
            ports = {"nginx": site.port} | {
                f"app{'' if i == 0 else i + 1}": app.port for i, app in enumerate(apps)
            }
            job = measure.Job(
                "fleet.warm",
                f"nginx -> {FLEET_INSTANCES} authsvc x {servers.WORKERS} workers, one Redis",
                load,
                ports,
            )
            measured = measure.run_interleaved([job], calls=self._calls, repeat=1)[0]
            timer.cancel()
            notes = {
                "calls_first_window": str(first_window[0] if first_window else self._calls()),
                "tokens": str(FLEET_USERS),
                "ttl_s": f"{ttl_s:g}",
            }
            self.results.add(dataclasses.replace(measured, notes={**measured.notes, **notes}))
        with contextlib.ExitStack() as running:
            jobs = []
            for mode in ("remote", "jwks"):
                app = running.enter_context(
                    self.authsvc({"AUTHSVC_CACHE_TTL": "0", "AUTHSVC_VERIFY_MODE": mode})
                )
                site = running.enter_context(self.site(app.address))
                measure.expect(site.url, self.check_token, 200)
                jobs.append(
                    self._job(f"cold.{mode}", f"nginx -> authsvc {mode}, cache off", site, app)
                )
            for measured in measure.run_interleaved(
                jobs, calls=self._calls, repeat=self.options.repeat
            ):
                self.results.add(measured)

    # -- helpers --------------------------------------------------------------------------

    def _worker_class_pair(self, worker_class: str) -> None:
        """The bare app and a fresh authsvc, both up, measured in turn (A B A B ...).

        Counts authsvc's Authorizer calls per token from its start: the warm-up fills the
        cache, so that is every call the 50 tokens cost.
        """
        bare_env = servers.settings(self.fake.url, AUTHSVC_WORKER_CLASS=worker_class)
        with contextlib.ExitStack() as running:
            bare = running.enter_context(servers.bare_app(self._dir("bare"), bare_env))
            bare_site = running.enter_context(self.site(bare.address))
            app = running.enter_context(self.authsvc({"AUTHSVC_WORKER_CLASS": worker_class}))
            site = running.enter_context(self.site(app.address))
            measure.expect(bare_site.url, self.check_token, 200)
            measure.expect(site.url, self.check_token, 200)
            measure.expect(site.url, None, 403)
            self.fake.reset_counters()
            started = time.monotonic()
            # Every token was first confirmed within the warm-up's first moments, so the count
            # just before one TTL has passed is what a TTL window costs; later calls re-confirm.
            ttl_s = float(servers.default_of("AUTHSVC_CACHE_TTL"))
            first_window: list[int] = []
            timer = threading.Timer(
                max(ttl_s - 1.0, 0.0), lambda: first_window.append(self._calls())
            )
            timer.daemon = True
            timer.start()
            jobs = [
                self._job(
                    f"bare.{worker_class}", f"bare Falcon app ({worker_class})", bare_site, bare
                ),
                self._job(
                    f"authsvc.{worker_class}",
                    f"nginx -> authsvc, warm cache ({worker_class})",
                    site,
                    app,
                ),
            ]
            measured = measure.run_interleaved(jobs, calls=self._calls, repeat=self.options.repeat)
            elapsed_s = time.monotonic() - started
            timer.cancel()
            total = self._calls()
            notes = {
                "calls_since_start": str(total),
                "calls_first_window": str(first_window[0] if first_window else total),
                "seconds_since_start": f"{elapsed_s:.1f}",
                "ttl_s": f"{ttl_s:g}",
            }
            self.results.add(measured[0])
            self.results.add(dataclasses.replace(measured[1], notes={**measured[1].notes, **notes}))
            if worker_class == self.results.authsvc_worker_class:
                self.results.worker_rss_kib = [
                    procs.rss_kib(pid) for pid in procs.workers(procs.pids_listening(app.port))
                ]

    def _job(
        self, key: str, label: str, site: nginx.Nginx, app: servers.Server | None = None
    ) -> measure.Job:
        load = Load(
            site.url,
            self.script,
            self.options.connections,
            self.options.duration_s,
            self.options.warmup_s,
        )
        ports = {"nginx": site.port} | ({"app": app.port} if app else {})
        return measure.Job(key, label, load, ports)

    def _measure(
        self, key: str, label: str, site: nginx.Nginx, app: servers.Server | None = None
    ) -> Measurement:
        job = self._job(key, label, site, app)
        measured = measure.run_interleaved([job], calls=self._calls, repeat=self.options.repeat)
        return self.results.add(measured[0])

    def _calls(self) -> int:
        return self.fake.calls.get(VALIDATE_JWT, 0)

    def _dir(self, name: str) -> Path:
        return self.options.workdir / f"{next(self._dirs):02d}-{name}"

    def authsvc(self, env: dict[str, str]) -> contextlib.AbstractContextManager[servers.Server]:
        return servers.authsvc(self._dir("authsvc"), servers.settings(self.fake.url, **env))

    @contextlib.contextmanager
    def site(
        self, upstream: str | Sequence[str], *, is_cached: bool = False
    ) -> Iterator[nginx.Nginx]:
        port = processes.free_port()
        workdir = self._dir("nginx")
        body = nginx.protected_site(port, upstream, workdir=workdir, is_cached=is_cached)
        with self._nginx(workdir, body, port) as site:
            yield site

    def _nginx(
        self, workdir: Path, body: str, port: int
    ) -> contextlib.AbstractContextManager[nginx.Nginx]:
        return nginx.running(workdir, body, port=port, worker_processes=self.options.nginx_workers)


def login(fake: FakeAuthorizer, index: int) -> str:
    email = f"user{index:03d}@bench.example"
    fake.add_user(email, PASSWORD, ("user",))
    return fake.login(email, PASSWORD).access_token
