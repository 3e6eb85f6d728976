"""Scenario files, rosters and the strategist's commands: run, compare, validate."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import ChannelModel, Partner, cli, report, runner, scenarios

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
MALFORMED = sorted((ROOT / "tests" / "malformed").glob("*.toml"))


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


def channelsim(*args) -> int:
    return cli.main([str(a) for a in args])


# ---------------------------------------------------------------- the library


def test_the_library_has_a_baseline_and_a_scenario_for_every_strategist_question():
    names = {p.stem for p in SHIPPED}
    assert "baseline" in names
    questions = {scenarios.load(p).params.meta.question for p in SHIPPED if p.stem != "baseline"}
    assert len(questions) >= 10
    for path in SHIPPED:
        text = path.read_text()
        assert text.lstrip().startswith("#"), f"{path.name} should open with a comment on what it changes"
        assert scenarios.load(path).params.meta.question


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates_and_runs(path):
    loaded = scenarios.load(path, {"quarters": 8})
    outcome = runner.run([(loaded.name, loaded.params)], replicates=2, seed=3, workers=1, progress=False)
    frame = outcome[loaded.name].quarters
    assert len(frame) == 16 and set(frame["replicate"]) == {0, 1}
    assert np.isfinite(frame.drop(columns=["scenario"]).to_numpy(dtype=float)).all()


def test_a_scenario_states_only_what_it_changes():
    base = scenarios.load(ROOT / "scenarios" / "baseline.toml").params
    attack = scenarios.load(ROOT / "scenarios" / "rival_attack_defend_rebate.toml")
    assert [p.name for p in attack.chain] == ["baseline.toml", "rival_attack.toml", "rival_attack_defend_rebate.toml"]
    # the schedules accumulate down the chain; everything else is the baseline's
    assert [(c.quarter, c.set) for c in attack.params.schedule] == [
        (6, {"rivals.program.margin.base": 0.24}), (7, {"vendor.rebate.rate": 0.06})]
    assert attack.params.model_dump(exclude={"meta", "schedule"}) == base.model_dump(exclude={"meta", "schedule"})


def test_a_scheduled_change_happens_at_its_quarter():
    loaded = scenarios.load(ROOT / "scenarios" / "rival_attack.toml", {"quarters": 8})
    model = ChannelModel(loaded.params, rng=1, partners__count=200)
    margins = []
    for _ in range(8):
        model.step()
        margins.append(model.vendors[1].margin_history[-1])  # the rival's list margin each quarter
    lines = loaded.params.rivals.program.margin.line_points()  # the product lines' points over the base
    assert margins[:5] == [pytest.approx(0.20 + lines)] * 5 and margins[5:] == [pytest.approx(0.24 + lines)] * 3


def test_the_baseline_file_is_the_models_default_channel():
    params = scenarios.load(ROOT / "scenarios" / "baseline.toml").params
    assert params.model_dump(exclude={"meta"}) == ChannelModel().params.model_dump(exclude={"meta"})


# ---------------------------------------------------------------- rosters


def test_a_roster_gives_the_starting_population():
    loaded = scenarios.load(ROOT / "scenarios" / "roster_example.toml")
    roster = pd.read_csv(ROOT / "scenarios" / "partners_example.csv")
    model = ChannelModel(loaded.params, rng=2)
    t = model.partners
    assert loaded.params.partners.count == len(roster) == t.n
    np.testing.assert_array_equal(t.external_id, roster["id"].to_numpy())
    np.testing.assert_array_equal(t.sales, roster["sales"].to_numpy())
    np.testing.assert_allclose(t.segment_mix[2], roster["enterprise"].to_numpy(), atol=1e-6)
    names = loaded.params.vendor.tiers.names
    assert [names[i] for i in t.tier[0]] == roster["tier"].tolist()
    # each partner's mindshare is tuned so that its expected revenue meets its trailing revenue
    big = roster["trailing_revenue"] > 100_000
    np.testing.assert_allclose(t.revenue_4q[0][big], roster["trailing_revenue"][big], rtol=0.15)
    assert model.agents_by_type[Partner][0].name == roster["name"][0]


def test_missing_roster_columns_are_drawn_from_the_generator(tmp_path):
    (tmp_path / "few.csv").write_text("id,sales\nA,4\nB,1\nC,12\n")
    (tmp_path / "few.toml").write_text('extends = "%s"\n[partners]\nroster = "few.csv"\n'
                                       % (ROOT / "scenarios" / "baseline.toml"))
    model = ChannelModel(scenarios.load(tmp_path / "few.toml").params, rng=1)
    np.testing.assert_array_equal(model.partners.sales, [4, 1, 12])
    np.testing.assert_allclose(model.partners.segment_mix.sum(axis=0), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("path", MALFORMED, ids=[p.stem for p in MALFORMED])
def test_bad_input_is_named_and_nothing_is_written(path, tmp_path, capsys):
    expected = path.read_bytes().split(b"\n", 1)[0].decode("ascii").removeprefix("# expect: ")
    out = tmp_path / "out"
    assert channelsim("run", path.relative_to(ROOT), "--out", out, "--workers", 1) == 2
    error = capsys.readouterr().err
    assert expected in error
    assert str(path.relative_to(ROOT)) in error or path.stem.split("roster_")[-1] in error
    assert "Traceback" not in error
    assert not out.exists()


def test_the_corpus_is_large_enough():
    rosters = [p for p in MALFORMED if "roster" in p.stem]
    assert len(MALFORMED) >= 25 and len(rosters) >= 5


def test_bad_input_leaves_an_existing_output_folder_unchanged(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    assert channelsim("run", "scenarios/baseline.toml", "--set", "vendor.margin.base=7", "--out", out) == 2
    assert "--set: vendor.margin.base = 7" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_validate_checks_scenarios_and_rosters_without_running(capsys):
    assert channelsim("validate", "scenarios/baseline.toml", "scenarios/partners_example.csv") == 0
    assert capsys.readouterr().out.count(": ok") == 2
    assert channelsim("validate", "scenarios/baseline.toml", "tests/malformed/rosters/bad_tier.csv") == 2
    captured = capsys.readouterr()
    assert "baseline.toml: ok" in captured.out and "'diamond' is not a tier" in captured.err


# ---------------------------------------------------------------- run and compare end to end


def final_year_from(quarters: pd.DataFrame) -> pd.DataFrame:
    """The summary's final-year KPIs, recomputed independently from quarters.csv."""
    last = quarters[quarters["quarter"] > quarters["quarter"].max() - 4]
    by_replicate = last.groupby(["scenario", "replicate"])
    out = pd.DataFrame({"revenue": by_replicate["revenue"].sum(), "mindshare": by_replicate["mindshare"].mean(),
                        "partners": by_replicate.apply(lambda g: g.sort_values("quarter")["partners"].iloc[-1],
                                                       include_groups=False)})
    return out


