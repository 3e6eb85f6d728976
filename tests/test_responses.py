"""The response card (`channelsim responses`): paired ±10 % changes of each lever on the same seeds, the
elasticities beside their ranges, and the card written as JSON without destroying anybody's file."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import cli, responses, runner
from sim.errors import InputError
from sim.params import build_scenario
from sim.responses import LEVERS, Estimate, lever_row, ratio_estimate, scaled, t_estimate

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"partners.count": 80, "quarters": 8}


def channelsim(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def frames_of(params, seeds):
    return [r.quarters for r in runner.run_replicates(params, seeds)]


@pytest.fixture(scope="module")
def small():
    return build_scenario(None, SMALL)


@pytest.fixture(scope="module")
def card(small):
    return responses.measure(small, replicates=3, seed=5, progress=False, scenario="small")


# --------------------------------------------------------------------------- the card


def test_the_card_has_a_row_per_lever_and_the_three_elasticities_beside_their_ranges(card):
    assert [row.lever.name for row in card.rows] == [lever.name for lever in LEVERS]
    assert card.replicates == 3 and card.seeds == [runner.replicate_seed(5, r) for r in range(3)]
    assert card.window == (1, 8) and card.runs == 1 + 2 * len(LEVERS) + 2
    for row in card.rows:
        for estimate in (row.revenue_pct, row.mindshare_points, row.contribution, row.elasticity):
            assert estimate.low <= estimate.mean <= estimate.high, row.lever.name
        assert row.roi is not None or row.roi_note  # a blank return says why
    assert [e.name for e in card.elasticities] == ["selling_effort", "demand_generation_short_term",
                                                   "demand_generation_long_term"]
    assert [(e.target.low, e.target.high) for e in card.elasticities] == [(0.2, 0.5), (0.05, 0.2), (0.15, 0.35)]
    assert all(math.isfinite(e.estimate.mean) and e.verdict for e in card.elasticities)
    text = responses.render(card)
    assert "3 replicates x 8 quarters, 80 partners; base seed 5" in text
    assert all(str(seed) in text for seed in card.seeds)
    assert "quarters 5-6" in text  # the demand-generation change from quarter 8 // 2 + 1, its first two quarters
    json.dumps(card.to_dict(), allow_nan=False)


def test_more_margin_wins_more_mindshare(card):
    margin = next(row for row in card.rows if row.lever.name == "margin")
    assert margin.mindshare_points.mean > 0


def test_a_lever_at_plus_zero_gives_exactly_zero_differences(small):
    """Pairing is exact: the same seeds and the same parameters give the same numbers in every replicate."""
    seeds = [runner.replicate_seed(2, r) for r in range(2)]
    base = frames_of(small, seeds)
    same = frames_of(scaled(small, "vendor.margin.base", 1.0), seeds)
    for a, b in zip(base, same, strict=True):
        pd.testing.assert_frame_equal(a, b)
    row = lever_row(LEVERS[0], 0.2, base, same, same, (1, 8))
    for estimate in (row.revenue_pct, row.mindshare_points, row.contribution, row.elasticity):
        assert (estimate.mean, estimate.low, estimate.high) == (0.0, 0.0, 0.0)
    assert row.roi is None and "did not change" in row.roi_note


def test_the_mdf_change_leaves_the_run_as_it_was_until_its_quarter(small):
    seeds = [runner.replicate_seed(2, r) for r in range(2)]
    base = frames_of(small, seeds)
    changed = frames_of(scaled(small, "vendor.mdf.budget", 1.1, from_quarter=5), seeds)
    for a, b in zip(base, changed, strict=True):
        pd.testing.assert_frame_equal(a[a["quarter"] < 5], b[b["quarter"] < 5])
        assert (b.loc[b["quarter"] >= 5, "mdf_allocated"].to_numpy()
                == pytest.approx(1.1 * a.loc[a["quarter"] >= 5, "mdf_allocated"].to_numpy()))


def test_a_lever_is_scaled_in_the_schedule_too():
    schedule = [{"quarter": 3, "set": {"vendor.rebate.rate": 0.05}},
                {"quarter": 6, "set": {"vendor.rebate": {"rate": 0.06}}}]  # a table set whole holds it too
    params = build_scenario(None, {"quarters": 8, "schedule": schedule})
    up = scaled(params, "vendor.rebate.rate", 1.1)
    assert up.vendor.rebate.rate == pytest.approx(0.033)
    assert [c.set for c in up.schedule] == [{"vendor.rebate.rate": pytest.approx(0.055)},
                                            {"vendor.rebate": {"rate": pytest.approx(0.066)}}]
    later = scaled(params, "vendor.rebate.rate", 1.1, from_quarter=4)  # from quarter 4: 0.05 in effect then
    assert later.vendor.rebate.rate == 0.03
    assert [(c.quarter, c.set) for c in later.schedule] == [
        (3, {"vendor.rebate.rate": 0.05}), (6, {"vendor.rebate": {"rate": pytest.approx(0.066)}}),
        (4, {"vendor.rebate.rate": pytest.approx(0.055)})]


def test_an_instrument_switched_off_is_not_measured_and_the_card_says_so(small):
    params = small.with_overrides({"vendor.rebate.enabled": False, "vendor.margin.base": 0.85})
    card = responses.measure(params, 2, 1, responses.pick_levers("rebate,margin,cams"), progress=False,
                             run=lambda p, seeds: frames_of(p, seeds))
    assert [row.lever.name for row in card.rows] == ["cams"]
    skipped = dict((lever.name, why) for lever, why in card.skipped)
    assert skipped["rebate"] == "vendor.rebate.enabled = false"
    assert skipped["margin"].startswith("±10% leaves its bounds")  # 0.935 is above the margin's 0.9
    text = responses.render(card)
    assert "rebate (vendor.rebate.rate) not measured: vendor.rebate.enabled = false" in text


# --------------------------------------------------------------------------- the formulas


def _frames(revenue, gross=0.0, cost=0.0, mindshare=0.5, quarters=4):
    """One replicate's quarters: `revenue` spread evenly over the quarters, the rest constant."""
    return pd.DataFrame({"quarter": np.arange(1, quarters + 1), "revenue": revenue / quarters,
                         "mindshare": mindshare, "vendor_contribution": (gross - cost) / quarters,
                         "vendor_gross_profit": gross / quarters, "discount": cost / quarters, "spend_total": 0.0})


