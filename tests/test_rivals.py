"""Rivals are vendors in their own right: each runs `rivals.program` with what `rivals.each.<rival>` states for it
laid over it, so one rival can attack alone, from the start or part-way through a run."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import ChannelModel, ParameterError, cli, scenarios
from sim.params import Scenario, build_scenario
from sim.results import resolved_toml

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"partners": {"count": 150}, "quarters": 8}
SEEDS = [1, 2, 3]
SHARES = ["mindshare", "mindshare_rival_1", "mindshare_rival_2", "mindshare_services"]


def final_year_shares(overrides: dict, data: dict | None = None) -> pd.Series:
    """Mindshare of each vendor and of the partners' own services over the last four quarters, mean of SEEDS."""
    model = ChannelModel(build_scenario(data or SMALL, overrides), seeds=SEEDS)
    model.run()
    return pd.concat([frame.iloc[-4:][SHARES].mean() for frame in model.lane_frames()], axis=1).mean(axis=1)


def quarters(params: Scenario, seed: int = 4) -> pd.DataFrame:
    return ChannelModel(params, rng=seed, agents=False).run()


# ---------------------------------------------------------------- one rival attacks alone


def test_one_rival_attacking_alone_takes_share_from_the_focal_vendor_and_the_other_rival():
    base = final_year_shares({})
    alone = final_year_shares({"rivals.each.rival_2.margin.base": 0.25}) - base  # rival_2: +5 points
    together = final_year_shares({"rivals.program.margin.base": 0.25}) - base  # both rivals: +5 points
    # the attacker gains; what it gains comes from the focal vendor and from the rival that did not move
    assert alone["mindshare_rival_2"] > 0
    assert alone["mindshare"] < 0 and alone["mindshare_rival_1"] < 0
    assert alone[SHARES].sum() == pytest.approx(0.0, abs=1e-6)  # shares of the same capacity (float32)
    # attacking together, both rivals gain and the focal vendor loses more than to one attacker
    assert together["mindshare_rival_1"] > 0 and together["mindshare_rival_2"] > 0
    assert together["mindshare"] < alone["mindshare"]
    # the symmetric attack is not the lone one: rival_1 gains instead of losing
    assert together["mindshare_rival_1"] > alone["mindshare_rival_1"]


def test_a_rivals_own_programme_leaves_the_other_rivals_on_the_rivals_programme():
    params = build_scenario(SMALL, {"rivals.each.rival_2.margin.base": 0.25})
    program = params.rivals.program.model_dump()
    assert params.rivals.program_of("rival_1").model_dump() == program
    own = params.rivals.program_of("rival_2").model_dump()
    assert own["margin"]["base"] == 0.25 and own["name"] == "rival"
    assert {key for key in own if own[key] != program[key]} == {"margin"}
    assert {key for key in own["margin"] if own["margin"][key] != program["margin"][key]} == {"base"}
    assert params.model_dump()["rivals"]["each"] == {"rival_2": {"margin": {"base": 0.25}}}  # what was stated
    model = ChannelModel(params, rng=1, agents=False)
    assert [v.name for v in model.vendors] == ["focal", "rival_1", "rival_2"]
    assert [v.program.margin.base for v in model.vendors] == [0.2, 0.2, 0.25]


def test_a_rival_states_only_what_differs_and_follows_the_rivals_programme_for_the_rest():
    changes = {"rivals.each.rival_2.margin.base": 0.25, "rivals.program.rebate.rate": 0.05,
               "rivals.program.margin.base": 0.22}
    params = build_scenario(SMALL, changes)
    own = params.rivals.program_of("rival_2")
    assert own.rebate.rate == 0.05 and own.margin.base == 0.25
    assert params.rivals.program_of("rival_1").margin.base == 0.22


