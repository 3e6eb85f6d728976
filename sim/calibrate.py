"""Calibration: fit a scenario's parameters to a vendor's observed history with Optuna, resumably.

A trial is one set of parameter values, run on the calibration's replicate seeds, the same for every
trial (common random numbers: two trials differ by their parameters, not by noise), as the lanes of
one model. Its mismatch is the mean over replicates of each replicate's weighted sum of the targets'
distances over the fitted quarters:

    relative   sum over quarters of |model - observed| / sum of |observed| (a weighted absolute
               percentage error: a quarter observed at 0 counts, and a big quarter counts more)
    normal     mean over quarters of -log N(observed; model, sd), sd given, or estimated from the
               replicate's residuals (then 1/2 log(2 pi mean squared residual) + 1/2)
    partners   sum over partners of |model - observed| revenue over the fitted quarters it was observed in,
               over the sum observed (each partner's total: its size and standing, not its lumpy quarters)

Trials are asked in rounds of `batch`, each of a sampler seeded by (seed, its number), evaluated on the
executor sweeps use (this process, local processes, or Dask), and told as they finish: the trials do
not depend on the worker count, the executor or the order trials finish in. The study lives in an
Optuna journal (`study.journal`); each evaluation is also appended, fsync'd, to `evaluations.jsonl`
before it is told. A calibration killed at any moment resumes (`--resume`) with nothing lost: a trial
left running is evaluated again (on the same seeds: the same numbers), one evaluated but not told is
told from its record.

After the trials, the calibrated model (the best values) runs on the trials' seeds and `check` more,
whose replicates are histories it makes itself. On each, the best of the runs made (the trials and
the profiles) beats the calibrated values by a margin: what choosing the best of many trials gains by
chance. A trial is **consistent** with the observed history when the history prefers the best to it
by no more than 95 % of those margins (a parametric bootstrap of a likelihood-ratio test), or, with a
stated tolerance, when its mismatch is within it of the best's. The trials were steered towards the
observed history, not the model's own, so the margins are if anything too small and the consistent
ranges too narrow. The observed history's best fit set beside the best fits to the model's own
histories says whether the model reproduces it within its noise (else a misfit). The **ensemble** is
the consistent trials. Each parameter's **profile** is the mismatch along its range, the other
parameters at the best values, on the same seeds; its **verdict**: identified when its consistent
values (along the profile or among the ensemble's trials, whichever is wider) span at most a third
of the range searched, weakly identified up to two thirds, else not identified by these targets (such
a parameter keeps the base scenario's value in calibrated.toml and is drawn across its whole range in
the ensemble). Then the calibrated model's fit with its 95 % band (over seeds, at the best values),
and the held-out quarters' error beside a naive forecast (the last fitted year carried forward).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from sim import __version__, outputs
from sim.calibration import PARTNER_TARGET, Calibration
from sim.errors import first_line
from sim.params import Scenario
from sim.runner import replicate_seed, run_replicates
from sim.streams import derived_seed
from sim.sweep import Plan, SweepError, Workers, check_lock, locked

INFO, JOURNAL, EVALUATIONS = "calibration.json", "study.journal", "evaluations.jsonl"
IDENTIFIED, WEAK = 1 / 3, 2 / 3  # the share of a parameter's range as good as the best, for each verdict


class CalibrationError(SweepError):
    """A calibration that cannot start (its folder, its scheduler): exit 2, one message."""


class Lost(RuntimeError):
    """The executor lost an evaluation twice (a worker process or a Dask worker gone): infrastructure, not a
    result. The calibration stops; what finished is recorded, and --resume evaluates the rest."""


def _say(text: str) -> None:
    tqdm.write(text, file=sys.stderr)


# --------------------------------------------------------------------------- work done on the workers


def evaluate(base: Scenario, overrides: dict[str, Any], seeds: tuple[int, ...], columns: tuple[str, ...],
             partners: int) -> dict[str, Any]:
    """The observed metrics' series of each replicate (replicate x quarter x column) and, when `partners`
    (the roster's size) is not 0, each founding partner's revenue (replicate x partner x quarter); or the
    traceback if the model raised."""
    try:
        replicates = run_replicates(base.with_overrides(overrides), list(seeds), partners=bool(partners))
    except Exception:  # noqa: BLE001 - the model raised at these values: a failed trial, and the study goes on
        return {"error": traceback.format_exc()}
    series = np.stack([r.quarters.set_index("quarter")[list(columns)].to_numpy(float) for r in replicates])
    revenue = None
    if partners:
        quarters = len(replicates[0].quarters)
        revenue = np.zeros((len(replicates), partners, quarters))
        for i, r in enumerate(replicates):
            panel = r.partners[r.partners["partner_id"] < partners]
            revenue[i, panel["partner_id"].to_numpy(), panel["quarter"].to_numpy() - 1] = panel["revenue"].to_numpy()
    return {"series": series, "partners": revenue}


# --------------------------------------------------------------------------- the mismatch


class Scorer:
    """Distances between a trial's replicates and the observed history, over given quarters."""

    def __init__(self, calibration: Calibration):
        self.calibration = calibration
        horizon = calibration.base.quarters
        self.columns = calibration.columns
        self.observed = calibration.history.reindex(range(1, horizon + 1))[self.columns].to_numpy(float)
        self.targets = calibration.spec.targets
        self.partners = 0
        if calibration.partner_history is not None:
            from sim import roster

            ids = list(roster.read(calibration.base.partners.roster, calibration.base)["id"].astype(str))
            self.partners = len(ids)
            history = calibration.partner_history
            self.partner_observed = np.full((len(ids), horizon), np.nan)
            rows = history["id"].map({pid: i for i, pid in enumerate(ids)}).to_numpy()
            self.partner_observed[rows, history["quarter"].to_numpy() - 1] = history["revenue"].to_numpy()
            first, last = calibration.fit
            self.partner_seen = ~np.isnan(self.partner_observed[:, first - 1:last])  # the fitted quarters observed
            self.partner_truth = np.nansum(self.partner_observed[:, first - 1:last], axis=1)

    def compact(self, result: dict[str, Any]) -> dict[str, Any]:
        """What the distances read of a run: its series, and each founding partner's revenue summed over the
        fitted quarters its history has (replicate x partner)."""
        out = {"series": result["series"], "partner_totals": None}
        if self.partners and result.get("partners") is not None:
            first, last = self.calibration.fit
            out["partner_totals"] = np.where(self.partner_seen, result["partners"][:, :, first - 1:last],
                                             0.0).sum(axis=2)
        return out

    def distances(self, result: dict[str, Any], quarters: tuple[int, int],
                  history: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Each target's distance, one per replicate, over quarters first..last (the partner target: over the
        fitted quarters), of a run's `compact` form to the observed history or to `history` ({"series": quarter x
        column, NaN where nothing is observed; "partner_totals": one per partner})."""
        first, last = quarters[0] - 1, quarters[1]
        out = {}
        series = result["series"][:, first:last, :]
        every = self.observed if history is None else history["series"]
        for c, name in enumerate(self.columns):
            observed = every[first:last, c]
            seen = ~np.isnan(observed)
            model, truth = series[:, seen, c], observed[seen]
            if not seen.any():
                out[name] = np.full(series.shape[0], np.nan)
                continue
            target = self.targets[name]
            if target.distance == "relative":
                out[name] = np.abs(model - truth).sum(axis=1) / max(float(np.abs(truth).sum()), 1e-12)
            elif target.sd is not None:
                z = (model - truth) / target.sd
                out[name] = np.mean(0.5 * z**2, axis=1) + math.log(target.sd) + 0.5 * math.log(2 * math.pi)
            else:
                floor = (1e-9 * np.mean(np.abs(truth)) + 1e-12) ** 2  # a perfect fit's log stays finite
                variance = np.maximum(np.mean((model - truth) ** 2, axis=1), floor)
                out[name] = 0.5 * np.log(2 * math.pi * variance) + 0.5
        fitted = quarters == self.calibration.fit
        if PARTNER_TARGET in self.targets and result.get("partner_totals") is not None and fitted:
            truth = self.partner_truth if history is None else history["partner_totals"]
            out[PARTNER_TARGET] = np.abs(result["partner_totals"] - truth).sum(axis=1) / max(truth.sum(), 1e-12)
        return out

    def like_observed(self, result: dict[str, Any], replicate: int) -> dict[str, np.ndarray]:
        """One replicate of a run (compact) as a history: seen where the observed history is, missing elsewhere."""
        history = {"series": np.where(np.isnan(self.observed), np.nan, result["series"][replicate])}
        if result.get("partner_totals") is not None:
            history["partner_totals"] = result["partner_totals"][replicate]
        return history

    def totals(self, distances: dict[str, np.ndarray]) -> np.ndarray:
        """Each replicate's mismatch: the targets' distances, weighted and summed."""
        return sum(self.targets[name].weight * values for name, values in distances.items())


# --------------------------------------------------------------------------- the folder


@dataclass
class Summary:
    trials: int
    ran: int = 0
    failed: int = 0
    earlier: int = 0
    seconds: float = 0.0


def check_folder(folder: Path, calibration: Calibration, resume: bool) -> Plan:
    """Refuse a folder that is not new, empty or this calibration's (with --resume), or that another
    process is writing into. Reads only."""
    shown = f"--out {folder}"
    target = outputs.check(folder, "calibrate", "--out", inputs=calibration.inputs)
    try:
        if target.is_dir():
            check_lock(target, shown)
        info_path = target / INFO
        if not info_path.exists():
            if (target / JOURNAL).exists():
                raise CalibrationError(f"{shown}: holds a {JOURNAL} but no {INFO}; use another folder")
            return Plan(target, shown, fresh=True)
        try:
            info = json.loads(info_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CalibrationError(f"{shown}: {INFO} is unreadable ({error}); use another folder") from None
    except OSError as error:
        raise CalibrationError(f"{shown}: cannot be used for results ({error.strerror or error})") from None
    seen, fingerprint = info.get("fingerprint"), calibration.fingerprint()
    if seen != fingerprint:
        raise CalibrationError(f"{shown}: holds a calibration of other inputs ({info.get('calibration', '?')}, "
                               f"fingerprint {seen}; this one is {fingerprint}): its trials would not be comparable; "
                               "use another folder")
    if not resume:
        raise CalibrationError(f"{shown}: already holds this calibration; add --resume to go on from its trials")
    return Plan(target, shown, fresh=False, seen=seen)


def _repair_journal(path: Path) -> None:
    """Cut a journal's last line if a kill left it unfinished (the journal reads only whole lines)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _read_evaluations(path: Path) -> dict[str, dict[str, Any]]:
    """The evaluations recorded, by key; a line a kill cut short is dropped."""
    records = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict) and "key" in record:
                records[record["key"]] = record
    return records


