"""Users' files are safe: results go only into a new folder or channelsim's own, names cannot escape
`out/`, results are replaced atomically, and every bad option is refused before any work."""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import psutil
import pytest

from sim import cli, outputs, report, scenarios
from sim.model import ChannelModel
from sim.params import ParameterError, Scenario, assign_paths
from sim.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
QUICK = ["--quarters", "2", "--replicates", "1", "--workers", "1"]


def channelsim(*args) -> int:
    return cli.main([str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (hidden ones too), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's folder, the working directory, holding files of their own and a scenario."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own notes")
    (folder / "data").mkdir()
    (folder / "data" / "history.csv").write_text("quarter,revenue\n1,100\n")
    (folder / "s.toml").write_text(f'extends = "{BASELINE}"\n[partners]\ncount = 60\n')
    monkeypatch.chdir(folder)
    return folder


# ---------------------------------------------------------------- an output folder is ours or it is refused


@pytest.mark.parametrize("where", [".", "data", "project", "home", "root", "the scenario's folder"])
def test_a_folder_that_is_not_ours_is_refused_and_left_byte_for_byte(where, project, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(project))
    out = {".": ".", "data": "data", "project": str(project), "home": str(Path.home()), "root": "/",
           "the scenario's folder": str(project)}[where]
    before = snapshot(project)
    assert channelsim("run", "s.toml", "--out", out, *QUICK) == 2
    error = capsys.readouterr().err
    assert f"--out {out}:" in error and "Traceback" not in error
    assert snapshot(project) == before
    assert not (project / "out").exists()


def test_a_file_a_path_under_a_file_and_a_symlink_loop_are_refused(project, capsys):
    (project / "loop_a").symlink_to("loop_b")
    (project / "loop_b").symlink_to("loop_a")
    before = snapshot(project)
    for out, expected in (("notes.txt", "exists and is a file"), ("notes.txt/results", "notes.txt is a file"),
                          ("loop_a", "a symbolic link that loops"), ("loop_a/results", "a symbolic link that loops")):
        assert channelsim("run", "s.toml", "--out", out, *QUICK) == 2
        assert expected in capsys.readouterr().err, out
    assert snapshot(project) == before


def test_a_folder_where_nothing_can_be_created_is_refused_before_any_work(project, capsys):
    # /proc lets root pass every permission check and still creates nothing: only trying tells
    assert channelsim("run", "s.toml", "--out", "/proc/channelsim-results", *QUICK) == 2
    assert "--out /proc/channelsim-results: nothing can be created in /proc" in capsys.readouterr().err


def test_a_folder_holding_an_input_of_the_run_is_refused(project, capsys):
    (project / "runs").mkdir()
    (project / "runs" / "roster.csv").write_text("id,sales\nA,3\nB,5\n")
    (project / "r.toml").write_text(f'extends = "{BASELINE}"\n[partners]\nroster = "runs/roster.csv"\n')
    before = snapshot(project)
    assert channelsim("run", "r.toml", "--out", "runs", *QUICK) == 2
    assert "holds roster.csv, an input of this run" in capsys.readouterr().err
    assert snapshot(project) == before


def test_channelsims_own_results_are_replaced_and_other_kinds_are_not(project, capsys):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    marker = outputs.read_marker(project / "results")
    assert marker["kind"] == "run" and marker["written_by"].startswith("channelsim")
    first = (project / "results" / "quarters.csv").read_bytes()
    assert channelsim("run", "s.toml", "--out", "results", "--quarters", "3", "--replicates", "1", "--workers", 1) == 0
    assert (project / "results" / "quarters.csv").read_bytes() != first  # the new results, in the same folder
    assert channelsim("compare", "s.toml", BASELINE, "--out", "results", *QUICK) == 0  # a comparison may replace a run
    assert outputs.read_marker(project / "results")["kind"] == "compare"
    assert not [p for p in project.iterdir() if ".staging-" in p.name]
    (project / "sweep").mkdir()
    outputs.write_marker(project / "sweep", "sweep")
    (project / "sweep" / "manifest.jsonl").write_text("{}\n")
    capsys.readouterr()
    assert channelsim("run", "s.toml", "--out", "sweep", *QUICK) == 2
    assert "holds channelsim's sweep results" in capsys.readouterr().err
    assert (project / "sweep" / "manifest.jsonl").read_text() == "{}\n"


def test_a_file_a_user_put_among_results_makes_the_folder_theirs(project, capsys):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    assert set(json.loads((project / "results" / outputs.MARKER).read_text())["files"]) >= {"quarters.csv",
                                                                                            "report.html"}
    for mine in ("notes.txt", "mine/a.txt"):
        (project / "results" / mine).parent.mkdir(exist_ok=True)
        (project / "results" / mine).write_text("the user's")
        before = snapshot(project / "results")
        assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 2
        assert "which channelsim did not write there" in capsys.readouterr().err
        assert snapshot(project / "results") == before
        (project / "results" / mine).unlink()
        if "/" in mine:
            (project / "results" / mine).parent.rmdir()
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0


def test_results_without_a_marker_are_not_taken_for_ours(project, capsys):
    # a copied resolved scenario beside the user's own report.html and figures: nothing tells them from ours
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    (project / "results" / outputs.MARKER).unlink()
    (project / "results" / "report.html").write_text("the user's own report")
    before = snapshot(project / "results")
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 2
    assert "holds no channelsim results (no .channelsim marker)" in capsys.readouterr().err
    assert snapshot(project / "results") == before
    (project / "copied").mkdir()
    (project / "copied" / outputs.MARKER).write_text(json.dumps({"kind": "run", "files": "quarters.csv"}))
    (project / "copied" / "quarters.csv").write_text("the user's")
    assert channelsim("run", "s.toml", "--out", "copied", *QUICK) == 2  # a marker whose list is not a list


def test_an_empty_folder_may_receive_results(project):
    (project / "empty").mkdir()
    assert channelsim("run", "s.toml", "--out", "empty", *QUICK) == 0
    assert (project / "empty" / "quarters.csv").exists()


# ---------------------------------------------------------------- names cannot escape


@pytest.mark.parametrize("name", ["../victim", "/tmp/victim", "a/b", "..", "a\\\\b", "..hidden", ".hidden", "x" * 81,
                                  "foo\\n", "caf\u00e9", "a\u2215b"])
def test_a_scenario_name_that_would_escape_is_refused(name, project, capsys):
    victim = project.parent / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "precious.txt").write_text("keep")
    (project / "received.toml").write_text(f'extends = "{BASELINE}"\n[meta]\nname = "{name}"\n')
    assert channelsim("run", "received.toml", *QUICK) == 2
    error = capsys.readouterr().err
    assert "received.toml: meta.name" in error and "must be a safe name" in error
    assert (victim / "precious.txt").read_text() == "keep" and not (project / "out").exists()


def test_the_default_folder_is_always_inside_out(project):
    (project / "my scenario (v2)!.toml").write_text(f'extends = "{BASELINE}"\n')
    assert channelsim("run", "my scenario (v2)!.toml", *QUICK) == 0
    assert [p.name for p in (project / "out").iterdir()] == ["my_scenario_v2"]
    assert scenarios.load(project / "my scenario (v2)!.toml").name == "my_scenario_v2"
    many = [f"scenario-with-a-rather-long-name-{i}.toml" for i in range(6)]
    for name in many:
        (project / name).write_text(f'extends = "{BASELINE}"\n')
    assert channelsim("compare", *many, *QUICK) == 0
    (folder,) = [p for p in (project / "out").iterdir() if p.name != "my_scenario_v2"]
    assert folder.resolve().parent == (project / "out").resolve() and len(folder.name) <= 120


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "", ".", ".."])
def test_default_folder_refuses_what_is_not_a_name_inside_out(name, tmp_path):
    with pytest.raises(outputs.FolderError):
        outputs.default_folder(name, tmp_path / "out")


