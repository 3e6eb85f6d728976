"""Refactoring keeps the numbers: scenarios run today give, byte for byte, the quarters.csv saved before.

`tests/golden/*.csv` are the quarterly KPIs (8 quarters, 2 replicates run side by side, the scenario's seed)
written by the model as it was when they were saved. A change meant to leave the model's behaviour alone
(a restructuring, a speed-up) must leave them identical. A change meant to alter the model (new economics,
a new default) regenerates them on purpose, and says so in its commit:

    .venv/bin/python tests/test_golden.py --write
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIOS = ["baseline", "roster_example", "rival_attack_defend_margin", "healthcare_spif",
             "terminate_underperformers", "certification_funding", "deal_registration", "recruit_small_fast",
             "mdf_to_top20", "rebate_ladder", "cam_deployment"]
QUARTERS, REPLICATES = 8, 2


def quarters_csv(name: str) -> str:
    """The scenario's quarters.csv, as `channelsim run --quarters 8 --replicates 2 --workers 1` writes it."""
    from sim import runner, scenarios

    params = scenarios.load(ROOT / "scenarios" / f"{name}.toml", {"quarters": QUARTERS}).params
    outcome = runner.run([(name, params)], REPLICATES, params.run.seed, workers=1, progress=False)[name]
    return outcome.quarters.to_csv(index=False)


@pytest.mark.parametrize("name", SCENARIOS)
def test_quarters_are_byte_identical_to_the_saved_ones(name):
    saved = (GOLDEN / f"{name}.csv").read_text()
    assert quarters_csv(name) == saved, f"{name}: the quarterly KPIs differ from tests/golden/{name}.csv"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    sys.path.insert(0, str(ROOT))
    GOLDEN.mkdir(exist_ok=True)
    for scenario in SCENARIOS:
        (GOLDEN / f"{scenario}.csv").write_text(quarters_csv(scenario))
        print(f"wrote tests/golden/{scenario}.csv")
