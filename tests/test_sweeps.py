"""Sweeps: the same results on any executor, nothing lost when killed, failures recorded,
sensitivity indices that find what matters, and bad experiment files refused."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import cli
from sim import sweep as sweeps
from sim.analysis import analyze
from sim.experiments import load_experiment, run_seed
from sim.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
DASK = Path(sys.executable).parent / "dask"


def experiment_file(folder: Path, body: str, name: str = "sweep.toml") -> Path:
    path = folder / name
    path.write_text(f'[experiment]\nscenario = "{BASELINE}"\n{body}')
    return path


SMALL = """design = "grid"
seed = 5
replicates = 2
quarters = 4

[set]
"partners.count" = 80

[outputs]
quarterly = true
final_year = true
partners = true

[parameters."vendor.rebate.rate"]
values = [0.02, 0.05]

[parameters."vendor.cams.count"]
range = [2, 20]
levels = 3
"""


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {kind: pd.read_parquet(folder / f"{kind}.parquet") for kind in ("quarters", "final", "partners")}


def assert_same_results(a: Path, b: Path) -> None:
    for kind, table in tables(a).items():
        pd.testing.assert_frame_equal(table, tables(b)[kind], check_exact=True, obj=kind)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    path = experiment_file(folder, SMALL)
    reference = folder / "one-worker"
    assert cli.main(["sweep", str(path), "--out", str(reference), "--workers", "1"]) == 0
    return path, reference


# ---------------------------------------------------------------- seeds and executors


def test_each_run_has_its_own_seed_from_the_experiment_seed_point_and_replicate(small):
    path, reference = small
    runs = load_experiment(path).runs()
    assert len(runs) == 12 and runs["seed"].nunique() == 12
    assert runs.loc[5, "seed"] == run_seed(5, runs.loc[5, "point"], runs.loc[5, "replicate"])
    final = pd.read_parquet(reference / "final.parquet")
    assert final["run"].tolist() == list(range(12))
    assert set(final.columns) >= {"vendor.rebate.rate", "vendor.cams.count", "revenue", "seed"}
    assert final["vendor.cams.count"].tolist() == [2, 2, 11, 11, 20, 20] * 2  # integers stay integers
    manifest = sweeps.read_manifest(reference)
    assert sorted(e["run"] for e in manifest) == list(range(12)) and {e["status"] for e in manifest} == {"ok"}


def test_two_local_workers_give_the_same_results_as_one(small, tmp_path):
    path, reference = small
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    assert_same_results(reference, tmp_path / "two")


def test_a_dask_local_cluster_gives_the_same_results(small, tmp_path):
    path, reference = small
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "local"), "--cluster", "local", "--workers", "2"]) == 0
    assert_same_results(reference, tmp_path / "local")


@pytest.fixture
def dask_cluster(tmp_path):
    """A real Dask cluster: a scheduler and a worker process with two worker processes, on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], start_new_session=True, env=env, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = subprocess.Popen([str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                                "--host", "127.0.0.1"], start_new_session=True, env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=30)
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in (workers, scheduler):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)


def test_a_real_dask_cluster_gives_the_same_results(small, tmp_path, dask_cluster):
    path, reference = small
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "cluster"), "--scheduler", dask_cluster]) == 0
    assert_same_results(reference, tmp_path / "cluster")


def test_the_runs_of_a_dask_worker_killed_mid_sweep_are_retried_elsewhere(tmp_path, dask_cluster):
    import psutil

    slower = SLOW.replace("quarters = 12", "quarters = 24").replace("levels = 8", "levels = 4")
    path = experiment_file(tmp_path, slower.replace('"partners.count" = 250', '"partners.count" = 1500'))
    whole = tmp_path / "whole"
    assert cli.main(["sweep", str(path), "--out", str(whole), "--workers", "2"]) == 0
    out = tmp_path / "cluster"
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out),
                                "--scheduler", dask_cluster], start_new_session=True, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(sweeps.read_manifest(out)) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    # the worker processes of the `dask worker` fixture (each under its nanny); kill one mid-run
    nanny_host = next(p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"]
                      and "worker" in p.info["cmdline"] and dask_cluster in p.info["cmdline"])
    workers = [c for c in nanny_host.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
    assert workers, "the dask worker processes should be running"
    done = len(sweeps.read_manifest(out))
    assert done < 12, "the worker should be killed while runs remain"
    workers[0].kill()
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    entries = sweeps.read_manifest(out)
    assert sorted(e["run"] for e in entries) == list(range(12)) and {e["status"] for e in entries} == {"ok"}
    for kind in ("quarters", "final"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{kind}.parquet"),
                                      pd.read_parquet(whole / f"{kind}.parquet"), check_exact=True)


def test_an_unreachable_scheduler_is_bad_input(small, tmp_path, capsys):
    path, _ = small
    address = f"tcp://127.0.0.1:{free_port()}"
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "x"), "--scheduler", address]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


