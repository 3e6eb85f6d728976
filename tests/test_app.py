"""The browser app: its components under `solara.render`, and the page served and driven in Chromium."""

from __future__ import annotations

import io
import os
import socket
import sys
from pathlib import Path

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets

from sim import app, serve
from sim.model import ChannelModel
from sim.runner import replicate_seed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def small_channel(monkeypatch):
    monkeypatch.setenv("CHANNELSIM_PARTNERS", "150")
    monkeypatch.setenv("CHANNELSIM_SCENARIO", str(ROOT / "scenarios" / "baseline.toml"))
    app.show_baseline.set(True)
    app.colour_by.set("segment")
    app.chosen.set("")


@solara.component
def Harness(model):
    """The page as served around one model: the overview, the answer and the composed SolaraViz, in an app layout
    (what `solara run` wraps a page in; the sidebar renders only inside one)."""
    with solara.AppLayout():
        app.Overview(model.value)
        app.Answer(model.value)
        app.Viz(model)


def render():
    model = solara.reactive(app.ChannelApp())
    _, rc = solara.render(Harness(model), handle_error=False)
    return model, rc


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def type_in(rc, label: str, text: str) -> None:
    field = rc.find(v.TextField, label=label).widget
    field.v_model = text
    field.fire_event("focusout", None)


def shown_quarter(rc) -> str:
    return rc.find(solara.widgets.HTML, tag="h3").widget.unsafe_innerHTML


def texts(rc) -> list[str]:
    return [" ".join(map(str, w.children)) for w in rc.find(v.Html).widgets]


