"""The command line as a process: exit codes, messages for people, help with examples."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def channelsim(*args, timeout=600, cwd=None):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT)


def test_every_command_has_help_with_examples():
    for command in ("run", "compare", "validate", "bench", "responses"):
        done = channelsim(command, "--help")
        assert done.returncode == 0 and "examples:" in done.stdout, command
    done = channelsim("--help")
    assert done.returncode == 0 and "responses" in done.stdout and "Traceback" not in done.stderr
    assert "--window 9:16" in channelsim("compare", "--help").stdout


def test_bad_input_exits_2_with_one_message_and_no_traceback(tmp_path):
    out = tmp_path / "out"
    done = channelsim("run", "scenarios/baseline.toml", "--set", "vendor.rebate.rat=0.1", "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "channelsim run: --set: unknown parameter 'vendor.rebate.rat' in 'vendor.rebate' (did you mean 'rate'?)"]
    assert not out.exists()
    done = channelsim("run", "tests/malformed/out_of_range.toml", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "tests/malformed/out_of_range.toml: vendor.rebate.rate = 1.5" in done.stderr
    assert not out.exists()
    done = channelsim("run", "scenarios/baseline.toml", "--replicates", "0")
    assert done.returncode == 2 and "--replicates 0: must be greater than or equal to 1" in done.stderr
    done = channelsim("compare", "scenarios/baseline.toml")  # a usage error is bad input too
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_an_internal_error_exits_1_with_its_traceback(tmp_path):
    code = ("import sys, sim.cli, sim.runner\n"
            "def broken(*a, **k):\n    raise RuntimeError('a bug, not bad input')\n"
            "sim.runner.run = broken\n"
            f"sys.exit(sim.cli.main(['run', 'scenarios/baseline.toml', '--out', {str(tmp_path / 'out')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: a bug, not bad input" in done.stderr
    assert not (tmp_path / "out").exists()


def test_bench_prints_its_figures_as_json():
    done = channelsim("bench", "--sizes", "300", "--quarters", "3", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    row = figures["sizes"][0]
    assert row["partners"] == 300 and row["partner_quarters_per_second"] > 0
    assert row["peak_kib_per_partner"] >= 0
    assert figures["mesa_empty_step_agents_per_second"] > 0


def test_bench_viz_without_chromium_or_playwright_is_bad_input_said_before_any_server_starts(monkeypatch, capsys):
    from sim import cli, serve

    def no_server(*args, **kwargs):
        raise AssertionError("a server started")

    monkeypatch.setattr(serve, "served", no_server)
    monkeypatch.setattr(serve, "CHROMIUM", "/nonexistent/chromium")
    assert cli.main(["bench", "--viz", "--sizes", "1000"]) == 2
    assert capsys.readouterr().err == ("channelsim bench: /nonexistent/chromium is not installed: apt-get install "
                                       "chromium\n")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if playwright were not installed
    assert cli.main(["bench", "--viz", "--sizes", "1000"]) == 2
    assert capsys.readouterr().err == ("channelsim bench: the browser tools need playwright: pip install -e "
                                       "'.[dev]'\n")


def test_a_runtime_error_while_measuring_the_browser_is_a_bug_not_bad_input(monkeypatch):
    from sim import cli, serve

    def broken(*args, **kwargs):
        raise RuntimeError("channelsim viz did not start: a bug")

    monkeypatch.setattr(serve, "measure_viz", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # main lets it through: its traceback, exit 1
        cli.main(["bench", "--viz", "--sizes", "1000"])


def test_every_kind_of_bad_input_is_told_once_in_its_lines_with_exit_2(monkeypatch, capsys):
    from sim import cli
    from sim.errors import InputError

    class Refusal(InputError):
        separator = "; "

    def refuse(args):
        raise Refusal(["first problem", "second problem"])

    monkeypatch.setitem(cli.COMMANDS, "analyze", refuse)
    assert cli.main(["analyze", "somewhere"]) == 2
    assert capsys.readouterr().err == "channelsim analyze: first problem; second problem\n"
    Refusal.separator = "\n"
    assert cli.main(["analyze", "somewhere"]) == 2
    assert capsys.readouterr().err == "channelsim analyze: first problem\nchannelsim analyze: second problem\n"
