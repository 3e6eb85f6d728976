"""The results viewer: a folder that run, compare, sweep or calibrate wrote, shown as the charts and tables its files
hold, read without writing; a damaged or foreign folder said in one message, never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara
from scipy import stats

from sim import results_view
from sim.results_view import ResultsError, ResultsView, in_units, read_results, result_folders

ROOT = Path(__file__).resolve().parent.parent
def render(folder: Path):
    _, rc = solara.render(ResultsView(str(folder)), handle_error=False)
    return rc


def charts(rc) -> list[dict]:
    return [w.option for w in rc.find(solara.components.echarts.EchartsWidget).widgets]


def alerts(rc) -> list[str]:
    return [" ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets]


def tables(rc) -> list[v.DataTable]:
    return rc.find(v.DataTable).widgets


def titled(rc, start: str) -> dict:
    (option,) = [o for o in charts(rc) if o["title"]["text"].startswith(start)]
    return option


def named(option: dict, name: str) -> list[dict]:
    return [s for s in option["series"] if s["name"] == name]


def band(option: dict, name: str) -> tuple[list, list, list]:
    """A band's mean, lower and upper edge as the chart holds them (the upper one as its hover shows it)."""
    (mean,) = named(option, name)
    lower, width = named(option, f"{name}: 95 % band")
    assert lower["stack"] == width["stack"] and width["areaStyle"]  # the width stacked on the lower edge, filled
    return mean["data"], [p[1] for p in lower["data"]], [p[2] for p in width["data"]]


def choose(rc, label: str, value: str) -> None:
    rc.find(v.Select, label=label).widget.v_model = value


def texts(rc, css: str) -> list[str]:
    return [" ".join(map(str, w.children)) for w in rc.find(v.Html, class_=css).widgets]


def approx(values, rel: float = 1e-5):
    return pytest.approx([None if not np.isfinite(x) else x for x in values], rel=rel, abs=1e-12, nan_ok=True)


# --------------------------------------------------------------------------- each kind shows its files' numbers


def test_a_run_shows_each_quarterly_figure_as_the_mean_and_95_percent_band_of_its_replicates(folders):
    rc = render(folders["run"])
    assert alerts(rc) == []
    quarters = pd.read_csv(folders["run"] / "quarters.csv")
    by_quarter = quarters.groupby("quarter")["revenue"]
    n = by_quarter.count()
    half = stats.t.ppf(0.975, n - 1) * by_quarter.std(ddof=1) / np.sqrt(n)
    mean, low, high = band(titled(rc, "Partner-sourced revenue"), "baseline")
    assert mean == approx(by_quarter.mean() / 1e6)
    assert low == approx((by_quarter.mean() - half) / 1e6)
    assert high == approx((by_quarter.mean() + half) / 1e6)
    mindshare = titled(rc, "Mindshare")
    assert {s["name"] for s in mindshare["series"]} >= {"focal vendor", "rival_1", "rival_2"}
    assert band(mindshare, "rival_1")[0] == approx(quarters.groupby("quarter")["mindshare_rival_1"].mean())
    for start in ("Spend by instrument", "Partners by tier", "Recruits, exits and terminations"):
        assert titled(rc, start)["series"]
    choose(rc, "Any quarterly metric", "won_deals")
    assert band(titled(rc, "won_deals"), "baseline")[0] == approx(quarters.groupby("quarter")["won_deals"].mean())


def test_a_run_shows_its_headline_kpis_in_a_table_that_sorts_by_value(folders):
    rc = render(folders["run"])
    (table,) = tables(rc)
    summary = pd.read_csv(folders["run"] / "summary.csv").set_index("kpi")
    assert all(h["sortable"] for h in table.headers)
    shown = {item["kpi"]: item for item in table.items}
    assert {"revenue", "mindshare", "partners", "spend_total"} <= set(shown)
    for kpi, item in shown.items():  # numbers, not text: the column sorts by value
        assert item["mean"] == pytest.approx(summary.loc[kpi, "mean"], rel=1e-3)
        assert item["ci_high"] == pytest.approx(summary.loc[kpi, "ci_high"], rel=1e-3)
    rc.find(v.Checkbox).widget.v_model = True  # every KPI, not only the headline ones
    assert len(tables(rc)[0].items) == len(summary) > len(shown)