def alerts(rc) -> list[str]:
    return [" ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets]


def charts(rc) -> list[dict]:
    return [w.option for w in rc.find(solara.components.echarts.EchartsWidget).widgets]


# --------------------------------------------------------------------------- components


def test_a_lever_reset_and_step_change_the_model_and_the_quarter_shown():
    model, rc = render()
    first = model.value
    assert first.params.vendor.rebate.rate == 0.03 and first.baseline is None
    assert shown_quarter(rc).startswith("Quarter 0 of 40")
    click(rc, "Step")
    assert model.value.quarter == 1 and shown_quarter(rc).startswith("Quarter 1 of 40")
    rc.find(v.Slider, label="Rebate rate").widget.v_model = 0.06
    rc.find(v.Slider, label="CAMs").widget.v_model = 30
    click(rc, "Reset")
    rebuilt = model.value
    assert rebuilt is not first and rebuilt.quarter == 0 and shown_quarter(rc).startswith("Quarter 0")
    assert rebuilt.params.vendor.rebate.rate == 0.06 and rebuilt.params.vendor.cams.count == 30
    assert rebuilt.baseline.params.vendor.rebate.rate == 0.03  # the scenario as written, alongside
    click(rc, "Step")
    click(rc, "Step")
    assert rebuilt.quarter == rebuilt.baseline.quarter == 2 and shown_quarter(rc).startswith("Quarter 2 of 40")
    assert any("Rebate rate 0.03 → 0.06" in t for t in texts(rc))


def test_a_value_the_parameter_tree_rejects_is_shown_as_a_message_and_not_applied():
    model, rc = render()
    type_in(rc, "Rebate threshold ($ a period)", "lots")
    rc.find(v.Slider, label="SPIF window: quarters").widget.v_model = 4  # as long as the SPIF cycle
    rc.find(v.Slider, label="Rebate rate").widget.v_model = 0.05
    click(rc, "Reset")
    messages = " | ".join(alerts(rc))
    assert "'lots' is not an amount of dollars" in messages
    assert "vendor.spif: length (4) must be shorter than every (4)" in messages
    rebuilt = model.value
    assert rebuilt.params.vendor.rebate.threshold == 100_000.0 and rebuilt.params.vendor.spif.length == 1
    assert rebuilt.params.vendor.rebate.rate == 0.05  # the valid lever still applies
    click(rc, "Step")
    assert rebuilt.quarter == 1  # and the run goes on
    type_in(rc, "Seed", "seven")
    click(rc, "Reset")
    assert any("Seed: 'seven' is not a whole number" in a for a in alerts(rc))


def test_a_typed_amount_and_seed_are_applied():
    model, rc = render()
    type_in(rc, "Rebate threshold ($ a period)", "$250,000")
    type_in(rc, "Seed", "7")
    click(rc, "Reset")
    assert model.value.params.vendor.rebate.threshold == 250_000.0 and model.value.page_seed == 7
    assert model.value.seed == replicate_seed(7, 0)  # replicate 0 of `channelsim run` on seed 7
    assert not alerts(rc)


def test_the_baseline_is_the_scenario_run_alone_on_the_same_seed_and_its_overlay_toggles():
    model, rc = render()
    rc.find(v.Slider, label="Focal margin (base)").widget.v_model = 0.3
    click(rc, "Reset")
    for _ in range(3):
        click(rc, "Step")
    alone = ChannelModel(app.load_scenario("baseline.toml", ROOT / "scenarios", 150), rng=replicate_seed(1, 0))
    alone.run(3)
    assert model.value.baseline.kpi_frame().equals(alone.kpi_frame())
    assert not model.value.kpi_frame()["mindshare"].equals(alone.kpi_frame()["mindshare"])
    names = [s["name"] for option in charts(rc) for s in option.get("series", [])]
    assert "focal (baseline)" in names and "baseline (total)" in names
    app.show_baseline.set(False)
    names = [s["name"] for option in charts(rc) for s in option.get("series", [])]
    assert not any("baseline" in n for n in names)


def test_the_charts_follow_the_quarters_and_stay_consistent_with_the_kpis():
    model, rc = render()
    for _ in range(4):
        click(rc, "Step")
    options = {o["title"]["text"]: o for o in charts(rc) if "title" in o}
    revenue = next(o for t, o in options.items() if t.startswith("Revenue by segment"))
    assert revenue["xAxis"]["data"] == [1, 2, 3, 4]
    by_segment = np.sum([s["data"] for s in revenue["series"] if s.get("stack") == "segments"], axis=0)
    total = model.value.kpi_frame()["revenue"].to_numpy() / 1e6
    np.testing.assert_allclose(by_segment, total, rtol=1e-3)
    mindshare = next(o for t, o in options.items() if t.startswith("Mindshare"))
    assert {s["name"] for s in mindshare["series"]} == {"focal", "rival_1", "rival_2"}
    partners = next(o for t, o in options.items() if t.startswith("Partners:"))
    assert sum(len(s["data"]) for s in partners["series"]) == model.value.partners.n
    assert [s["name"] for s in partners["series"]] == ["smb", "midmarket", "enterprise"]
    app.colour_by.set("tier")
    partners = next(o for o in charts(rc) if o.get("title", {}).get("text", "").startswith("Partners:"))
    assert [s["name"] for s in partners["series"]] == list(model.value.params.vendor.tiers.names)


def test_the_partner_view_samples_a_large_channel_and_says_so():
    model = app.ChannelApp()
    big = ChannelModel(app.load_scenario("baseline.toml", ROOT / "scenarios", 10_000), rng=1)
    big.step()
    series, shown, total = app.partner_points(big, "segment")
    assert shown == app.SAMPLE and total == big.partners.n
    point = series[0]["data"][0]
    assert "people" in point[3] and "mindshare" in point[3] and "revenue $" in point[3]
    assert 4 <= point[2] <= 30
    model.step()
    series, shown, total = app.partner_points(model, "segment")
    assert shown == total == model.partners.n


def test_the_scenario_picker_rebuilds_the_page_with_that_scenarios_levers():
    _, rc = solara.render(app.Page(), handle_error=False)
    picker = rc.find(v.Select, label="Scenario").widget
    assert picker.v_model == "baseline.toml" and "rival_attack.toml" in picker.items
    assert any("SPIF vertical: (every vertical)" in t for t in texts(rc))
    picker.v_model = "healthcare_spif.toml"
    titles = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML, tag="div").widgets]
    assert any("Healthcare SPIF, quarters 6-7" in t for t in titles)
    shown = " ".join(texts(rc))
    assert "SPIF campaign vertical: healthcare" in shown and "SPIF campaign amount ($ a deal): 1000.0" in shown
    assert "SPIF vertical: (every vertical)" in shown  # the yearly software SPIF runs beside the campaign
    assert "Quarter 0 of 40" in rc.find(solara.widgets.HTML, tag="h3").widget.unsafe_innerHTML


# --------------------------------------------------------------------------- steering a running channel


