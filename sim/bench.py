"""`channelsim bench`: how fast the quarterly step runs, measured, not asserted.

Each size runs in a fresh process (spawned), so its peak memory is its own. Figures are
medians over repeats; the Mesa reference (an empty `agents.do("step")` loop) is measured
in the same command, so ratios compare like with like on a noisy shared machine.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import resource
import statistics
import time
from typing import Any

SIZES = (1_000, 10_000, 100_000)
QUARTERS = 40


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _one_size(partners: int, quarters: int, repeats: int, overrides: dict[str, Any]) -> dict[str, float]:
    """Runs in its own process: build and run the channel `repeats` times."""
    import numpy as np

    from sim.model import ChannelModel

    ChannelModel(partners__count=100, quarters=2, rng=0).run()  # import and first-call costs
    baseline = _peak_kib()
    build, run = [], []
    peak = baseline
    for repeat in range(repeats):
        start = time.perf_counter()
        model = ChannelModel(rng=repeat, partners__count=partners, quarters=quarters, **overrides)
        built = time.perf_counter()
        model.run()
        done = time.perf_counter()
        build.append(built - start)
        run.append(done - built)
        assert np.isfinite(model.kpi_frame().to_numpy(dtype=float)).all()
        del model
        gc.collect()  # agents and model reference each other: free this run before the next
        if repeat == 0:
            peak = _peak_kib()  # one model's peak, before allocator reuse muddies the figure
    run_s = statistics.median(run)
    return {
        "partners": partners,
        "quarters": quarters,
        "repeats": repeats,
        "build_seconds": statistics.median(build),
        "run_seconds": run_s,
        "total_seconds": statistics.median(b + r for b, r in zip(build, run, strict=True)),
        "seconds_per_quarter": run_s / quarters,
        "partner_quarters_per_second": partners * quarters / run_s,
        "peak_kib_per_partner": (peak - baseline) / partners,
    }


def _mesa_reference(agents: int = 10_000, steps: int = 200) -> float:
    """Agents per second Mesa dispatches in an empty `model.agents.do("step")` loop."""
    import mesa

    class Idle(mesa.Agent):
        def step(self):
            pass

    class Empty(mesa.Model):
        def __init__(self):
            super().__init__(rng=0)
            Idle.create_agents(self, agents)

    model = Empty()
    model.agents.do("step")
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(steps // 5):
            model.agents.do("step")
        times.append(time.perf_counter() - start)
    return agents * (steps // 5) / statistics.median(times)


def measure(sizes=SIZES, quarters: int = QUARTERS, overrides: dict[str, Any] | None = None,
            progress=None) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    rows = []
    with context.Pool(1, maxtasksperchild=1) as pool:
        for partners in sizes:
            repeats = 5 if partners <= 10_000 else 3
            rows.append(pool.apply(_one_size, (partners, quarters, repeats, overrides or {})))
            if progress:
                progress(rows[-1])
    reference = _mesa_reference()
    by_size = {row["partners"]: row for row in rows}
    result: dict[str, Any] = {"sizes": rows, "mesa_empty_step_agents_per_second": reference}
    if 10_000 in by_size and 100_000 in by_size:
        result["time_per_quarter_ratio_100k_over_10k"] = (
            by_size[100_000]["seconds_per_quarter"] / by_size[10_000]["seconds_per_quarter"])
    if 10_000 in by_size:
        result["speed_over_mesa_empty_loop_at_10k"] = by_size[10_000]["partner_quarters_per_second"] / reference
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"{'partners':>9} {'build s':>8} {'run s':>7} {'s/quarter':>10} {'partner-quarters/s':>19} "
             f"{'KiB/partner':>12}"]
    for row in result["sizes"]:
        lines.append(f"{row['partners']:>9,} {row['build_seconds']:>8.2f} {row['run_seconds']:>7.2f} "
                     f"{row['seconds_per_quarter']:>10.4f} {row['partner_quarters_per_second']:>19,.0f} "
                     f"{row['peak_kib_per_partner']:>12.2f}")
    lines.append(f"Mesa empty agents.do('step') at 10,000 agents: "
                 f"{result['mesa_empty_step_agents_per_second']:,.0f} agents/s")
    if "speed_over_mesa_empty_loop_at_10k" in result:
        lines.append(f"channel step vs Mesa's empty loop at 10,000: {result['speed_over_mesa_empty_loop_at_10k']:.2f}x")
    if "time_per_quarter_ratio_100k_over_10k" in result:
        ratio = result["time_per_quarter_ratio_100k_over_10k"]
        lines.append(f"time per quarter, 100,000 / 10,000 partners: {ratio:.2f} (linear would be 10)")
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)


# --------------------------------------------------------------------------- sweeps


def _experiment(folder, runs: int, quarters: int, replicates: int = 10):
    """A grid over the rebate rate on the default channel, `runs` runs in all."""
    from pathlib import Path

    from sim.experiments import load_experiment

    folder = Path(folder)
    points = max(1, runs // replicates)
    rates = [round(0.01 + 0.05 * i / max(points - 1, 1), 6) for i in range(points)]
    (folder / "channel.toml").write_text("# the default channel\n")
    (folder / "sweep.toml").write_text(
        f'[experiment]\nscenario = "channel.toml"\ndesign = "grid"\nseed = 1\nreplicates = {replicates}\n'
        f'quarters = {quarters}\n\n[outputs]\nquarterly = true\nfinal_year = false\n\n'
        f'[parameters."vendor.rebate.rate"]\nvalues = {rates}\n')
    return load_experiment(folder / "sweep.toml")


def _timed_sweep(experiment, folder, workers: int) -> float:
    from sim.sweep import sweep

    start = time.perf_counter()
    sweep(experiment, folder, workers=workers, progress=False)
    return time.perf_counter() - start


def _timed_batch_run(experiment, quarters: int) -> float:
    """mesa.batch_run on the same runs, in one call: every parameter value x the replicate seeds (batch_run
    crosses seeds with parameters, so it cannot give each design point seeds of its own), 2 processes,
    every quarter's data."""
    import mesa

    from sim.model import ChannelModel

    runs = experiment.runs()
    values = {name: sorted(set(experiment.points[name])) for name in experiment.parameters}
    seeds = runs[runs["point"] == 0]["seed"].tolist()
    start = time.perf_counter()
    mesa.batch_run(ChannelModel, parameters={k.replace(".", "__"): v for k, v in values.items()}, rng=seeds,
                   max_steps=quarters, number_processes=2, data_collection_period=1, display_progress=False)
    return time.perf_counter() - start


