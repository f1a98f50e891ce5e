"""The simulated company's catalog as plain data: teams, services, journeys, regions, channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TeamSpec:
    """A team: ``kind`` is ``ops`` or ``cx``; support teams also take tickets."""

    slug: str
    name: str
    kind: str
    timezone: str
    handles: tuple[str, ...] = ()  # ticket categories routed to this team (support teams)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A customer-facing service with its owner team, tier and nominal health."""

    slug: str
    name: str
    owner: str
    tier: int
    description: str
    depends_on: tuple[str, ...] = ()
    latency_p50_ms: float = 80.0
    p95_ratio: float = 3.0
    error_rate: float = 0.002
    requests_per_session: float = 5.0


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One journey step and the services it depends on."""

    slug: str
    name: str
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JourneySpec:
    """An ordered journey; the first step is where a session enters."""

    slug: str
    name: str
    owner: str
    steps: tuple[StepSpec, ...]


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """A region where customers live, with the time zone that shapes its day."""

    slug: str
    name: str
    timezone: str


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel: ``digital`` channels carry sessions, ``assisted`` ones carry contacts."""

    slug: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the company is made of; the lead's seeding code loads it via the catalog room."""

    teams: tuple[TeamSpec, ...]
    services: tuple[ServiceSpec, ...]
    journeys: tuple[JourneySpec, ...]
    regions: tuple[RegionSpec, ...]
    channels: tuple[ChannelSpec, ...]
    ticket_categories: tuple[str, ...] = field(default=())

    def service(self, slug: str) -> ServiceSpec:
        """Return the service called ``slug``.

        Parameters
        ----------
        slug : str
            Service slug.

        Returns
        -------
        ServiceSpec
            The service.
        """
        for svc in self.services:
            if svc.slug == slug:
                return svc
        raise KeyError(slug)

    def team_for_category(self, category: str) -> str:
        """Return the slug of the support team that owns tickets of ``category``.

        Parameters
        ----------
        category : str
            Ticket category.

        Returns
        -------
        str
            Team slug (the first support team when no team claims the category).
        """
        support = [t for t in self.teams if t.handles]
        for team in support:
            if category in team.handles:
                return team.slug
        return support[0].slug

    def as_dict(self) -> dict[str, Any]:
        """Return the catalog as JSON-ready plain data (lists of dicts).

        Returns
        -------
        dict
            Keys ``teams``, ``services``, ``journeys``, ``regions``, ``channels`` (journeys carry
            ``steps`` as lists of ``{"slug", "name", "services"}``) and ``ticket_routing``
            (ticket category to support team slug).
        """
        return {
            "teams": [
                {"slug": t.slug, "name": t.name, "kind": t.kind, "timezone": t.timezone}
                for t in self.teams
            ],
            "services": [
                {
                    "slug": s.slug,
                    "name": s.name,
                    "owner": s.owner,
                    "tier": s.tier,
                    "description": s.description,
                    "depends_on": list(s.depends_on),
                }
                for s in self.services
            ],
            "journeys": [
                {
                    "slug": j.slug,
                    "name": j.name,
                    "owner": j.owner,
                    "steps": [
                        {"slug": st.slug, "name": st.name, "services": list(st.services)}
                        for st in j.steps
                    ],
                }
                for j in self.journeys
            ],
            "regions": [
                {"slug": r.slug, "name": r.name, "timezone": r.timezone} for r in self.regions
            ],
            "channels": [{"slug": c.slug, "name": c.name, "kind": c.kind} for c in self.channels],
            "ticket_routing": {c: self.team_for_category(c) for c in self.ticket_categories},
        }


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec("sre-platform", "SRE Platform", "ops", "Europe/Berlin"),
    TeamSpec("payments-eng", "Payments Engineering", "ops", "Europe/Berlin"),
    TeamSpec("fulfilment-ops", "Fulfilment Operations", "ops", "America/New_York"),
    TeamSpec(
        "support",
        "Customer Support",
        "cx",
        "Europe/Dublin",
        handles=("product-question", "order-change", "account-access", "complaint"),
    ),
    TeamSpec(
        "billing-support",
        "Billing Support",
        "cx",
        "Europe/Dublin",
        handles=("payment-issue", "refund"),
    ),
    TeamSpec(
        "logistics-support",
        "Logistics Support",
        "cx",
        "America/New_York",
        handles=("delivery-status", "returns"),
    ),
    TeamSpec(
        "tech-support",
        "Technical Support",
        "cx",
        "Europe/Dublin",
        handles=("website-problem", "app-problem"),
    ),
    TeamSpec("ux-research", "UX Research", "cx", "Europe/Berlin"),
)

SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "web",
        "Web storefront",
        "sre-platform",
        1,
        "Pages and the app's API gateway.",
        (),
        60.0,
        3.0,
        0.001,
        120.0,
    ),
    ServiceSpec(
        "search",
        "Search",
        "sre-platform",
        2,
        "Product search and suggestions.",
        ("catalog",),
        90.0,
        3.5,
        0.002,
        30.0,
    ),
    ServiceSpec(
        "catalog",
        "Product catalog",
        "sre-platform",
        2,
        "Product pages, prices and stock.",
        (),
        45.0,
        3.0,
        0.001,
        60.0,
    ),
    ServiceSpec(
        "cart", "Cart", "sre-platform", 1, "Baskets and wish lists.", (), 40.0, 2.8, 0.002, 15.0
    ),
    ServiceSpec(
        "checkout",
        "Checkout",
        "payments-eng",
        1,
        "Address, delivery options and order placement.",
        ("payments", "cart"),
        150.0,
        3.0,
        0.003,
        8.0,
    ),
    ServiceSpec(
        "payments",
        "Payments",
        "payments-eng",
        1,
        "Card and wallet payments through external providers.",
        (),
        300.0,
        2.5,
        0.004,
        3.0,
    ),
    ServiceSpec(
        "notifications",
        "Notifications",
        "sre-platform",
        3,
        "E-mail, SMS and push messages.",
        (),
        120.0,
        4.0,
        0.003,
        6.0,
    ),
    ServiceSpec(
        "shipping",
        "Shipping & tracking",
        "fulfilment-ops",
        2,
        "Carrier labels, delivery tracking and returns labels.",
        (),
        200.0,
        3.0,
        0.003,
        5.0,
    ),
    ServiceSpec(
        "returns",
        "Returns",
        "fulfilment-ops",
        2,
        "Return requests, labels and refunds.",
        ("shipping", "payments"),
        110.0,
        3.0,
        0.003,
        2.0,
    ),
)

JOURNEYS: tuple[JourneySpec, ...] = (
    JourneySpec(
        "purchase",
        "Purchase",
        "ux-research",
        (
            StepSpec("browse", "Browse", ("web", "search", "catalog")),
            StepSpec("cart", "Cart", ("web", "cart")),
            StepSpec("checkout", "Checkout", ("web", "checkout")),
            StepSpec("paid", "Paid", ("payments", "notifications")),
        ),
    ),
    JourneySpec(
        "track-order",
        "Track an order",
        "support",
        (
            StepSpec("order-status", "Order status", ("web", "shipping")),
            StepSpec("delivery-notice", "Delivery notice", ("notifications", "shipping")),
        ),
    ),
    JourneySpec(
        "return-item",
        "Return an item",
        "support",
        (
            StepSpec("start-return", "Start a return", ("web", "returns")),
            StepSpec("return-label", "Return label", ("returns", "shipping")),
            StepSpec("refund", "Refund", ("returns", "payments")),
        ),
    ),
)

REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec("eu", "Europe", "Europe/Berlin"),
    RegionSpec("us", "North America", "America/New_York"),
    RegionSpec("apac", "Asia-Pacific", "Asia/Singapore"),
)

CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("web", "Web", "digital"),
    ChannelSpec("app", "App", "digital"),
    ChannelSpec("phone", "Phone", "assisted"),
    ChannelSpec("email", "E-mail", "assisted"),
    ChannelSpec("chat", "Chat", "assisted"),
)

TICKET_CATEGORIES: tuple[str, ...] = (
    "delivery-status",
    "returns",
    "refund",
    "payment-issue",
    "order-change",
    "product-question",
    "account-access",
    "website-problem",
    "app-problem",
    "complaint",
)

DEFAULT_CATALOG = Catalog(
    teams=TEAMS,
    services=SERVICES,
    journeys=JOURNEYS,
    regions=REGIONS,
    channels=CHANNELS,
    ticket_categories=TICKET_CATEGORIES,
)
