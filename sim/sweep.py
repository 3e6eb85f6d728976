"""Sweeps: an experiment's runs on local processes or a Dask cluster, streamed to disk, resumable.

One code path for every executor: runs are grouped into batches (tasks of about a second of
work, so per-task overhead stays small), submitted to a `concurrent.futures` executor (this
process, a local process pool, or Dask's `Client.get_executor(pure=False, retries=2)`), and
each finished batch is written at once: Parquet shards (written to a temporary name, then
renamed into place), then one manifest line per run (id, parameters, seed, status). A sweep
killed at any moment (kill -9 included) loses at most the batches in flight; `--resume` runs
only the runs missing from the manifest, and the consolidated dataset drops any run written
twice, so it equals an uninterrupted sweep's. A run that raises is recorded with its
parameters, seed and traceback, and the sweep goes on.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import sys
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from sim import __version__
from sim.experiments import Experiment
from sim.params import Scenario
from sim.runner import local_pool

INFO, MANIFEST, SHARDS, FAILURES = "experiment.json", "manifest.jsonl", "shards", "failures.csv"
KINDS = ("quarters", "final", "partners")


class SweepError(Exception):
    """A sweep that cannot start (a folder in use, an unreachable scheduler): exit 2, one message."""


# --------------------------------------------------------------------------- work done on the workers


def run_batch(base: Scenario, runs: list[tuple[int, int, int, int, dict[str, Any]]],
              outputs: dict[str, bool]) -> list[dict[str, Any]]:
    """Run a batch; every run's outcome, a failure included, comes back. The replicates of a design
    point run side by side in one model (the same numbers as one by one, bit for bit); if that
    model fails, its runs are run one by one so that each failure is its own."""
    groups: dict[int, list] = {}
    for item in runs:
        groups.setdefault(item[1], []).append(item)
    results = []
    for items in groups.values():
        try:
            if base.partners.roster or len(items) == 1:
                raise _OneByOne
            results += _run_group(base, items, outputs)
        except Exception:  # noqa: BLE001 - find out which runs fail
            for item in items:
                results += _run_group(base, [item], outputs, record_failure=True)
    return results


class _OneByOne(Exception):
    pass


def _run_group(base: Scenario, items: list, outputs: dict[str, bool], record_failure: bool = False) -> list[dict]:
    from sim import report
    from sim.model import ChannelModel

    records = [{"run": run, "point": point, "replicate": replicate, "seed": seed, "params": overrides}
               for run, point, replicate, seed, overrides in items]
    try:
        model = ChannelModel(base.with_overrides(items[0][4]), seeds=[item[3] for item in items],
                             record_partners=outputs["partners"])
        model.run()
        frames = model.channel_frames()
        for c, record in enumerate(records):
            ids = {"run": record["run"], "point": record["point"], "replicate": record["replicate"]}
            frame = frames[c]
            if outputs["quarterly"]:
                record["quarters"] = frame.assign(**ids)
            if outputs["final_year"]:
                final = report.final_year(frame.assign(scenario="run", replicate=record["replicate"]))
                record["final"] = final.drop(columns=["scenario", "replicate"]).assign(
                    **ids, seed=record["seed"], **record["params"])
            if outputs["partners"]:
                record["partners"] = model.partner_panel(c).assign(**ids)
            record["status"] = "ok"
    except Exception:
        if not record_failure:
            raise
        for record in records:
            record["status"] = "failed"
            record["error"] = traceback.format_exc()
    return records


# --------------------------------------------------------------------------- executors


class InlineExecutor(cf.Executor):
    """Runs each task at once, in this process (one worker: no processes to start)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001
            future.set_exception(error)
        return future


@contextmanager
def executor(workers: int, scheduler: str | None = None, cluster: str | None = None):
    """A concurrent.futures executor: this process, local processes, or a Dask cluster."""
    if scheduler or cluster:
        from distributed import Client, LocalCluster

        local = None
        try:
            if cluster:
                local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None, host="127.0.0.1")
                client = Client(local)
            else:
                client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError) as error:
            if local is not None:
                local.close()
            raise SweepError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error})") from None
        try:
            yield client.get_executor(pure=False, retries=2)
        finally:
            client.close()
            if local is not None:
                local.close()
    elif workers <= 1:
        yield InlineExecutor()
    else:
        with local_pool(workers) as pool:
            yield pool


