"""Request ids, access logs and Prometheus metrics as one pure ASGI middleware."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from juncture.kit.logs import request_id_var

logger = logging.getLogger("juncture.access_log")

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class Metrics:
    """juncture's Prometheus series, kept in an app-owned registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "juncture_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "juncture_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.job_runs = Counter(
            "juncture_job_runs_total",
            "Periodic job runs by job and outcome.",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "juncture_job_duration_seconds",
            "Periodic job run duration.",
            ["job"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.info = Gauge(
            "juncture_info", "Build information.", ["version"], registry=self.registry
        )

    def observe_job(self, job: str, outcome: str, seconds: float) -> None:
        self.job_runs.labels(job=job, outcome=outcome).inc()
        self.job_duration.labels(job=job).observe(seconds)


class RouteTemplates:
    """Maps a concrete path to its route template (``/api/v1/services/{service_id}``).

    Metrics are labelled by template, not by path, so their cardinality stays bounded.
    """

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], str]] | None = None
        self._cache: dict[str, str] = {}

    def build(self, routes: Any) -> None:
        from fastapi.routing import iter_route_contexts

        table = []
        for ctx in iter_route_contexts(routes):
            regex = getattr(ctx, "path_regex", None)
            path = ctx.path
            if regex is None or path is None:
                continue
            if getattr(ctx, "methods", None) is None:  # a mount, e.g. /static
                regex = re.compile("^" + re.escape(path) + "(/.*)?$")
            table.append((regex, path))
        self._table = table

    def lookup(self, app: Any, path: str) -> str:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        if self._table is None:
            self.build(app.routes)
        assert self._table is not None
        template = next((t for regex, t in self._table if regex.match(path)), "unmatched")
        if len(self._cache) < 10_000:
            self._cache[path] = template
        return template


class ObservabilityMiddleware:
    """Attach a request id (from X-Request-ID or new), time the request, count it, log it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status_holder: dict[str, Any] = {"status": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            template = self.templates.lookup(scope["app"], scope.get("path", ""))
            method = scope.get("method", "GET")
            status = str(status_holder["status"])
            self.metrics.requests.labels(method=method, route=template, status=status).inc()
            self.metrics.latency.labels(method=method, route=template).observe(elapsed)
            if not template.startswith("/static"):
                logger.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "route": template,
                        "status": int(status),
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)
