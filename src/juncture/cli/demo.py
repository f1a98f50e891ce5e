"""Preparing the demo: schema, the company vocabulary, an admin login, and its history."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from juncture.access import security
from juncture.access import service as access_service
from juncture.access.enums import Role
from juncture.access.schemas import UserCreate
from juncture.api.app import ensure_schema
from juncture.config import Settings
from juncture.simulate.load import seed_catalog
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

logger = logging.getLogger(__name__)

DEMO_ADMIN = "admin@juncture.local"


def prepare_demo(settings: Settings) -> tuple[str, str, bool]:
    """Upgrade the schema, create the company's vocabulary and (re)set the admin's password.

    Returns (admin e-mail, password, whether the company was created just now).
    """
    db = Database(settings)
    try:
        if db.dialect == "sqlite":
            migrate.upgrade(db)
        ensure_schema(db, settings)
        fresh = seed_catalog(db)
        password = security.generate_password()
        with unit_of_work(db) as session:
            admin = access_service.get_user_by_email(session, email=DEMO_ADMIN)
            if admin is None:
                access_service.create_user(
                    session,
                    data=UserCreate(
                        email=DEMO_ADMIN, role=Role.admin, name="Demo admin", password=password
                    ),
                )
            else:
                access_service.set_password(session, user_id=admin.id, password=password)
    finally:
        db.dispose()
    return DEMO_ADMIN, password, fresh


class DemoLoader:
    """Simulates the company and loads its history, in a background thread or inline."""

    def __init__(self, settings: Settings, *, days: int, seed: int) -> None:
        self.settings = settings
        self.days = days
        self.seed = seed
        self.status: dict[str, Any] = {"state": "waiting", "done": 0, "total": 0, "accepted": 0}
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        from datetime import UTC, datetime, timedelta

        from juncture.simulate.load import load_into_database
        from juncture.simulate.scenario import load_scenario
        from juncture.simulate.world import generate

        started = time.perf_counter()
        try:
            self.status["state"] = "simulating"
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            world = generate(
                load_scenario(None),
                days=self.days,
                seed=self.seed,
                start=today - timedelta(days=self.days),  # ends at midnight, never ahead
            )
            self.status.update(state="loading", total=world.n_events)

            def progress(done: int, total: int) -> None:
                self.status.update(done=done, total=total)

            summary = load_into_database(world, self.settings, on_progress=progress)
            self.status.update(
                state="done",
                accepted=summary["accepted"],
                seconds=round(time.perf_counter() - started, 1),
            )
            logger.info("demo history loaded", extra={"events": summary["accepted"]})
        except Exception as exc:  # the demo keeps serving; the banner shows the failure
            logger.exception("demo history failed to load")
            self.status.update(state="failed", error=str(exc)[:300])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="juncture-demo-loader", daemon=True)
        self._thread.start()
