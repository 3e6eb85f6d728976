"""Sweeps: an experiment's runs on local processes or a Dask cluster, streamed to disk, resumable.

One code path for every executor: runs are grouped into batches (tasks of about a second of
work, so per-task overhead stays small), submitted to a `concurrent.futures` executor (this
process, a local process pool, or Dask's `Client.get_executor(pure=False, retries=2)`) with a
bounded window of batches in flight, and each finished batch is written at once: Parquet shards
(written to a temporary name, then renamed into place), then one manifest line per run (id,
parameters, seed, status). A sweep killed at any moment (kill -9 included) loses at most the
batches in flight; `--resume` drops a manifest line cut short (or damaged), reruns the runs of a
shard that is missing, unreadable or does not hold exactly the runs its manifest lines list, and
runs only the runs missing from the manifest, so the consolidated dataset equals an uninterrupted
sweep's.

A run is "failed" only when the model raised (its parameters, seed and traceback are recorded
and the sweep goes on). A batch the executor lost (a local worker process killed, which breaks
its pool; a Dask worker lost beyond its retries) is infrastructure, not a result: it is run
again, on a fresh pool if need be, and if it cannot be, its runs stay unrecorded for `--resume`.

Every check comes before any work or write: the scheduler (a Dask handshake, under a timeout), the
folder (`sim.outputs.check`: new, empty, or this experiment's sweep with --resume), the experiment's
fingerprint, another sweep's lock. Then
the executor starts, the folder is claimed and locked (`sweep.lock`: pid and host), and written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import fcntl
import json
import math
import os
import re
import socket
import sys
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from sim import __version__, outputs
from sim.errors import InputError, display, first_line
from sim.experiments import Experiment
from sim.params import Scenario
from sim.runner import local_pool, run_replicates

INFO, MANIFEST, SHARDS, FAILURES, LOCK = "experiment.json", "manifest.jsonl", "shards", "failures.csv", "sweep.lock"
KINDS = ("quarters", "final", "partners")
OUTPUT_OF = {"quarters": "quarterly", "final": "final_year", "partners": "partners"}  # shard kind -> its output
POOL_RESTARTS = 3  # fresh local pools after a worker process was lost, before the sweep stops
ATTEMPTS = 3  # submissions of a batch whose executor lost it, before its runs are left to --resume


class SweepError(InputError):
    """A sweep that cannot start (a folder in use, an unreachable scheduler): exit 2, one message."""


def _say(text: str) -> None:
    tqdm.write(text, file=sys.stderr)  # on a line of its own, above a progress bar in flight


# --------------------------------------------------------------------------- work done on the workers


class SweepRun(NamedTuple):
    """One run of a sweep: its id, design point, replicate, seed and the point's parameter values."""

    run: int
    point: int
    replicate: int
    seed: int
    overrides: dict[str, Any]


def run_batch(base: Scenario, runs: list[SweepRun], outputs: dict[str, bool]) -> list[dict[str, Any]]:
    """Run a batch; every run's outcome, a failure included, comes back. The replicates of a design
    point run side by side in one model (the same numbers as one by one, bit for bit); if that model
    fails, its runs are run one by one so that each failure is its own."""
    points: dict[int, list[SweepRun]] = {}
    for run in runs:
        points.setdefault(run.point, []).append(run)
    results = []
    for group in points.values():
        if len(group) > 1:
            try:
                results += _run_together(base, group, outputs)
                continue
            except Exception:  # noqa: BLE001 - a run of the group raised: one by one finds which
                pass
        results += [_run_alone(base, run, outputs) for run in group]
    return results


def _run_alone(base: Scenario, run: SweepRun, outputs: dict[str, bool]) -> dict[str, Any]:
    """One run's outcome; if the model raises, a failed run with its traceback."""
    try:
        return _run_together(base, [run], outputs)[0]
    except Exception:  # noqa: BLE001 - the model raised: a failed run, recorded, and the sweep goes on
        return {**_record(run), "status": "failed", "error": traceback.format_exc()}


