"""Calibration: the recovery of known parameters, common random numbers, a resumable study that loses nothing,
the same trials whatever the workers, the outputs a strategist runs, and bad calibration files refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import calibrate as engine
from sim import scenarios
from sim.calibration import load_calibration
from sim.cli import main
from sim.runner import run_replicates

ROOT = Path(__file__).resolve().parent.parent
# the hidden values the data are made at (none the defaults) and the ranges a calibration searches
HIDDEN = {"market.opportunities_per_fte.smb": 10.0, "market.win_base.smb": 0.28, "partners.exit.base": -3.0,
          "vendor.margin.lines.software.gross_margin": 0.70}
RANGES = {"market.opportunities_per_fte.smb": (4.0, 16.0, True), "market.win_base.smb": (0.15, 0.60, False),
          "partners.exit.base": (-4.5, -1.0, False), "vendor.margin.lines.software.gross_margin": (0.5, 1.0, False)}
REACHED = ["market.win_base.smb", "partners.exit.base", "market.opportunities_per_fte.smb"]
UNREACHED = "vendor.margin.lines.software.gross_margin"  # it moves the vendor's gross profit, which no target is
TOLERANCE = 0.10  # a recovered value within a tenth of its (log) range of the hidden one (200 partners, 16 quarters)
SEED, REPLICATES = 3, 4
HISTORY_SEED = 2026
HISTORIES: dict[tuple[int, int], pd.DataFrame] = {}  # the history of each horizon and size, made once


def write_case(folder: Path, trials: int = 96, sampler: str = "tpe", extra: str = "", targets: str | None = None,
               quarters: int = 12, fit: tuple[int, int] = (1, 8), partners: int = 100) -> Path:
    """A small channel, its history made at HIDDEN (one draw, on a seed the calibration does not use), and a
    calibration file over RANGES."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "channel.toml").write_text(f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\nquarters = {quarters}\n'
                                         f"[partners]\ncount = {partners}\n")
    if (quarters, partners) not in HISTORIES:  # one draw of the channel, on a seed the calibration does not use
        params = scenarios.load(folder / "channel.toml", HIDDEN).params
        (history,) = run_replicates(params, [HISTORY_SEED])
        HISTORIES[quarters, partners] = history.quarters[["quarter", "won_deals", "win_rate", "partners", "exits",
                                                          "revenue"]]
    HISTORIES[quarters, partners].to_csv(folder / "history.csv", index=False)
    parameters = "".join(f'[parameters."{name}"]\nlow = {low}\nhigh = {high}\nlog = {str(log).lower()}\n'
                         for name, (low, high, log) in RANGES.items())
    targets = targets or '[targets.won_deals]\n[targets.win_rate]\n[targets.partners]\n[targets.exits]\n'
    text = (f'[calibration]\nscenario = "channel.toml"\nobserved = "history.csv"\nfit = [{fit[0]}, {fit[1]}]\n'
            f'holdout = [{fit[1] + 1}, {quarters}]\ntrials = {trials}\nreplicates = {REPLICATES}\nseed = {SEED}\n'
            f'sampler = "{sampler}"\nbatch = 8\nprofile = 9\ncheck = 19\n{extra}\n{parameters}{targets}')
    (folder / "calibration.toml").write_text(text)
    return folder / "calibration.toml"


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recovery")
    path = write_case(folder / "case", trials=96, quarters=20, fit=(1, 16), partners=200)
    calibration = load_calibration(path)
    summary, found = engine.calibrate(calibration, folder / "out", workers=1, progress=False)
    return calibration, found, folder / "out"


def _unit(name: str, value: float) -> float:
    low, high, log = RANGES[name]
    return (np.log(value / low) / np.log(high / low)) if log else (value - low) / (high - low)


