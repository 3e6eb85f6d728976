"""One runner for every command's replicates: side by side in one model, a roster's too, the same numbers as one
by one, and in a sweep a run that raises recorded on its own."""

from pathlib import Path

import pandas as pd
import pytest

from sim import model as model_module
from sim import runner, scenarios
from sim import sweep as sweeps
from sim.params import Scenario

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [11, 12, 13]
BAD_SEED = 12  # a model built on it raises when it runs (the fixture `built`)
GOOD = [seed for seed in SEEDS if seed != BAD_SEED]
EVERY_OUTPUT = {"quarterly": True, "final_year": True, "partners": True}


@pytest.fixture
def small() -> Scenario:
    return Scenario().with_overrides({"partners.count": 60, "quarters": 3})


@pytest.fixture
def roster() -> Scenario:
    return scenarios.load(ROOT / "scenarios" / "roster_example.toml", {"quarters": 3}).params


@pytest.fixture
def built(monkeypatch):
    """The seeds of every model the runner builds, in order; a model built on BAD_SEED raises when it runs."""
    seen: list[list[int]] = []

    class Watched(model_module.ChannelModel):
        def __init__(self, params, *, seeds, record_partners):
            super().__init__(params, seeds=seeds, record_partners=record_partners)
            seen.append(list(seeds))
            self.fails = BAD_SEED in seeds

        def run(self):
            if self.fails:
                raise ZeroDivisionError("a run that raises")
            super().run()

    monkeypatch.setattr(model_module, "ChannelModel", Watched)
    return seen



def assert_same(a: list[runner.Replicate], b: list[runner.Replicate]) -> None:
    assert len(a) == len(b)
    for one, other in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(one.quarters, other.quarters, check_exact=True)
        pd.testing.assert_frame_equal(one.partners, other.partners, check_exact=True)


def test_replicates_side_by_side_give_the_numbers_of_the_same_seeds_one_by_one(small):
    together = runner.run_replicates(small, SEEDS, partners=True)
    alone = [runner.run_replicates(small, [seed], partners=True)[0] for seed in SEEDS]
    assert_same(together, alone)
    assert not together[0].quarters.equals(together[1].quarters)  # each seed its own replicate


def test_without_the_partner_panel_a_replicate_has_none(small):
    (replicate,) = runner.run_replicates(small, [SEEDS[0]])
    assert replicate.partners is None and len(replicate.quarters) == 3


def test_a_rosters_replicates_run_side_by_side_each_lane_the_same_firms_and_numbers_as_alone(roster, built):
    together = runner.run_replicates(roster, GOOD, partners=True)
    assert built == [GOOD]
    assert_same(together, [runner.run_replicates(roster, [seed], partners=True)[0] for seed in GOOD])
    firms = len(pd.read_csv(ROOT / "scenarios" / "partners_example.csv"))
    founders = [r.partners[(r.partners["quarter"] == 1) & (r.partners["partner_id"] < firms)].set_index("partner_id")
                for r in together]
    assert founders[0]["headcount"].equals(founders[1]["headcount"])  # the roster's firms, in every lane
    assert not founders[0]["revenue"].equals(founders[1]["revenue"])


def sweep_runs(point: int = 0, seeds: list[int] = SEEDS) -> list[sweeps.SweepRun]:
    return [sweeps.SweepRun(run=point * 10 + r, point=point, replicate=r, seed=seed, overrides={})
            for r, seed in enumerate(seeds)]


def test_a_design_points_replicates_run_side_by_side_in_one_model(small, built):
    results = sweeps.run_batch(small, sweep_runs(0, GOOD) + sweep_runs(1, GOOD), EVERY_OUTPUT)
    assert built == [GOOD, GOOD]
    assert [r["run"] for r in results] == [0, 1, 10, 11] and {r["status"] for r in results} == {"ok"}


def test_a_run_that_raises_in_a_sweep_is_recorded_alone_and_its_neighbours_are_unchanged(small, built):
    results = sweeps.run_batch(small, sweep_runs(), EVERY_OUTPUT)
    assert built == [SEEDS, *([seed] for seed in SEEDS)]  # the group failed: then one by one
    assert [r["status"] for r in results] == ["ok", "failed", "ok"]
    failed = results[1]
    assert failed["seed"] == BAD_SEED and "ZeroDivisionError: a run that raises" in failed["error"]
    assert not {"quarters", "final", "partners"} & failed.keys()
    clean = runner.run_replicates(small, [SEEDS[0], SEEDS[2]])
    for result, replicate in zip((results[0], results[2]), clean, strict=True):
        pd.testing.assert_frame_equal(result["quarters"].drop(columns=["run", "point", "replicate"]),
                                      replicate.quarters, check_exact=True)


def test_a_rosters_sweep_runs_side_by_side_and_a_failure_is_its_own(roster, built):
    results = sweeps.run_batch(roster, sweep_runs(), EVERY_OUTPUT)
    assert built == [SEEDS, *([seed] for seed in SEEDS)]  # the group failed: then one by one
    assert [r["status"] for r in results] == ["ok", "failed", "ok"]