def test_run_writes_every_output_and_the_summary_agrees_with_the_quarters(tmp_path, capsys):
    out = tmp_path / "run"
    assert channelsim("run", "scenarios/healthcare_spif.toml", "--replicates", 3, "--quarters", 8, "--partners",
                      "--out", out, "--workers", 1) == 0
    printed = capsys.readouterr().out
    assert "revenue" in printed and "mindshare" in printed
    for name in ("quarters.csv", "summary.csv", "partners.parquet", "scenario.resolved.toml", "report.html",
                 "revenue.png", "mindshare.png", "spend.png", "partners.png"):
        assert (out / name).stat().st_size > 0, name
    quarters = pd.read_csv(out / "quarters.csv")
    assert list(quarters.columns[:3]) == ["scenario", "replicate", "quarter"]
    assert len(quarters) == 3 * 8
    summary = pd.read_csv(out / "summary.csv").set_index("kpi")
    recomputed = final_year_from(quarters)
    for kpi in ("revenue", "mindshare", "partners"):
        values = recomputed[kpi].to_numpy()
        assert summary.loc[kpi, "mean"] == pytest.approx(values.mean(), rel=1e-9)
        half = summary.loc[kpi, "ci_high"] - summary.loc[kpi, "mean"]
        assert half == pytest.approx(4.302652729 * values.std(ddof=1) / np.sqrt(3), rel=1e-6)  # t(0.975, 2)
    panel = pd.read_parquet(out / "partners.parquet")
    assert set(panel["replicate"]) == {0, 1, 2}
    assert panel.groupby(["replicate", "quarter"])["revenue"].sum().to_numpy() == pytest.approx(
        quarters.sort_values(["replicate", "quarter"])["revenue"].to_numpy(), rel=1e-4)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "healthcare SPIF" in page.lower() or "Healthcare" in page