def test_known_parameters_are_recovered_and_the_one_no_target_reaches_is_not_identified(recovered):
    """One history of 200 partners over 20 quarters, made at HIDDEN on a seed the calibration never runs; 16
    quarters fitted from the ranges around the defaults."""
    calibration, found, _ = recovered
    verdicts = found["verdicts"].set_index("parameter")
    for name in REACHED:
        best = found["best"]["values"][name]
        assert abs(_unit(name, best) - _unit(name, HIDDEN[name])) <= TOLERANCE, f"{name}: {best:.4g} vs {HIDDEN[name]}"
        row = verdicts.loc[name]  # the hidden value is among the values consistent with the history
        assert min(row["ensemble_low"], row["profile_low"]) <= HIDDEN[name] <= max(row["ensemble_high"],
                                                                                    row["profile_high"])
        assert row["verdict"] != "not identified"
    assert verdicts.loc["market.win_base.smb", "verdict"] == verdicts.loc["partners.exit.base", "verdict"] == \
        "identified"
    assert verdicts.loc[UNREACHED, "verdict"] == "not identified"
    assert verdicts.loc[UNREACHED, "share_as_good"] == 1.0  # flat: as good as the best over its whole range
    assert not found["consistency"].misfit


def test_every_trial_runs_on_the_same_seeds_so_equal_parameters_give_equal_mismatch(recovered):
    calibration, found, out = recovered
    records = engine._read_evaluations(out / engine.EVALUATIONS)
    best = found["best"]["values"]
    again = engine.evaluate(calibration.base, best, engine.seeds_of(calibration), tuple(calibration.columns), 0)
    scorer = engine.Scorer(calibration)
    totals = scorer.totals(scorer.distances(scorer.compact(again), calibration.fit))
    assert totals.tolist() == records[f"trial-{found['best']['trial']}"]["totals"]  # bit for bit
    moved = engine.evaluate(calibration.base, {**best, UNREACHED: 0.55}, engine.seeds_of(calibration),
                            tuple(calibration.columns), 0)
    np.testing.assert_array_equal(moved["series"], again["series"])  # common seeds: a parameter, not noise


def test_the_outputs_a_strategist_runs_and_reads(recovered, tmp_path):
    calibration, found, out = recovered
    for name in ("calibrated.toml", "trials.parquet", "ensemble.csv", "fit.html", "fit.png", "parameters.png",
                 "verdicts.csv", "fit.csv", "holdout.csv", "profiles.csv"):
        assert (out / name).stat().st_size > 0, name
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 96 and set(trials["state"]) == {"complete"}
    assert {f"mismatch_{t}" for t in calibration.spec.targets} <= set(trials.columns)
    loaded = scenarios.load(out / "calibrated.toml")
    for name in REACHED:
        assert loaded.params.get(name) == pytest.approx(found["best"]["values"][name])
    # what no target reaches keeps the base's value, and the ensemble draws it across its whole range
    assert loaded.params.get(UNREACHED) == calibration.base.get(UNREACHED) != found["best"]["values"][UNREACHED]
    assert loaded.params.partners.count == 200 and loaded.params.quarters == 20  # the base scenario's
    ensemble = pd.read_csv(out / "ensemble.csv")
    assert ensemble["mismatch"].is_monotonic_increasing and ensemble["trial"].iloc[0] == found["best"]["trial"]
    low, high, _ = RANGES[UNREACHED]
    drawn = ensemble[UNREACHED]
    assert drawn.between(low, high).all() and drawn.max() - drawn.min() > 0.6 * (high - low)
    good = found["ensemble"]
    for name in REACHED:
        assert ensemble[name].tolist() == good[name].tolist()  # the good trials' own values
    page = (out / "fit.html").read_text()
    for text in ("not identified", "Held-out quarters", "naive", "won_deals", "PED-ANOVA"):
        assert text in page
    held = pd.read_csv(out / "holdout.csv")
    assert set(held["target"]) <= set(calibration.columns) and (held["model_error"] >= 0).all()
    fit = pd.read_csv(out / "fit.csv")
    assert (fit["low"] <= fit["model"]).all() and (fit["model"] <= fit["high"]).all()
    # parameters and seeds spread wider than seeds alone, over the quarters as a whole
    assert (fit["high_all"] - fit["low_all"]).sum() > (fit["high"] - fit["low"]).sum()
    code = main(["run", str(out / "calibrated.toml"), "--replicates", "2", "--quarters", "4", "--out",
                 str(tmp_path / "run")])
    assert code == 0 and (tmp_path / "run" / "report.html").exists()