# --------------------------------------------------------------------------- the folder


def read_manifest(folder: Path) -> list[dict[str, Any]]:
    """Finished runs; a line cut short by a kill is ignored (its run is simply not finished)."""
    path = folder / MANIFEST
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def prepare(folder: Path, experiment: Experiment, resume: bool) -> None:
    """Refuse a folder that holds something else; record the experiment in a new one."""
    info_path = folder / INFO
    fingerprint = experiment.fingerprint()
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise SweepError(f"--out {folder}: {INFO} is unreadable; use another folder") from None
        if info.get("fingerprint") != fingerprint:
            raise SweepError(f"--out {folder}: holds the results of a different experiment "
                             f"({info.get('experiment', '?')}, fingerprint {info.get('fingerprint')}; this one is "
                             f"{fingerprint}); use another folder or delete it")
        if not resume:
            raise SweepError(f"--out {folder}: already holds results of this experiment; add --resume to run only "
                             "what is missing")
        return
    if folder.exists() and any(folder.iterdir()):
        raise SweepError(f"--out {folder}: is not empty and holds no sweep; use a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SHARDS).mkdir(exist_ok=True)
    experiment.points.to_csv(folder / "design.csv")
    info = {"experiment": experiment.name, "file": str(experiment.path), "fingerprint": fingerprint,
            "version": __version__, "design": experiment.spec.experiment.design,
            "parameters": experiment.parameters, "runs": int(len(experiment.runs())),
            "title": experiment.spec.meta.title, "question": experiment.spec.meta.question,
            "replicates": experiment.spec.experiment.replicates, "levels": experiment.spec.experiment.levels,
            "problem": experiment.problem() if experiment.spec.experiment.design != "grid" else None,
            "log": [name for name, s in experiment.spec.parameters.items() if s.log],
            "kpis": experiment.spec.analysis.kpis,
            "spec": experiment.spec.model_dump(mode="json"), "base": experiment.base.model_dump(mode="json")}
    _atomic_write(info_path, json.dumps(info, indent=2).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _write_shard(folder: Path, kind: str, batch: str, frames: list[pd.DataFrame]) -> str | None:
    if not frames:
        return None
    name = f"{kind}-{batch}.parquet"
    partial = folder / SHARDS / f".{name}"
    pq.write_table(pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False), partial)
    os.replace(partial, folder / SHARDS / name)
    return name


def record(folder: Path, results: list[dict[str, Any]]) -> tuple[int, int]:
    """Write a finished batch: shards first, then its manifest lines. Returns (ok, failed)."""
    batch = f"{min(r['run'] for r in results):07d}-{uuid.uuid4().hex[:8]}"
    ok = [r for r in results if r["status"] == "ok"]
    for kind in KINDS:
        _write_shard(folder, kind, batch, [r[kind] for r in ok if kind in r])
    lines = []
    for r in results:
        entry = {k: r[k] for k in ("run", "point", "replicate", "seed", "params", "status")}
        entry["batch"] = batch
        if r["status"] != "ok":
            entry["error"] = r.get("error", "")
        lines.append(json.dumps(entry, default=str))
    with open(folder / MANIFEST, "a", encoding="utf-8") as manifest:
        manifest.write("\n".join(lines) + "\n")
        manifest.flush()
        os.fsync(manifest.fileno())
    return len(ok), len(results) - len(ok)


def consolidate(folder: Path, experiment: Experiment) -> dict[str, int]:
    """One file per output, each run once, ordered by run: what an uninterrupted sweep writes."""
    entries = read_manifest(folder)
    ok = {e["run"] for e in entries if e["status"] == "ok"}
    counts = {}
    for kind in KINDS:
        shards = sorted((folder / SHARDS).glob(f"{kind}-*.parquet"))
        if not shards:
            continue
        table = pd.concat([pd.read_parquet(s) for s in shards], ignore_index=True)
        table = table[table["run"].isin(ok)]
        keys = {"quarters": ["run", "quarter"], "final": ["run"], "partners": ["run", "quarter", "partner_id"]}[kind]
        table = table.drop_duplicates(subset=keys, keep="first").sort_values(keys, kind="stable")
        lead = ["run", "point", "replicate"]
        table = table[lead + [c for c in table.columns if c not in lead]].reset_index(drop=True)
        table.to_parquet(folder / f"{kind}.parquet", index=False)
        counts[kind] = len(table)
    failed = {e["run"]: e for e in entries if e["status"] != "ok"}
    failures = pd.DataFrame([{"run": e["run"], "point": e["point"], "replicate": e["replicate"], "seed": e["seed"],
                              "params": json.dumps(e["params"]), "error": e["error"].strip().splitlines()[-1],
                              "traceback": e["error"]} for e in sorted(failed.values(), key=lambda e: e["run"])],
                            columns=["run", "point", "replicate", "seed", "params", "error", "traceback"])
    failures.to_csv(folder / FAILURES, index=False)
    return counts


# --------------------------------------------------------------------------- the sweep


@dataclass
class Summary:
    runs: int
    ran: int
    ok: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    skipped: int = 0  # finished before (resume)


def default_batch(experiment: Experiment, runs: int, workers: int) -> int:
    """About a second of work a task, and at least four tasks a worker to balance the load; whole
    design points where that fits (a point's replicates run side by side)."""
    base = experiment.base
    seconds_per_run = 1.5e-6 * base.partners.count * base.quarters + 0.005
    by_time = max(1, int(1.0 / seconds_per_run))
    by_balance = max(1, math.ceil(runs / (4 * max(workers, 1))))
    size = min(by_time, by_balance)
    replicates = experiment.spec.experiment.replicates
    return max(replicates, size - size % replicates) if size >= replicates // 2 else size


def sweep(experiment: Experiment, folder: Path, workers: int = 1, scheduler: str | None = None,
          cluster: str | None = None, resume: bool = False, progress: bool = True) -> Summary:
    prepare(folder, experiment, resume)
    runs = experiment.runs()
    finished = {e["run"] for e in read_manifest(folder)}
    todo = runs[~runs["run"].isin(finished)]
    size = experiment.spec.experiment.batch or default_batch(experiment, len(todo), workers)
    items = [(int(r.run), int(r.point), int(r.replicate), int(r.seed), experiment.overrides(int(r.point)))
             for r in todo.itertuples()]
    batches = [items[i:i + size] for i in range(0, len(items), size)]
    outputs = experiment.spec.outputs.model_dump()
    summary = Summary(runs=len(runs), ran=len(items), ok=0, skipped=len(finished))
    start = time.perf_counter()
    bar = tqdm(total=len(runs), initial=len(finished), desc=experiment.name, unit="run", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    failed_runs = 0
    with bar, executor(workers, scheduler, cluster) as pool:
        futures = {pool.submit(run_batch, experiment.base, batch, outputs): batch for batch in batches}
        for future in cf.as_completed(futures):
            try:
                results = future.result()
            except Exception as error:  # noqa: BLE001 - the batch never ran (a worker lost beyond its retries)
                text = "".join(traceback.format_exception(error))
                results = [{"run": r, "point": p, "replicate": rep, "seed": s, "params": o, "status": "failed",
                            "error": text} for r, p, rep, s, o in futures[future]]
            ok, bad = record(folder, results)
            summary.ok += ok
            failed_runs += bad
            bar.update(len(results))
            bar.set_postfix(done=summary.ok, failed=failed_runs, refresh=False)
    summary.seconds = time.perf_counter() - start
    consolidate(folder, experiment)
    summary.failed = [e for e in read_manifest(folder) if e["status"] != "ok"]
    return summary