def answer_title(rc) -> str:
    titles = [" ".join(map(str, w.children)) for w in rc.find(v.CardTitle).widgets]
    return next((t for t in titles if t.startswith("Since the change")), "")


def steer_at_quarter_3(rc) -> None:
    for _ in range(3):
        click(rc, "Step")
    rc.find(v.Slider, label="Rebate rate").widget.v_model = 0.08
    type_in(rc, "MDF budget ($ a quarter)", "0")
    click(rc, "Apply from next quarter")


def test_apply_changes_the_running_channel_from_the_next_quarter_and_the_baseline_goes_on():
    model, rc = render()
    running = model.value
    steer_at_quarter_3(rc)
    assert model.value is running and running.quarter == 3  # not rebuilt, not stepped
    assert running.params.vendor.rebate.rate == 0.03  # from the next quarter, not this one
    for _ in range(3):
        click(rc, "Step")
    assert running.params.vendor.rebate.rate == 0.08 and running.params.vendor.mdf.budget == 0.0
    assert running.baseline.params.vendor.rebate.rate == 0.03 and running.baseline.quarter == 6
    steered, baseline = running.kpi_frame(), running.baseline.kpi_frame()
    pd.testing.assert_frame_equal(steered.iloc[:3], baseline.iloc[:3])  # before the change: the baseline, exactly
    assert (steered["spend_mdf"].iloc[3:] == 0).all() and (baseline["spend_mdf"].iloc[3:] > 0).all()
    assert not np.array_equal(steered["mindshare"].iloc[3:], baseline["mindshare"].iloc[3:])
    alone = ChannelModel(app.load_scenario("baseline.toml", ROOT / "scenarios", 150), rng=replicate_seed(1, 0))
    alone.run(6)
    pd.testing.assert_frame_equal(baseline, alone.kpi_frame())  # the scenario as written, unchanged
    assert any("From quarter 4: Rebate rate 0.03 → 0.08, MDF budget ($ a quarter) 500,000 → 0" in t
               for t in texts(rc))
    for option in charts(rc):  # every chart over quarters marks the change, and draws the baseline
        if option["xAxis"].get("name") == "quarter":
            assert option["series"][0]["markLine"]["data"] == [{"xAxis": "4", "name": "change from quarter 4"}]
    names = [s["name"] for option in charts(rc) for s in option.get("series", [])]
    assert "focal (baseline)" in names and "baseline (total)" in names


def test_a_second_change_adds_to_the_first_and_reset_starts_over():
    model, rc = render()
    running = model.value
    steer_at_quarter_3(rc)
    click(rc, "Step")
    rc.find(v.Slider, label="CAMs").widget.v_model = 20
    click(rc, "Apply from next quarter")
    click(rc, "Apply from next quarter")  # pressed twice: the change is pending already
    assert alerts(rc) == ["No lever changed since the last Reset or Apply: nothing to apply"]
    click(rc, "Step")
    assert [s.quarter for s in running.steering] == [4, 5] and running.changed_at() == [4, 5]
    assert running.steering[1].values == {"vendor.cams.count": 20}  # only what differs from the running model
    assert running.params.vendor.cams.count == 20 and running.params.vendor.rebate.rate == 0.08
    heading, lines = app.answer(running)  # the latest window, and every quarter since the first change
    assert heading.startswith("Since the latest change, quarter 5: this run, with the changes from quarters 4 and 5 "
                              "together")
    assert any(line.startswith("Over every quarter since the first change (quarters 4–5): partner-sourced revenue")
               for line in lines)
    click(rc, "Reset")
    assert model.value is not running and model.value.steering == [] and model.value.quarter == 0
    assert model.value.params.vendor.cams.count == 20  # Reset: the levers as set, from quarter 1


def test_apply_refuses_a_bad_value_nothing_to_apply_and_an_ended_run_with_a_message():
    model, rc = render()
    click(rc, "Step")
    click(rc, "Apply from next quarter")
    assert alerts(rc) == ["No lever changed since the last Reset or Apply: nothing to apply"]
    type_in(rc, "Rebate threshold ($ a period)", "lots")
    rc.find(v.Slider, label="Rebate rate").widget.v_model = 0.05
    click(rc, "Apply from next quarter")
    assert any("'lots' is not an amount of dollars" in a for a in alerts(rc))
    assert model.value.steering[0].values == {"vendor.rebate.rate": 0.05}  # the valid lever still applies
    type_in(rc, "Rebate threshold ($ a period)", "100,000")
    click(rc, "Reset")
    assert not any("not an amount of dollars" in a for a in alerts(rc))  # a new run, no old messages
    ended = app.ChannelApp(**{"vendor.rebate.rate": 0.05})
    ended.run()
    assert ended.steer({"vendor.rebate.rate": 0.07}) == ["The run has ended at quarter 40: press Reset to start again"]
    assert ended.steering == []


