"""The command line: output for people, exit 2 for bad input without a traceback."""

import json
import subprocess
import sys


def channelsim(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_run_prints_the_quarterly_kpis():
    done = channelsim("run", "--quarters", "3", "--set", "partners.count=120")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "120 partners" in lines[0]
    assert "revenue_m" in done.stdout and "mindshare" in done.stdout
    assert [line.split()[0] for line in lines[-3:]] == ["1", "2", "3"]


def test_a_bad_parameter_exits_2_with_one_message_and_no_traceback():
    done = channelsim("run", "--set", "vendor.rebate.rat=0.1")
    assert done.returncode == 2
    assert "did you mean 'rate'" in done.stderr
    assert "Traceback" not in done.stderr
    done = channelsim("run", "--set", "partners.count=-5")
    assert done.returncode == 2 and "partners.count = -5" in done.stderr and "Traceback" not in done.stderr
    done = channelsim("run", "--set", "nothing")
    assert done.returncode == 2 and "expected path=value" in done.stderr


def test_every_command_has_help_with_examples():
    for command in ("run", "bench"):
        done = channelsim(command, "--help")
        assert done.returncode == 0 and "examples:" in done.stdout


def test_bench_prints_its_figures_as_json():
    done = channelsim("bench", "--sizes", "300", "--quarters", "3", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    row = figures["sizes"][0]
    assert row["partners"] == 300 and row["partner_quarters_per_second"] > 0
    assert row["peak_kib_per_partner"] >= 0
    assert figures["mesa_empty_step_agents_per_second"] > 0
