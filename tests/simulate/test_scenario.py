"""Scenario files: the shipped default loads, and invalid scenarios name the offending field."""

from __future__ import annotations

from pathlib import Path

import pytest

from juncture.kit.errors import Invalid
from juncture.simulate.scenario import ScenarioError, load_scenario, parse_scenario


def test_default_scenario_loads_and_matches_the_model_defaults() -> None:
    sc = load_scenario()
    assert sc.company.name == "Northwind Outfitters"
    assert set(sc.traffic.region_share) == {"eu", "us", "apac"}
    assert {i.kind for i in sc.interventions} == {"csat_shift", "staffing"}
    assert len(sc.promotions) >= 2
    assert sc.incidents.scripted
    # Every key of the file is optional: an empty file gives the same scenario.
    empty = parse_scenario({})
    assert empty.traffic == sc.traffic
    assert empty.support.teams == sc.support.teams
    assert empty.funnel == sc.funnel


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[traffic]\nsessions_per_day = -5\n", "traffic.sessions_per_day"),
        ("[traffic]\nregion_share = { eu = 0.5, us = 0.2 }\n", "traffic"),
        ("[traffic]\nregion_share = { eu = 0.5, mars = 0.5 }\n", "traffic"),
        ("[company]\nname = 'x'\ncolour = 'red'\n", "company.colour"),
        ("[metrics]\nstep_minutes = 7\n", "metrics"),
        (
            "[[incidents.scripted]]\nservice = 'teleport'\nregions = ['eu']\n"
            "start_day = 1\nduration_minutes = 10\n",
            "incidents.scripted.0",
        ),
        (
            "[[incidents.scripted]]\nservice = 'cart'\nregions = ['eu']\n"
            "start_day = 1\nduration_minutes = 10\ncause = 'gremlins'\n",
            "incidents.scripted.0.cause",
        ),
        (
            "[[interventions]]\nid = 'more'\nkind = 'staffing'\nstart_day = 3\nagents = 2\n",
            "interventions.0",
        ),
        ("[support.teams.support]\nshifts = []\n", "support.teams.support.shifts"),
        ("[funnel.conversion]\n'purchase.cart' = 1.5\n", "funnel"),
    ],
)
def test_invalid_scenarios_name_the_field(tmp_path: Path, toml: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"invalid scenario {path}: {field}")
    assert "\n" not in message
    assert isinstance(info.value, Invalid)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[traffic\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)