def test_apply_sends_only_what_was_changed_so_the_scenarios_own_schedule_stands():
    model = app.ChannelApp("rival_attack.toml")  # its rivals add 4 margin points from quarter 6
    widgets = app.widget_values(model.model_params())
    model.run(7)
    assert model.params.rivals.program.margin.base == pytest.approx(0.24)
    assert model.steer({**widgets, "vendor.rebate.rate": 0.05}) == []
    model.step()
    assert model.params.rivals.program.margin.base == pytest.approx(0.24)  # not put back to the widget's 0.20
    assert model.steering[0].values == {"vendor.rebate.rate": 0.05}


def test_a_change_undone_in_its_quarter_is_no_change_and_changes_of_one_quarter_are_one_entry():
    model = app.ChannelApp()
    widgets = app.widget_values(model.model_params())
    model.run(3)
    model.steer({**widgets, "vendor.mdf.budget": "0"})
    model.steer({**widgets, "vendor.mdf.budget": "0", "vendor.cams.count": 20})
    assert [(s.quarter, s.values) for s in model.steering] == [(4, {"vendor.mdf.budget": 0.0,
                                                                     "vendor.cams.count": 20})]
    assert [c.set for c in model.params.schedule] == [{"vendor.mdf.budget": 0.0, "vendor.cams.count": 20}]
    model.steer({**widgets, "vendor.mdf.budget": "500,000", "vendor.cams.count": 12})
    assert model.steering == [] and model.params.schedule == [] and model.changed_at() == []


def test_a_new_seed_waits_for_reset_and_a_seed_out_of_range_is_refused():
    model = app.ChannelApp()
    widgets = app.widget_values(model.model_params())
    model.run(2)
    assert model.steer({**widgets, "seed": "7"}) == [
        "Seed '7': a seed starts a new run; press Reset to run on it (Apply changes levers only)"]
    assert model.steering == []
    big = app.ChannelApp(seed=str(2**63))
    assert big.page_seed == 1 and big.problems == [
        "Seed: '9223372036854775808' is not a whole number from 0 to 2^63 - 1; using 1"]
    assert "seed = 1" in big.saved_scenario()


def test_reset_after_picking_a_scenario_keeps_that_scenario():
    rc = render_page()
    rc.find(v.Select, label="Scenario").widget.v_model = "rival_attack.toml"
    click(rc, "Step")
    click(rc, "Reset")
    assert rc.find(v.Select, label="Scenario").widget.v_model == "rival_attack.toml"
    assert any("Rivals add 4 margin points" in w.unsafe_innerHTML
               for w in rc.find(solara.widgets.HTML, tag="div").widgets)
    rc.find(v.Select, label="Scenario").widget.v_model = "healthcare_spif.toml"
    assert rc.find(v.Select, label="SPIF campaign vertical").widget.v_model == "healthcare"  # its levers' values
    click(rc, "Reset")
    assert rc.find(v.Select, label="SPIF campaign vertical").widget.v_model == "healthcare"
    assert rc.find(v.Select, label="Scenario").widget.v_model == "healthcare_spif.toml"


def test_save_as_scenario_gives_a_file_that_channelsim_run_reproduces_exactly(tmp_path):
    from sim import cli

    model, rc = render()
    rc.find(v.Slider, label="CAMs").widget.v_model = 18
    type_in(rc, "Seed", "5")
    click(rc, "Reset")  # levers at the start, on another seed
    steer_at_quarter_3(rc)
    for _ in range(3):
        click(rc, "Step")
    download = rc.find(solara.components.file_download.FileDownloadWidget).widget
    assert download.filename == "baseline-steered-seed5.toml"
    saved = tmp_path / download.filename
    saved.write_text(model.value.saved_scenario())
    assert cli.main(["run", str(saved), "--quarters", "6", "--out", str(tmp_path / "out")]) == 0
    written = pd.read_csv(tmp_path / "out" / "quarters.csv")
    assert written["replicate"].unique().tolist() == [0]
    shown = model.value.kpi_frame()
    pd.testing.assert_frame_equal(written[shown.columns], shown, check_dtype=False, rtol=1e-12)
    text = saved.read_text()
    assert "Changes during the run: from quarter 4: Rebate rate 0.03 → 0.08" in text and "CAMs 12 → 18" in text


