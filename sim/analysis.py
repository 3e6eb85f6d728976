"""`channelsim analyze DIR`: what a sweep says, per design point and per parameter.

Writes DIR/analysis/: points.csv (mean and 95 % interval of each KPI across replicates at
each design point), sobol.csv (first-order and total indices with confidence intervals) or
morris.csv (mu*, sigma), replicates.csv (how the interval narrows with replicates, and the count
a precision needs), figures and a self-contained report.html; the folder is swapped in whole
(sim.outputs.replacing). Runs and design points without results are counted and said. A parameter
whose values are choices (text, on/off) is shown as categories, in the order the design lists them.
A folder that is not a readable sweep is refused with one line (SweepError).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sim import outputs, report
from sim.errors import first_line
from sim.report import plt
from sim.sweep import FAILURES, INFO, SweepError, read_manifest

DEFAULT_KPIS = ["revenue", "net_revenue", "mindshare", "active_ratio", "attrition", "partner_payments"]
LABELS = {"revenue": "revenue ($, final year)", "net_revenue": "net revenue ($, final year)",
          "mindshare": "mindshare", "active_ratio": "active-partner ratio", "attrition": "annual attrition",
          "partner_payments": "paid to partners ($, final year)"}


@dataclass
class Analysis:
    info: dict
    points: pd.DataFrame  # tidy: point, parameters..., kpi, mean, ci_low, ci_high, replicates
    indices: pd.DataFrame | None  # sobol or morris
    replicates: pd.DataFrame  # kpi, replicates, relative half-width
    verdicts: pd.DataFrame  # kpi, replicates, relative half-width, reached, needed
    figures: dict[str, bytes] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)  # runs and design points without results
    note: str = ""  # why there are no sensitivity indices


REQUIRED = ("experiment", "design", "parameters", "runs", "replicates", "fingerprint")


def load(folder: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A sweep's record, final-year KPIs and design; SweepError (one line) for anything else."""
    if not folder.is_dir():
        raise SweepError(f"{folder}: " + ("not a folder" if folder.exists() else "no such folder")
                         + "; give a sweep's results folder (channelsim sweep ... --out DIR)")
    marker = outputs.read_marker(folder)
    if marker is not None and marker["kind"] != "sweep":
        raise SweepError(f"{folder}: holds channelsim's {marker['kind']} results, not a sweep's")
    info_path = folder / INFO
    if not info_path.exists():
        raise SweepError(f"{folder}: not a sweep folder (no {INFO}); run `channelsim sweep` into it first")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SweepError(f"{info_path}: unreadable ({first_line(error)}); the sweep's record is damaged") from None
    if not isinstance(info, dict):
        raise SweepError(f"{info_path}: not a sweep's record (not a JSON object)")
    missing = [key for key in REQUIRED if key not in info]
    if missing or not isinstance(info["parameters"], list):
        raise SweepError(f"{info_path}: not a sweep's record (no {', '.join(missing) or 'list of parameters'})")
    final_path = folder / "final.parquet"
    if not final_path.exists():
        raise SweepError(f"{folder}: no final.parquet: the sweep kept no final-year KPIs (outputs.final_year), "
                         "has not finished, or no run finished; `channelsim sweep ... --resume` completes it")
    try:
        final = pd.read_parquet(final_path)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise SweepError(f"{final_path}: unreadable ({first_line(error)}); `channelsim sweep ... --resume` "
                         "writes it again") from None
    lacking = [c for c in ("run", "point", "replicate", *info["parameters"]) if c not in final.columns]
    if lacking or final.empty:
        raise SweepError(f"{final_path}: " + (f"no column {lacking[0]!r}" if lacking else "no finished run")
                         + "; nothing to analyze")
    design_path = folder / "design.csv"
    try:
        design = pd.read_csv(design_path, index_col="point")
    except (OSError, ValueError, UnicodeDecodeError) as error:  # pandas' parser and empty-data errors are ValueErrors
        what = "missing" if not design_path.exists() else f"unreadable ({first_line(error)})"
        raise SweepError(f"{design_path}: {what}; `channelsim sweep ... --resume` writes it again") from None
    lacking = [p for p in info["parameters"] if p not in design.columns]
    strays = sorted(set(final["point"]) - set(design.index))
    if lacking or strays:
        raise SweepError(f"{design_path}: does not match the sweep (" + (f"no column {lacking[0]!r}" if lacking else
                         f"no design point {strays[0]}") + "); `channelsim sweep ... --resume` writes it again")
    for name in info["parameters"]:  # a number the runs took must be a number in the design too
        numbers = pd.to_numeric(design[name], errors="coerce") if numeric(final[name]) else None
        if numbers is not None and numbers.isna().any():
            point = numbers.index[numbers.isna()][0]
            value = design.loc[point, name]
            what = "empty" if pd.isna(value) else f"{value!r} is not a number"
            raise SweepError(f"{design_path}: point {point}, column {name}: {what} (the runs took numbers); "
                             "`channelsim sweep ... --resume` writes it again")
    return info, final, design