def test_slug_makes_a_safe_name_of_any_text():
    for text in ["../../etc", "a b/c", "...", "", "é-ü", "x" * 300, "C:\\Users\\x"]:
        assert outputs.is_slug(outputs.slug(text)), text


# ---------------------------------------------------------------- replacing results is atomic


def test_a_failure_while_writing_leaves_the_previous_results_intact(project, monkeypatch, capsys):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    before = snapshot(project / "results")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "report.html")

    monkeypatch.setattr(report, "write_page", disk_full)
    assert channelsim("run", "s.toml", "--out", "results", "--quarters", "3", "--replicates", "1", "--workers", 1) == 1
    error = capsys.readouterr().err
    assert "cannot write report.html: No space left on device; no results were written" in error
    assert "Traceback" not in error
    assert snapshot(project / "results") == before
    assert sorted(p.name for p in project.iterdir()) == ["data", "notes.txt", "results", "s.toml"]

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(report, "write_page", bug)
    with pytest.raises(ZeroDivisionError):  # a bug is not bad input: it keeps its traceback (exit 1)
        channelsim("run", "s.toml", "--out", "results", "--quarters", "3", "--replicates", "1", "--workers", 1)
    assert snapshot(project / "results") == before
    assert sorted(p.name for p in project.iterdir()) == ["data", "notes.txt", "results", "s.toml"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_a_swap_puts_the_new_results_in_place_and_removes_the_old(exchange, tmp_path, monkeypatch):
    if not exchange:
        monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    target = tmp_path / "results"
    for round_ in range(3):
        with outputs.replacing(target, "run") as stage:
            (stage / "quarters.csv").write_text(f"round {round_}")
        assert (target / "quarters.csv").read_text() == f"round {round_}"
        assert outputs.read_marker(target)["kind"] == "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_an_interrupted_write_removes_its_staging_folder(tmp_path):
    target = tmp_path / "results"
    with pytest.raises(KeyboardInterrupt), outputs.replacing(target, "run") as stage:
        (stage / "half.csv").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_staging_folder_left_by_a_killed_process_is_cleared_by_the_next_write(tmp_path):
    dead = tmp_path / ".results.staging-999999999-0badf00d"  # no process has this pid
    dead.mkdir()
    (dead / "half.csv").write_text("half")
    alive = tmp_path / f".results.staging-{os.getppid()}-0badf00d"  # a process that is running
    alive.mkdir()
    with outputs.replacing(tmp_path / "results", "run") as stage:
        (stage / "whole.csv").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "results"]