def test_the_arc_elasticity_is_the_log_change_over_minus_and_plus_ten_percent():
    """On revenue R = c x^e the arc elasticity is e exactly, whatever c."""
    e = [0.3, 0.8]
    base = [_frames(c) for c in (1e6, 3e6)]
    minus = [_frames(c * 0.9 ** k) for c, k in zip((1e6, 3e6), e, strict=True)]
    plus = [_frames(c * 1.1 ** k, gross=100.0, cost=40.0) for c, k in zip((1e6, 3e6), e, strict=True)]
    row = lever_row(LEVERS[0], 0.2, base, minus, plus, (1, 4))
    assert row.elasticity.mean == pytest.approx(np.mean(e), rel=1e-12)
    assert row.revenue_pct.mean == pytest.approx(100 * np.mean([1.1 ** k - 1 for k in e]), rel=1e-12)
    assert row.roi.mean == pytest.approx((100.0 - 40.0) / 40.0)  # (ΔGP - ΔC) / ΔC
    assert row.contribution.mean == pytest.approx(60.0 / 4)  # a quarter


def test_the_window_is_the_final_eight_quarters():
    base = [_frames(1e6, quarters=12)]
    plus = [_frames(1e6, quarters=12)]
    plus[0].loc[plus[0]["quarter"] <= 4, "revenue"] *= 2  # outside the window: no change measured
    window = responses.window_of(12)
    assert window == (5, 12)
    assert lever_row(LEVERS[0], 0.2, base, base, plus, window).revenue_pct.mean == 0.0


