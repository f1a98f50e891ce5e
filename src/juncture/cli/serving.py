"""Starting the server: check the schema first, then run uvicorn on the configured address."""

from __future__ import annotations

from typing import Any, Protocol

import uvicorn

from juncture.api.app import create_app, ensure_schema
from juncture.cli.common import err
from juncture.config import Settings
from juncture.store.engine import Database


class Background(Protocol):
    status: dict[str, Any]

    def start(self) -> None: ...


def run_server(settings: Settings, *, background: Background | None = None) -> None:
    db = Database(settings)
    ensure_schema(db, settings)  # refuse (or, embedded, upgrade) before binding the port
    db.dispose()
    app = create_app(settings)
    if background is not None:
        app.state.demo_status = background.status
        background.start()
    err.print(f"serving juncture on http://{settings.host}:{settings.port}/ (Ctrl-C to stop)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