# ---------------------------------------------------------------- nothing lost


SLOW = """design = "grid"
seed = 9
replicates = 3
quarters = 12
batch = 1

[set]
"partners.count" = 250

[outputs]
quarterly = true
final_year = true

[parameters."vendor.rebate.rate"]
range = [0.01, 0.06]
levels = 8
"""


def test_a_sweep_killed_mid_way_and_resumed_equals_an_uninterrupted_one(tmp_path):
    path = experiment_file(tmp_path, SLOW)
    whole = tmp_path / "whole"
    assert cli.main(["sweep", str(path), "--out", str(whole), "--workers", "1"]) == 0
    cut = tmp_path / "cut"
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(cut),
                                "--workers", "2"], start_new_session=True, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(sweeps.read_manifest(cut)) < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its workers, at once
    process.wait()
    finished = len(sweeps.read_manifest(cut))
    assert 0 < finished < 24, "the sweep should be cut part-way"
    assert not (cut / "final.parquet").exists()
    assert cli.main(["sweep", str(path), "--out", str(cut), "--workers", "2", "--resume"]) == 0
    entries = sweeps.read_manifest(cut)
    assert sorted(e["run"] for e in entries) == list(range(24))  # every run once: the resume ran only the rest
    for kind in ("quarters", "final"):
        pd.testing.assert_frame_equal(pd.read_parquet(cut / f"{kind}.parquet"),
                                      pd.read_parquet(whole / f"{kind}.parquet"), check_exact=True)


def test_consolidation_drops_a_batch_written_twice(small, tmp_path):
    path, reference = small
    copy = tmp_path / "copy"
    assert cli.main(["sweep", str(path), "--out", str(copy), "--workers", "1"]) == 0
    # a kill between a shard and its manifest lines leaves a shard whose runs are run again
    shard = sorted((copy / "shards").glob("final-*.parquet"))[0]
    (copy / "shards" / f"final-9999999-{'a' * 8}.parquet").write_bytes(shard.read_bytes())
    sweeps.consolidate(copy, load_experiment(path))
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "final.parquet"), pd.read_parquet(reference / "final.parquet"))


def test_a_run_that_raises_is_recorded_and_the_rest_complete(small, tmp_path, monkeypatch, capsys):
    path, _ = small
    from sim import model as model_module

    real_step = model_module.ChannelModel.step

    def flaky_step(self):
        if self.params.vendor.cams.count == 11 and self.params.vendor.rebate.rate == 0.05 and self.quarter == 2:
            raise ZeroDivisionError("a run that raises")
        real_step(self)

    monkeypatch.setattr(model_module.ChannelModel, "step", flaky_step)
    out = tmp_path / "flaky"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "failed runs (2" in printed and "ZeroDivisionError: a run that raises" in printed
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures["run"]) == [8, 9]
    assert (failures["error"] == "ZeroDivisionError: a run that raises").all()
    assert failures["traceback"].str.contains("flaky_step").all()
    assert json.loads(failures["params"][0]) == {"vendor.rebate.rate": 0.05, "vendor.cams.count": 11}
    final = pd.read_parquet(out / "final.parquet")
    assert sorted(final["run"]) == [r for r in range(12) if r not in (8, 9)]


