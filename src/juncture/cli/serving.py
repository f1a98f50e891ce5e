"""Starting the server: check the schema first, then run uvicorn on the configured address."""

from __future__ import annotations

import uvicorn

from juncture.api.app import create_app, ensure_schema
from juncture.cli.common import err
from juncture.config import Settings
from juncture.store.engine import Database


def run_server(settings: Settings) -> None:
    db = Database(settings)
    ensure_schema(db, settings)  # refuse (or, embedded, upgrade) before binding the port
    db.dispose()
    app = create_app(settings)
    err.print(f"serving juncture on http://{settings.host}:{settings.port}/ (Ctrl-C to stop)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
