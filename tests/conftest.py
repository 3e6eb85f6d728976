import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from sim import ChannelModel


def check_invariants(model: ChannelModel) -> None:
    """What must hold after every quarter, whatever the parameters."""
    t = model.partners
    effort = t.effort
    assert np.all(effort >= 0) and np.all(effort <= 1)
    np.testing.assert_allclose(effort.sum(axis=0), 1.0, atol=1e-5)
    for name in t.columns:
        column = getattr(t, name)
        if column.dtype.kind == "f":
            assert np.isfinite(column).all(), f"column {name} has NaN or inf"
    assert np.all(t.revenue >= 0) and np.all(t.pipeline >= 0)
    for name in ("capability", "goodwill"):
        values = getattr(t, name)
        assert np.all(values >= 0) and np.all(values <= 1), name
    kpis = model.kpis
    assert all(np.isfinite(v) for v in kpis.values()), kpis
    assert kpis["revenue"] >= 0
    for vendor in model.vendors:  # every budgeted instrument of every vendor stays within its budget
        spend, budget = model.last_ledger.spend[vendor.index], model.last_ledger.budget[vendor.index]
        for instrument, available in budget.items():
            assert spend.get(instrument, 0.0) <= available * (1 + 1e-6) + 1e-6, (vendor.name, instrument)
    assert kpis["mdf_claimed"] <= kpis["mdf_allocated"] * (1 + 1e-6) + 1e-6
    assert kpis["cam_hours_used"] <= kpis["cam_hours_available"] * (1 + 1e-9) + 1e-9


@pytest.fixture
def small_model():
    return ChannelModel(rng=3, partners__count=300, quarters=8)


# --------------------------------------------------------------------------- results folders (the viewer's input)

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
SMALL = ["--set", "partners.count=80", "--quarters", "6", "--replicates", "2", "--workers", "1"]


def experiment(folder: Path, name: str, design: str, parameters: str, extra: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[meta]\ntitle = "{name}"\n[experiment]\nscenario = "{BASELINE}"\ndesign = "{design}"\nseed = 3\n'
                    f'replicates = 2\nquarters = 4\n{extra}\n[outputs]\nquarterly = false\nfinal_year = true\n'
                    f'[set]\n"partners.count" = 60\n{parameters}')
    return path


def small_calibration(folder: Path) -> Path:
    """The shipped calibration example, over 8 quarters (6 fitted, 2 held out), 8 trials of 2 replicates."""
    shutil.copytree(ROOT / "experiments" / "calibration", folder)
    channel = (folder / "channel.toml").read_text()
    channel = re.sub(r'extends = ".*"', f'extends = "{BASELINE}"', channel)
    (folder / "channel.toml").write_text(re.sub(r"(?m)^quarters = \d+", "quarters = 8", channel))
    text = (folder / "calibration.toml").read_text()
    for pattern, value in [(r"fit = \[.*\]", "fit = [1, 6]"), (r"holdout = \[.*\]", "holdout = [7, 8]"),
                           (r"trials = \d+", "trials = 8"), (r"replicates = \d+", "replicates = 2"),
                           (r"batch = \d+", "batch = 8\nprofile = 3\ncheck = 19")]:
        text = re.sub(f"(?m)^{pattern}", value, text)
    (folder / "calibration.toml").write_text(text)
    return folder / "calibration.toml"


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One results folder of each kind, as small as each command allows."""
    from sim.cli import main

    root = tmp_path_factory.mktemp("results")
    inputs = tmp_path_factory.mktemp("inputs")
    out = {name: root / name for name in ("run", "compare", "grid", "line", "sobol", "calibrate")}
    assert main(["run", str(BASELINE), *SMALL, "--out", str(out["run"])]) == 0
    assert main(["compare", str(BASELINE), str(ROOT / "scenarios" / "rebate_ladder.toml"),
                 str(ROOT / "scenarios" / "mdf_to_top20.toml"), *SMALL, "--out", str(out["compare"])]) == 0
    grid = experiment(inputs, "grid", "grid", '[parameters."vendor.rebate.threshold"]\nvalues = [50_000.0, 150_000.0, '
                      '400_000.0]\n[parameters."vendor.rebate.rate"]\nrange = [0.01, 0.07]\nlevels = 2\n')
    line = experiment(inputs, "line", "grid", '[parameters."vendor.rebate.rate"]\nvalues = [0.01, 0.04, 0.07]\n')
    ranges = [("vendor.rebate.rate", 0.0, 0.08), ("vendor.cams.count", 0, 30), ("partners.inertia", 0.1, 0.6)]
    sobol = experiment(inputs, "sobol", "sobol", "".join(f'[parameters."{p}"]\nrange = [{lo}, {hi}]\n'
                                                         for p, lo, hi in ranges), "samples = 4")
    for name, path in (("grid", grid), ("line", line), ("sobol", sobol)):
        assert main(["sweep", str(path), "--out", str(out[name]), "--workers", "1"]) == 0
    assert main(["analyze", str(out["sobol"])]) == 0
    assert main(["calibrate", str(small_calibration(inputs / "calibration")), "--out", str(out["calibrate"]),
                 "--workers", "1"]) == 0
    return out