def test_a_folder_holding_another_experiment_is_refused(small, tmp_path, capsys):
    path, reference = small
    other = experiment_file(tmp_path, SMALL.replace("seed = 5", "seed = 6"), "other.toml")
    assert cli.main(["sweep", str(other), "--out", str(reference), "--resume"]) == 2
    assert "holds the results of a different experiment" in capsys.readouterr().err
    assert cli.main(["sweep", str(path), "--out", str(reference)]) == 2
    assert "add --resume" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "busy")]) == 2
    assert "is not empty and holds no sweep" in capsys.readouterr().err


# ---------------------------------------------------------------- analysis


def test_sobol_indices_find_the_dominant_parameter_and_ignore_an_unused_one(tmp_path):
    path = experiment_file(tmp_path, """design = "sobol"
seed = 3
samples = 64
replicates = 1
quarters = 6

[set]
"partners.count" = 150

[outputs]
quarterly = false
final_year = true

[parameters."vendor.margin.base"]
range = [0.12, 0.32]

[parameters."rivals.program.recruitment.per_quarter"]
range = [0, 50]

[parameters."partners.goodwill.mdf_effect"]
range = [0.05, 0.25]
""")
    out = tmp_path / "sobol"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "2"]) == 0
    result = analyze(out, ["mindshare"])
    indices = result.indices.set_index("parameter")
    ignored = indices.loc["rivals.program.recruitment.per_quarter"]
    dominant = indices.loc["vendor.margin.base"]
    # each design point runs on its own seed, so run-to-run noise is all an unused parameter can show
    assert abs(ignored["S1"]) < 0.05 and ignored["ST"] < 0.1
    assert dominant["ST"] > 0.8 and dominant["S1"] > 0.7 and dominant["ST"] > 10 * ignored["ST"]
    assert dominant["S1"] - dominant["S1_conf"] > ignored["S1"] + ignored["S1_conf"]
    for name in ("points.csv", "sobol.csv", "report.html", "indices.png", "response.png"):
        assert (out / "analysis" / name).exists(), name


def test_morris_ranks_the_dominant_parameter_first(tmp_path):
    path = experiment_file(tmp_path, """design = "morris"
seed = 4
samples = 12
replicates = 1
quarters = 5

[set]
"partners.count" = 120

[outputs]
quarterly = false

[parameters."vendor.margin.base"]
range = [0.12, 0.32]

[parameters."rivals.program.recruitment.per_quarter"]
range = [0, 50]
""")
    out = tmp_path / "morris"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    indices = analyze(out, ["mindshare"]).indices.set_index("parameter")
    assert indices.loc["vendor.margin.base", "mu_star"] > 5 * indices.loc["rivals.program.recruitment.per_quarter",
                                                                           "mu_star"]


