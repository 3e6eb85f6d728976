"""Answers, not averages: windows and event studies, recruit cohorts (Kaplan-Meier), answer cards, clean
scenarios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import answers, cli, cohorts, report, runner, scenarios
from sim.model import ChannelModel
from sim.params import Meta

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios"
SMALL = {"quarters": 12, "partners.count": 300}


def channelsim(*args) -> int:
    return cli.main([str(a) for a in args])


def load(name: str, **overrides):
    return scenarios.load(LIBRARY / name, {**SMALL, **overrides}).params


@pytest.fixture(scope="module")
def healthcare():
    """The baseline and the healthcare SPIF on the same 6 seeds: quarters and recruit logs."""
    outcomes = runner.run([("baseline", load("baseline.toml")), ("spif", load("healthcare_spif.toml"))], 6, 1,
                          progress=False)
    return outcomes


# --------------------------------------------------------------------------- windows and event studies


def test_a_window_reads_the_quarters_it_names_and_the_differences_are_the_paired_quarters(healthcare):
    quarters = pd.concat([healthcare[n].quarters for n in ("baseline", "spif")], ignore_index=True)
    window = report.window_kpis(quarters, (6, 9)).set_index(["scenario", "replicate"])
    summed = quarters[quarters["quarter"].between(6, 9)].groupby(["scenario", "replicate"])
    assert np.array_equal(window["revenue"], summed["revenue"].sum().loc[window.index])
    assert np.allclose(window["mindshare"], summed["mindshare"].mean().loc[window.index], rtol=1e-12)
    assert np.array_equal(window["partners"], summed["partners"].last().loc[window.index])  # a stock: at its end
    assert np.array_equal(report.final_year(quarters), report.window_kpis(quarters, (9, 12)))

    diffs = report.differences(quarters, "baseline", ["spif"]).set_index(["quarter", "kpi"])
    wide = quarters.set_index(["scenario", "replicate", "quarter"])
    paired = (wide.loc["spif", "revenue"] - wide.loc["baseline", "revenue"]).groupby(level="quarter")
    assert np.allclose(diffs.xs("revenue", level="kpi")["difference"], paired.mean(), rtol=1e-12, atol=1e-6)
    low, high = diffs.loc[(7, "revenue"), ["ci_low", "ci_high"]]
    mean, ci_low, ci_high, _ = report.interval(paired.get_group(7).to_numpy())
    assert (low, high) == pytest.approx((ci_low, ci_high))
    # before the campaign (and the quarter before it, when partners hold deals back) nothing differs
    assert (diffs.loc[(slice(1, 4), slice(None)), ["difference", "ci_low", "ci_high"]] == 0).all().all()


def test_a_spif_pulls_deals_forward_and_the_quarter_after_dips():
    base = load("baseline.toml", quarters=10)
    spif = load("baseline.toml", quarters=10, **{"vendor.spif_campaign.enabled": True,
                                                  "vendor.spif_campaign.amount": 5_000.0,
                                                  "vendor.spif_campaign.start": 6, "vendor.spif_campaign.every": 0})
    outcomes = runner.run([("base", base), ("spif", spif)], 6, 1, progress=False)
    quarters = pd.concat([outcomes[n].quarters for n in ("base", "spif")], ignore_index=True)
    revenue = report.differences(quarters, "base", ["spif"]).query("kpi == 'revenue'").set_index("quarter")
    held, window, after, later = (revenue.loc[q] for q in (5, 6, 7, 8))
    assert held["ci_high"] < 0  # deals held back into the window
    assert window["ci_low"] > 0  # the window: its own deals, the held ones and next quarter's pulled forward
    assert after["difference"] < window["difference"] and after["difference"] < later["difference"]  # the dip


# --------------------------------------------------------------------------- recruit cohorts


def log(rows):
    return pd.DataFrame(rows, columns=["partner_id", "joined", "first_deal", "left", "end"])


def test_kaplan_meier_against_a_hand_computed_case():
    # joined in quarter 4: deals after 1, 1, 2, 3 quarters; censored at 0 (left at once), 2 (left, no deal) and
    # 5 (still without a deal at the end). Risk sets: 6 at t=1 (2 deal), 4 at t=2 (1 deal), 2 at t=3 (1 deal).
    recruits = log([(1, 4, 5, -1, 9), (2, 4, 5, -1, 9), (3, 4, 6, -1, 9), (4, 4, 7, 8, 9), (5, 4, -1, 4, 9),
                    (6, 4, -1, 6, 9), (7, 4, -1, -1, 9)])
    time, dealt = cohorts.durations(recruits)
    assert time.tolist() == [1, 1, 2, 3, 0, 2, 5] and dealt.tolist() == [True] * 4 + [False] * 3
    got = cohorts.measures(recruits)
    s1 = 1 - 2 / 6
    s2 = s1 * (1 - 1 / 4)
    s3 = s2 * (1 - 1 / 2)
    assert got["dealt_within_1"] == pytest.approx(1 - s1)
    assert got["dealt_within_2"] == pytest.approx(1 - s2)
    assert got["dealt_within_4"] == pytest.approx(1 - s3)
    assert got["median"] == 2.0  # S(2) = 0.5
    # dropping the censored recruits (a median over those that dealt) would claim every recruit deals by t = 3
    assert got["dealt_within_4"] < 1.0
    assert np.isnan(cohorts.measures(log([(1, 4, -1, -1, 9)]))["median"])


def test_every_recruit_is_logged_once_with_its_fate_and_a_lane_logs_what_it_logs_alone():
    together = ChannelModel(seeds=[3, 4], quarters=12, partners__count=150)
    together.run()
    alone = ChannelModel(rng=4, quarters=12, partners__count=150)
    alone.run()
    pd.testing.assert_frame_equal(together.recruit_log(1), alone.recruit_log())
    frame = alone.lane_frames()[0]
    recruits = alone.recruit_log()
    assert len(recruits) == frame["recruits"].sum() and recruits["partner_id"].is_unique
    assert (recruits["left"] >= 0).sum() == len(recruits) - (alone.partners.joined > 0).sum()
    dealt = recruits[recruits["first_deal"] > 0]
    assert (dealt["first_deal"] > dealt["joined"]).all()
    gone = recruits[recruits["left"] >= 0]
    assert (gone["left"] >= gone["joined"]).all() and (recruits["end"] == 12).all()


def test_certification_funding_shows_in_the_recruits_survival_curves():
    outcomes = runner.run([("baseline", load("baseline.toml", quarters=16)),
                           ("funded", load("certification_funding.toml", quarters=16))], 6, 1, progress=False)
    recruits = pd.concat([outcomes[n].recruits for n in ("baseline", "funded")], ignore_index=True)
    changed = cohorts.comparison(cohorts.table(recruits), "baseline", ["funded"]).set_index(["cohort", "measure"])
    assert changed.loc[("all", "dealt_within_4"), "ci_low"] > 0.05  # more recruits deal within a year
    assert changed.loc[("all", "median"), "ci_high"] < 0  # and sooner
    assert changed.loc[("year 1", "dealt_within_2"), "difference"] == 0  # recruits of year 1 were past it by q6


# --------------------------------------------------------------------------- answer cards


def comparison_rows(revenue, cost, gross):
    """A comparison of one scenario 'x' with the given paired changes (3 replicates)."""
    final = pd.DataFrame({"scenario": ["b"] * 3 + ["x"] * 3, "replicate": [0, 1, 2] * 2})
    for kpi, change in (("revenue", revenue), ("program_cost", cost), ("vendor_gross_profit", gross),
                        ("mindshare", (0.0, 0.0, 0.0))):
        final[kpi] = np.r_[[100.0, 110.0, 90.0] if kpi != "mindshare" else [0.3] * 3,
                           np.add([100.0, 110.0, 90.0] if kpi != "mindshare" else [0.3] * 3, change)]
    return report.comparison(final, "b", ["x"])


def test_the_card_says_the_headline_in_percent_with_its_interval_and_leaves_the_return_blank_when_cost_fell():
    meta = Meta(question="What if?", kpis=["revenue"])
    compared = comparison_rows(revenue=(-5.0, -6.0, -4.0), cost=(-2.0, -3.0, -1.0), gross=(-2.0, -2.0, -2.0))
    card = answers.card("x", meta, (5, 8), compared, report.sources(compared))
    assert card.sentence.startswith("Partner-sourced revenue -5.0 % [") and "over quarters 5–8" in card.sentence
    assert "incentive ROI blank: program_cost fell" in card.sentence
    per_dollar = compared.set_index("kpi").loc[report.PER_EXTRA_DOLLAR]
    assert np.isnan(per_dollar["difference"]) and "fell" in per_dollar["note"]
    rising = comparison_rows(revenue=(5.0, 6.0, 4.0), cost=(2.0, 3.0, 1.0), gross=(4.0, 4.5, 3.0))
    card = answers.card("x", meta, (5, 8), rising, report.sources(rising))
    assert "incentive ROI 0.92 [" in card.sentence  # (3.83 - 2) / 2
    flat = comparison_rows(revenue=(1.0, -1.0, 0.5), cost=(2.0, 3.0, 1.0), gross=(1.0, -1.0, 0.0))
    assert "(not told apart from no change)" in answers.card("x", meta, (5, 8), flat, report.sources(flat)).sentence


SHIPPED = sorted(p.name for p in LIBRARY.glob("*.toml") if p.name not in ("baseline.toml", "roster_example.toml"))


def test_every_shipped_scenario_declares_the_question_it_answers_and_what_answers_it():
    numbers = set()
    names = set(ChannelModel(rng=1, quarters=1, partners__count=20).lane_frames()[0].columns)
    names |= {"program_cost", "incentive_spend", "partner_payments", "channel_share"}
    for name in SHIPPED:
        meta = scenarios.load(LIBRARY / name).params.meta
        assert meta.answers is not None and meta.question, name
        assert set(meta.kpis) <= names, (name, set(meta.kpis) - names)
        numbers.add(meta.answers)
    assert numbers == set(range(1, 11))


def test_the_healthcare_spif_runs_on_top_of_the_baselines_yearly_spif():
    base, spif = load("baseline.toml"), load("healthcare_spif.toml")
    assert spif.vendor.spif == base.vendor.spif and spif.vendor.spif_campaign.enabled
    assert not base.vendor.spif_campaign.enabled and spif.vendor.spif_campaign.vertical == "healthcare"


def test_compare_opens_with_the_answer_card_and_writes_the_event_study(tmp_path, capsys):
    out = tmp_path / "spif"
    assert channelsim("compare", "scenarios/baseline.toml", "scenarios/healthcare_spif.toml", "--replicates", 3,
                      "--quarters", 10, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "read over quarters 5–9 (meta.window of scenarios/healthcare_spif.toml)" in printed
    assert "healthcare_spif: If we add a healthcare SPIF" in printed and "Mindshare +" in printed
    page = (out / "report.html").read_text()
    assert page.index("class='card'") < page.index("Against the base (quarters 5–9")
    assert "By alignment:" in page  # the groups it declares, from the panel compare records for them
    diffs = pd.read_csv(out / "differences.csv")
    assert set(diffs["quarter"]) == set(range(1, 11)) and {"revenue", "mindshare"} <= set(diffs["kpi"])
    assert (out / "differences.png").exists() and (out / "responders.csv").exists()
    quarters = pd.read_csv(out / "quarters.csv")
    compared = pd.read_csv(out / "comparison.csv").set_index("kpi")
    sums = quarters[quarters["quarter"].between(5, 9)].groupby(["scenario", "replicate"])["revenue"].sum()
    assert compared.loc["revenue", "difference"] == pytest.approx(
        (sums["healthcare_spif"] - sums["baseline"]).mean(), rel=1e-9)


@pytest.mark.parametrize("window, problem", [("0:4", "1 <= first <= last <= 10"), ("5:3", "1 <= first"),
                                             ("a:b", "FIRST:LAST"), ("3:11", "<= 10"), ("1:2:3", "FIRST:LAST")])
def test_a_bad_window_is_refused_before_any_work_and_nothing_is_written(window, problem, tmp_path, capsys):
    out = tmp_path / "never"
    code = channelsim("compare", "scenarios/baseline.toml", "scenarios/healthcare_spif.toml", "--quarters", 10,
                      "--window", window, "--out", out)
    assert code == 2 and problem in capsys.readouterr().err and not out.exists()


def test_every_shipped_scenario_gets_its_answer_card_each_over_its_own_window(tmp_path, capsys):
    out = tmp_path / "all"
    shipped = [f"scenarios/{name}" for name in SHIPPED]
    assert channelsim("compare", "scenarios/baseline.toml", *shipped, "--replicates", 2, "--quarters", 12,
                      "--set", "partners.count=150", "--workers", 1, "--out", out) == 0
    printed = capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert page.count("<div class='card'>") == len(SHIPPED) + 1  # and, first, the scenarios ranked
    assert printed.splitlines()[1].startswith("Ranked by partner-sourced revenue over quarters 9–12: ")
    lines = printed.splitlines()
    for name in SHIPPED:
        meta = scenarios.load(LIBRARY / name).params.meta
        sentence = lines[lines.index(f"{name.removesuffix('.toml')}: {meta.question}") + 1]  # under its question
        window = meta.span() or (9, 12)
        assert f"over {report.window_label(window)}" in sentence, (name, sentence)
        assert "programme cost" in sentence and "incentive ROI" in sentence, name
    marginal = pd.read_csv(out / "marginal.csv")
    assert set(marginal["scenario"]) == {"cam_deployment"} and set(marginal["lever"]) == {"cam_hours"}
    assert "The next CAM hour" in printed  # its return, or that 2 replicates cannot tell it from none
    assert "Recruits who joined from quarter 6 with a first deal within 4 quarters" in printed  # cohorts declared


def test_over_a_window_the_sources_of_the_mindshare_change_sum_to_minus_the_focal_change(healthcare):
    quarters = pd.concat([healthcare[n].quarters for n in ("baseline", "spif")], ignore_index=True)
    compared = report.comparison(report.window_kpis(quarters, (6, 9)), "baseline", ["spif"])
    shares = report.sources(compared).query("measure == 'mindshare'").set_index("source")["difference"]
    assert shares["focal"] > 0 and {"rival_1", "rival_2", "services"} <= set(shares.index)
    assert shares.drop("focal").sum() == pytest.approx(-shares["focal"], rel=1e-4)  # (shares kept in float32)
    card = answers.card("spif", load("healthcare_spif.toml").meta, (6, 9), compared, report.sources(compared))
    named = card.sentence.split("(")[1].split(" points)")[0]  # "rival_2 -0.06, rival_1 -0.05, partners' ..."
    parts = [float(p.rsplit(" ", 1)[1]) for p in named.split(", ")]
    assert len(parts) == 3 and parts == sorted(parts)  # the source it took most from first
    assert sum(parts) == pytest.approx(-100 * shares["focal"], abs=0.02)  # in points, to rounding


def test_a_kpi_the_run_does_not_have_is_refused_before_any_run_and_a_window_beyond_the_horizon_is_said(
        tmp_path, capsys):
    scenario = tmp_path / "typo.toml"
    scenario.write_text(f'extends = "{LIBRARY / "baseline.toml"}"\n[meta]\nkpis = ["revenue", "revnue"]\n')
    out = tmp_path / "never"
    assert channelsim("compare", "scenarios/baseline.toml", scenario, "--quarters", 4, "--out", out) == 2
    err = capsys.readouterr().err
    assert "typo.toml: meta.kpis: 'revnue' is not a KPI of this scenario (did you mean 'revenue'?)" in err
    assert "program_cost" in err and not out.exists()
    assert channelsim("compare", "scenarios/baseline.toml", "scenarios/healthcare_spif.toml", "--quarters", 8,
                      "--replicates", 2, "--out", tmp_path / "short") == 0
    assert ("read over quarters 5–8 (the final year: meta.window [5, 9] of scenarios/healthcare_spif.toml lies "
            "beyond the 8 quarters run)") in capsys.readouterr().out


def test_no_share_dealing_within_k_quarters_is_claimed_beyond_what_was_followed():
    recruits = log([(1, 4, 5, -1, 6), (2, 4, -1, -1, 6), (3, 5, 6, -1, 6)])  # followed 2, 2 and 1 quarters
    got = cohorts.measures(recruits)
    assert got["dealt_within_1"] == pytest.approx(2 / 3) and got["dealt_within_2"] == pytest.approx(2 / 3)
    assert np.isnan(got["dealt_within_4"])
    everyone = cohorts.measures(log([(1, 4, 5, -1, 6), (2, 5, 6, -1, 6)]))  # all dealt within a quarter
    assert everyone["dealt_within_4"] == 1.0
