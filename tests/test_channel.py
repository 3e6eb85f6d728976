"""Claims about the core channel: partners answer offers, the market answers effort."""

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import ChannelModel, Partner, Vendor

from conftest import check_invariants


def final(frame: pd.DataFrame, column: str, last: int = 1) -> float:
    return float(frame[column].iloc[-last:].mean())


# ---------------------------------------------------------------- invariants


def test_the_default_channel_runs_with_every_invariant_each_quarter():
    model = ChannelModel(rng=11, quarters=10)
    for _ in range(10):
        model.step()
        check_invariants(model)
    assert not model.running
    frame = model.kpi_frame()
    assert list(frame["quarter"]) == list(range(1, 11))
    assert (frame["revenue"] > 0).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    margin=st.floats(0.0, 0.6), rebate_rate=st.floats(0.0, 0.2), threshold=st.floats(0.0, 2e6),
    retroactive=st.booleans(), period=st.sampled_from(["quarter", "year"]), mdf_budget=st.floats(0.0, 5e6),
    cams=st.integers(0, 50), inertia=st.floats(0.0, 1.0), growth=st.floats(-0.1, 0.2),
    rivals=st.integers(0, 3), count=st.integers(1, 120), push=st.floats(0.0, 10.0),
    rebate_budget=st.floats(1.0, 1e7), seed=st.integers(0, 2**31),
)
def test_invariants_hold_under_random_parameters(margin, rebate_rate, threshold, retroactive, period, mdf_budget,
                                                  cams, inertia, growth, rivals, count, push, rebate_budget, seed):
    model = ChannelModel(
        rng=seed, quarters=5, partners__count=count, partners__inertia=inertia, market__growth=growth,
        rivals__count=rivals, vendor__margin__base=margin, vendor__rebate__rate=rebate_rate,
        vendor__rebate__threshold=threshold, vendor__rebate__retroactive=retroactive,
        vendor__rebate__period=period, vendor__rebate__budget=rebate_budget, vendor__mdf__budget=mdf_budget,
        vendor__cams__count=cams, vendor__push={"healthcare": push, "retail": 1.0 + push / 2},
    )
    for _ in range(5):
        model.step()
        check_invariants(model)


# ---------------------------------------------------------------- reproducibility


def test_the_same_seed_gives_bit_identical_results():
    a = ChannelModel(rng=5, partners__count=400, quarters=6, record_partners=True)
    b = ChannelModel(rng=5, partners__count=400, quarters=6, record_partners=True)
    pd.testing.assert_frame_equal(a.run(), b.run(), check_exact=True)
    pd.testing.assert_frame_equal(a.partner_panel(), b.partner_panel(), check_exact=True)
    for name in a.partners.columns:
        if name != "agent":
            np.testing.assert_array_equal(getattr(a.partners, name), getattr(b.partners, name))


def test_different_seeds_give_different_channels():
    a = ChannelModel(rng=5, partners__count=400, quarters=4).run()
    b = ChannelModel(rng=6, partners__count=400, quarters=4).run()
    assert not np.allclose(a["revenue"], b["revenue"])


def test_adding_a_partner_leaves_every_other_partners_draws_unchanged():
    base = ChannelModel(rng=9, partners__count=300, quarters=1)
    more = ChannelModel(rng=9, partners__count=301, quarters=1)
    for column in ("headcount", "sales", "technical", "marketing", "segment_mix", "verticals", "taste"):
        np.testing.assert_array_equal(getattr(base.partners, column), getattr(more.partners, column)[..., :300])
    for name in ("deals.won", "deals.size", "deals.split"):
        np.testing.assert_array_equal(base.streams.uniform_rows(name, 4, 9),
                                      more.streams.uniform_rows(name, 4, 9)[:300])


# ---------------------------------------------------------------- partners answer offers


def mean_mindshare_gain(seeds=range(20), quarters=6, **change):
    gains = []
    for seed in seeds:
        base = ChannelModel(rng=seed, partners__count=300, quarters=quarters).run()
        other = ChannelModel(rng=seed, partners__count=300, quarters=quarters, **change).run()
        gains.append(final(other, "mindshare") - final(base, "mindshare"))
    return float(np.mean(gains)), gains