def test_a_comparison_shows_each_answer_card_and_the_paired_differences_of_the_kpi_chosen(folders):
    rc = render(folders["compare"])
    assert alerts(rc) == []
    answers = pd.read_csv(folders["compare"] / "answers.csv")
    assert texts(rc, "answer") == list(answers["answer"])
    (ranking,) = texts(rc, "ranking")  # two compared scenarios: ranked by the first one's headline KPI
    assert ranking.startswith("Ranked by mindshare over quarters")
    assert [" ".join(map(str, w.children)) for w in rc.find(v.CardTitle).widgets] == list(answers["scenario"])
    differences = pd.read_csv(folders["compare"] / "differences.csv")
    # the first compared scenario's headline KPI first: mindshare (a share, in points)
    option = titled(rc, "mindshare: difference from baseline")
    for scenario in ("rebate_ladder", "mdf_to_top20"):
        rows = differences[(differences["scenario"] == scenario) & (differences["kpi"] == "mindshare")]
        mean, low, high = band(option, scenario)
        assert mean == approx(100 * rows.sort_values("quarter")["difference"])
        assert low == approx(100 * rows.sort_values("quarter")["ci_low"])
        assert high == approx(100 * rows.sort_values("quarter")["ci_high"])
    assert option["series"][2]["markArea"]  # the window the answer reads, shaded
    choose(rc, "KPI", "revenue")
    option = titled(rc, "revenue: difference from baseline")
    rows = differences[(differences["scenario"] == "mdf_to_top20") & (differences["kpi"] == "revenue")]
    assert band(option, "mdf_to_top20")[0] == approx(rows.sort_values("quarter")["difference"])


def test_a_comparison_shows_who_responded_and_from_where_in_tables_that_sort_by_value(folders):
    rc = render(folders["compare"])
    responders = pd.read_csv(folders["compare"] / "responders.csv")
    sources = pd.read_csv(folders["compare"] / "sources.csv")
    against, moved, where = tables(rc)
    for table in (against, moved, where):
        assert table.headers and all(h["sortable"] for h in table.headers)
    revenue = responders[responders["measure"] == "revenue"]
    assert [item["group"] for item in moved.items] == list(revenue["group"].astype(str))
    assert [item["difference"] for item in moved.items] == approx(in_units(revenue)["difference"], rel=1e-3)
    choose(rc, "Measure", "mindshare")
    mindshare = responders[responders["measure"] == "mindshare"]
    assert [item["base"] for item in tables(rc)[1].items] == approx(100 * mindshare["base"], rel=1e-3)  # in %
    assert [item["difference"] for item in where.items] == approx(sources["difference"], rel=1e-3)
    assert {item["source"] for item in where.items} >= {"focal vendor", "rival_1", "partners' own services"}


def test_a_two_parameter_grid_is_a_heat_map_whose_cells_are_each_design_points_mean(folders):
    rc = render(folders["grid"])
    assert alerts(rc) == []
    (option,) = charts(rc)
    (heat,) = option["series"]
    assert heat["type"] == "heatmap" and option["visualMap"]
    final = pd.read_parquet(folders["grid"] / "final.parquet")
    outcome = heat["name"]
    assert outcome == "revenue"  # no [analysis] kpis in the experiment: analyze's default order, revenue first
    thresholds, rates = sorted(final["vendor.rebate.threshold"].unique()), sorted(final["vendor.rebate.rate"].unique())
    assert option["xAxis"]["data"] == [f"{t:g}" for t in thresholds]
    assert option["yAxis"]["data"] == [f"{r:g}" for r in rates]
    means = final.groupby(["vendor.rebate.threshold", "vendor.rebate.rate"])[outcome].mean()
    cells = {(x, y): z for x, y, z in (d["value"] for d in heat["data"])}
    assert len(cells) == len(means) == 6
    for (threshold, rate), mean in means.items():
        assert cells[thresholds.index(threshold), rates.index(rate)] == pytest.approx(mean, rel=1e-5)
    choose(rc, "Outcome", "mindshare")
    (heat,) = charts(rc)[0]["series"]
    assert max(d["value"][2] for d in heat["data"]) == pytest.approx(
        final.groupby("point")["mindshare"].mean().max(), rel=1e-5)