def test_a_fall_in_channel_cost_has_no_return():
    base = [_frames(1e6, gross=0.0, cost=0.0)] * 2
    plus = [_frames(1e6, gross=-50.0, cost=-10.0)] * 2
    row = lever_row(LEVERS[1], 0.03, base, base, plus, (1, 4))
    assert row.roi is None and "fell" in row.roi_note


def test_fiellers_interval_with_a_fixed_denominator_is_the_t_interval_scaled():
    numerator = np.array([3.0, 5.0, 4.0, 6.0])
    ratio = ratio_estimate(numerator, np.full(4, 2.0))
    t = t_estimate(numerator / 2.0)
    assert (ratio.mean, ratio.low, ratio.high) == pytest.approx((t.mean, t.low, t.high))
    open_interval = ratio_estimate(numerator, np.array([1.0, -1.0, 0.5, -0.4]))  # a cost that cannot be told from 0
    assert math.isnan(open_interval.low) and math.isnan(open_interval.high)
    assert Estimate(1.0, math.nan, math.nan).to_dict() == {"mean": 1.0, "low": None, "high": None}


# --------------------------------------------------------------------------- the command


def test_the_command_prints_the_card_and_writes_it_as_json_replacing_only_its_own(tmp_path, capsys):
    target = tmp_path / "cards" / "responses.json"
    args = ["responses", "--partners", "40", "--quarters", "4", "--replicates", "2", "--levers", "margin",
            "--json", str(target)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "response card: Baseline channel" in printed and "front-end margin" in printed
    card = json.loads(target.read_text())
    assert card["kind"] == "responses" and card["replicates"] == 2 and len(card["seeds"]) == 2
    assert [lever["name"] for lever in card["levers"]] == ["margin"]
    assert cli.main(args) == 0  # its own card, replaced
    assert [p.name for p in target.parent.iterdir()] == ["responses.json"]  # nothing left beside it

    theirs = tmp_path / "notes.json"
    theirs.write_text('{"mine": true}\n')
    assert cli.main([*args[:-1], str(theirs)]) == 2
    assert "not a response card channelsim wrote" in capsys.readouterr().err
    assert theirs.read_text() == '{"mine": true}\n'


def test_a_scenario_that_is_not_there_exits_2_with_its_path_and_no_traceback():
    done = channelsim("responses", "no/such/scenario.toml")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "channelsim responses: no/such/scenario.toml: file not found"


@pytest.mark.parametrize("args, message", [
    (["tests/malformed/out_of_range.toml"], "tests/malformed/out_of_range.toml: vendor.rebate.rate = 1.5"),
    (["--levers", "margn"], "--levers margn: unknown lever 'margn'"),
    (["--replicates", "1"], "--replicates 1: the card's intervals need at least 2 replicates"),
    (["--partners", "0"], "--partners 0: must be"),
    (["--json", "."], "is a folder"),
])
def test_bad_input_exits_2_before_any_run(args, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(responses, "measure", lambda *a, **k: pytest.fail("ran before checking its input"))
    assert cli.main(["responses", *args]) == 2
    assert message in capsys.readouterr().err


def test_the_help_has_examples(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["responses", "--help"])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert "examples:" in printed and "channelsim responses --levers" in printed


def test_a_json_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, so nothing can be written under it"):
        responses.check_json_path(tmp_path / "file" / "card.json")


def test_a_card_that_fails_while_written_leaves_the_previous_file_as_it_was(tmp_path, card, monkeypatch):
    target = tmp_path / "card.json"
    responses.write_json(card, target)
    before = target.read_text()

    def broken():
        raise RuntimeError("interrupted")

    monkeypatch.setattr(card, "to_dict", broken)
    with pytest.raises(RuntimeError):
        responses.write_json(card, target)
    assert target.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["card.json"]