def test_analyze_summarises_a_grid_per_point_with_a_replicate_check(small, capsys):
    _, reference = small
    assert cli.main(["analyze", str(reference), "--kpi", "revenue", "mindshare", "--precision", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "relative 95 % half-width" in printed
    points = pd.read_csv(reference / "analysis" / "points.csv")
    final = pd.read_parquet(reference / "final.parquet")
    first = points[(points["point"] == 0) & (points["kpi"] == "revenue")].iloc[0]
    assert first["mean"] == pytest.approx(final[final["point"] == 0]["revenue"].mean())
    assert first["replicates"] == 2
    verdicts = pd.read_csv(reference / "analysis" / "replicate_verdicts.csv")
    assert set(verdicts["kpi"]) == {"revenue", "mindshare"}
    for name in ("heatmap.png", "response.png", "replicates.png", "report.html"):
        assert (reference / "analysis" / name).exists(), name
    page = (reference / "analysis" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3


def test_the_replicate_check_says_how_many_replicates_a_precision_needs(tmp_path):
    final = pd.DataFrame({"point": np.repeat([0, 1], 8), "replicate": np.tile(np.arange(8), 2),
                          "revenue": np.r_[np.random.default_rng(1).normal(100, 10, 8),
                                           np.random.default_rng(2).normal(200, 20, 8)]})
    from sim.analysis import replicate_check

    curve, verdicts = replicate_check(final, ["revenue"], precision=0.02)
    widths = curve["relative_half_width"].to_numpy()
    assert widths[0] > widths[-1]  # more replicates, narrower
    verdict = verdicts.iloc[0]
    assert not verdict["reached"] and verdict["replicates_needed"] > 8


# ---------------------------------------------------------------- bad experiment files


BAD = {
    "unknown key": ('design = "grid"\nreplicate = 2\n[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n',
                    "unknown key 'experiment.replicate' (did you mean 'replicates'?)"),
    "unknown design": ('design = "factorial"\n[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n',
                       "experiment.design = 'factorial': must be 'grid', 'lhs', 'sobol' or 'morris'"),
    "unknown parameter": ('[parameters."vendor.rebate.rat"]\nvalues = [0.1]\n',
                          "unknown parameter 'vendor.rebate.rat' in 'vendor.rebate' (did you mean 'rate'?)"),
    "bad value": ('[parameters."vendor.rebate.rate"]\nvalues = [0.1, 0.9]\n',
                  "parameters.vendor.rebate.rate = 0.9: vendor.rebate.rate = 0.9: must be less than or equal to 0.5"),
    "range upside down": ('design = "lhs"\nsamples = 4\n[parameters."vendor.rebate.rate"]\nrange = [0.05, 0.01]\n',
                          "range = [0.05, 0.01]: low must be below high"),
    "sampled design without range": ('design = "sobol"\nsamples = 8\n[parameters."vendor.rebate.rate"]\n'
                                     'values = [0.1]\n', "a sobol design samples ranges"),
    "missing samples": ('design = "lhs"\n[parameters."vendor.rebate.rate"]\nrange = [0.01, 0.05]\n',
                        "experiment.samples is required for a lhs design"),
    "grid range without levels": ('[parameters."vendor.rebate.rate"]\nrange = [0.01, 0.05]\n',
                                  "a grid over a range needs `levels`"),
    "no parameters": ('design = "grid"\n', "parameters: required value is missing"),
    "range of text": ('[parameters."vendor.spif.vertical"]\nrange = [1, 2]\n', "a range needs a numeric parameter"),
    "missing scenario": ('[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n', "no_such.toml"),
    "bad set": ('[set]\n"partners.cout" = 5\n[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n',
                "set.partners.cout: unknown parameter 'partners.cout' in 'partners' (did you mean 'count'?)"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_experiment_file_is_refused_and_nothing_is_written(case, tmp_path, capsys):
    body, expected = BAD[case]
    scenario = "no_such.toml" if case == "missing scenario" else str(BASELINE)
    path = tmp_path / "bad.toml"
    path.write_text(f'[experiment]\nscenario = "{scenario}"\n{body}')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert expected in error and str(path) in error
    assert not out.exists()


def test_the_shipped_experiments_are_valid_and_state_their_question():
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        experiment = load_experiment(path)
        assert experiment.spec.meta.question, path.name
        assert path.read_text().lstrip().startswith("#"), path.name
    designs = {load_experiment(p).spec.experiment.design for p in (ROOT / "experiments").glob("*.toml")}
    assert designs == {"grid", "sobol", "lhs"}
    sobol = load_experiment(ROOT / "experiments" / "levers_sobol.toml")
    assert len(sobol.parameters) >= 5 and len(sobol.runs()) <= 4000


@pytest.mark.parametrize("signal_scale, low, high", [(0.0, 0.7, 1.5), (10.0, 0.0, 0.05)])
def test_seed_noise_says_how_much_of_the_variance_between_points_is_noise(signal_scale, low, high):
    from SALib.sample import sobol as sobol_sample

    from sim.analysis import sensitivity

    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0.0, 1.0], [0.0, 1.0]]}
    x = sobol_sample.sample(problem, 128, calc_second_order=False, seed=1)
    design = pd.DataFrame(x, columns=problem["names"])
    rng = np.random.default_rng(5)
    rows = [{"point": i, "replicate": r, "kpi": signal_scale * x[i, 0] + rng.normal()}
            for i in range(len(x)) for r in range(3)]
    indices = sensitivity({"design": "sobol", "problem": problem}, pd.DataFrame(rows), design, ["kpi"])
    noise = indices["seed_noise"].iloc[0]
    assert low <= noise <= high
    if signal_scale:
        assert indices.set_index("parameter").loc["a", "S1"] > 0.9