def test_the_ensemble_holds_the_trials_consistent_with_the_history(recovered):
    calibration, found, out = recovered
    consistent = found["consistency"]
    trials = found["trials"]
    done = trials[trials["state"] == "complete"]
    best = done["mismatch"].min()
    kept = set(found["ensemble"]["trial"])
    assert kept == set(done.loc[done["mismatch"] <= best + consistent.cut, "trial"])
    assert 1 <= len(kept) < len(done) and consistent.cut > 0
    # the margin: on the model's own histories, how much the best of the trials beats the calibrated values
    assert (consistent.margins >= 0).all() and len(consistent.margins) == calibration.spec.calibration.check


def test_the_cut_is_a_finite_sample_95th_percentile_and_a_tolerance_replaces_it():
    consistent = engine.Consistency(best=2.0, null=np.array([2.4, 2.8]), fitted=np.array([1.9, 2.1]),
                                    tolerance=0.05)
    np.testing.assert_allclose(consistent.margins, [0.5, 0.7])
    assert consistent.cut == pytest.approx(0.1)
    assert consistent.consistent({"mismatch": 2.09}) and not consistent.consistent({"mismatch": 2.11})
    assert not consistent.consistent({"error": "a failed trial"})
    fitted = np.linspace(1.5, 2.5, 99)
    margins = np.random.default_rng(1).permutation(np.linspace(0.0, 0.98, 99))  # the 95th of 99 (ceil(0.95 x 100))
    bootstrap = engine.Consistency(best=2.0, null=fitted + margins, fitted=fitted, tolerance=None)  # is 0.94
    assert bootstrap.cut == pytest.approx(0.94) and bootstrap.percentile == pytest.approx(100 * 50 / 99)
    assert not bootstrap.misfit
    worse = engine.Consistency(best=2.6, null=fitted + margins, fitted=fitted, tolerance=None)
    assert worse.misfit  # the observed history fit worse than every history the model makes itself


def test_the_margins_are_how_much_the_best_run_beats_the_calibrated_values_on_each_own_history():
    """A hand-made case: two runs (the calibrated values, and another) and three histories of one target."""
    scorer = engine.Scorer.__new__(engine.Scorer)
    scorer.columns, scorer.partners = ["revenue"], 0
    scorer.observed = np.array([[10.0], [10.0]])
    scorer.targets = {"revenue": type("T", (), {"distance": "relative", "weight": 1.0, "sd": None})()}
    scorer.calibration = type("C", (), {"fit": (1, 2)})()
    calibration = type("C", (), {"fit": (1, 2), "spec": type("S", (), {"calibration": type(
        "K", (), {"replicates": 1, "tolerance": None})()})()})()
    best = {"mismatch": 0.0, "series": [[[10.0], [10.0]]], "partner_totals": None}
    other = {"mismatch": 0.1, "series": [[[12.0], [12.0]]], "partner_totals": None}
    check = {"series": np.array([[[10.0], [10.0]], [[10.0], [10.0]], [[12.0], [12.0]], [[11.0], [11.0]]])}
    consistent = engine.consistency(calibration, scorer, check, best, [best, other])
    # histories 10, 12, 11: the calibrated values' distances 0, 1/6, 1/11; the other's 1/5, 0, 1/11
    np.testing.assert_allclose(consistent.null, [0.0, 1 / 6, 1 / 11])
    np.testing.assert_allclose(consistent.margins, [0.0, 1 / 6, 0.0])


def trials_of(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "trials.parquet")
    return frame.drop(columns=["good"]).sort_values("trial").reset_index(drop=True)


