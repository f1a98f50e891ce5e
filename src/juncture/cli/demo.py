"""Preparing the demo database: schema, a small fixed company, and an admin login."""

from __future__ import annotations

from juncture.access import security
from juncture.access import service as access_service
from juncture.access.enums import Role
from juncture.access.schemas import TeamCreate, UserCreate
from juncture.api.app import ensure_schema
from juncture.catalog import service as catalog_service
from juncture.catalog.schemas import (
    ChannelCreate,
    JourneyCreate,
    RegionCreate,
    ServiceCreate,
    StepIn,
)
from juncture.config import Settings
from juncture.store import migrate
from juncture.store.engine import Database
from juncture.store.uow import unit_of_work

DEMO_ADMIN = "admin@juncture.local"

TEAMS = [
    ("sre-platform", "SRE Platform", "ops", "Europe/Berlin"),
    ("payments-eng", "Payments Engineering", "ops", "Europe/Berlin"),
    ("fulfilment-ops", "Fulfilment Operations", "ops", "America/New_York"),
    ("support", "Customer Support", "cx", "Europe/Dublin"),
    ("ux-research", "UX Research", "cx", "Europe/Berlin"),
]
SERVICES = [
    ("web", "Web storefront", "sre-platform", 1),
    ("search", "Search", "sre-platform", 2),
    ("catalog", "Product catalog", "sre-platform", 2),
    ("cart", "Cart", "sre-platform", 1),
    ("checkout", "Checkout", "payments-eng", 1),
    ("payments", "Payments", "payments-eng", 1),
    ("notifications", "Notifications", "sre-platform", 3),
    ("shipping", "Shipping & tracking", "fulfilment-ops", 2),
]
JOURNEYS = [
    (
        "purchase",
        "Purchase",
        "ux-research",
        [
            ("Browse", ["web", "search", "catalog"]),
            ("Cart", ["web", "cart"]),
            ("Checkout", ["web", "checkout"]),
            ("Paid", ["payments", "notifications"]),
        ],
    ),
    (
        "track-order",
        "Track an order",
        "support",
        [
            ("Order status", ["web", "shipping"]),
            ("Delivery notice", ["notifications", "shipping"]),
        ],
    ),
]
REGIONS = [
    ("eu", "Europe", "Europe/Berlin"),
    ("us", "North America", "America/New_York"),
    ("apac", "Asia-Pacific", "Asia/Singapore"),
]
CHANNELS = [
    ("web", "Web", "digital"),
    ("app", "App", "digital"),
    ("phone", "Phone", "assisted"),
    ("email", "E-mail", "assisted"),
    ("chat", "Chat", "assisted"),
]


def seed_company(db: Database) -> bool:
    """Create the demo teams, services, journeys, regions and channels; False if already there."""
    with unit_of_work(db) as session:
        if access_service.list_teams(session):
            return False
        team_ids = {}
        for slug, name, kind, tz in TEAMS:
            team = access_service.create_team(
                session, data=TeamCreate(slug=slug, name=name, kind=kind, timezone=tz)
            )
            team_ids[slug] = team.id
        service_ids = {}
        for slug, name, owner, tier in SERVICES:
            svc = catalog_service.create_service(
                session,
                data=ServiceCreate(slug=slug, name=name, owner_team_id=team_ids[owner], tier=tier),
            )
            service_ids[slug] = svc.id
        for slug, name, owner, steps in JOURNEYS:
            catalog_service.create_journey(
                session,
                data=JourneyCreate(
                    slug=slug,
                    name=name,
                    owner_team_id=team_ids[owner],
                    steps=[
                        StepIn(
                            slug=s.lower().replace(" ", "-"),
                            name=s,
                            service_ids=[service_ids[x] for x in svcs],
                        )
                        for s, svcs in steps
                    ],
                ),
            )
        for slug, name, tz in REGIONS:
            catalog_service.create_region(
                session, data=RegionCreate(slug=slug, name=name, timezone=tz)
            )
        for slug, name, kind in CHANNELS:
            catalog_service.create_channel(
                session, data=ChannelCreate(slug=slug, name=name, kind=kind)
            )
    return True


def prepare_demo(settings: Settings) -> tuple[str, str]:
    """Upgrade the schema, seed the company, and (re)set the demo admin's password."""
    db = Database(settings)
    if db.dialect == "sqlite":
        migrate.upgrade(db)
    ensure_schema(db, settings)
    seed_company(db)
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
    db.dispose()
    return DEMO_ADMIN, password
