"""Sweeps: the same results on any executor, nothing lost when killed, failures recorded,
sensitivity indices that find what matters, and bad experiment files refused."""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim import __version__, cli
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


def test_an_unreachable_scheduler_is_bad_input_and_nothing_is_written(small, tmp_path, capsys):
    path, _ = small
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "x"), "--scheduler", address]) == 2
    assert f"--scheduler {address}: cannot reach the Dask scheduler (Connection refused)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("address", ["localhost", "tcp://127.0.0.1", "http://127.0.0.1:8786", "127.0.0.1:99999"])
def test_a_malformed_scheduler_address_is_refused_and_nothing_is_written(small, tmp_path, capsys, address):
    path, _ = small
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "x"), "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err == f"channelsim sweep: --scheduler {address}: not a scheduler address, e.g. tcp://127.0.0.1:8786\n"
    assert not (tmp_path / "x").exists()


@contextmanager
def http_server():
    """A web server on 127.0.0.1: it accepts a connection, then waits for a request line that never comes."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *args: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def garbage_server():
    """A server on 127.0.0.1 that answers every connection with bytes that are not Dask's protocol."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"HTTP/1.0 400 Bad request\r\n\r\n" + bytes(range(256)))

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.mark.parametrize("server", [http_server, garbage_server], ids=["a web server", "garbage bytes"])
def test_a_scheduler_address_where_something_else_answers_is_refused_at_once(small, tmp_path, capsys, monkeypatch,
                                                                              server):
    path, _ = small
    assert sweeps.HANDSHAKE_SECONDS <= 15
    monkeypatch.setattr(sweeps, "HANDSHAKE_SECONDS", 2.0)  # the web server never answers: the timeout ends it
    with server() as port:
        address = f"tcp://127.0.0.1:{port}"
        started = time.perf_counter()
        assert cli.main(["sweep", str(path), "--out", str(tmp_path / "x"), "--scheduler", address]) == 2
        assert time.perf_counter() - started < 10
    err = capsys.readouterr().err
    assert err.startswith(f"channelsim sweep: --scheduler {address}: not a Dask scheduler (") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_dask_client_that_cannot_start_is_a_sweep_error_not_a_traceback():
    with garbage_server() as port, pytest.raises(sweeps.SweepError, match="cannot reach the Dask scheduler"):
        with sweeps.Workers(1, scheduler=f"tcp://127.0.0.1:{port}"):
            pass


@pytest.mark.parametrize("name", ["x" * 300, "x" * 300 + "/sweep"], ids=["a name too long", "under a name too long"])
def test_an_out_name_the_system_refuses_is_one_line_not_a_traceback(small, tmp_path, capsys, name):
    path, _ = small
    before = files(tmp_path)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / name), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"channelsim sweep: --out {tmp_path / name}: ") and err.count("\n") == 1, err
    assert "too long" in err.lower()
    assert files(tmp_path) == before


# ---------------------------------------------------------------- every check before any work


def files(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes (folders as None)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


HUGE = {
    "grid": ('design = "grid"\nreplicates = 10\n' + "".join(
        f'[parameters."{p}"]\nrange = [{low}, {high}]\nlevels = 1000\n' for p, low, high in (
            ("vendor.rebate.rate", 0.01, 0.05), ("vendor.cams.count", 2, 20), ("partners.inertia", 0.2, 0.5),
            ("vendor.spif.amount", 0, 500))), "10,000,000,000,000 runs (a grid of 1000 x 1000 x 1000 x 1000 levels"),
    "sobol": ('design = "sobol"\nsamples = 1000000\nreplicates = 1\n[parameters."vendor.rebate.rate"]\n'
              'range = [0.01, 0.05]\n', "3,000,000 runs (Sobol N = 1000000 x (1 parameters + 2)"),
    "morris": ('design = "morris"\nsamples = 600000\nreplicates = 1\n[parameters."vendor.rebate.rate"]\n'
               'range = [0.01, 0.05]\n', "1,200,000 runs (Morris 600000 trajectories x (1 parameters + 1)"),
    "lhs": ('design = "lhs"\nsamples = 600000\nreplicates = 2\n[parameters."vendor.rebate.rate"]\n'
            'range = [0.01, 0.05]\n', "1,200,000 runs (600000 Latin hypercube points x 2 replicates"),
}


@pytest.mark.parametrize("design", HUGE)
def test_a_design_too_large_is_refused_from_its_size_before_it_is_built(design, tmp_path, capsys):
    body, expected = HUGE[design]
    path = experiment_file(tmp_path, body)
    started = time.perf_counter()
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "x")]) == 2
    assert time.perf_counter() - started < 5  # from the product of the levels, not a meshgrid of 10^12 points
    err = capsys.readouterr().err
    assert expected in err and "at most 1,000,000" in err and str(path) in err
    assert not (tmp_path / "x").exists()