def test_a_one_parameter_sweep_is_a_line_with_its_band_across_replicates(folders):
    rc = render(folders["line"])
    (option,) = charts(rc)
    final = pd.read_parquet(folders["line"] / "final.parquet")
    by_rate = final.groupby("vendor.rebate.rate")[option["series"][2]["name"]]
    mean, low, high = band(option, option["series"][2]["name"])
    assert option["xAxis"]["data"] == ["0.01", "0.04", "0.07"]
    assert mean == approx(by_rate.mean())
    half = stats.t.ppf(0.975, by_rate.count() - 1) * by_rate.std(ddof=1) / np.sqrt(by_rate.count())
    assert high == approx(by_rate.mean() + half)


def test_a_sobol_sweep_shows_each_index_as_bars_with_their_95_percent_intervals(folders):
    rc = render(folders["sobol"])
    assert alerts(rc) == []
    indices = pd.read_csv(folders["sobol"] / "analysis" / "sobol.csv")
    kpi = rc.find(v.Select, label="KPI analysed").widget.v_model
    rows = indices[indices["kpi"] == kpi]
    for index in ("S1", "ST"):
        option = titled(rc, f"{kpi}: {'First-order' if index == 'S1' else 'Total'} index")
        (bars,) = named(option, index)
        assert bars["type"] == "bar" and bars["data"] == approx(rows[index])
        (whiskers,) = named(option, "95 % interval")
        ends = [point[1] for point in whiskers["data"] if point != "-"]
        expected = [x for mid, half in zip(rows[index], rows[f"{index}_conf"], strict=True)
                    for x in (mid - half, mid + half)]
        assert ends == approx(expected)
    # three parameters: the heat map's two axes are chosen, the third averaged in
    assert {"Across", "Up"} <= {w.label for w in rc.find(v.Select).widgets}
    choose(rc, "Up", "partners.inertia")
    assert charts(rc)[0]["yAxis"]["name"] == "partners.inertia"


def test_a_calibration_shows_its_fit_bands_verdicts_and_goodness_of_fit(folders):
    rc = render(folders["calibrate"])
    assert alerts(rc) == []
    fit = pd.read_csv(folders["calibrate"] / "fit.csv")
    targets = list(dict.fromkeys(fit["target"]))
    assert [o["title"]["text"].split(":")[0] for o in charts(rc)] == targets
    for target in targets:
        rows = fit[fit["target"] == target].sort_values("quarter")
        option = titled(rc, f"{target}:")
        (observed,) = named(option, "observed")
        assert observed["data"] == approx(rows["observed"])
        (mean,) = named(option, "model mean")
        assert mean["data"] == approx(rows["model"])
        seeds = named(option, "seeds, at the best values: 95 % band")
        wide = named(option, "parameters and seeds: 95 % band")
        assert [p[1] for p in seeds[0]["data"]] == approx(rows["low"])
        assert [p[2] for p in seeds[1]["data"]] == approx(rows["high"])
        assert [p[1] for p in wide[0]["data"]] == approx(rows["low_all"])
        assert [p[2] for p in wide[1]["data"]] == approx(rows["high_all"])
    (verdicts, *_) = tables(rc)
    assert all(h["sortable"] for h in verdicts.headers)
    expected = pd.read_csv(folders["calibrate"] / "verdicts.csv")
    assert [(i["parameter"], i["verdict"]) for i in verdicts.items] == list(zip(expected["parameter"],
                                                                               expected["verdict"], strict=True))
    (goodness,) = texts(rc, "goodness")
    assert goodness.startswith("Of the best fits to 19 histories the calibrated model makes itself")


