"""``create_app(settings)``: builds the FastAPI application with every room's routes and pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from juncture import __version__
from juncture.access.api import router as access_router
from juncture.api import errors
from juncture.api.health import router as health_router
from juncture.api.observability import Metrics, ObservabilityMiddleware
from juncture.catalog.api import router as catalog_router
from juncture.config import Settings
from juncture.detect.api import router as detect_router
from juncture.incidents.api import router as incidents_router
from juncture.incidents.comms_api import router as incident_comms_router
from juncture.jobs.api import router as jobs_router
from juncture.jobs.runner import JobRunner
from juncture.kit.errors import SchemaOutdated
from juncture.kit.logs import configure_logging
from juncture.kpis.api import router as kpis_router
from juncture.kpis.okr_api import router as okr_router
from juncture.kpis.overview_api import router as overview_router
from juncture.signals.api import router as signals_router
from juncture.store import migrate
from juncture.store.engine import Database, WalCheckpointer

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

DESCRIPTION = """
juncture joins the Operations and Customer-Experience pictures: services, journeys, signals,
shared KPIs and the joint response.

Authenticate API calls with `Authorization: Bearer <token>` (create one with
`juncture tokens create`). Errors are always JSON: `{"code": "...", "detail": "..."}`.
"""


def ensure_schema(db: Database, settings: Settings) -> None:
    """Refuse an outdated schema, or upgrade it when it is the embedded SQLite default."""
    status = migrate.status(db)
    if status.up_to_date:
        return
    if db.dialect == "sqlite" and settings.auto_upgrade:
        logger.info(
            "upgrading embedded database schema", extra={"from": status.current, "to": status.head}
        )
        migrate.upgrade(db)
        return
    raise SchemaOutdated(
        f"database schema is at {status.current or 'nothing'} but this juncture needs "
        f"{status.head}; run `juncture db upgrade`"
    )


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    """Build the application; nothing is created at import time, all hangs off ``app.state``."""
    settings = settings or Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # The server's own SQLite connections leave checkpoints to a background thread.
    database = db or Database(settings, defer_checkpoints=True)
    metrics = Metrics()
    metrics.info.labels(version=__version__).set(1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_schema(database, settings)
        checkpointer = WalCheckpointer(database)
        checkpointer.start()
        runner: JobRunner | None = None
        if settings.run_jobs:
            runner = JobRunner(
                database,
                tick_seconds=settings.job_tick_seconds,
                observer=metrics.observe_job,
                periods=settings.job_periods,
            )
            runner.start()
            app.state.job_runner = runner
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            checkpointer.stop()
            if db is None:
                database.dispose()

    app = FastAPI(
        title="juncture",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = database
    app.state.metrics = metrics

    errors.install(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(access_router)
    api.include_router(catalog_router)
    api.include_router(detect_router)
    api.include_router(incidents_router)
    api.include_router(incident_comms_router)
    api.include_router(jobs_router)
    api.include_router(okr_router)
    api.include_router(signals_router)
    api.include_router(kpis_router)
    api.include_router(overview_router)
    app.include_router(api)
    app.include_router(health_router)

    from juncture.web.app import install as install_web

    install_web(app)
    from juncture.web.okrs import router as okr_pages_router

    app.include_router(okr_pages_router)
    from juncture.web.kpis import router as kpi_pages_router

    app.include_router(kpi_pages_router)
    from juncture.web.alerts import router as alert_pages_router

    app.include_router(alert_pages_router)
    from juncture.web.incidents import router as incident_pages_router
    from juncture.web.postmortems import router as postmortem_pages_router
    from juncture.web.status import router as status_pages_router

    app.include_router(status_pages_router)
    app.include_router(postmortem_pages_router)
    app.include_router(incident_pages_router)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return app
