"""A calibration's results: the scenario it hands back, its trials, ensemble, verdicts and fit page.

    calibrated.toml   a scenario that `extends` the base and sets the fitted values (run it, compare it;
                      `--ensemble K` runs it across K draws of ensemble.csv)
    ensemble.csv      the trials as good as the best, best first: the calibration's parameter uncertainty
    trials.parquet    every trial: its parameters, mismatch, each target's distance, each replicate's mismatch
    verdicts.csv      per parameter: best value, the ensemble's and the profile's range, importance, verdict
    profiles.csv      each parameter's profile (the mismatch along its range, the others at the best values)
    fit.csv           observed beside the calibrated model's mean and 95 % bands, quarter by quarter
    holdout.csv       the held-out quarters' error beside a naive forecast's
    fit.png, parameters.png, fit.html

Each file is written whole (atomically); the study's own record (study.journal, evaluations.jsonl) is
what a resumed calibration reads.
"""

from __future__ import annotations

import base64
import html
import io
import os
import typing
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tomli_w  # noqa: E402

from sim import __version__, outputs  # noqa: E402
from sim.calibration import BASE, Calibration, base_record  # noqa: E402
from sim.params import Scenario  # noqa: E402
from sim.report import COLOURS, STYLE, html_table, number  # noqa: E402
from sim.tree import Partial, dict_type, submodel  # noqa: E402


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """{"a.b.c": 1} as {"a": {"b": {"c": 1}}}."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def written_at(path: str) -> str:
    """Where a scenario file sets the value at `path`: the path itself, or, below a table of free keys that a
    file replaces whole (the product lines), that table's path (tree.merge)."""
    model: Any = Scenario
    parts = path.split(".")
    i = 0
    while i < len(parts) - 1:
        annotation = model.model_fields[parts[i]].annotation
        table = dict_type(annotation)
        if table is not None:
            entry = submodel(typing.get_args(table)[1])
            if entry is None or not issubclass(entry, Partial):
                return ".".join(parts[:i + 1])
            model, i = entry, i + 2  # a table of tables merged entry by entry: into the entry
            continue
        model, i = submodel(annotation), i + 1
    return path


def calibrated_toml(folder: Path, calibration: Calibration, best: dict[str, Any], kept: list[str]) -> str:
    """The base scenario with the fitted values; a parameter in `kept` (not identified) keeps the base's value."""
    best = {path: value for path, value in best.items() if path not in kept}
    fitted = calibration.base.with_overrides(best)
    values = {written_at(path): fitted.get(written_at(path)) for path in best}
    base = os.path.relpath(calibration.scenario.resolve(), folder.resolve())
    meta = calibration.spec.meta
    data = {"extends": base,
            "meta": {"title": f"{meta.title}: calibrated", "ensemble": "ensemble.csv",
                     "question": meta.question or f"{calibration.base.meta.title}, fitted to the observed history",
                     "version": __version__},
            **nested(values)}
    head = (f"# Written by channelsim calibrate {__version__} from {calibration.path.name}: the base scenario\n"
            "# with the fitted values. `channelsim run` and `compare` take it as it is; with --ensemble K they run\n"
            "# it across K draws of ensemble.csv (the trials as good as the best), so answers carry the\n"
            "# calibration's uncertainty.\n"
            + "".join(f"# {path}: not identified by the targets; the base scenario's value stands, and the ensemble\n"
                      "#   draws it across its whole range.\n" for path in kept))
    return head + tomli_w.dumps(data)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def fit_figure(calibration: Calibration, fit: pd.DataFrame) -> plt.Figure:
    """One panel per target: observed points against the calibrated model's mean and 95 % bands; the held-out
    quarters shaded."""
    names = calibration.columns
    cols = min(2, max(1, len(names)))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        part = fit[fit["target"] == name]
        ax.fill_between(part["quarter"], part["low_all"], part["high_all"], color=COLOURS[0], alpha=0.10, lw=0,
                        label="95 % band: consistent parameters and seeds")
        ax.fill_between(part["quarter"], part["low"], part["high"], color=COLOURS[0], alpha=0.22, lw=0,
                        label="95 % band: seeds, at the best values")
        ax.plot(part["quarter"], part["model"], color=COLOURS[0], lw=1.8, label="model mean")
        ax.plot(part["quarter"], part["observed"], "o", color=COLOURS[1], ms=3.5, label="observed")
        if calibration.holdout:
            ax.axvspan(calibration.holdout[0] - 0.5, calibration.holdout[1] + 0.5, color="#888", alpha=0.12, lw=0,
                       label="held out")
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_xlabel("quarter")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def parameters_figure(calibration: Calibration, trials: pd.DataFrame, profile: pd.DataFrame,
                      verdicts: pd.DataFrame) -> plt.Figure:
    """Per parameter: every trial's mismatch against its value, the good trials (the ensemble) marked, the profile
    drawn through the best, over the parameter's whole range."""
    names = calibration.parameters
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    done = trials[trials["state"] == "complete"]
    for ax, name in zip(axes[0], names, strict=True):
        p = calibration.spec.parameters[name]
        ax.plot(done[name], done["mismatch"], ".", color="#9aa5b1", ms=4, label="trials")
        good = done[done["good"]]
        ax.plot(good[name], good["mismatch"], "o", color=COLOURS[2], ms=4, label="as good as the best")
        line = profile[profile["parameter"] == name]
        ax.plot(line["value"], line["mismatch"], "-", color=COLOURS[0], lw=1.4, label="profile")
        row = verdicts.set_index("parameter").loc[name]
        ax.axvline(row["best"], color=COLOURS[1], lw=1, ls="--", label="best")
        if p.log:
            ax.set_xscale("log")
        ax.set_xlim(p.low, p.high)
        ax.set_title(f"{name}\n{row['verdict']}", loc="left", fontsize=9)
        ax.set_ylabel("mismatch")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def goodness(consistent, histories: int) -> str:
    """What the consistency check says, in a sentence."""
    said = (f"Of the best fits to {histories} histories the calibrated model makes itself, "
            f"{consistent.percentile:.0f} % fit them better than the best fit to yours fits it (mismatch "
            f"{number(consistent.best)})")
    if consistent.misfit:
        return (said + ": the model does not reproduce this history within its own noise (a misfit); its answers "
                "and the parameters' ranges deserve caution.")
    return (said + f": the model reproduces the history within its noise. A trial whose mismatch is within "
            f"{number(consistent.cut)} of the best's is as consistent with it (the ensemble): on 95 % of the "
            "model's own histories, the best of the runs beats the calibrated values by no more. The trials were "
            "steered towards your history, not those, so the consistent ranges are if anything too narrow.")