def numeric(values: pd.Series) -> bool:
    """Whether a parameter's values are numbers (a range, numeric values) rather than choices (text, on/off):
    choices are shown as categories, in the order the design lists them."""
    return values.dtype.kind in "iuf"


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_) \
        else str(value)


def missing_runs(folder: Path, info: dict, final: pd.DataFrame, design: pd.DataFrame) -> dict[str, int]:
    """What the sweep lacks: runs without results (failed: the model raised; unfinished: never recorded)
    and design points without a single finished run."""
    failed = {e["run"] for e in read_manifest(folder) if e["status"] != "ok"} - set(final["run"])
    absent = max(0, int(info["runs"]) - final["run"].nunique())
    return {"runs": absent, "of_runs": int(info["runs"]), "failed": len(failed),
            "unfinished": max(0, absent - len(failed)), "points": len(set(design.index) - set(final["point"])),
            "of_points": len(design)}


def describe_missing(missing: dict[str, int]) -> str:
    """One line: how many runs and design points have no results, and why."""
    if not missing.get("runs"):
        return ""
    why = [f"{missing['failed']} failed, see {FAILURES}" if missing["failed"] else "",
           f"{missing['unfinished']} did not finish, `channelsim sweep ... --resume` runs them"
           if missing["unfinished"] else ""]
    return (f"missing: {missing['runs']} of {missing['of_runs']} runs have no results "
            f"({'; '.join(w for w in why if w)}), and {missing['points']} of {missing['of_points']} design points "
            "no finished run")


def per_point(final: pd.DataFrame, design: pd.DataFrame, kpis: list[str]) -> pd.DataFrame:
    rows = []
    for point, group in final.groupby("point", sort=True):
        for kpi in kpis:
            mean, low, high, _ = report.interval(group[kpi].to_numpy())
            rows.append({"point": point, **design.loc[point].to_dict(), "kpi": kpi, "mean": mean, "ci_low": low,
                         "ci_high": high, "replicates": len(group)})
    return pd.DataFrame(rows)