# ---------------------------------------------------------------- every check before any work


@pytest.mark.parametrize("option, value, expected", [
    ("--replicates", "10001", "--replicates 10001: must be less than or equal to 10000"),
    ("--seed", str(2**70), f"--seed {2**70}: must be less than {2**63}"),
    ("--seed", "-1", "--seed -1: must be greater than or equal to 0"),
    ("--quarters", "0", "--quarters 0: must be greater than or equal to 1"),
    ("--quarters", "401", "--quarters 401: must be less than or equal to 400"),
    ("--workers", "0", "--workers 0: must be greater than or equal to 1"),
    ("--workers", "100000", "--workers 100000: must be less than or equal to 512"),
    ("--set", "vendor.rebate.rat=0.1", "--set: unknown parameter 'vendor.rebate.rat'"),
    ("--set", "quarters=0", "--set: quarters = 0: must be greater than or equal to 1"),
    ("--set", "novalue", "--set 'novalue': expected path=value"),
])
def test_a_bad_option_is_named_as_the_option_and_nothing_is_written(option, value, expected, project, capsys):
    before = snapshot(project)
    assert channelsim("run", "s.toml", option, value, "--out", "results") == 2
    error = capsys.readouterr().err
    assert expected in error and "s.toml" not in error.replace("--set", "")
    assert snapshot(project) == before


def test_compare_refuses_scenarios_with_different_horizons_unless_told_one(project, capsys):
    (project / "short.toml").write_text(f'extends = "{BASELINE}"\nquarters = 6\n[partners]\ncount = 60\n')
    assert channelsim("compare", "s.toml", "short.toml", "--replicates", 1, "--workers", 1) == 2
    error = capsys.readouterr().err
    assert "different horizons" in error
    assert "s.toml has quarters = 40" in error and "short.toml has quarters = 6" in error
    assert not (project / "out").exists()
    assert channelsim("compare", "s.toml", "short.toml", "--quarters", 2, "--replicates", 1, "--workers", 1) == 0


def test_a_scenario_that_is_a_symlink_loop_is_named(project, capsys):
    (project / "a.toml").symlink_to("b.toml")
    (project / "b.toml").symlink_to("a.toml")
    (project / "c.toml").write_text('extends = "a.toml"\n')
    assert channelsim("run", "a.toml", *QUICK) == 2
    assert "a.toml: a symbolic link that loops" in capsys.readouterr().err
    assert channelsim("run", "c.toml", *QUICK) == 2
    assert "c.toml: extends = 'a.toml': a symbolic link that loops" in capsys.readouterr().err
    assert not (project / "out").exists()


# ---------------------------------------------------------------- a schedule entry's changes apply at once


TOGETHER = {"partners.size_min": 2_000.0, "partners.size_max": 5_000.0}  # each alone breaks size_min <= size_max