def _record(run: SweepRun) -> dict[str, Any]:
    return {"run": run.run, "point": run.point, "replicate": run.replicate, "seed": run.seed,
            "params": run.overrides}


def _run_together(base: Scenario, runs: list[SweepRun], outputs: dict[str, bool]) -> list[dict[str, Any]]:
    """Runs of one design point, side by side; raises what the model raises."""
    from sim import report

    replicates = run_replicates(base.with_overrides(runs[0].overrides), [run.seed for run in runs],
                                outputs["partners"])
    records = []
    for run, replicate in zip(runs, replicates, strict=True):
        record = _record(run)
        ids = {"run": run.run, "point": run.point, "replicate": run.replicate}
        if outputs["quarterly"]:
            record["quarters"] = replicate.quarters.assign(**ids)
        if outputs["final_year"]:
            final = report.final_year(replicate.quarters.assign(scenario="run", replicate=run.replicate))
            record["final"] = final.drop(columns=["scenario", "replicate"]).assign(**ids, seed=run.seed,
                                                                                   **run.overrides)
        if outputs["partners"]:
            record["partners"] = replicate.partners.assign(**ids)
        records.append({**record, "status": "ok"})
    return records


# --------------------------------------------------------------------------- executors

SCHEDULER = re.compile(r"^(?:(?:tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?):(\d{1,5})$")
HANDSHAKE_SECONDS = 10.0  # the whole Dask handshake with a scheduler that accepted the connection