def test_the_resolved_scenario_repeats_the_run_exactly(tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    assert channelsim("run", "scenarios/rebate_ladder.toml", "--replicates", 2, "--quarters", 8, "--seed", 11,
                      "--set", "vendor.mdf.budget=1500000.0", "--out", first, "--workers", 1) == 0
    resolved = tomllib.loads((first / "scenario.resolved.toml").read_text())
    assert resolved["run"]["seed"] == 11 and resolved["meta"]["version"]
    assert resolved["vendor"]["mdf"]["budget"] == 1_500_000.0
    assert channelsim("run", first / "scenario.resolved.toml", "--out", again, "--workers", 1) == 0
    assert (first / "quarters.csv").read_bytes() == (again / "quarters.csv").read_bytes()


def test_replicates_give_the_same_numbers_on_one_or_two_worker_processes():
    params = scenarios.load(ROOT / "scenarios" / "baseline.toml", {"quarters": 6}).params
    one = runner.run([("b", params)], replicates=5, seed=4, workers=1, progress=False)["b"].quarters
    two = runner.run([("b", params)], replicates=5, seed=4, workers=2, progress=False, parallel_from=0)["b"].quarters
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_quarters_are_byte_identical_with_one_and_two_workers(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["run", "scenarios/baseline.toml", "--replicates", 4, "--quarters", 6]
    assert channelsim(*args, "--workers", 1, "--out", one) == 0
    assert channelsim(*args, "--workers", 2, "--out", two) == 0
    assert (one / "quarters.csv").read_bytes() == (two / "quarters.csv").read_bytes()
    assert (one / "summary.csv").read_bytes() == (two / "summary.csv").read_bytes()


def test_compare_reports_paired_differences_for_each_scenario(tmp_path, capsys):
    out = tmp_path / "compare"
    assert channelsim("compare", "scenarios/baseline.toml", "scenarios/deal_registration.toml",
                      "scenarios/rival_attack.toml", "--replicates", 4, "--quarters", 10, "--out", out,
                      "--workers", 2) == 0
    assert "difference from baseline" in capsys.readouterr().out
    compared = pd.read_csv(out / "comparison.csv")
    assert set(compared["scenario"]) == {"deal_registration", "rival_attack"}
    quarters = pd.read_csv(out / "quarters.csv")
    final = final_year_from(quarters)["revenue"].unstack(0)
    row = compared[(compared["scenario"] == "rival_attack") & (compared["kpi"] == "revenue")].iloc[0]
    assert row["difference"] == pytest.approx((final["rival_attack"] - final["baseline"]).mean(), rel=1e-9)
    assert row["difference"] < 0 and row["ci_high"] < 0  # the attack costs revenue, clearly
    assert "revenue_per_extra_program_dollar" in set(compared["kpi"])
    for name in ("summary.csv", "report.html", "baseline.resolved.toml", "rival_attack.resolved.toml",
                 "revenue.png"):
        assert (out / name).exists(), name


def test_paired_seeds_narrow_the_interval_of_a_difference():
    base = scenarios.load(ROOT / "scenarios" / "baseline.toml", {"quarters": 12}).params
    other = scenarios.load(ROOT / "scenarios" / "deal_registration.toml", {"quarters": 12}).params
    paired = runner.run([("base", base), ("other", other)], replicates=8, seed=5, progress=False)
    unpaired_other = runner.run([("other", other)], replicates=8, seed=6, progress=False)
    base_final = report.final_year(paired["base"].quarters)["revenue"].to_numpy()
    other_final = report.final_year(paired["other"].quarters)["revenue"].to_numpy()
    independent = report.final_year(unpaired_other["other"].quarters)["revenue"].to_numpy()
    _, low, high, _ = report.interval(other_final - base_final)
    paired_width = high - low
    standard_error = np.sqrt(base_final.var(ddof=1) / 8 + independent.var(ddof=1) / 8)
    unpaired_width = 2 * 2.145 * standard_error  # Welch, about 14 degrees of freedom
    assert paired_width < 0.25 * unpaired_width
