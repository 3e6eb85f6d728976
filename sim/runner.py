"""Running replicates of scenarios, in this process or on local worker processes.

Replicate r of every scenario runs on the same seed, derived from the base seed and r through
numpy's SeedSequence: comparing scenarios uses common random numbers, and results do not
depend on the number of workers or the order runs finish in.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from sim.params import Scenario

# worker processes share the machine: one BLAS thread each
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def replicate_seed(seed: int, replicate: int) -> int:
    """The model seed of replicate `replicate` under base seed `seed` (the same for every scenario)."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(replicate),)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@dataclass(frozen=True)
class Task:
    scenario: str
    params: Scenario
    replicate: int
    seed: int
    partners: bool = False


@dataclass
class Outcome:
    quarters: pd.DataFrame  # scenario, replicate, quarter, one column per metric
    partners: pd.DataFrame | None  # the partner panel, when asked for


def run_task(task: Task) -> tuple[str, int, pd.DataFrame, pd.DataFrame | None]:
    from sim.model import ChannelModel

    model = ChannelModel(task.params, rng=task.seed, record_partners=task.partners)
    frame = model.run()
    frame.insert(0, "replicate", task.replicate)
    frame.insert(0, "scenario", task.scenario)
    panel = None
    if task.partners:
        panel = model.partner_panel()
        panel.insert(0, "replicate", task.replicate)
        panel.insert(0, "scenario", task.scenario)
    return task.scenario, task.replicate, frame, panel


def run(scenarios: list[tuple[str, Scenario]], replicates: int, seed: int, workers: int = 1,
        partners: bool = False, progress: bool = True) -> dict[str, Outcome]:
    """Every scenario, `replicates` times, on shared replicate seeds."""
    tasks = [Task(name, params, r, replicate_seed(seed, r), partners)
             for r in range(replicates) for name, params in scenarios]
    results: dict[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    bar = tqdm(total=len(tasks), desc="runs", unit="run", disable=not progress, file=sys.stderr, leave=False)
    with bar:
        if workers <= 1 or len(tasks) == 1:
            for task in tasks:
                name, r, frame, panel = run_task(task)
                results[name, r] = frame, panel
                bar.update()
        else:
            previous = {k: os.environ.get(k) for k in _ONE_THREAD}
            os.environ.update(_ONE_THREAD)
            try:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
                    futures = [pool.submit(run_task, task) for task in tasks]
                    for future in as_completed(futures):
                        name, r, frame, panel = future.result()
                        results[name, r] = frame, panel
                        bar.update()
            finally:
                for key, value in previous.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
    outcomes = {}
    for name, _ in scenarios:
        frames = [results[name, r][0] for r in range(replicates)]
        panels = [results[name, r][1] for r in range(replicates)] if partners else None
        outcomes[name] = Outcome(pd.concat(frames, ignore_index=True),
                                 pd.concat(panels, ignore_index=True) if panels else None)
    return outcomes