def check_scheduler(address: str, timeout: float = 5.0, handshake: float | None = None) -> None:
    """Refuse, before any work, a scheduler address that is malformed, where nothing listens, or where
    something other than a Dask scheduler answers: a Dask handshake and an `identity` request, under one
    hard timeout (a server that reads and never answers would otherwise hang the sweep for ever)."""
    match = SCHEDULER.match(address)
    if not match or not 0 < int(match[2]) < 65536:
        raise SweepError(f"--scheduler {address}: not a scheduler address, e.g. tcp://127.0.0.1:8786")
    try:
        with socket.create_connection((match[1].strip("[]"), int(match[2])), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise SweepError(f"--scheduler {address}: cannot reach the Dask scheduler ({reason})") from None
    from distributed.security import Security

    security = Security().get_connection_args("client")  # TLS settings from Dask's configuration, as Client reads
    if address.startswith("tls://") and security.get("ssl_context") is None:
        raise SweepError(f"--scheduler {address}: a TLS scheduler needs Dask's TLS settings (distributed.comm.tls "
                         "in the Dask configuration); none are set")
    seconds = HANDSHAKE_SECONDS if handshake is None else handshake
    try:
        identity = asyncio.run(_identity(address, seconds, security))
    except TimeoutError:
        raise SweepError(f"--scheduler {address}: not a Dask scheduler (no answer to a Dask handshake within "
                         f"{seconds:g} s)") from None
    except OSError as error:  # distributed's CommClosedError too
        raise SweepError(f"--scheduler {address}: not a Dask scheduler (the connection ended during a Dask "
                         f"handshake: {first_line(error, named=True)})") from None
    except Exception:  # noqa: BLE001 - bytes that are not Dask's protocol make distributed raise anything
        raise SweepError(f"--scheduler {address}: not a Dask scheduler (it answered, but not in Dask's "
                         "protocol)") from None
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        said = f"it answers as a Dask {kind}" if isinstance(kind, str) else "its answer is not a scheduler's"
        raise SweepError(f"--scheduler {address}: not a Dask scheduler ({said})")


async def _identity(address: str, seconds: float, security: dict[str, Any]) -> Any:
    """A scheduler's answer to `identity`, the connection's handshake included, within `seconds`."""
    from distributed.comm import connect

    async def ask() -> Any:
        comm = await connect(address, timeout=seconds, **security)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return await asyncio.wait_for(ask(), seconds)


class InlineExecutor(cf.Executor):
    """Runs each task at once, in this process (one worker: no processes to start)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001
            future.set_exception(error)
        return future


class Workers:
    """A concurrent.futures executor (this process, local processes, or a Dask cluster) and how many
    batches to keep in flight: two a worker, so workers stay busy, memory stays bounded, and each batch
    is recorded as it finishes, in this process too. A local pool that breaks (a worker process killed)
    is replaced by a fresh one."""

    def __init__(self, workers: int, scheduler: str | None = None, cluster: str | None = None):
        self.workers, self.scheduler, self.cluster = workers, scheduler, cluster
        self.restarts = 0
        self._stack = ExitStack()
        self._local: ExitStack | None = None

    def __enter__(self) -> Workers:
        if self.scheduler or self.cluster:
            from distributed import Client, LocalCluster

            try:
                if self.cluster:
                    local = self._stack.enter_context(LocalCluster(
                        n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        host="127.0.0.1"))
                    client = self._stack.enter_context(Client(local))
                else:
                    client = self._stack.enter_context(Client(self.scheduler, timeout=10))
            except Exception as error:  # noqa: BLE001 - whatever distributed raises, the sweep cannot start
                self._stack.close()
                what = (f"--cluster {self.cluster}: the Dask LocalCluster did not start" if self.cluster else
                        f"--scheduler {self.scheduler}: cannot reach the Dask scheduler")
                raise SweepError(f"{what} ({first_line(error, named=True)})") from None
            self.pool = client.get_executor(pure=False, retries=2)
            self.slots = 2 * max(1, sum(client.nthreads().values()))
        elif self.workers <= 1:
            self.pool, self.slots = InlineExecutor(), 1
        else:
            self._start_local()
            self.slots = 2 * self.workers
        return self

    def _start_local(self) -> None:
        self._local = ExitStack()
        self.pool = self._local.enter_context(local_pool(self.workers))

    def restart(self) -> None:
        """A fresh local pool in place of a broken one."""
        self._local.close()
        self.restarts += 1
        self._start_local()

    @property
    def restartable(self) -> bool:
        return self._local is not None

    def __exit__(self, *exc) -> None:
        if self._local is not None:
            self._local.close()
        self._stack.close()


# --------------------------------------------------------------------------- the folder


def _manifest_lines(folder: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[int]]:
    """The manifest's entries, each with its line, and the numbers of the lines that are not a run's
    record (damaged; a last line cut short by a kill among them)."""
    path = folder / MANIFEST
    if not path.exists():
        return [], []
    lines, bad = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if (isinstance(entry, dict) and {"run", "status", "batch"} <= entry.keys() and type(entry["run"]) is int
                and isinstance(entry["batch"], str)):
            lines.append((line, entry))
        else:
            bad.append(number)
    return lines, bad


def read_manifest(folder: Path) -> list[dict[str, Any]]:
    """Finished runs; a line cut short by a kill is ignored (its run is simply not finished)."""
    return [entry for _, entry in _manifest_lines(folder)[0]]


def _read_info(folder: Path, shown: str) -> dict[str, Any]:
    try:
        info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SweepError(f"{shown}: {INFO} is unreadable ({error}); use another folder") from None
    if not isinstance(info, dict):
        raise SweepError(f"{shown}: {INFO} is not a sweep's record; use another folder")
    return info


@dataclass
class Plan:
    folder: Path  # resolved
    shown: str  # "--out DIR", as given
    fresh: bool  # holds no experiment yet
    outdated: bool = False  # its fingerprint is of an older channelsim: experiment.json gets this one
    seen: str | None = None  # the fingerprint its experiment.json holds


def check_folder(folder: Path, experiment: Experiment, resume: bool) -> Plan:
    """Refuse a folder that is not new, empty or this experiment's sweep (with --resume), or that another
    sweep is writing into. Reads only: nothing is created or changed."""
    shown = f"--out {folder}"
    target = outputs.check(folder, "sweep", "--out", inputs=experiment.inputs)  # first: it turns OSError into words
    try:
        return _check_sweep(target, shown, experiment, resume)
    except OSError as error:  # a folder that cannot be read, ...
        raise SweepError(f"{shown}: cannot be used for results ({error.strerror or error})") from None


def _check_sweep(target: Path, shown: str, experiment: Experiment, resume: bool) -> Plan:
    info_path = target / INFO
    if target.is_dir():
        check_lock(target, shown)
    if not info_path.exists():
        if (target / MANIFEST).exists():
            raise SweepError(f"{shown}: holds a {MANIFEST} but no {INFO}; use another folder")
        return Plan(target, shown, fresh=True)
    # a sweep folder from before the .channelsim marker holds experiment.json: ours, if it is this experiment
    unmarked = outputs.read_marker(target) is None
    info = _read_info(target, shown)
    seen = info.get("fingerprint")
    fingerprint = experiment.fingerprint()
    outdated = False
    if seen != fingerprint:
        legacy = unmarked and seen == experiment.legacy_fingerprint()
        if legacy and experiment.base.partners.roster:
            raise SweepError(f"{shown}: was written by an older channelsim whose fingerprint did not cover the "
                             "roster's content, so a changed roster cannot be told; use another folder")
        outdated = legacy
        if not legacy:
            made_by = info.get("version")
            # a new channelsim changes the fingerprint of an unchanged experiment when its parameter tree changed
            other_version = (f"; it was made by channelsim {made_by}, this is {__version__}: the model or its "
                             "parameters may have changed, and its results would not be comparable"
                             if made_by and made_by != __version__ else "")
            raise SweepError(f"{shown}: holds the results of a different experiment or of changed inputs "
                             f"({info.get('experiment', '?')}, fingerprint {seen}; this one is "
                             f"{fingerprint}){other_version}; use another folder or delete it")
    if not resume:
        raise SweepError(f"{shown}: already holds results of this experiment; add --resume to run only what is "
                         "missing")
    return Plan(target, shown, fresh=False, outdated=outdated, seen=seen)


def _recheck(plan: Plan) -> None:
    """Once the folder is locked: is it as it was checked? (Another sweep may have written it between.)"""
    info_path = plan.folder / INFO
    seen = _read_info(plan.folder, plan.shown).get("fingerprint") if info_path.exists() else None
    if seen != plan.seen:
        raise SweepError(f"{plan.shown}: another sweep wrote into this folder since it was checked; run again")


def prepare(plan: Plan, experiment: Experiment) -> None:
    """Record the experiment in a fresh folder (what identifies it); write its design (again, on resume:
    the design is the experiment's, and a damaged design.csv is mended)."""
    folder = plan.folder
    (folder / SHARDS).mkdir(exist_ok=True)
    outputs.write_atomically(folder / "design.csv", experiment.points.to_csv().encode())
    if plan.outdated:
        info = _read_info(folder, plan.shown)
        info["fingerprint"] = experiment.fingerprint()
        outputs.write_atomically(folder / INFO, json.dumps(info, indent=2).encode())
    if not plan.fresh:
        return
    info = {"experiment": experiment.name, "file": str(experiment.path), "fingerprint": experiment.fingerprint(),
            "version": __version__, "design": experiment.spec.experiment.design,
            "parameters": experiment.parameters, "runs": int(len(experiment.runs())),
            "title": experiment.spec.meta.title, "question": experiment.spec.meta.question,
            "replicates": experiment.spec.experiment.replicates, "levels": experiment.spec.experiment.levels,
            "problem": experiment.problem() if experiment.spec.experiment.design != "grid" else None,
            "log": [name for name, s in experiment.spec.parameters.items() if s.log],
            "kpis": experiment.spec.analysis.kpis,
            "spec": experiment.spec.model_dump(mode="json"), "base": experiment.base.model_dump(mode="json")}
    outputs.write_atomically(folder / INFO, json.dumps(info, indent=2).encode())


# --------------------------------------------------------------------------- the lock


def _start_time(pid: int) -> str | None:
    """When a process started (Linux: clock ticks since boot), to tell a pid from its reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner(text: str) -> dict[str, Any] | None:
    try:
        owner = json.loads(text)
    except json.JSONDecodeError:
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def _holds(owner: dict[str, Any]) -> bool:
    """Whether the sweep that wrote a lock may still run: on another host we cannot tell, so it may."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _start_time(pid)
    return owner.get("started") is None or started is None or started == owner["started"]


def _held(shown: str, path: Path, owner: dict[str, Any] | None) -> SweepError:
    if owner is None:
        return SweepError(f"{shown}: another sweep is writing into this folder; wait for it to finish or stop it")
    where = "" if owner.get("host") == socket.gethostname() else f" on host {owner.get('host')}"
    hint = "" if not where else f"; if no sweep runs there, delete {path}"
    return SweepError(f"{shown}: another sweep (pid {owner['pid']}{where}) is writing into this folder; wait for "
                      f"it to finish or stop it{hint}")


def check_lock(folder: Path, shown: str) -> None:
    """Refuse at once if another sweep holds the folder (reads only)."""
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _held(shown, path, _owner(path.read_text(errors="replace"))) from None
        owner = _owner(os.pread(fd, 4096, 0).decode(errors="replace"))
        if owner is not None and owner["pid"] != os.getpid() and _holds(owner):
            raise _held(shown, path, owner)
    finally:
        os.close(fd)


@contextmanager
def locked(plan: Plan, say: Callable[[str], None] = _say) -> Iterator[None]:
    """Hold the folder's lock for the sweep: `sweep.lock` names this process (pid, host) and is locked
    with flock, which the kernel releases however the process ends. A lock left by a sweep that no longer
    runs (killed) is taken over, with a note."""
    path = plan.folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _held(plan.shown, path, _owner(path.read_text(errors="replace"))) from None
        try:  # the owner may have removed the file between our open and flock: lock the one in place
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        previous = _owner(os.pread(fd, 4096, 0).decode(errors="replace"))
        if previous is not None and previous["pid"] != os.getpid():
            if _holds(previous):
                raise _held(plan.shown, path, previous)
            say(f"note: {plan.shown}: took over the lock of pid {previous['pid']}, which no longer runs "
                "(cut short)")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid()),
              "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: a sweep that opens it now finds it gone and retries
        os.close(fd)


# --------------------------------------------------------------------------- shards and the manifest


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


def _shard_kinds(experiment: Experiment) -> list[str]:
    kept = experiment.spec.outputs.model_dump()
    return [kind for kind in KINDS if kept[OUTPUT_OF[kind]]]


def _shard_problem(path: Path, kind: str, runs: set[int]) -> str | None:
    """Why a shard cannot be used (missing, cut short, unreadable, not holding the runs its batch's manifest
    lines list as ok), or None. A run whose partners all left before a quarter was recorded has no rows in
    the partner panel, so a partners shard may lack runs, but not hold others."""
    if not path.is_file():
        return "missing"
    try:
        held = set(pq.read_table(path, columns=["run"]).column("run").to_pylist())
    except (OSError, ValueError, KeyError, pa.ArrowException) as error:
        return f"unreadable ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    if held != runs and not (kind == "partners" and held < runs):
        return f"not its batch's shard (it holds runs {_some(held)}; the manifest lists {_some(runs)})"
    return None


def _some(runs: set[int]) -> str:
    shown = sorted(runs)
    return (", ".join(map(str, shown[:6])) + (f", ... ({len(shown)} runs)" if len(shown) > 6 else "")) or "none"


def damaged_batches(folder: Path, experiment: Experiment) -> dict[str, list[tuple[str, str]]]:
    """Batches recorded with ok runs whose shards are missing, unreadable, or do not hold exactly those runs
    (a shard copied over another): batch -> [(shard, problem)]."""
    kinds = _shard_kinds(experiment)
    listed: dict[str, set[int]] = {}
    for e in read_manifest(folder):
        if e["status"] == "ok":
            listed.setdefault(e["batch"], set()).add(e["run"])
    damaged: dict[str, list[tuple[str, str]]] = {}
    for batch, runs in listed.items():
        for kind in kinds:
            name = f"{kind}-{batch}.parquet"
            problem = _shard_problem(folder / SHARDS / name, kind, runs)
            if problem:
                damaged.setdefault(batch, []).append((name, problem))
    return damaged


def repair(folder: Path, experiment: Experiment, say: Callable[[str], None] = _say) -> None:
    """Make a folder cut short or damaged consistent before appending: drop a manifest line cut short and any
    line that is not a run's record, and forget the batches whose shards are missing, unreadable or not
    theirs (their runs run again)."""
    path = folder / MANIFEST
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as manifest:
                manifest.truncate(data.rfind(b"\n") + 1)
                manifest.flush()
                os.fsync(manifest.fileno())
            say(f"note: {display(path)}: dropped a last line cut short (a sweep killed while writing it); its "
                "run runs again")
    lines, bad = _manifest_lines(folder)
    for number in bad:
        say(f"warning: {display(path)}: line {number} is not a run's record (damaged): dropped; its run runs again")
    damaged = damaged_batches(folder, experiment)
    for batch, problems in damaged.items():
        runs = sum(1 for _, e in lines if e["batch"] == batch)
        for name, problem in problems:
            say(f"warning: {display(folder / SHARDS / name)} is {problem}: its batch runs again ({runs} "
                f"run{'s' * (runs != 1)})")
    if not bad and not damaged:
        return
    kept = [line for line, e in lines if e["batch"] not in damaged]
    outputs.write_atomically(path, "".join(f"{line}\n" for line in kept).encode())
    for batch in damaged:
        for shard in (folder / SHARDS).glob(f"*-{batch}.parquet"):
            shard.unlink()


def finished_runs(folder: Path) -> set[int]:
    """Runs the manifest records (ok, or failed because the model raised)."""
    return {e["run"] for e in read_manifest(folder)}


def consolidate(folder: Path, experiment: Experiment) -> dict[str, int]:
    """One file per output, each run once, ordered by run: what an uninterrupted sweep writes. Only the
    shards of recorded batches are read (a shard written before a kill, without its manifest lines, is
    not), each run from the first batch that recorded it."""
    entries = read_manifest(folder)
    ok_in: dict[str, set[int]] = {}
    seen: set[int] = set()
    for e in entries:
        if e["status"] == "ok" and e["run"] not in seen:
            seen.add(e["run"])
            ok_in.setdefault(e["batch"], set()).add(e["run"])
    counts = {}
    for kind in _shard_kinds(experiment):
        frames = []
        for batch, runs in ok_in.items():
            shard = folder / SHARDS / f"{kind}-{batch}.parquet"
            if shard.is_file():
                frame = pd.read_parquet(shard)
                frames.append(frame[frame["run"].isin(runs)])
        if not frames:
            continue
        table = pd.concat(frames, ignore_index=True)
        keys = {"quarters": ["run", "quarter"], "final": ["run"], "partners": ["run", "quarter", "partner_id"]}[kind]
        table = table.drop_duplicates(subset=keys, keep="first").sort_values(keys, kind="stable")
        lead = ["run", "point", "replicate"]
        table = table[lead + [c for c in table.columns if c not in lead]].reset_index(drop=True)
        partial = folder / f".{kind}.parquet.{uuid.uuid4().hex[:8]}"
        table.to_parquet(partial, index=False)
        os.replace(partial, folder / f"{kind}.parquet")
        counts[kind] = len(table)
    failed = {e["run"]: e for e in entries if e["status"] != "ok" and e["run"] not in seen}
    failures = pd.DataFrame([{"run": e["run"], "point": e["point"], "replicate": e["replicate"], "seed": e["seed"],
                              "params": json.dumps(e["params"]), "error": _last_line(e.get("error", "")),
                              "traceback": e.get("error", "")} for _, e in sorted(failed.items())],
                            columns=["run", "point", "replicate", "seed", "params", "error", "traceback"])
    outputs.write_atomically(folder / FAILURES, failures.to_csv(index=False).encode())
    return counts


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- the sweep


@dataclass
class Summary:
    runs: int
    ran: int
    ok: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    skipped: int = 0  # finished before (resume)
    unfinished: int = 0  # runs the executor lost beyond its retries and restarts: left to --resume
    lost: str = ""  # why, the last such error
    restarts: int = 0  # fresh local pools after a worker process was lost


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
          cluster: str | None = None, resume: bool = False, progress: bool = True,
          say: Callable[[str], None] = _say) -> Summary:
    """Run the experiment's runs the folder does not hold yet. Every check comes first (SweepError or
    outputs.FolderError, nothing written); then the executor starts and the folder is claimed."""
    if workers < 1:
        raise SweepError(f"--workers {workers}: must be greater than or equal to 1")
    plan = check_folder(Path(folder), experiment, resume)
    with Workers(workers, scheduler, cluster) as pool:
        outputs.claim(plan.folder, "sweep")
        with locked(plan, say):
            _recheck(plan)
            prepare(plan, experiment)
            if not plan.fresh:
                repair(plan.folder, experiment, say)
            summary = _run(experiment, plan.folder, pool, progress, say)
            consolidate(plan.folder, experiment)
    summary.failed = [e for e in read_manifest(plan.folder) if e["status"] != "ok"]
    return summary


