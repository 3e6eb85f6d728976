"""Running replicates of scenarios, in this process or on local worker processes.

Replicate r of every scenario runs on the same seed, derived from the base seed and r through
numpy's SeedSequence: comparing scenarios uses common random numbers, and results do not
depend on the number of workers or the order runs finish in.

Under K parameter draws (a calibration's ensemble, sim/ensemble.py) a scenario's R replicates become K*R:
replicate j runs draw j // R on seed j's, the same draw and seed in every scenario.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm

from sim.params import Scenario
from sim.streams import derived_seed

# worker processes share the machine: one BLAS thread each
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _die_with(main: int) -> None:
    """In a worker: exit when the process that made the pool ends, however it ends (kill -9 included).

    A worker's parent is the fork server, which outlives a killed main process (the workers hold its
    lifeline), and an idle worker waits on its task queue for ever: each would be left running. A
    thread watches the main process through a pidfd and ends the worker when it has gone."""
    try:
        handle = os.pidfd_open(main)
    except ProcessLookupError:
        os._exit(1)
    except (OSError, AttributeError):  # no pidfd here (not Linux): the pool's own shutdown is all there is
        return

    def watch() -> None:
        select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="die-with-main", daemon=True).start()


@contextmanager
def local_pool(workers: int):
    """A pool of worker processes forked from a server that has already imported the model, so
    workers start in a fraction of a second; one BLAS thread each. If the work stops early (an
    error, Ctrl-C, SIGTERM) the workers are stopped at once rather than left to finish their runs;
    if this process is killed, they end with it."""
    previous = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["sim.model", "sim.sweep", "sim.report"])
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with,
                                   initargs=(os.getpid(),))
        try:
            yield pool
        except BaseException:
            # the executor keeps no public handle on its processes; without this, shutdown waits for their runs
            for process in dict(getattr(pool, "_processes", None) or {}).values():
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def replicate_seed(seed: int, replicate: int) -> int:
    """The model seed of replicate `replicate` under base seed `seed` (the same for every scenario)."""
    return derived_seed(seed, replicate)


@dataclass
class Replicate:
    """What one replicate gave: its quarterly KPIs and, when asked for, its partner panel."""

    quarters: pd.DataFrame  # quarter, one column per metric
    partners: pd.DataFrame | None
    recruits: pd.DataFrame | None = None  # every recruit: id, quarter joined, first deal, quarter left


def run_replicates(params: Scenario, seeds: Sequence[int], partners: bool = False) -> list[Replicate]:
    """One replicate of `params` per seed, in the order of the seeds, side by side as the lanes of one model
    (bit for bit the numbers of each seed run alone; a roster's firms start every lane). Raises whatever the
    model raises."""
    from sim.model import ChannelModel

    model = ChannelModel(params, seeds=list(seeds), record_partners=partners)
    model.run()
    return [Replicate(frame, model.partner_panel(lane) if partners else None, model.recruit_log(lane))
            for lane, frame in enumerate(model.lane_frames())]


@dataclass(frozen=True)
class Task:
    scenario: str
    params: Scenario
    replicates: tuple[int, ...]
    seeds: tuple[int, ...]
    partners: bool = False


@dataclass
class Outcome:
    quarters: pd.DataFrame  # scenario, replicate, quarter, one column per metric
    partners: pd.DataFrame | None  # the partner panel, when asked for
    recruits: pd.DataFrame | None = None  # the recruit logs (sim.cohorts)


def run_task(task: Task) -> list[Replicate]:
    """Some replicates of one scenario, in the order of `task.replicates`, each frame labelled with the
    scenario and the replicate."""
    done = run_replicates(task.params, task.seeds, task.partners)
    for replicate, result in zip(task.replicates, done, strict=True):
        for frame in (result.quarters, result.partners, result.recruits):
            if frame is not None:
                frame.insert(0, "replicate", replicate)
                frame.insert(0, "scenario", task.scenario)
    return done


def chunks(replicates: int, workers: int) -> list[range]:
    """Replicates in groups that keep every worker busy (each group runs as one model, a lane per replicate)."""
    size = max(1, min(10, -(-replicates // max(workers, 1))))
    return [range(i, min(i + size, replicates)) for i in range(0, replicates, size)]


# below this many partner-quarters a job runs in this process: starting workers would cost more than it saves
PARALLEL_FROM = 2_000_000


def run(scenarios: list[tuple[str, Scenario]], replicates: int, seed: int, workers: int = 1,
        partners: bool = False, progress: bool = True, parallel_from: int = PARALLEL_FROM,
        draws: list[dict[str, Any]] | None = None) -> dict[str, Outcome]:
    """Every scenario, `replicates` times, on shared replicate seeds. With `draws` (K {dotted path: value}
    overrides, parameter draws of a calibration), each scenario's replicates run under every draw: replicate
    j = 0..K*replicates-1 runs draw j // replicates over the scenario's tree on seed `replicate_seed(seed, j)`."""
    units = replicates * (len(draws) if draws is not None else 1)
    work = sum(units * p.partners.count * p.quarters for _, p in scenarios)
    if work < parallel_from:
        workers = 1
    if draws is None:
        tasks = [Task(name, params, tuple(group), tuple(replicate_seed(seed, r) for r in group), partners)
                 for group in chunks(replicates, workers) for name, params in scenarios]
    else:  # a task holds replicates of one draw; the workers shared out over the draws
        drawn = {(name, k): params.with_overrides(draw) for name, params in scenarios for k, draw in enumerate(draws)}
        tasks = [Task(name, drawn[name, k], tuple(k * replicates + r for r in group),
                      tuple(replicate_seed(seed, k * replicates + r) for r in group), partners)
                 for k in range(len(draws)) for group in chunks(replicates, -(-workers // len(draws)))
                 for name, _ in scenarios]
    results: dict[tuple[str, int], Replicate] = {}
    bar = tqdm(total=units * len(scenarios), desc="runs", unit="run", disable=not progress, file=sys.stderr,
               leave=False)

    def collect(task: Task, done: list[Replicate]) -> None:
        results.update({(task.scenario, r): result for r, result in zip(task.replicates, done, strict=True)})
        bar.update(len(done))

    with bar:
        if workers <= 1 or len(tasks) == 1:
            for task in tasks:
                collect(task, run_task(task))
        else:
            with local_pool(min(workers, len(tasks))) as pool:
                futures = {pool.submit(run_task, task): task for task in tasks}
                for future in as_completed(futures):
                    collect(futures[future], future.result())
    outcomes = {}
    for name, _ in scenarios:
        frames = [results[name, r].quarters for r in range(units)]
        panels = [results[name, r].partners for r in range(units)] if partners else None
        outcomes[name] = Outcome(pd.concat(frames, ignore_index=True),
                                 pd.concat(panels, ignore_index=True) if panels else None,
                                 pd.concat([results[name, r].recruits for r in range(units)], ignore_index=True))
    return outcomes