def test_every_chart_hovers_for_its_values_and_has_a_legend_and_the_page_gets_strict_json(folders):
    for name, folder in folders.items():
        rc = render(folder)
        for option in charts(rc):
            assert option["legend"], name
            heat = option["series"][0]["type"] == "heatmap"  # a heat map's hover names the cell under the pointer
            assert option["tooltip"]["trigger"] == ("item" if heat else "axis"), (name, option["title"])
        # the browser's JSON has no NaN: a blank is null (a gap in a chart, an empty cell in a table)
        json.dumps([charts(rc), [t.items for t in tables(rc)]], allow_nan=False)


def test_a_blank_in_the_files_stays_blank_on_the_page(folders):
    (against, *_) = tables(render(folders["compare"]))
    ratio = [i for i in against.items if i["kpi"] == "revenue_per_extra_program_dollar"]
    assert ratio and all(i["base"] is None and i["value"] is None for i in ratio)  # blank in comparison.csv


def test_read_results_says_each_folders_kind_and_title(folders):
    seen = {name: read_results(folder) for name, folder in folders.items()}
    assert {name: r.kind for name, r in seen.items()} == {"run": "run", "compare": "compare", "grid": "sweep",
                                                           "line": "sweep", "sobol": "sweep", "calibrate": "calibrate"}
    assert seen["run"].title == "baseline: Baseline channel"
    assert seen["compare"].title == "rebate_ladder, mdf_to_top20 against baseline"
    assert seen["calibrate"].title == "Our channel: calibration"
    assert set(seen["compare"].frames) >= {"differences", "answers", "responders", "sources"}


# --------------------------------------------------------------------------- read only, never a traceback


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size, p.read_bytes() if p.is_file() else b"")
            for p in [folder, *folder.rglob("*")]}


def test_reading_and_showing_a_folder_writes_nothing_into_it(folders):
    before = {name: snapshot(folder) for name, folder in folders.items()}
    for name, folder in folders.items():
        rc = render(folder)
        for select in rc.find(v.Select).widgets:  # every choice the page offers, once
            if select.items:
                select.v_model = select.items[-1]
        read_results(folder)
        assert snapshot(folder) == before[name], name


def damage(folder: Path, name: str, how: str) -> None:
    path = folder / name
    if how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(os.urandom(300) + b"\n\x00,,\n")
    elif how == "no column":
        frame = pd.read_csv(path)
        frame.drop(columns=["ci_low"]).to_csv(path, index=False)
    elif how == "header only":
        path.write_text(path.read_text().splitlines()[0] + "\n")
    elif how == "cut":  # a copy or a disk that stopped part-way through a row
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2 + 7])
    elif how == "text":
        frame = pd.read_csv(path)
        frame["difference"] = frame["difference"].astype(object)
        frame.loc[3, "difference"] = "lots"
        frame.to_csv(path, index=False)


DAMAGES = [("run", "quarters.csv", "delete", "quarters.csv is missing"),
           ("run", "summary.csv", "garbage", "summary.csv"),
           ("run", "scenario.resolved.toml", "garbage", "scenario.resolved.toml: cannot be read as TOML"),
           ("run", "quarters.csv", "cut", "quarters.csv: its last row is cut off part-way"),
           ("compare", "differences.csv", "cut", "differences.csv: its last row is cut off part-way"),
           ("compare", "differences.csv", "no column", "differences.csv: has no column 'ci_low'"),
           ("compare", "differences.csv", "text", "column 'difference' holds 'lots' (row 4), not a number"),
           ("compare", "answers.csv", "delete", "answers.csv is missing"),
           ("compare", "responders.csv", "garbage", "responders.csv"),
           ("compare", "sources.csv", "header only", "sources.csv: holds no rows"),
           ("grid", "final.parquet", "delete", "no final.parquet"),
           ("grid", "final.parquet", "garbage", "final.parquet: unreadable"),
           ("grid", "experiment.json", "garbage", "experiment.json: unreadable"),
           ("sobol", "analysis/sobol.csv", "garbage", "sobol.csv"),
           ("calibrate", "fit.csv", "delete", "fit.csv is missing"),
           ("calibrate", "verdicts.csv", "garbage", "verdicts.csv")]