def test_the_same_trials_whatever_the_workers_and_a_resumed_study_goes_on_as_if_never_stopped(tmp_path):
    path = write_case(tmp_path / "case", trials=24)
    assert main(["calibrate", str(path), "--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(["calibrate", str(path), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    pd.testing.assert_frame_equal(trials_of(tmp_path / "one"), trials_of(tmp_path / "two"), check_exact=True)
    assert main(["calibrate", str(path), "--out", str(tmp_path / "part"), "--trials", "16", "--workers", "1"]) == 0
    assert main(["calibrate", str(path), "--out", str(tmp_path / "part"), "--resume", "--workers", "1"]) == 0
    pd.testing.assert_frame_equal(trials_of(tmp_path / "part"), trials_of(tmp_path / "one"), check_exact=True)


def test_a_calibration_killed_at_any_moment_resumes_with_nothing_lost(tmp_path):
    path = write_case(tmp_path / "case", trials=40)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sim.cli", "calibrate", str(path), "--out", str(out), "--workers", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    ledger = out / engine.EVALUATIONS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if ledger.exists() and len(ledger.read_bytes().splitlines()) >= 13:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = engine._read_evaluations(ledger)
    assert 13 <= len(before) and not (out / "trials.parquet").exists()
    assert main(["calibrate", str(path), "--out", str(out), "--workers", "1"]) == 2  # without --resume: refused
    assert main(["calibrate", str(path), "--out", str(out), "--resume", "--workers", "1"]) == 0
    trials = trials_of(out)
    assert trials["trial"].tolist() == list(range(40)) and set(trials["state"]) == {"complete"}
    for key, record in before.items():  # every evaluation made before the kill is the trial's, as recorded
        if key.startswith("trial-"):
            row = trials.set_index("trial").loc[int(key.split("-")[1])]
            assert row["mismatch"] == record["mismatch"]
    assert main(["calibrate", str(tmp_path / "case" / "calibration.toml"), "--out", str(tmp_path / "whole"),
                 "--workers", "1"]) == 0
    pd.testing.assert_frame_equal(trials, trials_of(tmp_path / "whole"), check_exact=True)


def test_cmaes_runs_and_a_guess_is_the_first_trial(tmp_path):
    path = write_case(tmp_path / "case", trials=16, sampler="cmaes")
    text = path.read_text().replace('[parameters."market.win_base.smb"]\n',
                                    '[parameters."market.win_base.smb"]\nguess = 0.3\n')
    path.write_text(text)
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    trials = trials_of(tmp_path / "out")
    assert len(trials) == 16 and trials.loc[0, "market.win_base.smb"] == 0.3


def test_a_partner_history_is_a_target(tmp_path):
    """The partner file's revenue, keyed by the roster's ids, is compared with the founding partners' revenue."""
    folder = tmp_path / "case"
    folder.mkdir()
    roster = pd.read_csv(ROOT / "scenarios" / "partners_example.csv")
    (folder / "channel.toml").write_text(f'extends = "{ROOT / "scenarios" / "roster_example.toml"}"\nquarters = 6\n')
    params = scenarios.load(folder / "channel.toml").params
    (replicate,) = run_replicates(params, [99], partners=True)
    panel = replicate.partners[replicate.partners["partner_id"] < len(roster)]
    pd.DataFrame({"id": roster["id"].to_numpy()[panel["partner_id"]], "quarter": panel["quarter"],
                  "revenue": panel["revenue"]}).to_csv(folder / "partners.csv", index=False)
    replicate.quarters[["quarter", "revenue"]].to_csv(folder / "history.csv", index=False)
    (folder / "calibration.toml").write_text(
        '[calibration]\nscenario = "channel.toml"\nobserved = "history.csv"\npartners = "partners.csv"\n'
        'fit = [1, 6]\ntrials = 4\nreplicates = 2\nprofile = 3\ncheck = 19\n'
        '[parameters."market.win_base.smb"]\nlow = 0.2\nhigh = 0.5\n'
        '[targets.revenue]\n[targets.partner_revenue]\nweight = 0.5\n')
    calibration = load_calibration(folder / "calibration.toml")
    scorer = engine.Scorer(calibration)
    result = engine.evaluate(calibration.base, {}, (99, 100), tuple(scorer.columns), scorer.partners)
    distances = scorer.distances(scorer.compact(result), calibration.fit)
    assert distances["partner_revenue"][0] == pytest.approx(0.0, abs=1e-6)  # the history's own seed (CSV rounding)
    assert distances["partner_revenue"][1] > 0.05
    assert main(["calibrate", str(folder / "calibration.toml"), "--out", str(tmp_path / "out"), "--workers",
                 "1"]) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('observed = "history.csv"', 'observed = "nowhere.csv"'), "nowhere.csv"),
    (lambda t: t.replace("[targets.won_deals]", "[targets.won_deal]"), "did you mean 'won_deals'"),
    (lambda t: t.replace("[targets.won_deals]", "[targets.revenue_enterprise]"), "has no column 'revenue_enterprise'"),
    (lambda t: t.replace("low = 0.15", "low = 0.75"), "low must be below high"),
    (lambda t: t.replace("low = -4.5", "low = -40.0"), "partners.exit.base.low"),
    (lambda t: t.replace('[parameters."market.win_base.smb"]', '[parameters."market.win_bse.smb"]'), "win_bse"),
    (lambda t: t.replace('[parameters."market.win_base.smb"]', '[parameters."partners.roster"]'), "cannot be fitted"),
    (lambda t: t.replace('[parameters."market.win_base.smb"]', '[parameters."vendor.name"]'), "fits numbers"),
    (lambda t: t.replace("fit = [1, 8]", "fit = [8, 1]"), "first quarter is after the last"),
    (lambda t: t.replace("holdout = [9, 12]", "holdout = [5, 12]"), "after the fitted ones"),
    (lambda t: t.replace("check = 19", "check = 4"), "greater than or equal to 19"),
    (lambda t: t.replace('sampler = "tpe"', 'sampler = "random"'), "sampler"),
    (lambda t: t.replace("[targets.exits]\n", "[targets.exits]\nsd = 2.0\n"), "an s.d. is for"),
    (lambda t: t + 'partners = "p.csv"\n', "unknown key"),
    (lambda t: t.replace('scenario = "channel.toml"', 'scenario = "missing.toml"'), "missing.toml"),
])
def test_bad_calibration_files_are_refused_naming_the_file_path_and_value(tmp_path, capsys, edit, message):
    path = write_case(tmp_path / "case", trials=8)
    path.write_text(edit(path.read_text()))
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "calibration.toml" in err
    assert not (tmp_path / "out").exists()