class Ledger:
    """evaluations.jsonl: each evaluation, appended and fsync'd as it finishes."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "ab") as handle:  # a line a kill cut short ends here; the next starts clean
                handle.write(b"\n")
        self.records = _read_evaluations(path)

    def add(self, record: dict[str, Any]) -> None:
        with open(self.path, "ab") as handle:
            handle.write((json.dumps(record) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        self.records[record["key"]] = record


# --------------------------------------------------------------------------- the study


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def distributions(calibration: Calibration) -> dict[str, Any]:
    optuna = _optuna()
    out = {}
    for name, p in calibration.spec.parameters.items():
        if calibration.integer[name]:
            out[name] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
    return out


def sampler(calibration: Calibration, seed: int):
    optuna = _optuna()
    seed = seed % 2**32  # what numpy's RandomState, under Optuna's samplers, takes
    setup = calibration.spec.calibration
    if setup.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                      n_startup_trials=max(10, setup.batch))


def open_study(folder: Path, calibration: Calibration, fresh: bool):
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    _repair_journal(folder / JOURNAL)
    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    study = optuna.create_study(study_name=calibration.name, storage=storage, direction="minimize",
                                load_if_exists=not fresh,
                                sampler=sampler(calibration, calibration.spec.calibration.seed))
    if fresh:
        guess = {n: (int(p.guess) if calibration.integer[n] else p.guess)
                 for n, p in calibration.spec.parameters.items() if p.guess is not None}
        if guess:
            study.enqueue_trial(guess, skip_if_exists=True)
    return study


def seeds_of(calibration: Calibration, count: int | None = None) -> tuple[int, ...]:
    setup = calibration.spec.calibration
    return tuple(replicate_seed(setup.seed, r) for r in range(count or setup.replicates))


def calibrate(calibration: Calibration, folder: Path, trials: int | None = None, workers: int = 1,
              scheduler: str | None = None, cluster: str | None = None, resume: bool = False,
              progress: bool = True, say: Callable[[str], None] = _say) -> tuple[Summary, dict[str, Any]]:
    """Run the trials the folder does not hold yet, then the profiles, and write the results. Every check
    comes first (nothing written); then the executor starts and the folder is claimed."""
    if workers < 1:
        raise CalibrationError(f"--workers {workers}: must be greater than or equal to 1")
    wanted = trials or calibration.spec.calibration.trials
    plan = check_folder(Path(folder), calibration, resume)
    with Workers(workers, scheduler, cluster) as pool:
        outputs.claim(plan.folder, "calibrate")
        with locked(plan, say):
            if plan.fresh:
                info = {"calibration": calibration.name, "file": str(calibration.path),
                        "fingerprint": calibration.fingerprint(), "version": __version__,
                        "spec": calibration.spec.model_dump(mode="json")}
                outputs.write_atomically(plan.folder / INFO, json.dumps(info, indent=2).encode())
            study = open_study(plan.folder, calibration, plan.fresh)
            ledger = Ledger(plan.folder / EVALUATIONS)
            scorer = Scorer(calibration)
            summary = _trials(calibration, study, ledger, scorer, wanted, pool, progress)
            found = finish(calibration, study, ledger, scorer, plan.folder, pool, progress)
    return summary, found


def _submit(pool: Workers, calibration: Calibration, overrides: dict[str, Any], seeds: tuple[int, ...],
            scorer: Scorer) -> cf.Future:
    return pool.pool.submit(evaluate, calibration.base, overrides, seeds, tuple(scorer.columns), scorer.partners)


def _record(key: str, overrides: dict[str, Any], result: dict[str, Any], scorer: Scorer,
            quarters: tuple[int, int]) -> dict[str, Any]:
    if "error" in result:
        return {"key": key, "params": overrides, "error": result["error"]}
    compact = scorer.compact(result)
    distances = scorer.distances(compact, quarters)
    totals = scorer.totals(distances)
    return {"key": key, "params": overrides, "totals": totals.tolist(),
            "targets": {name: values.tolist() for name, values in distances.items()},
            "mismatch": float(np.mean(totals)), "series": compact["series"].tolist(),
            "partner_totals": None if compact["partner_totals"] is None else compact["partner_totals"].tolist()}


def compact_of(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded evaluation's runs, as `Scorer.compact` gave them."""
    totals = record.get("partner_totals")
    return {"series": np.asarray(record["series"], float),
            "partner_totals": None if totals is None else np.asarray(totals, float)}