def _run(experiment: Experiment, folder: Path, pool: Workers, progress: bool, say: Callable[[str], None]) -> Summary:
    runs = experiment.runs()
    finished = finished_runs(folder)
    todo = runs[~runs["run"].isin(finished)]
    size = experiment.spec.experiment.batch or default_batch(experiment, len(todo), pool.workers)
    pending = [SweepRun(int(r.run), int(r.point), int(r.replicate), int(r.seed), experiment.overrides(int(r.point)))
               for r in todo.itertuples()]
    queue = deque((pending[i:i + size], 0) for i in range(0, len(pending), size))  # (batch, times lost)
    outputs = experiment.spec.outputs.model_dump()
    summary = Summary(runs=len(runs), ran=0, ok=0, skipped=len(runs) - len(todo))
    start = time.perf_counter()
    bar = tqdm(total=len(runs), initial=summary.skipped, desc=experiment.name, unit="run", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    flying: dict[cf.Future, tuple[list, int]] = {}
    left: list[SweepRun] = []  # runs left unrecorded for --resume
    broken = False

    def lose(batch: list, lost: int, error: BaseException) -> None:
        summary.lost = first_line(error, named=True)
        if lost + 1 < ATTEMPTS:
            queue.appendleft((batch, lost + 1))
        else:
            left.extend(batch)

    with bar:
        while queue or flying:
            while queue and not broken and len(flying) < pool.slots:
                batch, lost = queue.popleft()
                try:
                    future = pool.pool.submit(run_batch, experiment.base, batch, outputs)
                except Exception as error:  # noqa: BLE001 - the executor cannot take work (a broken pool)
                    broken = isinstance(error, cf.BrokenExecutor)
                    lose(batch, lost, error)
                    if not broken:
                        continue
                    break
                flying[future] = (batch, lost)
            if flying:
                done, _ = cf.wait(flying, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    batch, lost = flying.pop(future)
                    try:
                        results = future.result()
                    except Exception as error:  # noqa: BLE001 - infrastructure (a lost worker), not a model failure
                        broken = broken or isinstance(error, cf.BrokenExecutor)
                        lose(batch, lost, error)
                        continue
                    ok, bad = record(folder, results)
                    summary.ok += ok
                    summary.ran += len(results)
                    # the postfix first: the frame the update draws shows the counts it is about
                    bar.set_postfix(done=summary.ok, failed=summary.ran - summary.ok, refresh=False)
                    bar.update(len(results))
            if broken and not flying:  # every batch of the broken pool is back in the queue
                if not pool.restartable or pool.restarts >= POOL_RESTARTS:
                    left.extend(item for batch, _ in queue for item in batch)
                    queue.clear()
                    break
                say(f"note: a worker process was lost ({summary.lost}); its batches run again on a fresh pool "
                    f"({pool.restarts + 1} of at most {POOL_RESTARTS})")
                pool.restart()
                broken = False
    summary.unfinished = len(left)
    summary.restarts = pool.restarts
    summary.seconds = time.perf_counter() - start
    return summary