def test_a_rival_stating_its_whole_programme_as_the_rivals_have_it_runs_the_same_channel_bit_for_bit():
    stated = Scenario().rivals.program.model_dump(exclude={"name"})
    del stated["tiers"]["names"]
    plain = quarters(build_scenario(SMALL))
    same = quarters(build_scenario(SMALL, {"rivals.each": {"rival_1": stated, "rival_2": {"margin": {"base": 0.2}}}}))
    pd.testing.assert_frame_equal(plain, same, check_exact=True)


# ---------------------------------------------------------------- part-way through a run


def test_a_scheduled_change_to_one_rival_changes_only_the_quarters_from_then_on():
    entry = {"quarter": 4, "set": {"rivals.each.rival_1.margin.base": 0.3}}
    plain = ChannelModel(build_scenario(SMALL), rng=4, agents=False)
    changed = ChannelModel(build_scenario({**SMALL, "schedule": [entry]}), rng=4, agents=False)
    a, b = plain.run(), changed.run()
    pd.testing.assert_frame_equal(a.iloc[:3], b.iloc[:3], check_exact=True)  # exactly the run without it
    assert (b["mindshare_rival_1"].iloc[3:] > a["mindshare_rival_1"].iloc[3:]).all()
    assert (b["mindshare"].iloc[3:] < a["mindshare"].iloc[3:]).all()
    assert [v.program.margin.base for v in changed.vendors] == [0.2, 0.3, 0.2]  # rival_2 untouched
    assert changed.params.rivals.each["rival_1"].model_dump() == {"margin": {"base": 0.3}}


def test_a_scheduled_change_to_the_rivals_programme_reaches_every_rival_but_what_one_states_of_its_own():
    data = {**SMALL, "quarters": 3, "rivals": {"each": {"rival_2": {"margin": {"base": 0.22}}}},
            "schedule": [
                {"quarter": 2, "set": {"rivals.program.margin.base": 0.24, "rivals.program.rebate.rate": 0.05}},
                {"quarter": 3, "set": {"rivals.each.rival_2.rebate.rate": 0.06}}]}
    model = ChannelModel(build_scenario(data), rng=1, agents=False)
    seen = []
    for _ in range(3):
        model.step()
        seen.append([(v.program.margin.base, v.program.rebate.rate) for v in model.vendors[1:]])
    assert seen == [[(0.2, 0.03), (0.22, 0.03)], [(0.24, 0.05), (0.22, 0.05)], [(0.24, 0.05), (0.22, 0.06)]]


# ---------------------------------------------------------------- files, paths and what a run writes


def test_a_resolved_scenario_with_a_rivals_own_programme_reproduces_the_run(tmp_path):
    own = {"margin": {"base": 0.25}, "push": {"retail": 2.0}}
    data = {**SMALL, "quarters": 5, "rivals": {"each": {"rival_2": own}},
            "schedule": [{"quarter": 3, "set": {"rivals.each.rival_1.cams.count": 20}}]}
    params = build_scenario(data)
    text = resolved_toml(params, "attack.toml")
    assert "[rivals.each.rival_2.margin]" in text
    again = build_scenario(tomllib.loads(text.split("\n", 2)[2]))
    assert again == params
    pd.testing.assert_frame_equal(quarters(params), quarters(again), check_exact=True)


def test_a_scenario_extending_another_adds_to_a_rivals_own_programme(tmp_path):
    (tmp_path / "base.toml").write_text('[rivals.each.rival_2.margin]\nbase = 0.25\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[rivals.each.rival_2.rebate]\nrate = 0.05\n')
    loaded = scenarios.load(tmp_path / "child.toml", {"rivals.each.rival_1.mdf.budget": 5e5})
    each = loaded.params.model_dump()["rivals"]["each"]
    assert each == {"rival_2": {"margin": {"base": 0.25}, "rebate": {"rate": 0.05}},
                    "rival_1": {"mdf": {"budget": 5e5}}}