def test_the_answer_is_the_paired_difference_since_the_last_change_and_follows_each_quarter():
    model, rc = render()
    steer_at_quarter_3(rc)
    assert answer_title(rc) == ""  # the change applies from quarter 4: nothing to answer yet
    for _ in range(2):
        click(rc, "Step")
    assert answer_title(rc) == ("Since the change from quarter 4 (quarters 4–5): this run against the baseline, "
                                "one run on seed 1")
    running = model.value
    steered, baseline = running.kpi_frame().iloc[3:5], running.baseline.kpi_frame().iloc[3:5]
    change = steered["revenue"].sum() - baseline["revenue"].sum()
    points = 100 * (steered["mindshare"].mean() - baseline["mindshare"].mean())
    shown = " ".join(texts(rc))
    def signed(value: float, digits: int) -> str:
        return f"{value:+.{digits}f}".replace("-", "−")

    assert f"Partner-sourced revenue {signed(100 * change / baseline['revenue'].sum(), 1)} %" in shown
    assert f"mindshare {signed(points, 2)} points" in shown or f"mindshare {signed(points, 1)} points" in shown
    assert "over the 2 quarters" in shown and "One paired draw, not an estimate" in shown
    assert "Mindshare of the others in the same quarters: rival_" in shown
    click(rc, "Step")
    assert "(quarters 4–6)" in answer_title(rc)


# --------------------------------------------------------------------------- results folders on the page


def render_page():
    @solara.component
    def Served():
        with solara.AppLayout():
            app.Page()

    return solara.render(Served(), handle_error=False)[1]


def test_viz_results_opens_the_folder_on_the_page_and_the_picker_lists_its_neighbours(monkeypatch, folders):
    monkeypatch.setenv("CHANNELSIM_RESULTS", str(folders["compare"]))
    rc = render_page()
    assert rc.find(v.BtnToggle, class_="view-picker").widget.v_model == 1  # "Results", not the channel
    picker = rc.find(v.Select, label="Results folder").widget
    assert picker.v_model == str(folders["compare"].resolve())
    assert set(picker.items) == {str(f.resolve()) for f in folders.values()}
    titles = [o["title"]["text"] for o in charts(rc)]
    assert any("difference from baseline" in t for t in titles)
    picker.v_model = str(folders["calibrate"].resolve())
    targets = pd.read_csv(folders["calibrate"] / "fit.csv")["target"].unique()
    titles = [o["title"]["text"] for o in charts(rc)]
    assert [t for t in titles if "observed and the calibrated model" in t] == [
        f"{target}: observed and the calibrated model (mean, 95 % bands)" for target in targets]
    rc.find(v.BtnToggle, class_="view-picker").widget.v_model = 0  # the channel, still there
    click(rc, "Step")
    assert shown_quarter(rc).startswith("Quarter 1 of 40")


def test_a_damaged_results_folder_is_a_message_on_the_page(monkeypatch, tmp_path, folders):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(folders["run"], damaged)
    (damaged / "quarters.csv").write_text("not,a\nrun")
    monkeypatch.setenv("CHANNELSIM_RESULTS", str(damaged))
    rc = render_page()
    assert any("quarters.csv" in a for a in alerts(rc)) and not charts(rc)


def test_no_results_folder_yet_is_said_on_the_page(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    rc = render_page()
    rc.find(v.BtnToggle, class_="view-picker").widget.v_model = 1
    assert any("No results folder in" in " ".join(map(str, w.children)) for w in rc.find(v.Alert).widgets)


def test_viz_refuses_a_results_folder_it_cannot_show(capsys, tmp_path):
    from sim import cli

    assert cli.main(["viz", "--results", str(tmp_path / "nope")]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"channelsim viz: --results {tmp_path / 'nope'}: ") and "no such folder" in said
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["viz", "--results", str(tmp_path)]) == 2
    assert "not a channelsim results folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- the levers table


