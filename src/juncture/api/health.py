"""Liveness, readiness and Prometheus metrics endpoints (public, for probes and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from juncture import __version__
from juncture.store import migrate
from juncture.store.engine import Database

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", tags=["health"])
def readyz(request: Request) -> Response:
    """The database answers and its schema is current; 503 with the reason otherwise."""
    db: Database = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        schema = migrate.status(db)
    except Exception as exc:  # readiness reports any failure as not ready
        return JSONResponse(
            {
                "code": "database_unreachable",
                "detail": f"database check failed: {exc.__class__.__name__}",
            },
            status_code=503,
        )
    if not schema.up_to_date:
        return JSONResponse(
            {
                "code": "schema_outdated",
                "detail": f"schema at {schema.current}, code needs {schema.head}; "
                "run `juncture db upgrade`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": db.dialect, "schema": schema.current})


@router.get("/metrics", tags=["health"], include_in_schema=True)
def metrics(request: Request) -> Response:
    """Prometheus text exposition: request counts and latency histograms, job runs."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
