"""The folder `run` and `compare` write comes from the library: what it holds is what the command says,
and the headline table shows a run's means or a comparison's differences from its first scenario."""

from pathlib import Path

import pandas as pd

from sim import report, results, runner, scenarios

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
SMALL = {"quarters": 2, "partners.count": 60, "run.replicates": 2}


def written(tmp_path: Path, kind: str, paths: list[Path], partners: bool = False, sets: list[dict] | None = None):
    """The results of `paths`, each small, with its own `sets` (dotted path -> value) if given."""
    loaded = [scenarios.load(path, {**SMALL, **extra}) for path, extra in zip(paths, sets or [{}] * len(paths),
                                                                              strict=True)]
    names = results.unique_names(loaded)
    outcomes = runner.run(results.prepare_runs(loaded, names), 2, loaded[0].params.run.seed, partners=partners,
                          progress=False)
    out = tmp_path / kind
    return out, names, results.write(out, kind, loaded, names, outcomes)


def test_a_runs_folder_holds_what_the_command_lists_and_its_table_the_headline_means(tmp_path):
    out, names, done = written(tmp_path, "run", [BASELINE])
    assert names == ["baseline"] and done.title == "baseline: Baseline channel"
    assert done.files == ["report.html", "quarters.csv", "summary.csv", "cohorts.csv", "figures"]
    held = {p.name for p in out.iterdir()}
    assert held == {".channelsim", "report.html", "quarters.csv", "summary.csv", "cohorts.csv",
                    "scenario.resolved.toml", "revenue.png", "mindshare.png", "spend.png", "partners.png",
                    "cohorts.png"}
    assert done.window == (1, 2)  # the final year of a two-quarter run
    assert list(done.table.columns) == ["baseline"] and list(done.table.index) == report.HEADLINE
    summary = report.summary(report.final_year(pd.read_csv(out / "quarters.csv")))
    mean = summary.set_index("kpi").loc["partners", "mean"]
    assert done.table.loc["partners", "baseline"].startswith(report.number(mean) + " [")


def test_a_comparison_names_a_repeated_scenario_apart_and_shows_differences_from_the_first(tmp_path):
    out, names, done = written(tmp_path, "compare", [BASELINE, BASELINE], partners=True)
    assert names == ["baseline", "baseline_2"] and done.title == "baseline_2 against baseline"
    assert done.files == ["report.html", "quarters.csv", "summary.csv", "comparison.csv", "sources.csv",
                          "differences.csv", "cohorts.csv", "responders.csv", "answers.csv", "partners.parquet",
                          "figures"]
    assert {"comparison.csv", "sources.csv", "differences.csv", "responders.csv", "partners.parquet",
            "baseline.resolved.toml", "baseline_2.resolved.toml", "differences.png"} <= {p.name for p in out.iterdir()}
    assert len(done.cards) == 1 and done.cards[0].scenario == "baseline_2"
    card = pd.read_csv(out / "answers.csv").iloc[0]
    assert (card["scenario"], card["first_quarter"], card["last_quarter"]) == ("baseline_2", 1, 2)
    assert card["answer"] == done.cards[0].sentence
    assert list(done.table.columns) == ["base", "baseline_2", "baseline_2 %"]
    assert list(done.table.index) == report.SHOWN
    # the same scenario on the same seeds: every difference is nought, and nothing was paid extra to divide by
    assert (done.table.loc[report.HEADLINE, "baseline_2"] == "0 [0, 0]").all()
    summary = pd.read_csv(out / "summary.csv").query("scenario == 'baseline'").set_index("kpi")
    assert done.table.loc["revenue", "base"] == report.number(summary.loc["revenue", "mean"])
    assert done.table.loc["revenue", "baseline_2 %"] == "+0.0 %"
    assert done.table.loc[report.PER_EXTRA_DOLLAR, "baseline_2"] == "– [–, –]"


def test_each_scenario_runs_on_the_first_ones_seed_and_replicates_and_is_stamped():
    loaded = [scenarios.load(BASELINE, {"run.seed": 7, "run.replicates": 3}),
              scenarios.load(ROOT / "scenarios" / "rival_attack.toml", {"run.replicates": 5})]
    runs = results.prepare_runs(loaded, results.unique_names(loaded))
    assert [name for name, _ in runs] == ["baseline", "rival_attack"]
    assert {(p.run.seed, p.run.replicates) for _, p in runs} == {(7, 3)}
    assert all(p.meta.name == name and p.meta.version for name, p in runs)


def test_a_proposal_named_scenario_keeps_its_own_resolved_file_beside_the_bases(tmp_path):
    proposal = {"meta.name": "scenario", "vendor.mdf.budget": 1_500_000.0}
    out, names, _ = written(tmp_path, "compare", [BASELINE, BASELINE], sets=[{}, proposal])
    assert names == ["baseline", "scenario"]
    held = {p.name for p in out.iterdir() if p.name.endswith(".resolved.toml")}
    assert held == {"baseline.resolved.toml", "scenario.resolved.toml"}
    base, other = (scenarios.load(out / f"{name}.resolved.toml").params for name in names)
    assert (base.meta.name, other.meta.name) == ("baseline", "scenario")
    assert other.vendor.mdf.budget == 1_500_000.0 != base.vendor.mdf.budget  # each file holds its own scenario


def quarters_of(scenario: str, revenue: float, discount: float, rebate: float, certification: float):
    """Four quarters of three replicates, the same every quarter: revenue, the discount, a rebate (booked against
    revenue) and certification funding (an operating cost)."""
    spend = rebate + certification
    return pd.DataFrame([{"scenario": scenario, "replicate": r, "quarter": q, "revenue": revenue + r,
                          "net_revenue": revenue + r - discount - rebate, "discount": discount,
                          "spend_rebate": rebate, "spend_certification": certification, "spend_total": spend,
                          "mdf_allocated": 0.0, "mdf_claimed": 0.0} for r in range(3) for q in range(1, 5)])


def test_the_revenue_per_extra_dollar_counts_every_dollar_the_programme_costs():
    base = quarters_of("base", revenue=100.0, discount=10.0, rebate=5.0, certification=0.0)
    funded = quarters_of("funded", revenue=130.0, discount=13.0, rebate=5.0, certification=2.0)
    final = report.final_year(pd.concat([base, funded], ignore_index=True)).set_index("scenario")
    assert final.loc["funded", "incentive_spend"].tolist() == [20.0] * 3  # the rebate: certifications are operating
    assert final.loc["funded", "partner_payments"].tolist() == [72.0] * 3  # discount + incentives
    assert final.loc["funded", "program_cost"].tolist() == [80.0] * 3  # discount + every instrument's spend
    compared = report.comparison(final.reset_index(), "base", ["funded"]).set_index("kpi")
    # +120 of revenue for +12 of discount and +8 of certification funding: 6 a dollar, not the 10 a dollar of
    # what partners are paid
    assert compared.loc[report.PER_EXTRA_DOLLAR, ["difference", "ci_low", "ci_high"]].tolist() == [6.0] * 3