def _image(data: bytes, alt: str) -> str:
    return f"<img alt='{alt}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"


def page(calibration: Calibration, found: dict[str, Any], images: dict[str, bytes]) -> str:
    title = f"{calibration.spec.meta.title}: calibration"
    best = found["best"]
    verdicts = found["verdicts"]
    shown = pd.DataFrame({
        "verdict": verdicts["verdict"],
        "best": [number(v) for v in verdicts["best"]],
        "as good as the best": [f"{number(lo)} to {number(hi)}" for lo, hi in
                                zip(verdicts["profile_low"], verdicts["profile_high"], strict=True)],
        "good trials": [f"{number(lo)} to {number(hi)}" for lo, hi in
                        zip(verdicts["ensemble_low"], verdicts["ensemble_high"], strict=True)],
        "range": [f"{number(lo)} to {number(hi)}" for lo, hi in zip(verdicts["low"], verdicts["high"], strict=True)],
        "at a bound": ["yes" if b else "" for b in verdicts["at_bound"]],
        "profile effect": [number(v) for v in verdicts["profile_effect"]],
        "importance": [number(v) for v in verdicts["importance"]]}, index=verdicts["parameter"])
    targets = pd.DataFrame({"weight": [number(calibration.spec.targets[t].weight) for t in found["targets"]],
                            "distance": [calibration.spec.targets[t].distance for t in found["targets"]],
                            "fitted quarters": [number(v) for v in found["targets"].values()],
                            "held out": [number(found["held_targets"].get(t, np.nan)) for t in found["targets"]]},
                           index=list(found["targets"]))
    held = found["holdout"]
    setup = calibration.spec.calibration
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='q'>{html.escape(calibration.spec.meta.question)}</p>" if calibration.spec.meta.question
             else "",
             f"<p>{len(found['trials'])} trials ({setup.sampler}), {setup.replicates} replicates each on common seeds; "
             f"fitted quarters {calibration.fit[0]}–{calibration.fit[1]}"
             + (f", held out {calibration.holdout[0]}–{calibration.holdout[1]}" if calibration.holdout else "")
             + f". Best trial {best['trial']}, mismatch {number(best['mismatch'])}; {len(found['ensemble'])} trials as "
             "good as the best form the ensemble.</p>",
             f"<p class='answer'>{html.escape(goodness(found['consistency'], setup.check))}</p>",
             "<h2>Parameters</h2>", html_table(shown, "parameter"),
             "<p class='note'>Verdict: how much of the parameter's range the values as good as the best span (the "
             "fit with the other parameters at their best values, within the noise of its replicates: 1.96 "
             "standard errors of the paired differences): identified up to a third, weakly identified up to two "
             "thirds, else not identified by these targets (it keeps the base scenario's value, and the ensemble "
             "draws it across its range). The wider of the profile's span and the good trials' span counts: the "
             "profile holds the others at their best values, the good trials let them trade off. Profile effect: "
             "how much the mismatch moves along the profile. Importance: Optuna's PED-ANOVA over the trials; it "
             "reflects where the sampler searched as much as the fit, so read it beside the profile. The ensemble "
             "holds the trials consistent with the history (see above).</p>",
             _image(images["parameters"], "parameters"),
             "<h2>Fit</h2>", _image(images["fit"], "fit"),
             f"<p class='note'>The calibrated model's mean, its 95 % band over {setup.replicates + setup.check} "
             "replicates at the best values (seeds alone), and the wider 95 % band over every replicate of the "
             "trials consistent with the history (parameters and seeds).</p>",
             "<h2>Mismatch by target</h2>", html_table(targets, "target")]
    if len(held):
        naive = pd.DataFrame({"quarters": held["quarters"].astype(int),
                              "model": [f"{100 * v:.1f} %" for v in held["model_error"]],
                              "naive (last fitted year)": [f"{100 * v:.1f} %" for v in held["naive_error"]],
                              "better": held["better"], "in the wider 95 % band": held["in_band"]},
                             index=held["target"])
        parts += ["<h2>Held-out quarters</h2>", html_table(naive, "target"),
                  "<p class='note'>Mean relative error of the calibrated model's mean, and of carrying the last "
                  "fitted year's observed values forward; and how many held-out observations fall inside the 95 % "
                  "band over the consistent parameters and seeds. A few quarters of one history: a verdict of "
                  "better or worse within a few points is noise.</p>"]
    parts.append(f"<p class='note'>channelsim {__version__}; {html.escape(calibration.path.name)}</p></body></html>")
    return "".join(parts)