def measure_sweeps(runs: int = 1000, quarters: int = 40, subset: int | None = None, progress=None) -> dict[str, Any]:
    """The sweep on 2 workers; the same runs on 1 worker and through mesa.batch_run (all of them, unless
    `subset` says how many)."""
    subset = subset or runs
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "full").mkdir()
        full = _experiment(tmp / "full", runs, quarters)
        two_full = _timed_sweep(full, tmp / "full" / "out", 2)
        if progress:
            progress({"partners": f"{runs} runs on 2 workers"})
        if subset >= runs:
            part, two = full, two_full
        else:
            (tmp / "subset").mkdir()
            part = _experiment(tmp / "subset", subset, quarters)
            two = _timed_sweep(part, tmp / "subset" / "two", 2)
        one = _timed_sweep(part, tmp / "one", 1)
        if progress:
            progress({"partners": f"{len(part.runs())} runs on 1 worker"})
        mesa_seconds = _timed_batch_run(part, quarters)
    n_part = len(part.runs())
    return {
        "runs": len(full.runs()), "quarters": quarters, "partners": full.base.partners.count,
        "sweep_seconds_2_workers": two_full, "runs_per_second_2_workers": len(full.runs()) / two_full,
        "subset_runs": n_part, "subset_seconds_1_worker": one, "subset_seconds_2_workers": two,
        "speedup_2_over_1_workers": one / two, "subset_seconds_mesa_batch_run_2_processes": mesa_seconds,
        "throughput_over_mesa_batch_run": mesa_seconds / two,
    }


def render_sweeps(result: dict[str, Any]) -> str:
    r = result
    return "\n".join([
        f"sweep of {r['runs']:,} runs ({r['partners']} partners, {r['quarters']} quarters, quarterly model data), "
        f"2 local workers: {r['sweep_seconds_2_workers']:.1f} s ({r['runs_per_second_2_workers']:.1f} runs/s)",
        f"the same {r['subset_runs']} runs: 1 worker {r['subset_seconds_1_worker']:.1f} s, 2 workers "
        f"{r['subset_seconds_2_workers']:.1f} s: {r['speedup_2_over_1_workers']:.2f}x",
        f"mesa.batch_run(ChannelModel, number_processes=2) on those runs: "
        f"{r['subset_seconds_mesa_batch_run_2_processes']:.1f} s; the sweep's throughput is "
        f"{r['throughput_over_mesa_batch_run']:.2f}x batch_run's",
    ])