def another_value(lever: app.Lever, params) -> tuple[object, object]:
    """A widget value other than the scenario's, and the parameter value it should set."""
    widget = lever.widget(params)
    if lever.kind == "money":
        amount = 2 * params.get(lever.path) + 1_000
        return f"${amount:,.0f}", amount
    if lever.kind == "choice":
        value = next(c for c in widget["values"] if c not in (widget["value"], "off", lever.blank))
        return value, value
    value = widget["value"] + widget["step"]
    value = value if value <= widget["max"] else widget["value"] - widget["step"]
    return value, value


def test_every_lever_is_a_widget_and_its_value_reaches_the_scenario_at_its_path():
    scenario = app.ChannelApp().scenario_params
    params = app.ChannelApp().model_params()
    assert list(params) == ["scenario_file", "seed", *(lever.path for lever in app.LEVERS)]
    assert len({lever.label for lever in app.LEVERS}) == len(app.LEVERS)
    for lever in app.LEVERS:
        assert params[lever.path]["label"] == lever.label
        assert params[lever.path]["value"] == lever.shown(scenario)
    wanted = {lever.path: another_value(lever, scenario) for lever in app.LEVERS}
    model = app.ChannelApp(**{path: value for path, (value, _) in wanted.items()})
    assert model.problems == []
    assert [label for label, _, _ in model.lever_changes] == [lever.label for lever in app.LEVERS]
    for path, (value, expected) in wanted.items():
        assert model.params.get(path) == expected != scenario.get(path), (path, value)
        assert model.baseline.params.get(path) == scenario.get(path)


def test_off_turns_the_switch_off_a_rule_turns_it_on_and_the_blank_choice_is_the_empty_value(monkeypatch, tmp_path):
    model = app.ChannelApp("healthcare_spif.toml", **{"vendor.spif_campaign.vertical": "(every vertical)",
                                                      "vendor.termination.rule": "off"})
    campaign = model.scenario_params.vendor.spif_campaign
    assert campaign.vertical == "healthcare" and model.params.vendor.spif_campaign.vertical == ""
    assert model.params.vendor.spif_campaign.enabled
    assert model.scenario_params.vendor.termination.enabled and not model.params.vendor.termination.enabled
    shown = {lever.label: lever.shown(model.params) for lever in app.LEVERS}
    assert shown["SPIF campaign vertical"] == "(every vertical)" and shown["Termination rule"] == "off"
    assert app.ChannelApp(**{"vendor.spif_campaign.vertical": "off"}).params.vendor.spif_campaign.enabled is False

    (tmp_path / "no_termination.toml").write_text("[vendor.termination]\nenabled = false\n")
    monkeypatch.setenv("CHANNELSIM_SCENARIO", str(tmp_path / "no_termination.toml"))
    model = app.ChannelApp()
    assert model.model_params()["vendor.termination.rule"]["value"] == "off"
    model = app.ChannelApp(**{"vendor.termination.rule": "revenue_floor"})
    assert model.params.vendor.termination.enabled and model.params.vendor.termination.rule == "revenue_floor"
    assert model.lever_changes == [("Termination rule", "off", "revenue_floor")]


def test_a_lever_added_to_the_table_is_a_widget_that_sets_its_parameter_on_reset(monkeypatch):
    added = (app.Lever("partners.inertia", "Partner inertia", "float", 0.0, 1.0, 0.05),
             app.Lever("vendor.rebate.period", "Rebate period", "choice"))  # choices from the tree
    monkeypatch.setattr(app, "LEVERS", (*app.LEVERS, *added))
    model, rc = render()
    assert model.value.params.partners.inertia == 0.3 and model.value.params.vendor.rebate.period == "quarter"
    assert rc.find(v.Select, label="Rebate period").widget.items == ["quarter", "year"]
    assert any("Partner inertia: 0.3 · Rebate period: quarter" in t for t in texts(rc))
    rc.find(v.Slider, label="Partner inertia").widget.v_model = 0.5
    rc.find(v.Select, label="Rebate period").widget.v_model = "year"
    click(rc, "Reset")
    assert model.value.params.partners.inertia == 0.5 and model.value.params.vendor.rebate.period == "year"
    assert model.value.baseline.params.partners.inertia == 0.3
    assert any("Partner inertia 0.3 → 0.5; Rebate period quarter → year" in t for t in texts(rc))