def test_the_shipped_lone_attack_changes_one_rivals_margin_part_way():
    params = scenarios.load(ROOT / "scenarios" / "rival_attack_alone.toml").params
    (entry,) = [e for e in params.schedule if any(p.startswith("rivals.each.") for p in e.set)]
    assert entry.quarter > 1 and entry.set == {"rivals.each.rival_2.margin.base": 0.25}
    assert "whom does it take share from" in params.meta.question and params.meta.answers == 9


# ---------------------------------------------------------------- bad input, named


BAD = [
    ({"rivals.each.rival_3.margin.base": 0.25},
     r"rivals\.each\.rival_3: no such rival \(did you mean 'rival_2'\?\); the rivals are rival_1, rival_2"),
    ({"rivals.each.rival_2.margin.bse": 0.25},
     r"unknown parameter 'rivals\.each\.rival_2\.margin\.bse' in 'rivals\.each\.rival_2\.margin' "
     r"\(did you mean 'base'\?\)"),
    ({"rivals.each.rival_2.loyalty.enabled": True}, r"rivals\.each\.rival_2\.loyalty\.enabled: rivals do not run"),
    ({"rivals.each.rival_2.recruitment.enabled": True},
     r"rivals\.each\.rival_2\.recruitment\.enabled: rivals do not run"),
    ({"rivals.each.rival_2.margin.base": 3.0}, r"rivals\.each\.rival_2\.margin\.base = 3\.0: must be less than"),
    ({"rivals.each.rival_2.name": "x"}, r"unknown parameter 'rivals\.each\.rival_2\.name'"),
    ({"rivals.each.rival_2.tiers.margin_points": [0.0]},
     r"rivals\.each\.rival_2\.tiers: margin_points needs one value per tier"),
    ({"rivals.each.rival_2.push": {"helthcare": 2.0}},
     r"rivals\.each\.rival_2\.push\.helthcare: unknown vertical \(did you mean 'healthcare'\?\)"),
]


@pytest.mark.parametrize("overrides, expected", BAD, ids=[next(iter(o)).split(".", 3)[-1] for o, _ in BAD])
def test_a_bad_rivals_own_programme_is_refused_naming_the_path(overrides, expected):
    with pytest.raises(ParameterError, match=expected):
        build_scenario(None, overrides)


def test_a_schedule_naming_a_rival_that_does_not_exist_is_refused_at_load():
    with pytest.raises(ParameterError, match=r"schedule\[0\]: rivals\.each\.rival_5: no such rival"):
        build_scenario({"quarters": 8, "schedule": [{"quarter": 2, "set": {"rivals.each.rival_5.margin.base": 0.3}}]})


@pytest.mark.parametrize("table, expected", [
    ("[rivals.each.rival_3.margin]\nbase = 0.25\n", "rivals.each.rival_3: no such rival"),
    ("[rivals.each.rival_2.margin]\nbse = 0.25\n", "unknown parameter 'rivals.each.rival_2.margin.bse'"),
    ("[rivals.each.rival_2.loyalty]\nenabled = true\n", "rivals.each.rival_2.loyalty.enabled: rivals do not run"),
], ids=["unknown_rival", "unknown_key", "focal_only"])
def test_validate_refuses_a_bad_rivals_own_programme_with_exit_2_naming_the_file_and_path(tmp_path, capsys, table,
                                                                                          expected):
    path = tmp_path / "attack.toml"
    path.write_text(table)
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "attack.toml" in err and expected in err
    assert "Traceback" not in err


def test_no_rivals_own_programme_means_every_rival_runs_the_rivals_programme():
    params = build_scenario(SMALL)
    assert params.rivals.each == {}
    for name in ("rival_1", "rival_2"):
        assert params.rivals.program_of(name).model_dump() == params.rivals.program.model_dump()
    model = ChannelModel(params, rng=1, agents=False)
    assert all(np.isclose(v.program.margin.base, params.rivals.program.margin.base) for v in model.vendors[1:])