@pytest.mark.parametrize(("kind", "name", "how", "said"), DAMAGES, ids=[f"{k}-{n}-{h}" for k, n, h, _ in DAMAGES])
def test_a_damaged_folder_shows_one_message_naming_the_file_not_a_traceback(folders, tmp_path, kind, name, how, said):
    folder = tmp_path / kind
    shutil.copytree(folders[kind], folder)
    damage(folder, name, how)
    with pytest.raises(ResultsError, match=re.escape(said)):
        read_results(folder)
    rc = render(folder)
    (message,) = alerts(rc)
    assert said in message and "Traceback" not in message
    assert charts(rc) == [] and tables(rc) == []


def test_a_view_that_fails_to_draw_says_so_in_one_message_not_a_traceback(folders, monkeypatch):
    @solara.component
    def Broken(results):
        raise KeyError("a column the view expected")

    monkeypatch.setitem(results_view.VIEWS, "run", Broken)
    rc = render(folders["run"])
    (message,) = alerts(rc)
    assert message.endswith("these run results were read but could not be shown (KeyError: 'a column the view "
                            "expected')")
    assert charts(rc) == [] and tables(rc) == []


def test_a_folder_of_none_of_the_four_kinds_is_refused_by_name(tmp_path, folders):
    empty = tmp_path / "empty"
    empty.mkdir()
    random = tmp_path / "random"
    random.mkdir()
    for k in range(3):
        (random / f"notes-{k}.csv").write_bytes(os.urandom(64))
    (random / "summary.csv").write_text("kpi,mean\nrevenue,1\n")
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("hello")
    said = {empty: "empty: not a channelsim results folder: it is empty",
            random: "random: not a channelsim results folder: it holds 4 entries",
            tmp_path / "absent": "absent: no such folder", a_file: "a_file.txt: a file, not a results folder",
            folders["sobol"] / "analysis": "a sweep's analysis"}
    for folder, message in said.items():
        with pytest.raises(ResultsError, match=re.escape(message)):
            read_results(folder)
        rc = render(folder)
        assert len(alerts(rc)) == 1 and message in alerts(rc)[0]
        assert charts(rc) == [] and tables(rc) == []


def test_result_folders_lists_the_results_one_level_down_and_nothing_else(folders, tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    for name in ("run", "compare", "grid", "calibrate"):
        shutil.copytree(folders[name], root / name)
    (root / "empty").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not results")
    (root / "deeper").mkdir()
    shutil.copytree(folders["run"], root / "deeper" / "run")  # two levels down: not listed
    shutil.copytree(folders["run"], root / ".run.staging-1-abcd")  # a folder being written: not listed
    (root / "experiment.json").write_text("{}")  # a file, not a folder
    assert result_folders(root) == [root / name for name in ("calibrate", "compare", "grid", "run")]
    assert result_folders(tmp_path / "absent") == []


def test_the_kpi_table_gives_shares_in_percent_changes_in_points_relative_in_percent_and_no_float_residue(folders):
    comparison = pd.read_csv(folders["compare"] / "comparison.csv")
    against = tables(render(folders["compare"]))[0]
    rows = {(item["scenario"], item["kpi"]): item for item in against.items}
    for row in comparison[comparison["kpi"].isin(["mindshare", "revenue", "program_cost"])].itertuples():
        item = rows[(row.scenario, row.kpi)]
        share = row.kpi == "mindshare"
        assert item["unit"] == ("% (changes in points)" if share else "")
        assert item["base"] == pytest.approx(row.base * (100 if share else 1), rel=1e-3)
        if abs(row.difference) >= 1e-9 * max(abs(row.base), 1.0):
            assert item["difference"] == pytest.approx(row.difference * (100 if share else 1), rel=1e-3)
            assert item["relative (%)"] == pytest.approx(100 * row.relative, rel=1e-3)
    residue = pd.DataFrame({"kpi": ["revenue"], "base": [1.1e7], "difference": [7e-9], "relative": [6e-16]})
    assert in_units(residue)[["difference", "relative (%)"]].to_numpy().tolist() == [[0.0, 0.0]]
