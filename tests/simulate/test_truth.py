"""The ground truth agrees with the signals it describes."""

from __future__ import annotations

import json

import pandas as pd

from juncture.simulate.world import World


def test_truth_json_round_trips(busy_world: World) -> None:
    data = json.loads(busy_world.truth.to_json())
    assert data["schema"] == 1
    assert {"incidents", "interventions", "promotions", "anomaly_windows", "deploys"} <= set(data)
    for inc in data["incidents"]:
        assert inc["start"] < inc["end"]
        assert inc["start"].endswith("Z")
        assert {"sessions_affected", "lost_conversions", "extra_tickets"} <= set(inc["impact"])


def test_incidents_are_consistent_with_signals(busy_world: World) -> None:
    truth = busy_world.truth
    frames = busy_world.frames()
    deploys = frames["deploy"]
    tickets = frames["ticket"]
    ticket_ids = set(tickets["ticket_id"])
    assert len(truth.incidents) >= 3
    assert {i.cause for i in truth.incidents} >= {"deploy"}
    assert [i.id for i in truth.incidents] == sorted(i.id for i in truth.incidents)
    for inc in truth.incidents:
        assert busy_world.start <= inc.start < inc.end <= busy_world.end
        assert inc.service == inc.services[0]
        assert set(inc.region_starts) == set(inc.regions)
        imp = inc.impact
        assert imp.customers_affected <= imp.sessions_affected
        assert set(imp.ticket_ids) <= ticket_ids
        assert sum(r["sessions_affected"] for r in imp.by_region.values()) == imp.sessions_affected
        if inc.cause == "deploy":
            assert inc.deploy_id is not None
            mine = deploys[deploys["id"].str.startswith(inc.deploy_id)]
            assert set(mine["service"]) == {inc.service}
            released = mine[mine["status"] == "succeeded"]
            assert (released["ts"] <= pd.Timestamp(inc.start)).any()
            if inc.rolled_back and inc.end < busy_world.end:
                assert (mine["status"] == "rolled_back").any()
        else:
            assert inc.deploy_id is None
    counts = truth.deploys
    assert counts["bad"] == sum(1 for i in truth.incidents if i.cause == "deploy")


def test_anomaly_windows_point_at_real_series(busy_world: World) -> None:
    metric = busy_world.frames()["metric"]
    series = set(
        zip(
            metric["service"].astype(str),
            metric["region"].astype(str),
            metric["metric"].astype(str),
            strict=True,
        )
    )
    ids = {i.id for i in busy_world.truth.incidents}
    assert busy_world.truth.anomaly_windows
    for w in busy_world.truth.anomaly_windows:
        assert w.incident_id in ids
        assert w.start < w.end <= busy_world.end
        if w.series["type"] == "metric":
            assert (w.series["service"], w.series["region"], w.series["metric"]) in series