def write(folder: Path, calibration: Calibration, found: dict[str, Any]) -> list[str]:
    """Every output file, each written whole; returns their names."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {}
    trials = found["trials"]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(trials, preserve_index=False), buffer)
    files["trials.parquet"] = buffer.getvalue()
    good = found["ensemble"]
    draws = good[["trial", "mismatch", *calibration.parameters]].reset_index(drop=True)
    draws.insert(0, "draw", np.arange(len(draws)))
    verdicts = found["verdicts"].set_index("parameter")
    kept = [p for p in calibration.parameters if verdicts.loc[p, "verdict"] == "not identified"]
    rng = np.random.default_rng(calibration.spec.calibration.seed)
    for path in kept:  # what the targets cannot tell: any value of its range, not where the sampler happened to look
        p = calibration.spec.parameters[path]
        values = (np.exp(rng.uniform(np.log(p.low), np.log(p.high), len(draws))) if p.log else
                  rng.uniform(p.low, p.high, len(draws)))
        draws[path] = np.round(values).astype(int) if calibration.integer[path] else values
    files["ensemble.csv"] = draws.to_csv(index=False).encode()
    files["calibrated.toml"] = calibrated_toml(folder, calibration, found["best"]["values"], kept).encode()
    files[BASE] = base_record(calibration)
    files["verdicts.csv"] = found["verdicts"].to_csv(index=False).encode()
    files["profiles.csv"] = found["profile"].drop(columns=["key"]).to_csv(index=False).encode()
    files["fit.csv"] = found["fit"].to_csv(index=False).encode()
    files["holdout.csv"] = found["holdout"].to_csv(index=False).encode()
    images = {"fit": _png(fit_figure(calibration, found["fit"])),
              "parameters": _png(parameters_figure(calibration, trials, found["profile"], found["verdicts"]))}
    files["fit.png"], files["parameters.png"] = images["fit"], images["parameters"]
    files["fit.html"] = page(calibration, found, images).encode()
    for name, data in files.items():
        outputs.write_atomically(folder / name, data)
    return list(files)
