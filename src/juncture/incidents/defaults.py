"""Default configuration of the incidents room: severity tiers, the root-cause taxonomy and
starter playbooks, seeded idempotently by :func:`ensure_defaults`.

Nothing here overwrites what people changed: a tier, category or playbook that already exists
(by tier, code or name) is left alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from juncture.incidents.common import parent_code
from juncture.incidents.models import Playbook, RootCauseCategory, SeverityTier

#: The four severity tiers. ``criteria`` are alternatives (any one met suffices); shares are
#: fractions of the customers or orders expected in the window. The defaults use the share of
#: orders lost, a measure of harm: ``customers_share``, ``regions`` and ``vip`` count customers
#: *exposed* (a session in the window on an affected journey and region), which nearly every
#: incident on a busy journey meets, so they are left for teams to add where they fit.
#: ``escalation`` lists who is involved and how many minutes after declaration; ``authority``
#: names who decides.
DEFAULT_TIERS: tuple[dict[str, Any], ...] = (
    {
        "tier": "sev1",
        "name": "Critical",
        "description": "Many customers cannot buy or use the product; money or trust is lost "
        "by the minute.",
        "criteria": {"orders_share": 0.25},
        "escalation": [
            {"who": "commander", "minutes": 0},
            {"who": "ops_lead", "minutes": 0},
            {"who": "cx_lead", "minutes": 5},
            {"who": "comms_lead", "minutes": 10},
            {"who": "head of operations", "minutes": 15},
            {"who": "executive on call", "minutes": 30},
        ],
        "authority": {
            "rollback": "commander",
            "customer_credits": "cx_lead",
            "public_statement": "comms_lead",
        },
        "ack_minutes": 5,
        "update_every_minutes": 30,
    },
    {
        "tier": "sev2",
        "name": "Major",
        "description": "A noticeable share of customers is affected or a key journey is degraded.",
        "criteria": {"orders_share": 0.10},
        "escalation": [
            {"who": "commander", "minutes": 0},
            {"who": "ops_lead", "minutes": 0},
            {"who": "cx_lead", "minutes": 15},
            {"who": "comms_lead", "minutes": 30},
            {"who": "head of operations", "minutes": 60},
        ],
        "authority": {
            "rollback": "commander",
            "customer_credits": "cx_lead",
            "public_statement": "comms_lead",
        },
        "ack_minutes": 15,
        "update_every_minutes": 60,
    },
    {
        "tier": "sev3",
        "name": "Minor",
        "description": "Some customers notice a degradation; a workaround exists.",
        "criteria": {"orders_share": 0.02},
        "escalation": [
            {"who": "ops_lead", "minutes": 0},
            {"who": "cx_lead", "minutes": 60},
        ],
        "authority": {
            "rollback": "ops_lead",
            "customer_credits": "support team",
            "public_statement": "cx_lead",
        },
        "ack_minutes": 30,
        "update_every_minutes": 120,
    },
    {
        "tier": "sev4",
        "name": "Low",
        "description": "Little or no customer impact; tracked to learn from it.",
        "criteria": {},
        "escalation": [{"who": "owning team", "minutes": 0}],
        "authority": {
            "rollback": "owning team",
            "customer_credits": "support team",
            "public_statement": "cx_lead",
        },
        "ack_minutes": 60,
        "update_every_minutes": 240,
    },
)

#: The root-cause taxonomy: (code, name, description). A code's parent is the code before its
#: last dot.
DEFAULT_ROOT_CAUSES: tuple[tuple[str, str, str], ...] = (
    ("change", "Change", "Something we changed on purpose"),
    ("change.deploy", "Deploy", "A code release"),
    ("change.config", "Configuration change", "A configuration or infrastructure-as-code change"),
    ("change.feature_flag", "Feature flag", "A flag turned on, off or re-targeted"),
    ("change.migration", "Data migration", "A schema or data migration"),
    ("dependency", "Dependency", "A service we rely on failed"),
    ("dependency.third_party", "Third party", "An external provider (payments, e-mail, CDN)"),
    ("dependency.internal", "Internal dependency", "Another team's service"),
    ("capacity", "Capacity", "Demand beyond what was provisioned (traffic peak, exhaustion)"),
    ("infrastructure", "Infrastructure", "The platform underneath the services"),
    ("infrastructure.network", "Network", "Connectivity, DNS, load balancers"),
    ("infrastructure.hardware", "Hardware", "Disks, hosts, devices"),
    ("infrastructure.cloud", "Cloud provider", "An outage of the cloud provider"),
    ("software_defect", "Software defect", "A latent bug triggered without a recent change"),
    ("data", "Data", "Bad, missing or inconsistent data"),
    ("security", "Security", "An attack, abuse or a security control misfiring"),
    ("process", "Process / human", "A manual step, runbook gap or miscommunication"),
    ("unknown", "Unknown", "Not established yet"),
)

#: Starter playbooks mixing ops steps and UX mitigations for customers.
DEFAULT_PLAYBOOKS: tuple[dict[str, Any], ...] = (
    {
        "name": "Generic customer-facing incident",
        "description": "First steps for any incident: get the right people, tell customers "
        "and frontline, keep the timeline.",
        "services": [],
        "kinds": [],
        "steps": [
            {"title": "Assign commander, ops lead and CX lead", "kind": "ops"},
            {"title": "Check recent deploys and changes on the affected services", "kind": "ops"},
            {
                "title": "Give frontline agents a ready answer (macro) for incoming tickets",
                "kind": "comms",
            },
            {
                "title": "Show an in-app banner to affected customers",
                "kind": "ux",
                "mitigation": "in_app_alert",
            },
            {"title": "Publish a status-page update", "kind": "comms"},
        ],
    },
    {
        "name": "Deploy-caused incident",
        "description": "A recent release is suspected: roll back first, investigate after.",
        "services": [],
        "kinds": ["deploy", "change"],
        "steps": [
            {
                "title": "Roll back the suspect release",
                "kind": "ops",
                "mitigation": "rollback",
                "detail": "The decision belongs to the role named in the tier's authority chart.",
            },
            {
                "title": "Turn off the feature flag of the change",
                "kind": "ux",
                "mitigation": "feature_flag_off",
            },
            {"title": "Freeze further deploys to the affected services", "kind": "ops"},
            {"title": "Confirm the customer metrics returned to baseline", "kind": "ops"},
        ],
    },
    {
        "name": "Payment or checkout failure",
        "description": "Customers cannot pay: keep orders flowing and reach those who failed.",
        "services": ["payments", "checkout"],
        "kinds": [],
        "steps": [
            {"title": "Check the payment provider's status page", "kind": "ops"},
            {
                "title": "Offer an alternative payment method",
                "kind": "ux",
                "mitigation": "alternative_flow",
            },
            {
                "title": "Warn customers at checkout before they pay",
                "kind": "ux",
                "mitigation": "in_app_alert",
            },
            {
                "title": "Contact customers whose orders failed",
                "kind": "ux",
                "mitigation": "proactive_outreach",
            },
        ],
    },
)


def ensure_defaults(session: Session) -> dict[str, int]:
    """Seed the default tiers, root-cause categories and playbooks that are missing.

    Idempotent: rows that exist (by tier, code or name) are left as they are, so edits and
    deactivations survive.

    Parameters
    ----------
    session : Session
        Open session (the caller commits).

    Returns
    -------
    dict[str, int]
        How many rows were created: ``tiers``, ``root_causes``, ``playbooks``.
    """
    created = {"tiers": 0, "root_causes": 0, "playbooks": 0}
    tiers = set(session.scalars(select(SeverityTier.tier)).all())
    for spec in DEFAULT_TIERS:
        if spec["tier"] not in tiers:
            session.add(SeverityTier(**spec))
            created["tiers"] += 1
    codes = set(session.scalars(select(RootCauseCategory.code)).all())
    for code, name, description in DEFAULT_ROOT_CAUSES:
        if code not in codes:
            session.add(
                RootCauseCategory(
                    code=code, name=name, parent=parent_code(code), description=description
                )
            )
            created["root_causes"] += 1
    names = set(session.scalars(select(Playbook.name)).all())
    for spec in DEFAULT_PLAYBOOKS:
        if spec["name"] not in names:
            steps = [
                {"kind": "ops", "detail": "", "mitigation": None} | step for step in spec["steps"]
            ]
            session.add(Playbook(**(spec | {"steps": steps})))
            created["playbooks"] += 1
    session.flush()
    return created