def test_a_higher_focal_margin_raises_its_mindshare_averaged_over_20_seeds():
    gain, gains = mean_mindshare_gain(vendor__margin__base=0.25)
    assert gain > 0.04
    assert all(g > 0 for g in gains)


def test_a_higher_rebate_raises_focal_mindshare_averaged_over_20_seeds():
    gain, gains = mean_mindshare_gain(vendor__rebate__rate=0.06)
    assert gain > 0.01
    assert sum(g > 0 for g in gains) >= 19


def test_identical_vendors_with_no_push_get_equal_shares():
    # the focal vendor runs the rivals' program (the lifecycle rules are the focal vendor's alone); no
    # idiosyncrasy and no spread in starting relationships: every line is the same to every partner
    same = {"vendor__termination__enabled": False, "vendor__recruitment__enabled": False}
    model = ChannelModel(rng=2, partners__count=300, partners__attraction__idiosyncrasy=0.0,
                         partners__capability__spread=0.0, partners__goodwill__spread=0.0, **same)
    effort = model.partners.effort
    np.testing.assert_allclose(effort[0], effort[1], rtol=1e-5)
    np.testing.assert_allclose(effort[0], effort[2], rtol=1e-5)
    # with the default population the shares differ only by sampling noise, in either direction
    gaps = []
    for seed in range(12):
        frame = ChannelModel(rng=seed, partners__count=300, quarters=4, **same).run()
        gaps.append(final(frame, "mindshare") - final(frame, "mindshare_rival_1"))
    assert abs(np.mean(gaps)) < 3 * np.std(gaps) / np.sqrt(len(gaps)) + 1e-3


def test_with_zero_inertia_effort_does_not_move():
    model = ChannelModel(rng=4, partners__count=200, partners__inertia=0.0, vendor__margin__base=0.4)
    t = model.partners
    before = dict(zip(t.pid.tolist(), t.effort.T.copy(), strict=True))
    model.run(5)
    founders = t.joined <= 0  # partners that stayed (recruits start with their own split)
    assert founders.sum() > 150
    for pid, effort in zip(t.pid[founders].tolist(), t.effort.T[founders], strict=True):
        np.testing.assert_array_equal(effort, before[pid])


def test_a_push_toward_a_vertical_partners_prioritise_moves_more_effort():
    lean = {"healthcare": 4.0}

    def mindshare(push):
        values = []
        for seed in range(8):
            frame = ChannelModel(rng=seed, partners__count=300, quarters=5, partners__vertical_mix=lean,
                                 vendor__push=push).run()
            values.append(final(frame, "mindshare"))
        return np.mean(values)

    none = mindshare({})
    toward_priority = mindshare({"healthcare": 3.0}) - none
    toward_other = mindshare({"retail": 3.0}) - none
    assert toward_priority > 0
    assert toward_priority > toward_other + 0.01


# ---------------------------------------------------------------- the market and the firms


def test_the_default_channel_puts_70_to_90_percent_of_revenue_in_the_top_fifth():
    shares = [final(ChannelModel(rng=seed, quarters=8).run(), "top20_share", last=4) for seed in range(6)]
    assert 0.70 <= np.mean(shares) <= 0.90