def test_changes_that_are_only_valid_together_apply_together_mid_run():
    params = Scenario.model_validate({"quarters": 4, "partners": {"count": 60},
                                      "schedule": [{"quarter": 2, "set": TOGETHER}]})
    model = ChannelModel(params, rng=1)
    model.run()
    assert (model.params.partners.size_min, model.params.partners.size_max) == (2_000.0, 5_000.0)


def test_assign_paths_keeps_the_tree_unchanged_when_the_changes_are_invalid_together():
    tree = Scenario()
    with pytest.raises(ParameterError, match="size_max"):
        assign_paths(tree, {"partners.size_min": 2_000.0})
    assert tree.partners.size_min == 2.0
    rebate = tree.vendor.rebate
    assign_paths(tree, {"vendor.rebate": {"rate": 0.05, "threshold": 50_000.0}})  # a whole table
    assert tree.vendor.rebate is rebate and rebate.rate == 0.05 and rebate.threshold == 50_000.0


def test_a_schedule_is_validated_in_the_order_the_run_applies_it(tmp_path):
    # listed order (quarter 6 first) is valid step by step; the run applies quarter 3 first, then 6: invalid
    path = tmp_path / "order.toml"
    path.write_text('quarters = 8\n'
                    '[[schedule]]\nquarter = 6\nset = { "partners.size_max" = 50.0 }\n'
                    '[[schedule]]\nquarter = 3\nset = { "partners.size_min" = 100.0, "partners.size_max" = 5000.0 }\n')
    with pytest.raises(scenarios.ScenarioError, match=r"schedule\[0\]: .*size_max \(50.0\) must be at least size_min"):
        scenarios.load(path)


# ---------------------------------------------------------------- messages


def test_one_path_notation_in_messages(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[[schedule]]\nquarter = 0\nset = {}\n'
                    '[vendor.rebate]\nladder = [{ threshold = 5e5, rate = 0.9 }]\n')
    with pytest.raises(scenarios.ScenarioError) as caught:
        scenarios.load(path)
    text = "\n".join(caught.value.problems)
    assert "schedule[0].quarter = 0" in text and "vendor.rebate.ladder[0].rate = 0.9" in text
    assert "schedule.0" not in text and "ladder.0" not in text


def test_a_byte_order_mark_is_accepted_in_scenarios_and_rosters(tmp_path):
    (tmp_path / "roster.csv").write_bytes("\ufeffid,sales\nA,3\n".encode())
    (tmp_path / "s.toml").write_bytes(f'\ufeffextends = "{BASELINE}"\n[partners]\nroster = "roster.csv"\n'.encode())
    assert scenarios.load(tmp_path / "s.toml").params.partners.count == 1


def test_a_duplicate_roster_column_is_named_as_a_duplicate(tmp_path, capsys):
    (tmp_path / "roster.csv").write_text("id,sales,technical,sales\nA,3,1,4\n")
    assert channelsim("validate", tmp_path / "roster.csv") == 2
    assert "the column 'sales' appears twice in the header (columns 2 and 4)" in capsys.readouterr().err


def test_validate_recognises_experiment_files(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    shipped = sorted((ROOT / "experiments").glob("*.toml"))
    assert channelsim("validate", *shipped, "scenarios/baseline.toml") == 0
    printed = capsys.readouterr().out
    assert printed.count("ok (an experiment") == len(shipped) and "baseline.toml: ok" in printed
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[experiment]\nscenario = "{BASELINE}"\nreplicate = 2\n[parameters."vendor.rebate.rate"]\n'
                   'values = [0.1]\n')
    assert channelsim("validate", bad) == 2
    assert "unknown key 'experiment.replicate'" in capsys.readouterr().err


def test_the_resolved_scenario_of_a_run_is_a_valid_scenario(project):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    resolved = project / "results" / "scenario.resolved.toml"
    assert tomllib.loads(resolved.read_text())["meta"]["name"] == "s"
    assert scenarios.load(resolved).params.partners.count == 60


# ---------------------------------------------------------------- servers bind where the user meant