def test_a_folder_of_other_results_or_inputs_is_refused_and_left_as_it_was(tmp_path, capsys):
    path = write_case(tmp_path / "case", trials=8)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["calibrate", str(path), "--out", str(mine)]) == 2
    assert "no channelsim results" in capsys.readouterr().err and os.listdir(mine) == ["notes.txt"]
    assert main(["calibrate", str(path), "--out", str(tmp_path / "case")]) == 2
    assert "an input of this run" in capsys.readouterr().err
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    other = write_case(tmp_path / "other", trials=8, fit=(1, 6))
    assert main(["calibrate", str(other), "--out", str(tmp_path / "out"), "--resume"]) == 2
    assert "a calibration of other inputs" in capsys.readouterr().err
    info = json.loads((tmp_path / "out" / engine.INFO).read_text())
    assert info["fingerprint"] == load_calibration(path).fingerprint()


def test_a_longer_history_is_read_up_to_the_horizon_and_a_holdout_it_lacks_is_refused(tmp_path, capsys):
    path = write_case(tmp_path / "case", trials=8)  # a history of 12 quarters; fit 1-8, holdout 9-12
    text = path.read_text()
    path.write_text(text.replace("holdout = [9, 12]", "holdout = [9, 10]"))
    assert main(["validate", str(path)]) == 0
    assert load_calibration(path).history.index.max() == 10  # the quarters after it are not read
    history = pd.read_csv(tmp_path / "case" / "history.csv")
    history[history["quarter"] <= 8].to_csv(tmp_path / "case" / "history.csv", index=False)
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert "holdout = [9, 12]: the observed history has no value of any target" in capsys.readouterr().err