def test_the_checks_come_in_order_options_scheduler_design_folder_and_none_writes(tmp_path, capsys):
    huge = experiment_file(tmp_path, HUGE["grid"][0], "huge.toml")
    small = experiment_file(tmp_path, SMALL)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    before = files(tmp_path)
    steps = [(["--workers", "100000", "--scheduler", "nonsense"], huge,
              "--workers 100000: must be less than or equal to 512"),
             (["--workers", "0"], huge, "--workers 0: must be greater than or equal to 1"),
             (["--scheduler", "nonsense"], huge, "--scheduler nonsense: not a scheduler address"),
             ([], huge, "10,000,000,000,000 runs"),
             ([], small, "holds no channelsim results")]
    for options, path, expected in steps:
        assert cli.main(["sweep", str(path), "--out", str(tmp_path / "busy"), *options]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, (options, err)
    assert files(tmp_path) == before


FOLDERS = {
    "the current folder": (".", "is the current folder"),
    "a folder holding other files": ("busy", "is not empty and holds no channelsim results"),
    "a file": ("notes.txt", "exists and is a file, not a folder"),
    "a path under a file": ("notes.txt/sweep", "notes.txt is a file, so nothing can be written under it"),
    "the folder of the experiment file": ("../inputs", "holds sweep.toml, an input of this run"),
    "another command's results": ("run-results", "holds channelsim's run results; a sweep would replace them"),
}


@pytest.mark.parametrize("case", FOLDERS, ids=list(FOLDERS))
def test_a_sweep_writes_only_into_a_new_folder_or_its_own(case, tmp_path, monkeypatch, capsys):
    inputs, here = tmp_path / "inputs", tmp_path / "here"
    inputs.mkdir()
    here.mkdir()
    path = experiment_file(inputs, SMALL)
    (here / "notes.txt").write_bytes(b"the user's notes\x00\xff")
    (here / "busy").mkdir()
    (here / "busy" / "plan.md").write_text("mine")
    (here / "run-results").mkdir()
    (here / "run-results" / ".channelsim").write_text('{"kind": "run"}')
    monkeypatch.chdir(here)
    before = files(tmp_path)
    out, expected = FOLDERS[case]
    assert cli.main(["sweep", str(path), "--out", out, "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"channelsim sweep: --out {out}: ") and expected in err and err.count("\n") == 1, err
    assert files(tmp_path) == before  # byte for byte, and nothing added


def test_a_folder_of_another_experiment_or_without_resume_is_refused(small, tmp_path, capsys):
    path, reference = small
    before = files(reference)
    other = experiment_file(tmp_path, SMALL.replace("seed = 5", "seed = 6"), "other.toml")
    assert cli.main(["sweep", str(other), "--out", str(reference), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of a different experiment or of changed inputs" in err and "made by" not in err
    assert cli.main(["sweep", str(path), "--out", str(reference)]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert files(reference) == before


def test_resume_says_when_a_refused_folder_was_made_by_another_channelsim_version(small, tmp_path, capsys):
    path, reference = small
    old = tmp_path / "old"
    shutil.copytree(reference, old)
    info = json.loads((old / "experiment.json").read_text())
    assert info["version"] == __version__  # what a sweep records
    # as an older channelsim recorded this experiment: another version, and a tree that gave another fingerprint
    info.update(version="0.0.1", fingerprint="0123456789abcdef")
    (old / "experiment.json").write_text(json.dumps(info))
    before = files(old)
    assert cli.main(["sweep", str(path), "--out", str(old), "--resume", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of a different experiment or of changed inputs" in err
    assert f"made by channelsim 0.0.1, this is {__version__}: the model or its parameters may have changed" in err
    assert err.count("\n") == 1 and files(old) == before


def test_a_sweep_folder_from_before_the_marker_is_resumed_when_it_is_this_experiment(small, tmp_path):
    path, reference = small
    old = tmp_path / "old"
    shutil.copytree(reference, old)
    (old / ".channelsim").unlink()  # as channelsim wrote sweeps before the marker: its fingerprint covered paths
    info = json.loads((old / "experiment.json").read_text())
    info["fingerprint"] = load_experiment(path).legacy_fingerprint()
    (old / "experiment.json").write_text(json.dumps(info))
    lines = (old / "manifest.jsonl").read_text().splitlines(keepends=True)
    (old / "manifest.jsonl").write_text("".join(lines[:-3]))
    assert cli.main(["sweep", str(path), "--out", str(old), "--resume", "--workers", "1"]) == 0
    assert json.loads((old / ".channelsim").read_text())["kind"] == "sweep"
    assert json.loads((old / "experiment.json").read_text())["fingerprint"] == load_experiment(path).fingerprint()
    assert_same_results(reference, old)


# ---------------------------------------------------------------- what the fingerprint covers


def roster_experiment(folder: Path) -> Path:
    """An experiment whose scenario extends another and reads a roster, all in `folder`, by relative paths."""
    folder.mkdir(parents=True)
    for name in ("baseline.toml", "roster_example.toml", "partners_example.csv"):
        shutil.copy(ROOT / "scenarios" / name, folder / name)
    path = folder / "sweep.toml"
    path.write_text('[experiment]\nscenario = "roster_example.toml"\nreplicates = 1\nquarters = 2\n'
                    '[outputs]\nquarterly = false\n[parameters."vendor.rebate.rate"]\nvalues = [0.03]\n')
    return path


def test_the_fingerprint_covers_what_the_inputs_say_not_where_they_lie(tmp_path):
    path = roster_experiment(tmp_path / "inputs")
    fingerprint = load_experiment(path).fingerprint()
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(tmp_path / "inputs", moved)
    assert load_experiment(moved / "sweep.toml").fingerprint() == fingerprint
    roster = moved / "partners_example.csv"
    original = roster.read_text()
    roster.write_text(original.replace("P001,Acme Systems,0.76,0.21,0.03,2,", "P001,Acme Systems,0.76,0.21,0.03,3,"))
    assert load_experiment(moved / "sweep.toml").fingerprint() != fingerprint
    roster.write_text(original)
    assert load_experiment(moved / "sweep.toml").fingerprint() == fingerprint
    base = moved / "baseline.toml"  # the start of the scenario chain
    base.write_text(base.read_text().replace("base = 0.20", "base = 0.21"))
    assert load_experiment(moved / "sweep.toml").fingerprint() != fingerprint


def test_resume_refuses_an_edited_roster(tmp_path, capsys):
    path = roster_experiment(tmp_path / "inputs")
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    before = files(out)
    roster = tmp_path / "inputs" / "partners_example.csv"
    roster.write_text(roster.read_text().replace(",gold\n", ",silver\n", 1))
    assert cli.main(["sweep", str(path), "--out", str(out), "--resume", "--workers", "1"]) == 2
    assert "holds the results of a different experiment or of changed inputs" in capsys.readouterr().err
    assert files(out) == before


def test_the_scenarios_own_seed_and_meta_do_not_tie_a_sweep_folder(tmp_path, capsys):
    """The experiment sets every run's seed and the replicates: the scenario's [run] and [meta] shape no run."""
    scenario = tmp_path / "child.toml"
    scenario.write_text(f'extends = "{BASELINE}"\n[run]\nseed = 1\n')
    path = tmp_path / "sweep.toml"
    path.write_text('[experiment]\nscenario = "child.toml"\nreplicates = 1\nquarters = 2\n[set]\n'
                    '"partners.count" = 40\n[parameters."vendor.rebate.rate"]\nvalues = [0.02, 0.04]\n')
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    before = pd.read_parquet(out / "final.parquet")
    scenario.write_text(f'extends = "{BASELINE}"\n[meta]\ntitle = "Renamed"\n[run]\nseed = 99\nreplicates = 3\n')
    capsys.readouterr()
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert "this time: 0 runs" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "final.parquet"), before, check_exact=True)


# ---------------------------------------------------------------- nothing lost, whatever dies


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


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """24 runs of a quarter second or so each, one a batch, and their uninterrupted sweep."""
    folder = tmp_path_factory.mktemp("slow")
    path = experiment_file(folder, SLOW)
    whole = folder / "whole"
    assert cli.main(["sweep", str(path), "--out", str(whole), "--workers", "1"]) == 0
    return path, whole


def start_sweep(path: Path, out: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out), *options],
                            start_new_session=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def wait_for_runs(out: Path, runs: int, process: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while len(sweeps.read_manifest(out)) < runs and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)


def assert_same_as(whole: Path, out: Path, runs: int = 24) -> None:
    entries = sweeps.read_manifest(out)
    assert sorted(e["run"] for e in entries) == list(range(runs))  # every run once: nothing ran twice
    assert {e["status"] for e in entries} == {"ok"}
    for kind in ("quarters", "final"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{kind}.parquet"),
                                      pd.read_parquet(whole / f"{kind}.parquet"), check_exact=True, obj=kind)


def test_a_sweep_killed_mid_way_and_resumed_equals_an_uninterrupted_one(slow, tmp_path):
    path, whole = slow
    cut = tmp_path / "cut"
    process = start_sweep(path, cut, "--workers", "2")
    wait_for_runs(cut, 5, process)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its workers, at once
    process.wait()
    finished = len(sweeps.read_manifest(cut))
    assert 0 < finished < 24, "the sweep should be cut part-way"
    assert not (cut / "final.parquet").exists()
    assert cli.main(["sweep", str(path), "--out", str(cut), "--workers", "2", "--resume"]) == 0
    assert_same_as(whole, cut)


def test_a_sweep_in_one_process_records_each_batch_at_once_and_survives_kill_9(slow, tmp_path, capsys):
    path, whole = slow
    cut = tmp_path / "cut"
    process = start_sweep(path, cut, "--workers", "1")
    wait_for_runs(cut, 3, process)
    # while it runs, a second sweep into the same folder is refused, naming the first one's pid
    assert cli.main(["sweep", str(path), "--out", str(cut), "--workers", "1", "--resume"]) == 2
    assert f"another sweep (pid {process.pid}) is writing into this folder" in capsys.readouterr().err
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(sweeps.read_manifest(cut))
    assert 0 < finished < 24, "batches are recorded as they finish, not at the end"
    assert cli.main(["sweep", str(path), "--out", str(cut), "--workers", "1", "--resume"]) == 0
    assert f"took over the lock of pid {process.pid}, which no longer runs" in capsys.readouterr().err
    assert_same_as(whole, cut)
    assert not (cut / "sweep.lock").exists()


def test_a_lock_of_a_running_process_refuses_and_a_dead_ones_is_taken_over(small, tmp_path, capsys):
    path, reference = small
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    lines = (out / "manifest.jsonl").read_text().splitlines(keepends=True)
    (out / "manifest.jsonl").write_text("".join(lines[:-2]))
    holder = subprocess.Popen(["sleep", "60"])
    try:
        (out / "sweep.lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        before = files(out)
        assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 2
        assert f"another sweep (pid {holder.pid}) is writing into this folder" in capsys.readouterr().err
        assert files(out) == before
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert f"took over the lock of pid {holder.pid}, which no longer runs" in capsys.readouterr().err
    assert_same_results(reference, out)


def test_a_local_worker_process_killed_mid_sweep_loses_no_run(slow, tmp_path):
    import psutil

    path, whole = slow
    out = tmp_path / "out"
    process = start_sweep(path, out, "--workers", "2")
    wait_for_runs(out, 2, process)
    sweep_process = psutil.Process(process.pid)
    # the pool's workers are the children of its fork server, itself a child of the sweep
    workers = [c for c in sweep_process.children(recursive=True) if c.ppid() != process.pid]
    assert workers and len(sweeps.read_manifest(out)) < 20, "the workers should be running with runs left"
    workers[0].kill()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "a worker process was lost" in err and "run again on a fresh pool" in err
    assert_same_as(whole, out)  # nothing recorded as failed; every run ok, the same numbers


CRASHING_POOL = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from sim import cli, sweep

real = sweep.run_batch

def run_batch(base, runs, outputs):  # the worker process dies whenever it runs run 5
    if any(run.run == 5 for run in runs):
        os._exit(9)
    return real(base, runs, outputs)

@contextmanager
def local_pool(workers):  # forked, so that the workers run the run_batch above
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool

sweep.run_batch, sweep.local_pool = run_batch, local_pool
sys.exit(cli.main(sys.argv[1:]))
"""


def test_runs_whose_worker_keeps_dying_are_left_for_resume_not_failed(small, tmp_path):
    path, reference = small
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", CRASHING_POOL, "sweep", str(path), "--out", str(out), "--workers",
                           "2"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "runs did not finish" in last and "are not recorded" in last and "--resume` runs them" in last, last
    entries = sweeps.read_manifest(out)
    assert {e["status"] for e in entries} <= {"ok"} and 5 not in {e["run"] for e in entries}
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "2", "--resume"]) == 0
    assert_same_results(reference, out)


def test_a_batch_its_executor_loses_is_not_a_failed_run(small, tmp_path, monkeypatch, capsys):
    from distributed.scheduler import KilledWorker

    path, reference = small
    real_submit = sweeps.InlineExecutor.submit

    def losing_submit(self, fn, /, base, runs, outputs):  # as Dask reports a task whose workers died
        if any(run.run == 3 for run in runs):
            future = sweeps.cf.Future()
            future.set_exception(KilledWorker("run_batch-3", SimpleNamespace(address="tcp://127.0.0.1:1"), 3))
            return future
        return real_submit(self, fn, base, runs, outputs)

    monkeypatch.setattr(sweeps.InlineExecutor, "submit", losing_submit)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "did not finish (KilledWorker" in captured.err
    entries = sweeps.read_manifest(out)
    assert {e["status"] for e in entries} == {"ok"} and 3 not in {e["run"] for e in entries}
    assert pd.read_csv(out / "failures.csv").empty
    assert cli.main(["analyze", str(out)]) == 0
    assert ("missing: 2 of 12 runs have no results (2 did not finish, `channelsim sweep ... --resume` runs them), "
            "and 1 of 6 design points no finished run") in capsys.readouterr().out
    monkeypatch.undo()
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert_same_results(reference, out)


def test_a_manifest_line_cut_short_is_dropped_and_its_run_runs_again(small, tmp_path, capsys):
    path, reference = small
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    manifest = out / "manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes()[:-40])  # killed while writing the last line
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert "dropped a last line cut short" in capsys.readouterr().err
    assert all(line.startswith("{") for line in manifest.read_text().splitlines())
    assert sorted(e["run"] for e in sweeps.read_manifest(out)) == list(range(12))
    assert_same_results(reference, out)


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_shard_is_named_and_its_runs_run_again_on_resume(small, tmp_path, capsys, damage):
    path, reference = small
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    shard = sorted((out / "shards").glob("quarters-*.parquet"))[1]
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:len(shard.read_bytes()) // 2])
    else:
        shard.unlink()
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    problem = "unreadable" if damage == "truncated" else "missing"
    assert f"warning: {shard} is {problem}" in err and "its batch runs again (2 runs)" in err, err
    assert sorted(e["run"] for e in sweeps.read_manifest(out)) == list(range(12))
    assert_same_results(reference, out)


def test_consolidation_drops_a_batch_written_twice(small, tmp_path):
    path, reference = small
    copy = tmp_path / "copy"
    assert cli.main(["sweep", str(path), "--out", str(copy), "--workers", "1"]) == 0
    # a kill between a shard and its manifest lines leaves a shard whose runs are run again
    shard = sorted((copy / "shards").glob("final-*.parquet"))[0]
    (copy / "shards" / f"final-9999999-{'a' * 8}.parquet").write_bytes(shard.read_bytes())
    sweeps.consolidate(copy, load_experiment(path))
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "final.parquet"), pd.read_parquet(reference / "final.parquet"))


def test_a_shard_replaced_by_another_batchs_is_named_and_its_runs_run_again(small, tmp_path, capsys):
    path, reference = small
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    first, second = sorted((out / "shards").glob("final-*.parquet"))[:2]
    shutil.copyfile(first, second)  # readable, but the runs of another batch
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {second} is not its batch's shard (it holds runs 0, 1; the manifest lists 2, 3)" in err, err
    assert "its batch runs again (2 runs)" in err
    assert_same_results(reference, out)
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert "warning" not in capsys.readouterr().err  # converged: nothing left to mend


def test_a_damaged_manifest_line_in_the_middle_is_named_and_its_run_runs_again(small, tmp_path, capsys):
    path, reference = small
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    lines[4] = lines[4][:30] + "\x00garbage\n"  # run 4's line, not the last
    manifest.write_text("".join(lines))
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {manifest}: line 5 is not a run's record (damaged): dropped; its run runs again" in err, err
    assert sorted(e["run"] for e in sweeps.read_manifest(out)) == list(range(12))
    assert_same_results(reference, out)


FLAKY_POINT = {"cams": 11, "rate": 0.05}  # design point 4 of SMALL: runs 8 and 9


@pytest.fixture
def flaky(small, tmp_path, monkeypatch, capsys):
    """A sweep of SMALL in which both runs of one design point raise."""
    path, _ = small
    from sim import model as model_module

    real_step = model_module.ChannelModel.step

    def flaky_step(self):
        if (self.params.vendor.cams.count == FLAKY_POINT["cams"] and self.params.vendor.rebate.rate
                == FLAKY_POINT["rate"] and self.quarter == 2):
            raise ZeroDivisionError("a run that raises")
        real_step(self)

    monkeypatch.setattr(model_module.ChannelModel, "step", flaky_step)
    out = tmp_path / "flaky"
    code = cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"])
    monkeypatch.undo()
    return code, out, capsys.readouterr().out


def test_a_run_that_raises_is_recorded_and_the_rest_complete(flaky):
    code, out, printed = flaky
    assert code == 0
    assert "failed runs (2" in printed and "ZeroDivisionError: a run that raises" in printed
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures["run"]) == [8, 9]
    assert (failures["error"] == "ZeroDivisionError: a run that raises").all()
    assert failures["traceback"].str.contains("flaky_step").all()
    assert json.loads(failures["params"][0]) == {"vendor.rebate.rate": 0.05, "vendor.cams.count": 11}
    final = pd.read_parquet(out / "final.parquet")
    assert sorted(final["run"]) == [r for r in range(12) if r not in (8, 9)]


def test_a_sweep_whose_every_run_fails_says_so_and_its_bar_counts_each_frame(small, tmp_path, monkeypatch, capsys):
    from sim import model as model_module

    path, _ = small
    frames = []

    class Bar(sweeps.tqdm):
        def update(self, n=1):  # what the frame this update draws shows
            frames.append((self.n + n, self.postfix))
            return super().update(n)

    def failing_step(self):
        raise ZeroDivisionError("every run raises")

    monkeypatch.setattr(model_module.ChannelModel, "step", failing_step)
    monkeypatch.setattr(sweeps, "tqdm", Bar)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "0 ok, 12 failed" in printed
    assert (f"written to {out}/ (manifest.jsonl, failures.csv); no run succeeded, so there are no results to "
            "analyze") in printed, printed
    assert frames and frames[-1][0] == 12
    assert all(postfix == f"done=0, failed={n}" for n, postfix in frames), frames


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
range = [0.05, 0.45]

[parameters."rivals.program.recruitment.per_quarter"]
range = [0, 50]

[parameters."partners.goodwill.mdf_effect"]
range = [0.0, 0.05]
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
range = [0.05, 0.45]

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


def test_analyze_says_how_many_runs_and_design_points_are_missing(flaky, capsys):
    _, out, _ = flaky
    assert cli.main(["analyze", str(out)]) == 0
    said = ("missing: 2 of 12 runs have no results (2 failed, see failures.csv), and 1 of 6 design points no "
            "finished run")
    assert said in capsys.readouterr().out
    assert said[1:] in (out / "analysis" / "report.html").read_text()


def fresh_copy(reference: Path, out: Path) -> Path:
    shutil.copytree(reference, out, ignore=shutil.ignore_patterns("analysis"))
    return out


def _replace_with_file(out: Path) -> None:
    shutil.rmtree(out)
    out.write_text("not a folder")


DAMAGED = {
    "no such folder": (shutil.rmtree, "no such folder"),
    "a file": (_replace_with_file, "not a folder"),
    "not a sweep folder": (lambda out: (out / "experiment.json").unlink(), "not a sweep folder (no experiment.json)"),
    "unreadable experiment.json": (lambda out: (out / "experiment.json").write_text('{"experiment": '),
                                   "experiment.json: unreadable"),
    "experiment.json of something else": (lambda out: (out / "experiment.json").write_text("[1, 2]"),
                                          "experiment.json: not a sweep's record (not a JSON object)"),
    "missing design.csv": (lambda out: (out / "design.csv").unlink(), "design.csv: missing"),
    "unreadable design.csv": (lambda out: (out / "design.csv").write_bytes(b"\xff\xfe\x00garbage\n1,2\n"),
                              "design.csv: unreadable"),
    "missing final.parquet": (lambda out: (out / "final.parquet").unlink(), "no final.parquet"),
    "truncated final.parquet": (lambda out: (out / "final.parquet").write_bytes(
        (out / "final.parquet").read_bytes()[:500]), "final.parquet: unreadable"),
    "another command's results": (lambda out: (out / ".channelsim").write_text('{"kind": "run"}'),
                                  "holds channelsim's run results, not a sweep's"),
}


@pytest.mark.parametrize("case", DAMAGED, ids=list(DAMAGED))
def test_analyze_refuses_a_damaged_folder_with_one_line(small, tmp_path, capsys, case):
    _, reference = small
    damage, expected = DAMAGED[case]
    out = fresh_copy(reference, tmp_path / "out")
    damage(out)
    assert cli.main(["analyze", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("channelsim analyze: ") and err.count("\n") == 1 and expected in err, err
    assert not (out / "analysis").exists()


def test_a_word_in_a_numeric_design_is_named_and_resume_writes_the_design_again(small, tmp_path, capsys):
    path, reference = small
    out = fresh_copy(reference, tmp_path / "out")
    design = out / "design.csv"
    lines = design.read_text().splitlines(keepends=True)
    assert lines[4].startswith("3,0.05,")
    lines[4] = lines[4].replace("0.05", "0.0x")
    design.write_text("".join(lines))
    assert cli.main(["analyze", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"channelsim analyze: {design}: point 3, column vendor.rebate.rate: '0.0x' is not a number (the "
                   "runs took numbers); `channelsim sweep ... --resume` writes it again\n")
    assert not (out / "analysis").exists()
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert design.read_bytes() == (reference / "design.csv").read_bytes()
    assert cli.main(["analyze", str(out)]) == 0


def test_a_grid_over_choices_is_analysed_as_categories(tmp_path, monkeypatch):
    from sim import analysis as analysis_module

    path = experiment_file(tmp_path, """replicates = 2
quarters = 3
[set]
"partners.count" = 40
[outputs]
quarterly = false
[parameters."vendor.rebate.period"]
values = ["quarter", "year"]
[parameters."vendor.cams.coverage"]
values = ["dedicated", "pooled", "digital"]
""")
    out = tmp_path / "choices"
    assert cli.main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    ticks = []  # each figure's axes: (x tick labels, y tick labels)
    real_png = analysis_module._png

    def png(fig):
        ticks.append([([t.get_text() for t in ax.get_xticklabels()], [t.get_text() for t in ax.get_yticklabels()])
                      for ax in fig.axes])
        return real_png(fig)

    monkeypatch.setattr(analysis_module, "_png", png)
    assert cli.main(["analyze", str(out)]) == 0
    points = pd.read_csv(out / "analysis" / "points.csv")
    assert points["vendor.cams.coverage"].unique().tolist() == ["dedicated", "pooled", "digital"]
    assert points.groupby("kpi").size().eq(6).all()
    response, heatmap = ticks[0], ticks[1]
    assert response[0][0] == ["quarter", "year"] and response[1][0] == ["dedicated", "pooled", "digital"]
    assert heatmap[0] == (["dedicated", "pooled", "digital"], ["quarter", "year"])
    # one parameter of choices alone: each choice at its own position, not bins of numbers
    alone = points[points["kpi"] == "revenue"].drop(columns=["vendor.cams.coverage"])
    analysis_module.figure_response(alone, ["vendor.rebate.period"], "revenue", grid=True)
    assert ticks[-1][0][0] == ["quarter", "year"]


def test_analyze_replaces_its_folder_whole_or_not_at_all(small, tmp_path, monkeypatch, capsys):
    from sim import analysis as analysis_module

    _, reference = small
    out = fresh_copy(reference, tmp_path / "out")
    assert cli.main(["analyze", str(out)]) == 0
    before = files(out / "analysis")
    assert json.loads(before[".channelsim"])["kind"] == "analysis"
    real_write = analysis_module.write

    def disk_full(folder, result):
        real_write(folder, result)
        (folder / "points.csv").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(analysis_module, "write", disk_full)
    assert cli.main(["analyze", str(out), "--kpi", "revenue"]) == 1
    assert "No space left on device; the previous analysis is as it was" in capsys.readouterr().err
    assert files(out / "analysis") == before  # the previous analysis, untouched
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".analysis")) == []
    monkeypatch.undo()
    assert cli.main(["analyze", str(out)]) == 0
    (out / "analysis" / "my notes.txt").write_text("mine")  # now the folder holds something analyze did not write
    assert cli.main(["analyze", str(out)]) == 2
    assert "holds my notes.txt, which channelsim did not write there" in capsys.readouterr().err
    (out / "analysis" / ".channelsim").unlink()  # without its marker, nothing tells analyze's files from a user's
    assert cli.main(["analyze", str(out)]) == 2
    assert "is not empty and holds no channelsim results" in capsys.readouterr().err
    assert (out / "analysis" / "my notes.txt").read_text() == "mine"


# ---------------------------------------------------------------- bad experiment files


BAD = {
    "unknown key": ('design = "grid"\nreplicate = 2\n[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n',
                    "unknown key 'experiment.replicate' (did you mean 'replicates'?)"),
    "unknown design": ('design = "factorial"\n[parameters."vendor.rebate.rate"]\nvalues = [0.1]\n',
                       "experiment.design = 'factorial': must be 'grid', 'lhs', 'sobol' or 'morris'"),
    "unknown parameter": ('[parameters."vendor.rebate.rat"]\nvalues = [0.1]\n',
                          "unknown parameter 'vendor.rebate.rat' in 'vendor.rebate' (did you mean 'rate'?)"),
    "bad value": ('[parameters."vendor.rebate.rate"]\nvalues = [0.1, 0.9]\n',
                  "parameters.vendor.rebate.rate: vendor.rebate.rate = 0.9: must be less than or equal to 0.5"),
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
    "integer range with fractional bounds": ('[parameters."vendor.cams.count"]\nrange = [0.5, 3.7]\nlevels = 3\n',
                                             "parameters.vendor.cams.count: range = [0.5, 3.7]: an integer parameter "
                                             "needs whole-number bounds"),
    "integer values with a fraction": ('[parameters."vendor.cams.count"]\nvalues = [2, 2.5]\n',
                                       "parameters.vendor.cams.count: values = [2, 2.5]: an integer parameter needs "
                                       "whole numbers"),
    "the run's seed": ('[parameters."run.seed"]\nvalues = [1, 2]\n',
                       "parameters.run.seed: cannot be swept: the experiment sets each run's seed"),
    "the scenario's title": ('[parameters."meta.title"]\nvalues = ["a", "b"]\n',
                             "parameters.meta.title: cannot be swept: it describes the scenario"),
    "a schedule": ('[parameters.schedule]\nvalues = [[], []]\n',
                   "parameters.schedule: cannot be swept: a schedule per run is not supported"),
    "a roster": ('[parameters."partners.roster"]\nvalues = ["a.csv", "b.csv"]\n',
                 "parameters.partners.roster: cannot be swept: a roster per run is not supported"),
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
