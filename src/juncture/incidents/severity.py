"""Severity tiers from measured customer impact (pure: no I/O).

A tier's criteria are alternatives: an incident belongs to the most severe tier any one of whose
criteria it meets. Impact figures come from :mod:`juncture.incidents.impact` under these keys:
``customers_share`` and ``orders_share`` (fractions of the customers or orders expected in the
window that were affected or lost), ``journeys`` (slugs of journeys with measured loss),
``vip_affected`` (bool), ``regions`` (affected region slugs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from juncture.incidents.enums import Sev


@dataclass(frozen=True, slots=True)
class TierRule:
    """The customer-impact criteria of one tier (None: the criterion is not used)."""

    tier: Sev
    customers_share: float | None = None
    orders_share: float | None = None
    journeys: tuple[str, ...] = ()
    vip: bool = False
    regions: int | None = None

    @classmethod
    def from_criteria(cls, tier: str, criteria: Mapping[str, Any]) -> TierRule:
        """Build a rule from a tier's stored ``criteria`` mapping."""
        return cls(
            tier=Sev(tier),
            customers_share=_opt_float(criteria.get("customers_share")),
            orders_share=_opt_float(criteria.get("orders_share")),
            journeys=tuple(str(j) for j in criteria.get("journeys") or ()),
            vip=bool(criteria.get("vip", False)),
            regions=None if criteria.get("regions") is None else int(criteria["regions"]),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def met(rule: TierRule, impact: Mapping[str, Any]) -> list[str]:
    """Return the reasons ``impact`` meets ``rule`` (empty: it does not)."""
    reasons: list[str] = []
    cust = float(impact.get("customers_share") or 0.0)
    orders = float(impact.get("orders_share") or 0.0)
    if rule.customers_share is not None and cust >= rule.customers_share:
        reasons.append(f"{cust:.1%} of customers affected (>= {rule.customers_share:.1%})")
    if rule.orders_share is not None and orders >= rule.orders_share:
        reasons.append(f"{orders:.1%} of orders lost (>= {rule.orders_share:.1%})")
    hit = sorted(set(rule.journeys) & set(impact.get("journeys") or ()))
    if hit:
        reasons.append(f"journey {', '.join(hit)} affected")
    if rule.vip and impact.get("vip_affected"):
        reasons.append("VIP customers affected")
    regions = list(impact.get("regions") or ())
    if rule.regions is not None and len(regions) >= rule.regions:
        reasons.append(f"{len(regions)} regions affected (>= {rule.regions})")
    return reasons


def suggest(rules: Sequence[TierRule], impact: Mapping[str, Any]) -> tuple[Sev, list[str]]:
    """Suggest a tier for measured impact: the most severe tier with a criterion met.

    Parameters
    ----------
    rules : Sequence[TierRule]
        The configured tiers (any order).
    impact : Mapping
        Measured impact with the keys in the module docstring.

    Returns
    -------
    tuple
        The suggested tier (the least severe configured tier, or SEV4, when none is met) and the
        reasons it was met.
    """
    order = list(Sev)
    for rule in sorted(rules, key=lambda r: order.index(r.tier)):
        reasons = met(rule, impact)
        if reasons:
            return rule.tier, reasons
    least = max((r.tier for r in rules), key=order.index, default=Sev.SEV4)
    return least, []


def more_severe(a: Sev | str, b: Sev | str) -> bool:
    """Return True when tier ``a`` is more severe than tier ``b`` (SEV1 is the most severe)."""
    order = list(Sev)
    return order.index(Sev(a)) < order.index(Sev(b))