def _run_all(pool: Workers, jobs: dict[str, tuple[dict[str, Any], tuple[int, ...]]], calibration: Calibration,
             scorer: Scorer, done: Callable[[str, dict[str, Any]], None]) -> None:
    """Evaluate every job (key -> overrides, seeds) on the pool, a bounded number in flight; `done` is called
    with each record as it finishes."""
    queue = [(key, 0) for key in jobs]  # (key, times the executor lost it)
    flying: dict[cf.Future, tuple[str, int]] = {}
    while queue or flying:
        while queue and len(flying) < pool.slots:
            key, lost = queue.pop(0)
            overrides, seeds = jobs[key]
            flying[_submit(pool, calibration, overrides, seeds, scorer)] = (key, lost)
        finished, _ = cf.wait(flying, return_when=cf.FIRST_COMPLETED)
        for future in finished:
            if future not in flying:  # put back in the queue when its pool broke
                continue
            key, lost = flying.pop(future)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - the executor lost it (the model's errors come back as results)
                broken = isinstance(error, cf.BrokenExecutor)
                if lost or (broken and not pool.restartable):
                    raise Lost(f"the executor lost an evaluation ({first_line(error, named=True)})") from error
                if broken:  # a local worker process gone: a fresh pool, and everything in flight again
                    _say(f"note: a worker process was lost ({first_line(error, named=True)}); its evaluations run "
                         "again on a fresh pool")
                    for other, (again, times) in list(flying.items()):
                        other.cancel()
                        queue.insert(0, (again, times))
                    flying.clear()
                    pool.restart()
                queue.insert(0, (key, lost + 1))
                continue
            done(key, result)


def _trials(calibration: Calibration, study, ledger: Ledger, scorer: Scorer, wanted: int, pool: Workers,
            progress: bool) -> Summary:
    optuna = _optuna()
    space = distributions(calibration)
    setup = calibration.spec.calibration
    seeds = seeds_of(calibration)
    State = optuna.trial.TrialState
    ended = [t for t in study.get_trials(deepcopy=False) if t.state in (State.COMPLETE, State.FAIL)]
    summary = Summary(trials=max(wanted, len(ended)), earlier=len(ended))
    start = time.perf_counter()
    bar = tqdm(total=wanted, initial=min(len(ended), wanted), desc=calibration.name, unit="trial",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)

    def tell(number: int, record: dict[str, Any]) -> None:
        if "error" in record:
            study.tell(number, state=State.FAIL)
            summary.failed += 1
        else:
            study.tell(number, record["mismatch"])
        summary.ran += 1
        best = _best_value(study)
        bar.set_postfix(best=f"{best:.4g}" if best is not None else "-", failed=summary.failed, refresh=False)
        bar.update(1)

    with bar:
        while True:
            trials = [t for t in study.get_trials(deepcopy=False) if t.state != State.WAITING]  # (an enqueued guess)
            left = [t for t in trials if t.state == State.RUNNING]  # asked before a kill: evaluated and told now
            asked = len(trials)
            if not left and asked >= wanted:
                break
            jobs = {}
            for trial in left:
                key = f"trial-{trial.number}"
                if key in ledger.records:  # evaluated, not yet told
                    tell(trial.number, ledger.records[key])
                else:
                    jobs[key] = (dict(trial.params), seeds)
            # rounds are trials batch*k .. batch*(k+1)-1: a round cut short by a kill is completed, each trial asked
            # of a sampler seeded by its number, so what it asks depends only on the trials before it
            end = asked if left and asked % setup.batch == 0 else min(asked - asked % setup.batch + setup.batch,
                                                                      wanted)
            for number in range(asked, end):
                study.sampler = sampler(calibration, derived_seed(setup.seed, number))
                trial = study.ask(space)
                jobs[f"trial-{trial.number}"] = (dict(trial.params), seeds)

            def done(key: str, result: dict[str, Any], jobs: dict = jobs) -> None:
                record = _record(key, jobs[key][0], result, scorer, calibration.fit)
                ledger.add(record)
                tell(int(key.split("-")[1]), record)

            _run_all(pool, jobs, calibration, scorer, done)
    summary.seconds = time.perf_counter() - start
    return summary


def _best_value(study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None


# --------------------------------------------------------------------------- what the trials say


def trials_frame(calibration: Calibration, study, ledger: Ledger) -> pd.DataFrame:
    """Every trial: its number, state, parameters, mismatch, and each target's distance (mean over replicates)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        record = ledger.records.get(f"trial-{t.number}", {})
        row = {"trial": t.number, "state": t.state.name.lower(), **{p: t.params.get(p) for p in calibration.parameters},
               "mismatch": t.value if t.value is not None else math.nan}
        for name in calibration.spec.targets:
            values = record.get("targets", {}).get(name)
            row[f"mismatch_{name}"] = float(np.mean(values)) if values else math.nan
        for r, value in enumerate(record.get("totals", [])):
            row[f"replicate_{r}"] = value
        row["error"] = record["error"].strip().splitlines()[-1] if "error" in record else ""  # the exception's line
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Consistency:
    """Which fits the observed history is consistent with: a parametric bootstrap of a likelihood-ratio test.

    The calibrated model (the best values θ̂) makes histories of its own (replicates on seeds the trials do not
    use). On each, the best of the runs made beats θ̂ by some margin: LR_j = m(θ̂; h_j) - min over the runs of
    m(θ; h_j), what choosing the best of many gains by chance. A trial θ is consistent with the observed history
    when the history prefers the best to it by no more than the 95th percentile of those margins: m(θ) - m(θ̂)
    <= q95(LR_j). With a tolerance instead: m(θ) - m(θ̂) <= tolerance x |m(θ̂)|."""

    best: float  # the best trial's mismatch with the observed history
    null: np.ndarray  # the calibrated values' mismatch with each of the model's own histories
    fitted: np.ndarray  # the best fit's among the runs made, on each of them: the observed best's yardstick
    tolerance: float | None

    @property
    def margins(self) -> np.ndarray:
        """LR_j: how much the runs' best beats the calibrated values on each of the model's own histories."""
        return np.maximum(self.null - self.fitted, 0.0)

    @property
    def cut(self) -> float:
        """How much worse than the best a consistent trial may fit the observed history: the margin no more
        than 5 % of the model's own histories exceed (the ceil(0.95 (n + 1))-th smallest of n margins)."""
        if self.tolerance is not None:
            return self.tolerance * abs(self.best)
        rank = min(math.ceil(0.95 * (self.margins.size + 1)), self.margins.size)
        return float(np.sort(self.margins)[rank - 1])

    @property
    def percentile(self) -> float:
        """Where the observed history's best fit lies among the best fits to the model's own histories (0-100)."""
        return float(100 * np.mean(self.fitted <= self.best))

    @property
    def misfit(self) -> bool:
        """Whether the best fit is worse than 95 % of the best fits to the model's own histories."""
        return self.percentile > 95.0

    def consistent(self, record: dict[str, Any]) -> bool:
        """Whether a recorded evaluation's fit is consistent with the observed history."""
        return "mismatch" in record and bool(record["mismatch"] - self.best <= self.cut + 1e-12 * abs(self.best))


def consistency(calibration: Calibration, scorer: Scorer, check: dict[str, Any], best: dict[str, Any],
                runs_made: list[dict[str, Any]]) -> Consistency:
    """`check`: the calibrated model's runs on the trials' seeds and `check` more; `best`: the best trial's
    record; `runs_made`: every completed trial's and profile run's record (each history's best fit is sought
    among them all)."""
    replicates = calibration.spec.calibration.replicates
    runs = scorer.compact(check)
    histories = [scorer.like_observed(runs, j) for j in range(replicates, runs["series"].shape[0])]

    def mismatches(record: dict[str, Any]) -> np.ndarray:
        compact = compact_of(record)
        return np.array([float(np.mean(scorer.totals(scorer.distances(compact, calibration.fit, h))))
                         for h in histories])

    null = mismatches(best)
    fitted = np.min([mismatches(record) for record in runs_made], axis=0)
    return Consistency(best=best["mismatch"], null=null, fitted=fitted,
                       tolerance=calibration.spec.calibration.tolerance)


def ensemble(frame: pd.DataFrame, consistent: Consistency, ledger: Ledger) -> pd.DataFrame:
    """The trials consistent with the observed history (the best included), best first."""
    done = frame[frame["state"] == "complete"].sort_values(["mismatch", "trial"])
    return done[[consistent.consistent(ledger.records[f"trial-{t}"]) for t in done["trial"]]]


def _unit(values: np.ndarray, p) -> np.ndarray:
    """Values as shares of a parameter's range (of its log range, for a log parameter)."""
    if p.log:
        return (np.log(values) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (values - p.low) / (p.high - p.low)


def profile_levels(calibration: Calibration, name: str, best: dict[str, Any]) -> list[float]:
    """Evenly spaced values over the parameter's range (its log range, for a log parameter), and its best value."""
    p = calibration.spec.parameters[name]
    levels = calibration.spec.calibration.profile
    grid = np.geomspace(p.low, p.high, levels) if p.log else np.linspace(p.low, p.high, levels)
    if calibration.integer[name]:
        return sorted({int(round(v)) for v in grid} | {best[name]})
    return sorted({float(f"{v:.12g}") for v in grid} | {best[name]})


def _profile_key(values: dict[str, Any]) -> str:
    """A profile run's record key: every parameter's value (a resumed calibration's best may have moved)."""
    return "profile-" + json.dumps(values, sort_keys=True)


def profiles(calibration: Calibration, best: dict[str, Any], ledger: Ledger, scorer: Scorer, pool: Workers,
             progress: bool) -> pd.DataFrame:
    """Each parameter's profile: the mismatch at each level of its range, the others at the best values, on the
    trials' seeds; recorded as they finish, so a resumed calibration runs only what is missing."""
    seeds = seeds_of(calibration)
    jobs = {}
    for name in calibration.parameters:
        for level in profile_levels(calibration, name, best):
            values = {**best, name: level}
            key = _profile_key(values)
            if key not in ledger.records:
                jobs[key] = (values, seeds)
    bar = tqdm(total=len(jobs), desc="profiles", unit="run", disable=not progress or not jobs, file=sys.stderr,
               leave=False)

    def done(key: str, result: dict[str, Any]) -> None:
        ledger.add(_record(key, jobs[key][0], result, scorer, calibration.fit))
        bar.update(1)

    with bar:
        _run_all(pool, jobs, calibration, scorer, done)
    rows = []
    for name in calibration.parameters:
        for level in profile_levels(calibration, name, best):
            record = ledger.records[_profile_key({**best, name: level})]
            rows.append({"parameter": name, "value": level, "mismatch": record.get("mismatch", math.nan),
                         "key": record["key"]})
    return pd.DataFrame(rows)


def verdicts(calibration: Calibration, best_row: pd.Series, good: pd.DataFrame, profile: pd.DataFrame,
             importances: dict[str, float], consistent: Consistency, ledger: Ledger) -> pd.DataFrame:
    rows = []
    for name, p in calibration.spec.parameters.items():
        levels = profile[profile["parameter"] == name]
        inside = np.array([consistent.consistent(ledger.records[key]) for key in levels["key"]], bool)
        kept = levels["value"].to_numpy(float)[inside] if inside.any() else np.array([best_row[name]])
        values = good[name].to_numpy(float)
        # the span of the values as good as the best, a share of the range: along the profile (the others at their
        # best values), or among the good trials (the others free to trade off), whichever is wider
        share = float(max(_unit(kept.max(), p) - _unit(kept.min(), p), _unit(values.max(), p) - _unit(values.min(), p)))
        unit = _unit(values, p)
        spread = float(np.subtract(*np.percentile(unit, [75, 25]))) / 0.5 if len(unit) > 1 else 0.0
        verdict = ("identified" if share <= IDENTIFIED else "weakly identified" if share <= WEAK else
                   "not identified")
        effect = levels["mismatch"].to_numpy(float)
        rows.append({"parameter": name, "low": p.low, "high": p.high, "best": best_row[name],
                     "ensemble_low": float(values.min()), "ensemble_high": float(values.max()),
                     "profile_low": float(kept.min()), "profile_high": float(kept.max()),
                     "at_bound": bool(kept.min() <= p.low or kept.max() >= p.high or values.min() <= p.low
                                      or values.max() >= p.high),
                     "share_as_good": share, "good_spread": spread,
                     "profile_effect": float(np.nanmax(effect) - np.nanmin(effect)) if len(effect) else math.nan,
                     "importance": importances.get(name, math.nan), "verdict": verdict})
    return pd.DataFrame(rows)


def importances(study, calibration: Calibration) -> dict[str, float]:
    """Optuna's parameter importances: PED-ANOVA (Watanabe et al. 2023), how much each parameter's values tell the
    best tenth of the completed trials from the rest."""
    optuna = _optuna()
    if len(calibration.parameters) == 1:
        return {calibration.parameters[0]: 1.0}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # every trial alike: nothing to apportion
        return {}


def fit_table(calibration: Calibration, result: dict[str, Any], ensemble_series: np.ndarray) -> pd.DataFrame:
    """The observed series beside the calibrated model's mean and two 95 % bands (2.5 and 97.5 percentiles):
    over the check replicates at the best values (`low`, `high`: seeds alone), and over every replicate of the
    trials consistent with the history (`low_all`, `high_all`: parameters and seeds), quarter by quarter, with
    the part of the history each quarter belongs to."""
    rows = []
    holdout = calibration.holdout
    for c, name in enumerate(calibration.columns):
        series, spread = result["series"][:, :, c], ensemble_series[:, :, c]
        observed = calibration.history.reindex(range(1, series.shape[1] + 1))[name]
        for q in range(series.shape[1]):
            quarter = q + 1
            part = ("fitted" if calibration.fit[0] <= quarter <= calibration.fit[1] else
                    "held out" if holdout and holdout[0] <= quarter <= holdout[1] else "")
            rows.append({"target": name, "quarter": quarter, "part": part, "observed": observed.iloc[q],
                         "model": float(series[:, q].mean()), "low": float(np.percentile(series[:, q], 2.5)),
                         "high": float(np.percentile(series[:, q], 97.5)),
                         "low_all": float(np.percentile(spread[:, q], 2.5)),
                         "high_all": float(np.percentile(spread[:, q], 97.5))})
    return pd.DataFrame(rows)


HOLDOUT_COLUMNS = ["target", "quarters", "model_error", "naive_error", "better", "in_band"]


def holdout_table(calibration: Calibration, fit: pd.DataFrame) -> pd.DataFrame:
    """Per target, the mean relative error over the held-out quarters of the calibrated model's mean and of a
    naive forecast: the last fitted year carried forward (held-out quarter q takes the observed value of the
    quarter of the last fitted year 4k quarters before it; else the last fitted value), over the quarters both
    can forecast; and how many held-out observations lie inside the 95 % band over the consistent parameters and
    seeds."""
    if calibration.holdout is None:
        return pd.DataFrame(columns=HOLDOUT_COLUMNS)
    rows = []
    last = calibration.fit[1]
    for name in calibration.columns:
        history = calibration.history[name].dropna()
        part = fit[(fit["target"] == name) & (fit["part"] == "held out")].dropna(subset=["observed"])
        fitted = history[history.index <= last]
        errors, inside = [], 0
        for _, row in part.iterrows():
            q = int(row["quarter"])
            naive = history.get(last - 3 + (q - last - 1) % 4, fitted.iloc[-1] if len(fitted) else math.nan)
            inside += bool(row["low_all"] <= row["observed"] <= row["high_all"])
            if math.isnan(naive) or row["observed"] == 0:
                continue
            errors.append((abs(row["model"] - row["observed"]) / abs(row["observed"]),
                           abs(naive - row["observed"]) / abs(row["observed"])))
        if errors:
            model, naive = np.mean(errors, axis=0)
            rows.append({"target": name, "quarters": len(errors), "model_error": model, "naive_error": naive,
                         "better": "model" if model < naive else "naive", "in_band": f"{inside} of {len(part)}"})
    return pd.DataFrame(rows, columns=HOLDOUT_COLUMNS)


def _check_run(calibration: Calibration, best: dict[str, Any], scorer: Scorer) -> dict[str, Any]:
    """The calibrated model on the trials' seeds and `check` more, in this process."""
    setup = calibration.spec.calibration
    seeds = seeds_of(calibration, setup.replicates + setup.check)
    result = evaluate(calibration.base, best, seeds, tuple(scorer.columns), scorer.partners)
    if "error" in result:
        raise RuntimeError(f"the calibrated values fail on a check replicate:\n{result['error']}")
    return result


def finish(calibration: Calibration, study, ledger: Ledger, scorer: Scorer, folder: Path, pool: Workers,
           progress: bool) -> dict[str, Any]:
    """Profiles, verdicts, the fit and every output file."""
    from sim import calibration_report

    frame = trials_frame(calibration, study, ledger)
    if not (frame["state"] == "complete").any():
        raise CalibrationError(f"every trial failed (tracebacks in {folder / EVALUATIONS}); the parameters' ranges "
                               "may reach values the model cannot run")
    best_row = frame[frame["state"] == "complete"].sort_values(["mismatch", "trial"]).iloc[0]
    best = {p: (int(best_row[p]) if calibration.integer[p] else float(best_row[p])) for p in calibration.parameters}
    check = _check_run(calibration, best, scorer)
    profile = profiles(calibration, best, ledger, scorer, pool, progress)
    made = [ledger.records[f"trial-{t}"] for t in frame.loc[frame["state"] == "complete", "trial"]]
    made += [ledger.records[key] for key in profile["key"] if "mismatch" in ledger.records[key]]
    consistent = consistency(calibration, scorer, check, ledger.records[f"trial-{int(best_row['trial'])}"], made)
    good = ensemble(frame, consistent, ledger)
    weights = importances(study, calibration)
    table = verdicts(calibration, best_row, good, profile, weights, consistent, ledger)
    spread = np.concatenate([compact_of(ledger.records[f"trial-{t}"])["series"] for t in good["trial"]])
    fit = fit_table(calibration, check, spread)
    held = holdout_table(calibration, fit)
    runs = scorer.compact(check)
    per_target = {name: float(np.mean(values)) for name, values in scorer.distances(runs, calibration.fit).items()}
    if calibration.holdout:
        held_distances = scorer.distances(runs, calibration.holdout)
        held_target = {name: float(np.nanmean(values)) for name, values in held_distances.items()}
    else:
        held_target = {}
    frame["good"] = frame["trial"].isin(good["trial"])
    found = {"best": {"trial": int(best_row["trial"]), "mismatch": float(best_row["mismatch"]), "values": best},
             "trials": frame, "ensemble": good, "profile": profile, "verdicts": table, "fit": fit, "holdout": held,
             "targets": per_target, "held_targets": held_target, "importances": weights, "consistency": consistent}
    calibration_report.write(folder, calibration, found)
    return found