def replicate_check(final: pd.DataFrame, kpis: list[str], precision: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean over design points of the 95 % half-width relative to the mean, using the first r replicates."""
    most = int(final["replicate"].max()) + 1
    curve = []
    for r in range(2, most + 1):
        subset = final[final["replicate"] < r]
        for kpi in kpis:
            widths = []
            for _, group in subset.groupby("point"):
                mean, low, high, _ = report.interval(group[kpi].to_numpy())
                if abs(mean) > 1e-12:
                    widths.append((high - low) / 2 / abs(mean))
            curve.append({"kpi": kpi, "replicates": r, "relative_half_width": float(np.mean(widths))
                          if widths else np.nan})
    curve = pd.DataFrame(curve, columns=["kpi", "replicates", "relative_half_width"])
    verdicts = []
    for kpi in kpis:
        now = curve[(curve["kpi"] == kpi) & (curve["replicates"] == most)]["relative_half_width"]
        width = float(now.iloc[0]) if len(now) else np.nan
        needed = math.ceil(most * (width / precision) ** 2) if np.isfinite(width) else None
        verdicts.append({"kpi": kpi, "replicates": most, "relative_half_width": width, "precision": precision,
                         "reached": bool(np.isfinite(width) and width <= precision),
                         "replicates_needed": max(2, needed) if needed is not None else None})
    return curve, pd.DataFrame(verdicts)


def sensitivity(info: dict, final: pd.DataFrame, design: pd.DataFrame, kpis: list[str]) -> pd.DataFrame | None:
    kind = info["design"]
    if kind not in ("sobol", "morris"):
        return None
    means = final.groupby("point")[kpis].mean()
    missing = sorted(set(design.index) - set(means.index))
    if missing:
        raise SweepError(f"{kind} indices need every design point; {len(missing)} have no finished run "
                         f"(points {missing[:5]}...; see {FAILURES})")
    problem = info["problem"]
    replicates = final.groupby("point").size().min()
    rows = []
    for kpi in kpis:
        y = means.loc[design.index, kpi].to_numpy(dtype=float)
        if np.ptp(y) == 0:
            continue
        # The share of the variance of point means that is seed noise (within-point variance / replicates):
        # an index below it cannot be told apart from noise. Unknown with one replicate.
        noise = (final.groupby("point")[kpi].var(ddof=1).mean() / replicates / y.var(ddof=1)
                 if replicates >= 2 else np.nan)
        if kind == "sobol":
            from SALib.analyze import sobol

            result = sobol.analyze(problem, y, calc_second_order=False, seed=0, print_to_console=False)
            for i, name in enumerate(problem["names"]):
                rows.append({"kpi": kpi, "parameter": name, "S1": result["S1"][i], "S1_conf": result["S1_conf"][i],
                             "ST": result["ST"][i], "ST_conf": result["ST_conf"][i], "seed_noise": noise})
        else:
            from SALib.analyze import morris

            x = design[problem["names"]].to_numpy(dtype=float)
            for j, name in enumerate(problem["names"]):
                if name in info.get("log", []):
                    x[:, j] = np.log(x[:, j])
            result = morris.analyze(problem, x, y, num_levels=info["levels"], seed=0, print_to_console=False)
            for i, name in enumerate(problem["names"]):
                rows.append({"kpi": kpi, "parameter": name, "mu": result["mu"][i], "mu_star": result["mu_star"][i],
                             "mu_star_conf": result["mu_star_conf"][i], "sigma": result["sigma"][i],
                             "seed_noise": noise})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def figure_indices(kind: str, indices: pd.DataFrame, kpis: list[str]) -> bytes:
    shown = [k for k in kpis if k in set(indices["kpi"])][:4]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.8), squeeze=False)
    for ax, kpi in zip(axes[0], shown, strict=True):
        rows = indices[indices["kpi"] == kpi]
        x = np.arange(len(rows))
        if kind == "sobol":
            ax.bar(x - 0.2, rows["S1"], 0.4, yerr=rows["S1_conf"], label="first order S1", color=report.COLOURS[0],
                   capsize=3)
            ax.bar(x + 0.2, rows["ST"], 0.4, yerr=rows["ST_conf"], label="total ST", color=report.COLOURS[1],
                   capsize=3)
            ax.set_ylim(bottom=min(0.0, float(rows["S1"].min()) - 0.05))
        else:
            ax.bar(x - 0.2, rows["mu_star"], 0.4, yerr=rows["mu_star_conf"], label="mu*", color=report.COLOURS[0],
                   capsize=3)
            ax.bar(x + 0.2, rows["sigma"], 0.4, label="sigma", color=report.COLOURS[1])
        ax.set_xticks(x, [p.split(".")[-2] + "." + p.split(".")[-1] if "." in p else p for p in rows["parameter"]],
                      rotation=30, ha="right", fontsize=8)
        ax.set_title(LABELS.get(kpi, kpi), fontsize=10, loc="left")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Sobol indices (95 % intervals)" if kind == "sobol" else "Morris elementary effects", fontsize=11,
                 x=0.01, ha="left")
    fig.tight_layout()
    return _png(fig)


def figure_response(table: pd.DataFrame, parameters: list[str], kpi: str, grid: bool) -> bytes:
    rows = table[table["kpi"] == kpi]
    fig, axes = plt.subplots(1, len(parameters), figsize=(4.2 * len(parameters), 3.6), squeeze=False)
    for ax, name in zip(axes[0], parameters, strict=True):
        others = [p for p in parameters if p != name]
        if grid and len(others) == 1 and rows[others[0]].nunique() <= 8:
            levels = list(rows.groupby(others[0], sort=numeric(rows[others[0]])))
            for i, (level, group) in enumerate(levels):
                colour, label = report.COLOURS[i % 8], f"{others[0].split('.')[-1]} = {_label(level)}"
                if numeric(rows[name]):
                    group = group.sort_values(name)
                    ax.plot(group[name], group["mean"], "-o", ms=3, color=colour, label=label)
                    ax.fill_between(group[name], group["ci_low"], group["ci_high"], color=colour, alpha=0.15, lw=0)
                else:  # the levels side by side at each choice, a little apart
                    x = _positions(rows[name], group[name]) + 0.3 * ((i + 0.5) / len(levels) - 0.5)
                    band = [group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]]
                    ax.errorbar(x, group["mean"], yerr=band, fmt="o", ms=4, capsize=3, color=colour, label=label)
            ax.legend(fontsize=7, frameon=False)
        elif numeric(rows[name]):  # the mean response, over the other parameters, in bins of this one
            bins = min(10, rows[name].nunique())
            edges = pd.cut(rows[name], bins=bins) if bins > 1 else pd.Series(0, index=rows.index)
            grouped = rows.groupby(edges, observed=True)
            centre = grouped[name].mean()
            mean = grouped["mean"].mean()
            sem = grouped["mean"].std(ddof=1).fillna(0) / np.sqrt(grouped["mean"].count())
            ax.scatter(rows[name], rows["mean"], s=6, alpha=0.35, color=report.COLOURS[0])
            ax.plot(centre, mean, "-", color=report.COLOURS[1], lw=2, label="bin mean, 95 % band")
            ax.fill_between(centre, mean - 1.96 * sem, mean + 1.96 * sem, color=report.COLOURS[1], alpha=0.2, lw=0)
            ax.legend(fontsize=7, frameon=False)
        else:  # the mean response, over the other parameters, at each choice
            grouped = rows.groupby(name, sort=False)["mean"]
            mean = grouped.mean()
            sem = grouped.std(ddof=1).fillna(0) / np.sqrt(grouped.count())
            ax.scatter(_positions(rows[name], rows[name]), rows["mean"], s=6, alpha=0.35, color=report.COLOURS[0])
            ax.errorbar(_positions(rows[name], mean.index.to_series()), mean, yerr=1.96 * sem, fmt="o", ms=5,
                        capsize=4, color=report.COLOURS[1], label="mean, 95 % band")
            ax.legend(fontsize=7, frameon=False)
        if not numeric(rows[name]):
            choices = _choices(rows[name])
            ax.set_xticks(range(len(choices)), [_label(c) for c in choices], fontsize=8)
            ax.set_xlim(-0.5, len(choices) - 0.5)
        ax.set_xlabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(LABELS.get(kpi, kpi))
    fig.suptitle(f"Response of {LABELS.get(kpi, kpi)} (mean and 95 % band across replicates)", fontsize=11, x=0.01,
                 ha="left")
    fig.tight_layout()
    return _png(fig)


def _choices(values: pd.Series) -> list:
    """A parameter's choices in the order the design lists them (the order of its first design points)."""
    return list(dict.fromkeys(values))


def _positions(values: pd.Series, chosen: pd.Series) -> np.ndarray:
    """Where each chosen value lies on an axis of the parameter's choices: 0, 1, 2, ..."""
    where = {value: i for i, value in enumerate(_choices(values))}
    return np.array([where[value] for value in chosen], dtype=float)


def figure_heatmap(table: pd.DataFrame, parameters: list[str], kpi: str) -> bytes:
    rows = table[table["kpi"] == kpi]
    grid = rows.pivot_table(index=parameters[0], columns=parameters[1], values="mean")
    # choices in the design's order; numbers ascending, as pivot_table sorts them
    grid = grid.reindex(index=grid.index if numeric(rows[parameters[0]]) else _choices(rows[parameters[0]]),
                        columns=grid.columns if numeric(rows[parameters[1]]) else _choices(rows[parameters[1]]))
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), [_label(v) for v in grid.columns], fontsize=8)
    ax.set_yticks(range(grid.shape[0]), [_label(v) for v in grid.index], fontsize=8)
    ax.set_xlabel(parameters[1])
    ax.set_ylabel(parameters[0])
    for (i, j), value in np.ndenumerate(grid.to_numpy()):
        ax.text(j, i, report.number(value), ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(image, ax=ax, label=LABELS.get(kpi, kpi))
    ax.set_title(f"{LABELS.get(kpi, kpi)} over the grid", loc="left", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def figure_replicates(curve: pd.DataFrame, precision: float) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, (kpi, group) in enumerate(curve.groupby("kpi", sort=False)):
        ax.plot(group["replicates"], group["relative_half_width"], "-o", ms=3, color=report.COLOURS[i % 8], label=kpi)
    ax.axhline(precision, color="#555", ls="--", lw=1, label=f"precision {precision:g}")
    ax.set_xlabel("replicates per design point")
    ax.set_ylabel("95 % half-width / |mean|")
    ax.set_title("How the interval narrows with replicates (mean over design points)", loc="left", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- the whole analysis


def analyze(folder: Path, kpis: list[str] | None = None, precision: float = 0.05) -> Analysis:
    target = folder / "analysis"
    info, final, design = load(folder)
    outputs.check(target, "analysis", option="analysis folder")
    known = [c for c in final.columns if c not in ("run", "point", "replicate", "seed", *info["parameters"])]
    if kpis:
        unknown = [k for k in kpis if k not in known]
        if unknown:
            raise SweepError(f"--kpi {unknown[0]}: not a KPI of this sweep; KPIs are {', '.join(known)}")
    else:
        chosen = info.get("kpis") or []
        kpis = [k for k in chosen if k in known] + [k for k in DEFAULT_KPIS if k in known and k not in chosen]
    if not kpis:
        raise SweepError(f"{folder / 'final.parquet'}: holds no KPI; nothing to analyze")
    parameters = info["parameters"]
    missing = missing_runs(folder, info, final, design)
    table = per_point(final, design, kpis)
    indices, note = None, ""
    if info["design"] in ("sobol", "morris") and missing["points"]:
        note = (f"{info['design']} indices need every design point; {missing['points']} have no finished run, so "
                "none are computed")
    else:
        indices = sensitivity(info, final, design, kpis)
    curve, verdicts = replicate_check(final, kpis, precision) if final["replicate"].max() >= 1 else (
        pd.DataFrame(columns=["kpi", "replicates", "relative_half_width"]), pd.DataFrame())
    result = Analysis(info, table, indices, curve, verdicts, missing=missing, note=note)
    main = kpis[0]
    if indices is not None and len(indices):
        result.figures["indices"] = figure_indices(info["design"], indices, kpis)
    result.figures["response"] = figure_response(table, parameters, main, info["design"] == "grid")
    if info["design"] == "grid" and len(parameters) == 2:
        result.figures["heatmap"] = figure_heatmap(table, parameters, main)
    if len(curve):
        result.figures["replicates"] = figure_replicates(curve, precision)
    with outputs.replacing(target, "analysis") as stage:  # the previous analysis stays until this one is whole
        write(stage, result)
    return result


def write(out: Path, result: Analysis) -> None:
    result.points.to_csv(out / "points.csv", index=False)
    if result.indices is not None:
        result.indices.to_csv(out / f"{result.info['design']}.csv", index=False)
    result.replicates.to_csv(out / "replicates.csv", index=False)
    result.verdicts.to_csv(out / "replicate_verdicts.csv", index=False)
    for name, data in result.figures.items():
        (out / f"{name}.png").write_bytes(data)
    info = result.info
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(info.get('title', ''))}</title>"
             f"<style>{report.STYLE}</style></head><body><h1>{html.escape(info.get('title', info['experiment']))}</h1>"]
    if info.get("question"):
        parts.append(f"<p class='q'>{html.escape(info['question'])}</p>")
    parts.append(f"<p class='note'>{info['design']} design over {', '.join(info['parameters'])}; "
                 f"{info['runs']} runs ({info['replicates']} replicates per point); fingerprint "
                 f"{info['fingerprint']}.</p>")
    for text in (describe_missing(result.missing), result.note):
        if text:
            parts.append(f"<p class='note'><strong>{html.escape(text[0].upper() + text[1:])}.</strong></p>")
    if result.indices is not None and len(result.indices):
        shown = result.indices.copy()
        parts.append("<h2>Sensitivity</h2><p class='note'>seed_noise is the share of the variance between design "
                     "points that is seed noise (within-point variance over replicates); an index below it cannot "
                     "be told from noise.</p>")
        parts.append(report.html_table(shown.set_index("kpi").round(3).astype(str), "KPI"))
    main = result.points["kpi"].iloc[0]
    best = result.points[result.points["kpi"] == main].sort_values("mean", ascending=False).head(5)
    parts.append(f"<h2>Design points with the highest {html.escape(main)}</h2>")
    parts.append(report.html_table(best.set_index("point").drop(columns=["kpi"]).map(
        lambda v: report.number(v) if isinstance(v, float) else v), "point"))
    if len(result.verdicts):
        parts.append("<h2>Are there enough replicates?</h2><p class='note'>Relative 95 % half-width of each KPI's "
                     "mean at a design point (averaged over points), and the replicates a precision needs.</p>")
        parts.append(report.html_table(result.verdicts.set_index("kpi").round(4).astype(str), "KPI"))
    for name, data in result.figures.items():
        parts.append(f"<h2>{name.title()}</h2><img alt='{name}' src='data:image/png;base64,"
                     f"{base64.b64encode(data).decode()}'>")
    parts.append("</body></html>")
    (out / "report.html").write_text("".join(parts), encoding="utf-8")