def test_a_dask_cluster_runs_the_same_trials_as_this_process(tmp_path):
    path = write_case(tmp_path / "case", trials=8)
    assert main(["calibrate", str(path), "--out", str(tmp_path / "here"), "--workers", "1"]) == 0
    assert main(["calibrate", str(path), "--out", str(tmp_path / "dask"), "--cluster", "local", "--workers", "2"]) == 0
    pd.testing.assert_frame_equal(trials_of(tmp_path / "here"), trials_of(tmp_path / "dask"), check_exact=True)
    assert (tmp_path / "here" / "calibrated.toml").read_bytes() == (tmp_path / "dask" / "calibrated.toml").read_bytes()


def test_running_a_calibrated_scenario_whose_base_changed_says_so(recovered, tmp_path, capsys):
    calibration, _, out = recovered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy / "out")
    shutil.copytree(calibration.path.parent, copy / "case")
    record = json.loads((copy / "out" / "base.json").read_text())
    moved = {str((copy / "case" / Path(name).name).resolve()) if Path(name).parent == calibration.path.parent.resolve()
             else name: digest for name, digest in record["files"].items()}
    (copy / "out" / "base.json").write_text(json.dumps({"files": moved}))
    text = (copy / "out" / "calibrated.toml").read_text()
    assert '"../case/channel.toml"' in text  # relative to the folder: the copy extends the copy's base
    command = ["run", str(copy / "out" / "calibrated.toml"), "--replicates", "1", "--quarters", "2"]
    assert main([*command, "--out", str(tmp_path / "one")]) == 0
    assert "was fitted to its base scenario as it was" not in capsys.readouterr().err
    with open(copy / "case" / "channel.toml", "a") as handle:
        handle.write("[vendor.rebate]\nrate = 0.05\n")
    assert main([*command, "--out", str(tmp_path / "two")]) == 0
    assert "channel.toml changed, so its fitted values may no longer fit" in capsys.readouterr().err


def test_a_worker_process_killed_mid_calibration_loses_nothing(tmp_path):
    import psutil

    path = write_case(tmp_path / "case", trials=24)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "calibrate", str(path), "--out", str(out),
                                "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    ledger = out / engine.EVALUATIONS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (ledger.exists() and len(ledger.read_bytes().splitlines()) >= 3):
        time.sleep(0.05)
    workers = [c for c in psutil.Process(process.pid).children(recursive=True) if c.ppid() != process.pid]
    assert workers and len(ledger.read_bytes().splitlines()) < 24, "the workers should be running with trials left"
    workers[0].kill()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "a worker process was lost" in err
    assert main(["calibrate", str(path), "--out", str(tmp_path / "whole"), "--workers", "1"]) == 0
    pd.testing.assert_frame_equal(trials_of(out), trials_of(tmp_path / "whole"), check_exact=True)


def test_an_evaluation_the_executor_loses_twice_stops_the_calibration_for_resume(tmp_path):
    import concurrent.futures as cf

    class Losing:  # an executor whose every task is lost (a Dask worker gone beyond its retries)
        slots, restartable, submitted = 2, False, 0

        class pool:  # noqa: N801 - the Workers' attribute
            @staticmethod
            def submit(fn, *args):
                Losing.submitted += 1
                future = cf.Future()
                future.set_exception(OSError("worker lost"))
                return future

    calibration = load_calibration(write_case(tmp_path / "case", trials=8))
    done = []
    with pytest.raises(engine.Lost, match="lost an evaluation"):
        engine._run_all(Losing, {"trial-0": ({}, (1,))}, calibration, engine.Scorer(calibration),
                        lambda key, result: done.append(key))
    assert Losing.submitted == 2 and not done  # tried again once, and nothing recorded as a result


def test_the_format_shown_in_the_modules_docstring_is_a_valid_calibration_file():
    import tomllib

    from sim import calibration as module
    from sim.params import check_path

    example = module.__doc__.split("\n\nFiles are")[0].splitlines()[2:]
    spec = module.CalibrationFile.model_validate(tomllib.loads("\n".join(line[4:] for line in example)))
    for path in spec.parameters:
        check_path(path)
    assert set(spec.targets) == {"revenue", "won_deals", "partner_revenue"}