def test_firms_are_made_of_people_and_big_firms_sell_upmarket():
    t = ChannelModel(rng=1, partners__count=3000).partners
    np.testing.assert_array_equal(t.sales + t.technical + t.marketing, t.headcount)
    assert t.sales.min() >= 1
    assert (t.marketing == 0).mean() > 0.2  # many small firms have no marketer
    big = t.headcount >= np.quantile(t.headcount, 0.9)
    assert t.segment_mix[2, big].mean() > 2 * t.segment_mix[2, ~big].mean()
    np.testing.assert_allclose(t.segment_mix.sum(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(t.verticals.sum(axis=0), 1.0, rtol=1e-5)
    # velocity follows from segments: SMB-heavy partners close more deals and sooner
    smb_heavy = t.segment_mix[0] > 0.6
    assert t.velocity[smb_heavy].mean() > t.velocity[~smb_heavy].mean()
    assert t.cycle[smb_heavy].mean() < t.cycle[~smb_heavy].mean()


def test_enterprise_deals_need_technical_staff():
    model = ChannelModel(rng=1, partners__count=2000)
    opportunities, _ = model.market.rates(model.partners, model.plan(), 1)
    no_presales = model.partners.technical == 0
    assert no_presales.any()
    assert opportunities[:, 2, no_presales].sum() == 0
    assert opportunities[:, 2, ~no_presales].sum() > 0


def test_low_velocity_deals_close_later_through_the_pipeline():
    model = ChannelModel(rng=1, partners__count=500, quarters=3, vendor__spif__enabled=False,
                         rivals__program__spif__enabled=False)  # no deals held over for a SPIF
    model.run()
    pipeline = model.partners.pipeline  # closing quarter x vendor x segment x partner
    open_value = pipeline.sum(axis=(0, 1, 3))
    assert open_value[0] == 0  # SMB deals close in the quarter they are won
    assert open_value[2] > open_value[1] > 0


# ---------------------------------------------------------------- Mesa


def test_partners_are_mesa_agents_that_agree_with_the_arrays():
    model = ChannelModel(rng=1, partners__count=250, quarters=3)
    model.run()
    partners = model.agents_by_type[Partner]
    t = model.partners
    assert len(partners) == t.n and len(model.agents_by_type[Vendor]) == 3
    assert sorted(p.pid for p in partners) == sorted(t.pid.tolist())
    assert len(partners.select(lambda p: p.mindshare > 0.3)) == int((t.effort[0] > 0.3).sum())
    assert partners.agg("revenue", sum) == pytest.approx(float(t.revenue[0].sum(dtype=np.float64)), rel=1e-6)
    by_segment = partners.groupby("segment").count()
    assert sum(by_segment.values()) == t.n
    assert by_segment.get("smb", 0) == int((t.segment_mix.argmax(axis=0) == 0).sum())
    one = partners[0]
    one.goodwill = 0.9
    assert t.goodwill[0, t.row_of[one.pid]] == pytest.approx(0.9)
    with pytest.raises(ValueError):
        one.effort = [0.5, 0.5, 0.5, 0.5]


def test_mesa_batch_run_sweeps_parameters_by_path():
    rows = mesa.batch_run(ChannelModel, parameters={"partners__count": [100, 200]}, rng=[1, 2], max_steps=8,
                          display_progress=False)
    frame = pd.DataFrame(rows)
    assert len(frame) == 4
    assert set(frame["partners__count"]) == {100, 200}
    by_count = frame.groupby("partners__count")["partners"].min()
    assert by_count[200] > by_count[100] > 50
    assert (frame["quarter"] == 8).all()


def test_the_partner_panel_is_tidy_and_agrees_with_the_kpis():
    model = ChannelModel(rng=1, partners__count=150, quarters=4, record_partners=True)
    kpis = model.run()
    panel = model.partner_panel()
    assert len(panel) == sum(kpis["partners"].shift(1, fill_value=150))  # the partners that traded each quarter
    assert not panel.duplicated(["quarter", "partner_id"]).any()
    by_quarter = panel.groupby("quarter")["revenue"].sum()
    np.testing.assert_allclose(by_quarter.to_numpy(), kpis["revenue"].to_numpy(), rtol=1e-5)


def test_the_panel_is_off_by_default():
    model = ChannelModel(rng=1, partners__count=50, quarters=1)
    model.run()
    with pytest.raises(RuntimeError):
        model.partner_panel()


def test_replicates_run_as_lanes_of_one_model_are_bit_for_bit_the_replicates_run_alone():
    seeds = [21, 22, 23]
    together = ChannelModel(seeds=seeds, partners__count=200, quarters=10, record_partners=True)
    together.run()
    assert together.partners.lanes == 3 and not together.agents_by_type.get(Partner)
    for c, seed in enumerate(seeds):
        alone = ChannelModel(rng=seed, partners__count=200, quarters=10, record_partners=True)
        pd.testing.assert_frame_equal(together.lane_frames()[c], alone.run(), check_exact=True)
        pd.testing.assert_frame_equal(together.partner_panel(c), alone.partner_panel(), check_exact=True)
        block, table = together.partners.block(c), alone.partners
        for name in ("effort", "capability", "goodwill", "pipeline", "revenue_history", "tier"):
            np.testing.assert_array_equal(getattr(block, name), getattr(table, name))