def test_a_value_for_no_lever_is_refused_and_a_choice_needs_choices():
    with pytest.raises(TypeError, match="no lever vendor.rebate.rat"):
        app.ChannelApp(**{"vendor.rebate.rat": 0.05})
    assert app.ChannelApp(vendor__rebate__rate=0.05).params.vendor.rebate.rate == 0.05  # as ChannelModel's
    with pytest.raises(TypeError, match="vendor.rebate.rate is not a choice"):
        app.Lever("vendor.rebate.rate", "Rebate rate", "choice").options(app.ChannelApp().params)


# --------------------------------------------------------------------------- the served page in Chromium


@pytest.fixture(scope="module")
def served():
    """One server for the browser tests of this file: each test's browser is a new session, with a model of its
    own (as the two-browser test shows)."""
    with serve.served("--partners", "300") as url:
        yield url


def chart_png(page, title: str) -> bytes:
    return page.locator(".solara-echarts").filter(has=page.locator("canvas")).nth(
        ["Mindshare", "Revenue", "Incentive", "Partners by tier", "Partners:"].index(title)).screenshot()


def hover_a_partner(page) -> str:
    """Move over the partner view until a partner's details show; its tooltip text."""
    view = page.locator(".solara-echarts").nth(4)
    view.scroll_into_view_if_needed()
    box = view.bounding_box()
    for fy in (0.5, 0.6, 0.7, 0.4, 0.8, 0.3):
        for fx in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(60)
            tip = view.get_by_text("last quarter", exact=False)  # ECharts puts its tooltip in the chart
            if tip.count() and tip.first.is_visible():
                return tip.first.inner_text()
    return ""


def drawn(png: bytes) -> bool:
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    return pixels.std() > 0.02  # axes, lines and bars, not a blank box