def test_viz_refuses_an_empty_or_bad_host_and_warns_for_every_interface(monkeypatch, capsys):
    started = []
    monkeypatch.setattr(os, "execve", lambda *args: started.append(args))
    assert channelsim("viz", "--host", "") == 2
    assert "--host '': empty" in capsys.readouterr().err
    assert channelsim("viz", "--host", "no-such-host.invalid") == 2
    assert "--host no-such-host.invalid: not a host name or address that resolves" in capsys.readouterr().err
    assert channelsim("viz", "--host", "192.0.2.1") == 2  # TEST-NET-1: an address of no machine here
    assert "--host 192.0.2.1: not an address of this machine" in capsys.readouterr().err
    assert channelsim("viz", "--seed", str(2**64)) == 2
    assert f"--seed {2**64}: must be less than" in capsys.readouterr().err
    assert not started
    assert channelsim("viz", "--host", "0.0.0.0", "--port", free_port()) == 0
    assert "warning: --host 0.0.0.0 serves on every network interface" in capsys.readouterr().err
    assert started and started[0][1][started[0][1].index("--host") + 1] == "0.0.0.0"
    started.clear()
    assert channelsim("viz", "--port", free_port()) == 0
    assert "warning" not in capsys.readouterr().err
    assert started[0][1][started[0][1].index("--host") + 1] == "127.0.0.1"


# ---------------------------------------------------------------- what a new user tried


def test_a_name_too_long_or_a_marker_that_is_not_ours_is_refused_before_any_work(project, monkeypatch, capsys):
    for out in ("x" * 300, "x" * 250):
        assert channelsim("run", "s.toml", "--out", out, *QUICK) == 2
        assert f"--out {out}: the folder's name is too long (at most 225 bytes)" in capsys.readouterr().err
    for kind in ('["run"]', "null", '"wizard"'):
        (project / "odd").mkdir(exist_ok=True)
        (project / "odd" / outputs.MARKER).write_text(f'{{"kind": {kind}}}')
        assert channelsim("run", "s.toml", "--out", "odd", *QUICK) == 2
        assert "holds no channelsim results" in capsys.readouterr().err
    assert not (project / "out").exists()


AS_NOBODY = """
import os, sys
import encodings.utf_8_sig  # noqa: F401
from sim import cli, outputs, report, runner, scenarios  # imported as root: the interpreter lives under /root
os.setgid(65534); os.setuid(65534)
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_folder_this_user_may_not_change_is_refused_even_when_empty(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="channelsim-shared-", dir="/tmp"))  # pytest's own folders are root's only
    home.chmod(0o777)
    (home / "s.toml").write_text(f'extends = "{BASELINE}"\n[partners]\ncount = 40\n')
    (home / "theirs").mkdir()  # root's, empty: nobody may not replace it
    (home / "read_only").mkdir()
    os.chown(home / "read_only", 65534, 65534)
    (home / "read_only").chmod(0o555)  # nobody's own, made read-only on purpose
    for out in ("theirs", "read_only"):
        done = subprocess.run([sys.executable, "-c", AS_NOBODY, "run", "s.toml", "--out", out, *QUICK],
                              cwd=home, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert f"--out {out}: this user may not change it" in done.stderr
    assert (home / "theirs").stat().st_uid == 0 and (home / "read_only").stat().st_mode & 0o777 == 0o555
    shutil.rmtree(home)


def test_the_resolved_scenario_says_how_to_repeat_the_run_into_a_new_folder(project):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    header = (project / "results" / "scenario.resolved.toml").read_text().splitlines()[1]
    command = header.split("Repeat it exactly with: channelsim ")[1].split()
    assert command == ["run", "results/scenario.resolved.toml", "--out", "results-again"]
    assert channelsim(*command) == 0
    again = (project / "results-again" / "quarters.csv").read_bytes()
    assert (project / "results" / "quarters.csv").read_bytes() == again


def test_a_problem_is_blamed_on_the_change_that_made_it(project, capsys):
    assert channelsim("run", "s.toml", "--set", "vendor.margin.lines.hardware.share=0.5", *QUICK) == 2
    assert capsys.readouterr().err.startswith("channelsim run: --set: vendor.margin: product line shares must sum to 1")
    assert channelsim("run", ROOT / "scenarios" / "rival_attack.toml", "--quarters", 4, "--replicates", 1) == 2
    assert "after the horizon (quarters = 4) (quarters set by --quarters)" in capsys.readouterr().err


def test_help_states_a_default_only_where_there_is_one():
    for command in ("run", "compare", "sweep", "analyze", "viz", "bench"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
    for command in ("run", "viz"):
        text = io.StringIO()
        with contextlib.redirect_stdout(text), pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "(default: None)" not in text.getvalue() and "(default: [])" not in text.getvalue()
        assert "examples:" in text.getvalue()


def test_viz_refuses_a_partner_count_of_zero(capsys, monkeypatch):
    monkeypatch.setattr(os, "execve", lambda *args: pytest.fail("should not serve"))
    assert channelsim("viz", "--partners", 0) == 2
    assert "--partners 0: must be greater than or equal to 1" in capsys.readouterr().err


def test_roster_rows_are_read_as_written_or_named(tmp_path, capsys):
    cases = {"id,name\nA,Acme, Inc\nB,Beta\n": "row 2: 3 cells for 2 columns",
             "id,sales,technical\nA,1,2,3\n": "row 2: 4 cells for 3 columns",
             "id,trailing_revenue\nA,inf\n": "'inf' is not allowed: must be a finite number",
             "id,,sales\nA,x,1\n": "column 2 has no name in the header but holds values",
             'id,name\nA,"Acme\n': "is not a valid CSV"}
    for text, expected in cases.items():
        (tmp_path / "r.csv").write_text(text)
        assert channelsim("validate", tmp_path / "r.csv") == 2
        assert expected in capsys.readouterr().err, text
    # a quoted comma, a blank line, a trailing comma
    (tmp_path / "r.csv").write_text('id,name,sales,\nA,"Acme, Inc",3,\n\nB,Beta,2,\n')
    assert channelsim("validate", tmp_path / "r.csv") == 0
    assert "a roster of 2 partners" in capsys.readouterr().out
    (tmp_path / "r.csv").write_text("id,sales\nA,3\n\nB,x\n")
    assert channelsim("validate", tmp_path / "r.csv") == 2
    assert "r.csv, row 4, column 'sales': 'x'" in capsys.readouterr().err  # the file's own line number


STOPPED = """
import os, signal, sys, time
from sim import cli, report
real = report.write_page
def slow(*args, **kwargs):  # stopped while the results are being written
    real(*args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)
