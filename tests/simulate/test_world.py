"""The simulated world: determinism, record schemas, seasonality and causal links."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from juncture.simulate.output import write_files
from juncture.simulate.records import SIGNAL_TYPES
from juncture.simulate.scenario import parse_scenario
from juncture.simulate.world import World, generate
from tests.simulate.scenarios import CHECKOUT_SLOW, START, small

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUIRED = {
    "metric": {"service", "metric", "value", "unit", "labels"},
    "funnel": {"journey", "step", "session_id", "region", "channel", "device", "segment"},
    "ticket": {"ticket_id", "kind", "actor_kind"},
    "survey": {"kind", "score", "touchpoint", "region", "channel", "segment"},
    "review": {"source", "text", "region"},
    "deploy": {"service", "version", "actor", "region", "status"},
}


def test_same_seed_same_output_different_seed_different() -> None:
    sc = small()
    a = generate(sc, days=2, seed=3, start=START)
    b = generate(sc, days=2, seed=3, start=START)
    c = generate(sc, days=2, seed=4, start=START)
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != c.content_hash()


def test_files_are_reproducible(tmp_path: Path) -> None:
    sc = small()
    m1 = write_files(generate(sc, days=1, seed=3, start=START), tmp_path / "a")
    m2 = write_files(generate(sc, days=1, seed=3, start=START), tmp_path / "b")
    assert m1["content_sha256"] == m2["content_sha256"]
    for kind in SIGNAL_TYPES:
        assert (tmp_path / "a" / f"{kind}.ndjson.gz").read_bytes() == (
            tmp_path / "b" / f"{kind}.ndjson.gz"
        ).read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["total"] == sum(manifest["counts"].values())
    with gzip.open(tmp_path / "a" / "ticket.ndjson.gz", "rt") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == manifest["counts"]["ticket"]
    assert json.loads((tmp_path / "a" / "truth.json").read_text())["schema"] == 1


def test_records_follow_the_v1_schemas(quiet_world: World) -> None:
    counts = dict.fromkeys(SIGNAL_TYPES, 0)
    for batch in quiet_world.iter_records(batch_size=5000):
        assert batch
        kinds = {r["type"] for r in batch}
        assert len(kinds) == 1
        stamps = [r["ts"] for r in batch]
        assert stamps == sorted(stamps)
        for rec in batch:
            assert TS.match(rec["ts"])
            assert REQUIRED[rec["type"]] <= rec.keys()
            assert all(v is not None for v in rec.values())
            assert len(rec["id"]) <= 128
        counts[batch[0]["type"]] += len(batch)
    assert counts == quiet_world.counts()
    assert all(counts[k] > 0 for k in ("metric", "funnel", "ticket", "survey", "review", "deploy"))
    recs = [r for b in quiet_world.iter_records() for r in b]
    assert len({r["id"] for r in recs}) == len(recs)
    by_type: dict[str, list[dict[str, object]]] = {}
    for r in recs:
        by_type.setdefault(str(r["type"]), []).append(r)
    assert {r["metric"] for r in by_type["metric"]} == {
        "requests",
        "latency_p50_ms",
        "latency_p95_ms",
        "error_rate",
        "availability",
    }
    assert {r["kind"] for r in by_type["survey"]} == {"csat", "ces", "nps"}
    assert {r["channel"] for r in by_type["ticket"]} <= {"phone", "email", "chat", "web", "app"}
    assert {r["segment"] for r in by_type["funnel"]} == {"new", "returning", "vip"}
    for r in by_type["survey"]:
        lo, hi = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[str(r["kind"])]
        assert lo <= int(str(r["score"])) <= hi
    paid = [r for r in by_type["funnel"] if r["step"] == "paid"]
    assert paid and all(float(str(r["value"])) > 0 for r in paid)
    assert all("value" not in r for r in by_type["funnel"] if r["step"] != "paid")


def test_traffic_follows_each_regions_local_day(quiet_world: World) -> None:
    f = quiet_world.frames()["funnel"]
    entry = f[f["step"].isin(["browse", "order-status", "start-return"])]
    tz = {"eu": "Europe/Berlin", "us": "America/New_York", "apac": "Asia/Singapore"}
    for region, zone in tz.items():
        local_hour = entry[entry["region"] == region]["ts"].dt.tz_convert(zone).dt.hour
        counts = local_hour.value_counts()
        assert counts.idxmax() in range(17, 23), region
        assert counts.get(4, 0) < counts.max() / 4


def _window(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["ts"] >= lo) & (frame["ts"] < hi)]


def _conversion(frame: pd.DataFrame, region: str, step_from: str, step_to: str) -> float:
    f = frame[(frame["region"] == region) & (frame["journey"] == "purchase")]
    reached = f["step"].value_counts()
    return float(reached.get(step_to, 0) / max(reached.get(step_from, 0), 1))


def test_latency_incident_raises_drop_off_and_tickets_only_where_it_happens(
    quiet_world: World, incident_world: World
) -> None:
    lo = pd.Timestamp(START) + pd.Timedelta(days=CHECKOUT_SLOW["start_day"])  # type: ignore[arg-type]
    hi = lo + pd.Timedelta(minutes=240)
    f_quiet = _window(quiet_world.frames()["funnel"], lo, hi)
    f_inc = _window(incident_world.frames()["funnel"], lo, hi)
    # Drop-off from cart to checkout rises in Europe...
    assert _conversion(f_inc, "eu", "cart", "checkout") < 0.6 * _conversion(
        f_quiet, "eu", "cart", "checkout"
    )
    # ...and nothing changes elsewhere (same draws, same health outside Europe).
    for region in ("us", "apac"):
        a = f_quiet[f_quiet["region"] == region].reset_index(drop=True)
        b = f_inc[f_inc["region"] == region].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)

    def created(world: World, region: str) -> int:
        t = world.frames()["ticket"]
        t = t[(t["kind"] == "created") & (t["region"] == region)]
        return len(_window(t, lo, hi + pd.Timedelta(hours=3)))

    assert created(incident_world, "eu") > created(quiet_world, "eu") + 5
    for region in ("us", "apac"):
        assert created(incident_world, region) == created(quiet_world, region)
    # The operational series show it too, in Europe only.
    m = incident_world.frames()["metric"]
    m = m[(m["service"] == "checkout") & (m["metric"] == "latency_p95_ms")]
    inside = _window(m, lo + pd.Timedelta(minutes=10), hi - pd.Timedelta(minutes=10))
    before = _window(m, lo - pd.Timedelta(hours=4), lo)
    eu_ratio = (
        inside[inside["region"] == "eu"]["value"].median()
        / before[before["region"] == "eu"]["value"].median()
    )
    us_ratio = (
        inside[inside["region"] == "us"]["value"].median()
        / before[before["region"] == "us"]["value"].median()
    )
    assert eu_ratio > 3
    assert us_ratio < 2


def test_truth_impact_matches_the_counterfactual_world(
    quiet_world: World, incident_world: World
) -> None:
    [inc] = incident_world.truth.incidents
    assert inc.service == "checkout" and inc.regions == ["eu"] and inc.cause == "deploy"
    imp = inc.impact
    paid_quiet = (quiet_world.frames()["funnel"]["step"] == "paid").sum()
    paid_inc = (incident_world.frames()["funnel"]["step"] == "paid").sum()
    assert imp.lost_conversions == paid_quiet - paid_inc > 0
    created = {
        name: int((w.frames()["ticket"]["kind"] == "created").sum())
        for name, w in (("quiet", quiet_world), ("incident", incident_world))
    }
    assert imp.extra_tickets == created["incident"] - created["quiet"] > 0
    assert len(imp.ticket_ids) == imp.extra_tickets
    revenue = (
        quiet_world.frames()["funnel"]["value"].sum()
        - incident_world.frames()["funnel"]["value"].sum()
    )
    assert abs(imp.lost_revenue - revenue) < 0.05
    assert 0 < imp.customers_affected <= imp.sessions_affected
    assert imp.by_region["eu"]["lost_conversions"] == imp.lost_conversions
    assert imp.customer_impacting


def test_more_agents_lower_first_response_time() -> None:
    def mean_frt(world: World) -> float:
        t = world.frames()["ticket"]
        created = t[t["kind"] == "created"].set_index("ticket_id")["ts"]
        replied = (
            t[(t["kind"] == "replied") & (t["actor_kind"] == "agent")]
            .groupby("ticket_id")["ts"]
            .min()
        )
        frt = (replied - created.reindex(replied.index)).dt.total_seconds()
        return float(frt.mean())

    lean = {"shifts": [{"start_hour": 0, "hours": 24, "weekday_agents": 1, "weekend_agents": 1}]}
    rich = {"shifts": [{"start_hour": 0, "hours": 24, "weekday_agents": 3, "weekend_agents": 3}]}
    teams = ("support", "billing-support", "logistics-support", "tech-support")
    few = generate(
        small(support={"teams": dict.fromkeys(teams, lean)}), days=3, seed=2, start=START
    )
    many = generate(
        small(support={"teams": dict.fromkeys(teams, rich)}), days=3, seed=2, start=START
    )
    assert mean_frt(many) < 0.7 * mean_frt(few)


def _default_teams() -> dict[str, object]:
    teams = parse_scenario({}).support.teams
    return {name: team.model_dump() for name, team in teams.items()}


def test_staffing_intervention_has_a_measured_negative_effect() -> None:
    lean = {"shifts": [{"start_hour": 0, "hours": 24, "weekday_agents": 1, "weekend_agents": 1}]}
    sc = small(
        support={"teams": {**_default_teams(), "logistics-support": lean}},
        interventions=[
            {
                "id": "mornings",
                "kind": "staffing",
                "start_day": 1,
                "team": "logistics-support",
                "agents": 2,
                "from_hour": 8,
                "to_hour": 14,
            }
        ],
    )
    world = generate(sc, days=4, seed=2, start=START)
    [iv] = world.truth.interventions
    assert iv.metric == "first_response_minutes_mean"
    assert iv.n > 0
    assert iv.true_effect < 0
    assert iv.true_relative_effect is not None and iv.true_relative_effect < 0


def test_customers_exposed_to_incidents_give_lower_csat() -> None:
    storm = {
        "service": "payments",
        "regions": ["eu", "us", "apac"],
        "start_day": 0.5,
        "duration_minutes": 600,
        "kind": "errors",
        "error_rate": 0.6,
        "cause": "dependency",
    }
    sc = small(
        traffic={"sessions_per_day": 8000},
        incidents={"random_per_week": 0.0, "scripted": [storm]},
        surveys={"csat_response_rate": 0.9},
    )
    world = generate(sc, days=4, seed=8, start=START)
    linked = set(world.truth.incidents[0].impact.ticket_ids)
    assert len(linked) > 30
    s = world.frames()["survey"]
    csat = s[s["kind"] == "csat"]
    exposed = csat["touchpoint_ref"].isin(linked)
    assert exposed.sum() > 15
    assert csat[exposed]["score"].mean() < csat[~exposed]["score"].mean() - 0.4


def test_csat_intervention_true_effect_is_close_to_configured() -> None:
    sc = small(
        traffic={"sessions_per_day": 8000},
        support={"category_share": {"returns": 0.5, "delivery-status": 0.5}},
        surveys={"csat_response_rate": 1.0},
        interventions=[
            {
                "id": "returns",
                "kind": "csat_shift",
                "start_day": 1,
                "region": "eu",
                "category": "returns",
                "effect": 0.25,
            }
        ],
    )
    world = generate(sc, days=4, seed=4, start=START)
    [iv] = world.truth.interventions
    assert iv.n > 50
    assert abs(iv.true_effect - 0.25) < 0.06


def test_promotions_raise_traffic_and_are_announced() -> None:
    promo = {
        "name": "Flash sale",
        "start_day": 1,
        "days": 1,
        "regions": ["us"],
        "traffic_multiplier": 2.5,
        "announce_days_before": 10,
    }
    world = generate(small(promotions=[promo]), days=3, seed=1, start=START)
    [p] = world.truth.promotions
    assert p.announced_at < world.start < p.start
    f = world.frames()["funnel"]
    f = f[(f["step"] == "browse") & (f["region"] == "us")]
    per_day = f.groupby(f["ts"].dt.floor("D")).size().to_numpy()
    assert per_day[1] > 1.8 * per_day[0]
    assert np.isfinite(per_day).all()


def test_ticket_lifecycles_are_ordered(quiet_world: World) -> None:
    t = quiet_world.frames()["ticket"]
    t = t.assign(seq=t["id"].str.rsplit("-", n=1).str[1].astype(int))
    for _, events in t.groupby("ticket_id"):
        by_time = events.sort_values(["ts", "seq"], kind="stable")
        assert by_time["kind"].iloc[0] == "created"
        assert by_time["seq"].is_unique
        kinds = list(by_time["kind"])
        if "resolved" in kinds:
            assert "replied" in kinds[: kinds.index("resolved")]
        if "reopened" in kinds:
            assert "resolved" in kinds[: kinds.index("reopened")]
        if "reassigned" in kinds:
            assert kinds.count("assigned") >= 1


def test_scripted_fault_counted_back_from_the_end() -> None:
    fault = {**CHECKOUT_SLOW, "start_day": -0.5, "duration_minutes": 60}
    world = generate(small(incidents={"scripted": [fault]}), days=2, seed=1, start=START)
    [inc] = world.truth.incidents
    assert inc.start == START + pd.Timedelta(days=1.5)