def test_the_app_in_a_real_browser(served, tmp_path):
    if not Path(serve.CHROMIUM).exists() and not os.environ.get("CHANNELSIM_REQUIRE_BROWSER"):
        pytest.skip(f"{serve.CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import expect

    with serve.chromium() as session:
        page = session.page
        serve.open_app(session, served)
        for quarter in (1, 2, 3):
            serve.step(session, quarter)
        expect(page.locator(".solara-echarts canvas")).to_have_count(5, timeout=30_000)
        page.wait_for_timeout(500)
        before = chart_png(page, "Mindshare")
        assert drawn(before)
        assert "people" in hover_a_partner(page)  # the partner view's details on hover

        # a change mid-run: MDF cut from quarter 4, the baseline going on beside it
        serve.apply_amount(session, "MDF budget ($ a quarter)", "0")
        expect(page.get_by_text("From quarter 4: MDF budget ($ a quarter) 500,000 → 0")).to_be_visible()
        for quarter in (4, 5, 6):
            serve.step(session, quarter)
        expect(page.get_by_text("Since the change from quarter 4 (quarters 4–6)")).to_be_visible()
        page.wait_for_timeout(500)
        parted = chart_png(page, "Mindshare")
        assert drawn(parted) and parted != before  # three more quarters, the baseline dashed and the change marked
        with page.expect_download() as download:
            page.get_by_text("Save as scenario").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == "baseline-steered-seed1.toml"
        assert '{ quarter = 4, set = { "vendor.mdf.budget" = 0.0 } }' in saved.read_text()

        slider = page.locator(".v-input").filter(has_text="Rebate rate").locator(".v-slider")
        slider.click(position={"x": slider.bounding_box()["width"] * 0.9, "y": 8})  # a rate near the top
        page.get_by_role("button", name="Reset").click()
        expect(page.get_by_text("Quarter 0 of 40")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Levers changed from the scenario: Rebate rate 0.03")).to_be_visible()
        serve.step(session, 1)
        serve.step(session, 2)
        page.wait_for_timeout(500)
        after = chart_png(page, "Mindshare")
        assert drawn(after) and after != before  # the new run, with its baseline dashed alongside

        page.get_by_role("button", name="▶").click()  # Play runs quarters until paused
        page.wait_for_function("() => parseInt(document.querySelector('h3.quarter').innerText.split(' ')[1]) >= 5",
                               timeout=30_000)
        page.get_by_role("button", name="❚❚").click()
        page.wait_for_timeout(500)
        paused = page.locator("h3.quarter").inner_text()
        page.wait_for_timeout(1_000)
        assert page.locator("h3.quarter").inner_text() == paused

        threshold = page.get_by_label("Rebate threshold ($ a period)")
        threshold.fill("a lot")
        threshold.press("Enter")
        page.get_by_role("button", name="Reset").click()
        expect(page.get_by_text("'a lot' is not an amount of dollars")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    assert (tmp_path / "app.png").stat().st_size > 10_000
    assert not session.failures, session.failures
    assert not session.errors, session.errors


def test_two_browsers_steer_their_own_channels(served):
    """Each browser (its own context: its own Solara session) has its own model: a change applied in one is not seen
    in the other, whose run goes on as before."""
    if not Path(serve.CHROMIUM).exists() and not os.environ.get("CHANNELSIM_REQUIRE_BROWSER"):
        pytest.skip(f"{serve.CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import expect

    with serve.browser() as new_session:
        one, two = new_session(), new_session()
        for session in (one, two):
            serve.open_app(session, served)
            serve.step(session, 1)
        serve.apply_amount(one, "MDF budget ($ a quarter)", "0")
        serve.apply_amount(two, "Rebate threshold ($ a period)", "250,000")
        for quarter in (2, 3):
            serve.step(one, quarter)
        serve.step(two, 2)
        expect(one.page.get_by_text("From quarter 2: MDF budget ($ a quarter) 500,000 → 0")).to_be_visible()
        expect(two.page.get_by_text("From quarter 2: Rebate threshold ($ a period) 100,000 → 250,000")).to_be_visible()
        assert "MDF budget" not in two.page.locator(".steer-record").all_inner_texts()[0]
        assert one.page.locator(".steer-record").count() == two.page.locator(".steer-record").count() == 1
        assert one.page.locator("h3.quarter").inner_text().startswith("Quarter 3 of")
        assert two.page.locator("h3.quarter").inner_text().startswith("Quarter 2 of")
        assert one.page.get_by_label("Rebate threshold ($ a period)").input_value() == "100,000"
    for session in (one, two):
        assert not session.failures and not session.errors, session.failures + session.errors


def test_a_results_folder_in_a_real_browser(folders):
    if not Path(serve.CHROMIUM).exists() and not os.environ.get("CHANNELSIM_REQUIRE_BROWSER"):
        pytest.skip(f"{serve.CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import expect

    with serve.served("--results", str(folders["compare"])) as url, serve.chromium() as session:
        page = session.page
        page.goto(url)
        expect(page.get_by_text("Quarter by quarter: the difference from the base")).to_be_visible(timeout=90_000)
        expect(page.locator(".solara-echarts canvas").first).to_be_visible(timeout=30_000)
        page.locator(".v-select").filter(has_text="Results folder").click()
        page.get_by_role("option", name=str(folders["grid"].resolve())).click()
        expect(page.get_by_text("grid design over", exact=False)).to_be_visible(timeout=30_000)
        expect(page.locator(".solara-echarts canvas").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1_000)
    assert not session.failures and not session.errors, session.failures + session.errors


def test_solara_run_serves_the_same_page(monkeypatch):
    if not Path(serve.CHROMIUM).exists() and not os.environ.get("CHANNELSIM_REQUIRE_BROWSER"):
        pytest.skip(f"{serve.CHROMIUM} is not installed (apt-get install chromium)")
    # --production: no file watcher, which needs an inotify instance (a shared, per-user limit on this machine)
    command = [sys.executable, "-m", "solara", "run", "sim/app.py", "--production", "--no-open", "--host", "127.0.0.1"]
    with serve.served(command=command) as url, serve.chromium() as session:
        serve.open_app(session, url)
        serve.step(session, 1)
    assert not session.failures and not session.errors, session.failures + session.errors


def test_viz_refuses_bad_input_before_serving(capsys, tmp_path):
    from sim import cli

    assert cli.main(["viz", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[vendor.rebate]\nrate = 2.0\n")
    assert cli.main(["viz", str(bad)]) == 2
    assert "vendor.rebate.rate" in capsys.readouterr().err
    assert cli.main(["viz", "--port", "0"]) == 2
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["viz", "--port", str(port)]) == 2
    assert f"--port {port}: already in use on 127.0.0.1" in capsys.readouterr().err