report.write_page = slow
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("stop, code, word", [(2, 130, "interrupted"), (15, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_run_stopped_while_writing_leaves_the_previous_results_and_no_staging(stop, code, word, project):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    before = snapshot(project / "results")
    process = subprocess.Popen([sys.executable, "-c", STOPPED, "run", "s.toml", "--out", "results", "--quarters", "3",
                                "--replicates", "1", "--workers", "1"], cwd=project, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    assert [p for p in project.iterdir() if ".staging-" in p.name]  # caught in the act
    process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code and f"{word}; no results were written" in err and "Traceback" not in err
    assert snapshot(project / "results") == before
    assert not [p for p in project.iterdir() if ".staging-" in p.name]


def test_worker_processes_end_with_a_run_killed_with_sigkill(project):
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", "s.toml", "--replicates", "4", "--workers", "2",
                                "--set", "partners.count=60000", "--quarters", "40", "--out", "big"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    main = psutil.Process(process.pid)
    deadline = time.time() + 60
    while len([c for c in main.children(recursive=True) if "forkserver" in " ".join(c.cmdline())]) < 3:
        assert time.time() < deadline and process.poll() is None, "the workers should have started"
        time.sleep(0.1)
    helpers = main.children(recursive=True)  # the fork server, its workers, the resource tracker
    process.send_signal(signal.SIGKILL)
    process.wait()
    gone, alive = psutil.wait_procs(helpers, timeout=15)
    for left in alive:
        left.kill()
    assert not alive, [" ".join(p.cmdline())[:80] for p in alive]


def test_ctrl_c_while_starting_is_acted_on_once_started_and_nothing_is_done(project, monkeypatch, capsys):
    real = cli.build_parser

    def pressed_while_starting():
        os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C came while the program was still importing
        return real()

    monkeypatch.setattr(cli, "build_parser", pressed_while_starting)
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 130
    assert "interrupted while starting; nothing was done" in capsys.readouterr().err
    assert not (project / "results").exists()


def test_an_interrupt_a_library_turns_into_its_own_error_is_still_an_interruption(project, monkeypatch, capsys):
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 0
    before = snapshot(project / "results")

    def drawing(*args, **kwargs):  # matplotlib, interrupted while drawing, raises a ValueError of its own
        with contextlib.suppress(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        raise ValueError("Invalid bounding box")

    monkeypatch.setattr(report, "write_page", drawing)
    assert channelsim("run", "s.toml", "--out", "results", *QUICK) == 130
    error = capsys.readouterr().err
    assert "interrupted; no results were written" in error and "Traceback" not in error
    assert snapshot(project / "results") == before


def test_a_file_written_atomically_is_whole_or_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "card.json"
    outputs.write_atomically(target, b"first")
    assert target.read_bytes() == b"first"

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_atomically(target, b"second")
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["card.json"]
