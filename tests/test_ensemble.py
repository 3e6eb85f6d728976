"""`--ensemble K`: a scenario run across K parameter draws of its calibration, so an answer carries the calibration's
uncertainty and not only the seed noise. Replicate j of K*R runs draw j // R on seed j's, the same in every compared
scenario; what does not fit is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim import runner, scenarios
from sim.cli import main
from sim.ensemble import choose, read_ensemble

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
SIZES = ("smb", "midmarket", "enterprise")
HEADER = "draw,trial,mismatch," + ",".join(f"market.deal_size_median.{s}" for s in SIZES)
# deal sizes a quarter, a fourth and four times the calibrated ones: draws far apart, revenue moves with them
DRAWS = [(3_000, 15_000, 75_000), (48_000, 240_000, 1_200_000), (12_000, 60_000, 300_000)]
R = 2


def write_ensemble(folder: Path, rows=DRAWS, header: str = HEADER, name: str = "ensemble.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header, *(f"{i},{10 + i},{0.1 + i / 100}," + ",".join(map(str, row)) for i, row in enumerate(rows))]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_calibrated(folder: Path, ensemble: str = "ensemble.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "calibrated.toml"
    path.write_text(f'extends = "{BASELINE}"\nquarters = 4\n\n[meta]\ntitle = "Calibrated"\nensemble = "{ensemble}"\n\n'
                    f"[run]\nreplicates = {R}\n\n[partners]\ncount = 40\n\n[market.deal_size_median]\n"
                    "smb = 12000.0\nmidmarket = 60000.0\nenterprise = 300000.0\n", encoding="utf-8")
    return path


def write_proposal(folder: Path, extends: str, body: str = "[vendor.rebate]\nrate = 0.06\n",
                   name: str = "proposal.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'extends = "{extends}"\n\n[meta]\ntitle = "A richer rebate"\n\n{body}', encoding="utf-8")
    return path


@pytest.fixture
def calibrated(tmp_path) -> Path:
    write_ensemble(tmp_path / "cal")
    return write_calibrated(tmp_path / "cal")


def quarters_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "quarters.csv")  # (pandas reads back the floats it wrote, exactly)


def draw_overrides(number: int) -> dict[str, float]:
    return {f"market.deal_size_median.{s}": float(v) for s, v in zip(SIZES, DRAWS[number], strict=True)}


def assert_units_are_plain_runs(quarters: pd.DataFrame, name: str, params, numbers: list[int], seed: int) -> None:
    """Replicate j of `name` is, number for number, the scenario run alone under draw numbers[j // R] on seed j's."""
    mine = quarters[quarters["scenario"] == name]
    assert sorted(mine["replicate"].unique()) == list(range(len(numbers) * R))
    for j in range(len(numbers) * R):
        alone = runner.run_replicates(params.with_overrides(draw_overrides(numbers[j // R])),
                                      [runner.replicate_seed(seed, j)])[0].quarters
        got = mine[mine["replicate"] == j].drop(columns=["scenario", "replicate"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, alone.reset_index(drop=True), check_exact=True, check_dtype=False)


def test_each_replicate_runs_its_draw_on_its_own_seed_as_the_scenario_would_alone(calibrated, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(calibrated), "--ensemble", "2", "--out", str(out), "--workers", "1"]) == 0
    said = capsys.readouterr().out
    assert f"{R} replicates x 2 parameter draws" in said.splitlines()[0]
    params = scenarios.load(calibrated).params
    seed = params.run.seed
    numbers = choose(read_ensemble(calibrated.parent / "ensemble.csv", params), 2, seed)
    assert len(set(numbers)) == 2  # without replacement
    drawn = pd.read_csv(out / "draws.csv")
    assert drawn["replicate"].tolist() == list(range(2 * R))
    assert drawn["draw"].tolist() == [n for n in numbers for _ in range(R)]
    assert drawn["seed"].tolist() == [runner.replicate_seed(seed, j) for j in range(2 * R)]
    assert_units_are_plain_runs(quarters_of(out), "calibrated", params, numbers, seed)
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["replicates"]) == {2 * R}  # every interval over the K*R replicates
    resolved = (out / "scenario.resolved.toml").read_text()
    assert f"{R} replicates x 2 parameter draws" in resolved and "--ensemble 2 --out" in resolved
    assert f"{R} replicates x 2 parameter draws" in (out / "report.html").read_text()


def test_the_same_command_gives_the_same_results_and_workers_do_not_change_them(calibrated, tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    for out in (first, again):
        assert main(["run", str(calibrated), "--ensemble", "3", "--out", str(out)]) == 0
    for name in ("quarters.csv", "summary.csv", "draws.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    params = scenarios.load(calibrated).params
    draws = [draw_overrides(n) for n in (1, 0)]
    alone = runner.run([("c", params)], R, 5, workers=1, progress=False, draws=draws)["c"].quarters
    pooled = runner.run([("c", params)], R, 5, workers=2, progress=False, parallel_from=0, draws=draws)["c"].quarters
    pd.testing.assert_frame_equal(alone, pooled, check_exact=True)


def test_a_plain_run_is_unchanged_by_the_draws_machinery(tmp_path):
    params = scenarios.load(BASELINE, {"partners.count": 40, "quarters": 3}).params
    plain = runner.run([("b", params)], 3, 2, progress=False)["b"].quarters
    once = runner.run([("b", params)], 3, 2, progress=False, draws=[{}])["b"].quarters
    pd.testing.assert_frame_equal(plain, once, check_exact=True)  # one draw that changes nothing: the same run


def test_compared_scenarios_take_the_same_draw_and_seed_replicate_by_replicate(calibrated, tmp_path, capsys):
    proposal = write_proposal(tmp_path / "elsewhere", "../cal/calibrated.toml")
    out = tmp_path / "compare"
    assert main(["compare", str(calibrated), str(proposal), "--ensemble", "2", "--out", str(out)]) == 0
    assert f"{R} replicates x 2 parameter draws" in capsys.readouterr().out
    seed = scenarios.load(calibrated).params.run.seed
    numbers = pd.read_csv(out / "draws.csv")["draw"].tolist()[::R]
    quarters = quarters_of(out)
    assert_units_are_plain_runs(quarters, "calibrated", scenarios.load(calibrated).params, numbers, seed)
    assert_units_are_plain_runs(quarters, "proposal", scenarios.load(proposal).params, numbers, seed)
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["scenario"]) == {"calibrated", "proposal"} and set(summary["replicates"]) == {2 * R}


def test_the_calibrations_spread_widens_the_interval_beyond_the_seed_noise(calibrated, tmp_path):
    drawn, plain = tmp_path / "drawn", tmp_path / "plain"
    assert main(["run", str(calibrated), "--ensemble", "3", "--out", str(drawn)]) == 0
    assert main(["run", str(calibrated), "--replicates", str(3 * R), "--out", str(plain)]) == 0  # the same seeds

    def width(out: Path) -> float:
        summary = pd.read_csv(out / "summary.csv").set_index("kpi")
        assert summary.loc["revenue", "replicates"] == 3 * R
        return summary.loc["revenue", "ci_high"] - summary.loc["revenue", "ci_low"]

    assert width(drawn) > 2 * width(plain)


def test_the_next_units_returns_are_said_to_be_at_the_calibrated_values(calibrated, tmp_path, capsys):
    proposal = write_proposal(tmp_path / "cal", "calibrated.toml", '[vendor.rebate]\nrate = 0.06\n', "marginal.toml")
    text = proposal.read_text().replace('title = "A richer rebate"', 'title = "A richer rebate"\nmarginal = ["mdf"]')
    proposal.write_text(text)
    assert main(["compare", str(calibrated), str(proposal), "--ensemble", "1", "--out", str(tmp_path / "m")]) == 0
    assert "are measured at the scenarios' calibrated values" in capsys.readouterr().err
    assert (tmp_path / "m" / "marginal.csv").exists()


def test_a_scenario_extending_a_calibration_from_another_folder_takes_its_ensemble(calibrated, tmp_path):
    proposal = write_proposal(tmp_path / "far" / "away", "../../cal/calibrated.toml")
    loaded = scenarios.load(proposal)
    expected = (tmp_path / "cal" / "ensemble.csv").resolve()
    assert loaded.params.meta.ensemble == str(expected)
    assert expected in loaded.inputs
    assert "an ensemble of 3 parameter draws" in scenarios.validate_file(proposal)
    # the ensemble is an input: a folder holding it cannot take results
    write_ensemble(tmp_path / "second" / "draws")
    second = write_calibrated(tmp_path / "second", "draws/ensemble.csv")
    assert scenarios.load(second).params.meta.ensemble == str(tmp_path / "second" / "draws" / "ensemble.csv")
    assert main(["run", str(second), "--ensemble", "1", "--out", str(tmp_path / "second" / "draws")]) == 2


# ---------------------------------------------------------------- refusals: exit 2, one message, nothing written


def _refusal_cases(tmp: Path, calibrated: Path) -> dict[str, tuple[list[str], list[str]]]:
    other = write_calibrated(tmp / "other")
    write_ensemble(tmp / "other")
    own = write_proposal(tmp / "own", "../cal/calibrated.toml", "[market.deal_size_median]\nsmb = 20000.0\n")
    cal = str(calibrated)
    return {
        "k_zero": (["run", cal, "--ensemble", "0"], ["--ensemble 0: must be greater than or equal to 1"]),
        "k_too_many": (["run", cal, "--ensemble", "4"], ["--ensemble 4:", "ensemble.csv holds 3 draws"]),
        "no_calibration": (["run", str(BASELINE), "--ensemble", "1"],
                           ["--ensemble 1: scenarios/baseline.toml does not come from a calibration",
                            "--ensemble needs a scenario that is, or extends, a calibrated.toml"]),
        "compared_with_no_calibration": (["compare", cal, str(BASELINE), "--ensemble", "1", "--quarters", "4"],
                                         ["scenarios/baseline.toml does not come from a calibration"]),
        "two_ensembles": (["compare", cal, str(other), "--ensemble", "1"],
                          ["--ensemble 1: the scenarios name different ensembles", "the same calibrated.toml"]),
        "own_value_in_a_file": (["compare", cal, str(own), "--ensemble", "1"],
                                ["--ensemble 1:", "own/proposal.toml sets market.deal_size_median.smb = 20000.0 after "
                                 "the calibration", "the draws would overwrite that value"]),
        "own_value_by_option": (["run", cal, "--ensemble", "1", "--set", "market.deal_size_median.smb=20000"],
                                ["--ensemble 1: --set market.deal_size_median.smb=20000.0: the calibration fitted",
                                 "the draws would overwrite that value"]),
    }


REFUSALS = ["k_zero", "k_too_many", "no_calibration", "compared_with_no_calibration", "two_ensembles",
            "own_value_in_a_file", "own_value_by_option"]


@pytest.mark.parametrize("case", REFUSALS)
def test_what_the_draws_do_not_fit_is_refused_before_anything_is_written(case, calibrated, tmp_path, capsys):
    argv, said = _refusal_cases(tmp_path, calibrated)[case]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for text in said:
        assert text in err, (text, err)
    assert "Traceback" not in err and not out.exists()


BAD_FILES = {
    "unknown_path": ("draw,trial,mismatch,market.deal_size_medain.smb\n0,1,0.1,3000\n",
                     ["column 'market.deal_size_medain.smb'", "unknown parameter", "did you mean 'deal_size_median'"]),
    "refused_value": ("draw,trial,mismatch,market.deal_size_median.smb\n0,1,0.1,3000\n1,2,0.2,-5\n",
                      ["row 3, column 'market.deal_size_median.smb'", "'-5' is not allowed",
                       "must be greater than or equal to 1"]),
    "not_a_number": ("draw,trial,mismatch,market.deal_size_median.smb\n0,1,0.1,lots\n",
                     ["row 2, column 'market.deal_size_median.smb'", "'lots' is not allowed: must be a finite number"]),
    "no_parameter_columns": ("draw,trial,mismatch\n0,1,0.1\n", ["has no parameter columns"]),
    "no_rows": ("draw,trial,mismatch,market.deal_size_median.smb\n", ["has no draws"]),
    "no_draw_column": ("trial,mismatch,market.deal_size_median.smb\n1,0.1,3000\n", ["the column 'draw' is required"]),
    "a_draw_twice": ("draw,trial,mismatch,market.deal_size_median.smb\n0,1,0.1,3000\n0,2,0.2,4000\n",
                     ["row 3, column 'draw'", "draw 0 appears twice"]),
    "a_run_setting": ("draw,trial,mismatch,run.seed\n0,1,0.1,3\n", ["column 'run.seed'", "how a run is made"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_ensemble_is_refused_naming_the_file_row_column_and_value(case, tmp_path, capsys):
    text, said = BAD_FILES[case]
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "ensemble.csv").write_text(text, encoding="utf-8")
    calibrated = write_calibrated(tmp_path / "cal")
    out = tmp_path / "out"
    assert main(["run", str(calibrated), "--ensemble", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "calibrated.toml: meta.ensemble: " in err and "ensemble.csv" in err
    for part in said:
        assert part in err, (part, err)
    assert "Traceback" not in err and not out.exists()


def test_a_whole_number_parameter_is_drawn_as_a_whole_number(tmp_path):
    (tmp_path / "calibrated.toml").write_text(
        f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\nquarters = 3\n[partners]\ncount = 30\n'
        '[meta]\nensemble = "ensemble.csv"\n')
    pd.DataFrame({"draw": [0, 1], "trial": [5, 7], "mismatch": [1.0, 1.1], "vendor.recruitment.per_quarter": [11, 4],
                  "market.win_base.smb": [0.3, 0.31]}).to_csv(tmp_path / "ensemble.csv", index=False)
    table = read_ensemble(tmp_path / "ensemble.csv", scenarios.load(tmp_path / "calibrated.toml").params)
    assert table["vendor.recruitment.per_quarter"].tolist() == [11, 4]
    assert main(["run", str(tmp_path / "calibrated.toml"), "--ensemble", "2", "--replicates", "1", "--out",
                 str(tmp_path / "out")]) == 0
    draws = pd.read_csv(tmp_path / "out" / "draws.csv")
    assert sorted(draws["vendor.recruitment.per_quarter"]) == [4, 11]
    (tmp_path / "ensemble.csv").write_text("draw,trial,mismatch,vendor.recruitment.per_quarter\n0,1,1.0,2.5\n")
    assert main(["run", str(tmp_path / "calibrated.toml"), "--ensemble", "1", "--out", str(tmp_path / "bad")]) == 2
