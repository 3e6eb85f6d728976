"""Claims about when won deals close: each deal on its own date, and closing dates moved by incentives in
proportion to what they are worth."""

import numpy as np
import pytest

from sim import ChannelModel
from sim.market import Market
from sim.params import SEGMENTS
from sim.policies import rebates, spif, timing

NO_SPIF = {"vendor__spif__enabled": False, "rivals__program__spif__enabled": False}
ENTERPRISE = SEGMENTS.index("enterprise")


def one_delay_per_cell(self, table, streams, quarter, partner, cell, segment, count, z, value, kept, key, direct):
    """The former rule: one closing delay drawn per partner x vendor x segment cell, all its wins together."""
    width = direct.shape[0] * len(SEGMENTS)
    depth = self.pipeline_quarters
    u = streams.uniform_at("deals.delay", quarter, partner, cell, width)
    delay = np.zeros(cell.size, np.int64)
    for k in range(depth - 1):
        delay += u > self.delay_cdf[cell % len(SEGMENTS), k]
    ring = table.buffer("pipeline")
    ring.reshape(-1)[(((quarter + delay) % depth) * width + cell) * ring.shape[-1] + partner] += value


@pytest.mark.parametrize(("trials", "p"), [(1, 0.25), (3, 0.47), (40, 0.6), (128, 0.25), (500, 0.1), (5000, 0.9)])
def test_binomial_counts_drawn_from_uniforms_have_the_binomial_mean_and_variance(trials, p):
    u = (np.arange(200_000) + 0.5) / 200_000  # the uniform's quantiles: the draw's own distribution
    counts = Market.binomial_from_uniform(np.full(u.size, trials), p, u)
    assert counts.min() >= 0 and counts.max() <= trials
    assert counts.mean() == pytest.approx(trials * p, rel=2e-3)
    assert counts.var() == pytest.approx(trials * p * (1 - p), rel=1.5e-2)
    assert (np.diff(counts) >= 0).all()  # monotone in u


def split_over_delays(count: int, kept: float, quarters: int = 40, value=None):
    """Each partner of a small channel wins `count` focal enterprise deals a quarter, booked into an empty ring:
    (deals or value closing 0..D-1 quarters later, per draw; the direct share; the kept value)."""
    model = ChannelModel(rng=3, partners__count=100, quarters=1)
    market, table = model.market, model.partners
    if value is not None:
        market.deal_values = value
    n = table.n
    partner = np.arange(n)
    cell = np.full(n, ENTERPRISE)  # the focal vendor's enterprise cell
    counts = np.full(n, count)
    ring = table.buffer("pipeline")
    depth = market.pipeline_quarters
    closing, direct_total, kept_total = [], 0.0, 0.0
    for quarter in range(1, quarters + 1):
        ring[...] = 0.0
        z = np.random.default_rng(quarter).standard_normal(n)  # the cell's draw, also its first delay's
        value_won = market.deal_values(counts, cell, z)
        direct = np.zeros((model.n_vendors, 1))
        direct[0, 0] = (value_won * (1.0 - kept)).sum()  # the direct share of the cells' single draws
        market.book_wins(table, model.streams, quarter, partner, cell, cell, counts, z, value_won * kept,
                         np.full(n, kept), np.zeros(n, np.int64), direct)
        by_delay = np.stack([ring[(quarter + d) % depth, 0, ENTERPRISE, :n] for d in range(depth)])
        closing.append(by_delay)
        direct_total += direct.sum()
        kept_total += by_delay.sum()
    return np.concatenate(closing, axis=1), direct_total, kept_total


@pytest.mark.parametrize("count", [1, 2, 7, 150])
def test_a_cells_deals_are_split_over_the_delays_as_a_multinomial(count):
    deals, _, _ = split_over_delays(count, 1.0, value=lambda count, segment, z: count.astype(float))
    p = ChannelModel(rng=0, partners__count=10, quarters=1).params.market.close_delay.enterprise
    assert (deals.sum(axis=0) == count).all()  # every deal closes once
    draws = deals.shape[1]
    for d, share in enumerate(p):
        assert deals[d].mean() == pytest.approx(count * share, abs=4 * np.sqrt(count * share * (1 - share) / draws))
    shares = np.array(p[1:])
    expected = count * (np.diag(shares) - np.outer(shares, shares))  # the multinomial's covariance
    np.testing.assert_allclose(np.cov(deals[1:]), expected, atol=0.1 * count * shares.max())


def test_what_is_left_of_a_binomials_uniform_is_a_fresh_uniform_whatever_the_count():
    u = (np.arange(100_000) + 0.5) / 100_000
    for trials, p in ((5, 0.25), (5, 0.7), (400, 0.3)):
        counts, rest = Market.binomial_from_uniform(np.full(u.size, trials), p, u, rest=True)
        for k in np.unique(counts):
            if (counts == k).sum() > 2_000:
                assert rest[counts == k].mean() == pytest.approx(0.5, abs=0.02)
                assert rest[counts == k].std() == pytest.approx(np.sqrt(1 / 12), rel=0.05)


@pytest.mark.parametrize("count", [1, 2, 7])
def test_the_split_keeps_the_value_won_in_expectation_and_books_the_direct_share_of_the_same_draws(count):
    value, direct, kept = split_over_delays(count, 0.5)
    model = ChannelModel(rng=0, partners__count=10, quarters=1)
    mean = model.market.mean_deal_size()[ENTERPRISE]
    shares = np.array(model.params.market.close_delay.enterprise)
    assert value.sum(axis=0).mean() == pytest.approx(0.5 * count * mean, rel=0.05)
    np.testing.assert_allclose(value.mean(axis=1) / (0.5 * count * mean), shares, atol=0.03)
    assert direct == pytest.approx(kept, rel=1e-6)  # kept = 1/2: the vendor's share is the partner's (float32 ring)


def closed_value_swing(rule, quarters: int = 30) -> float:
    """A steady flow of focal enterprise wins (Poisson, 3 a quarter per partner) booked by `rule` into the pipeline:
    the s.d. of what a partner closes a quarter over its mean, pooled over partners (after the ring fills)."""
    model = ChannelModel(rng=4, partners__count=150, quarters=1)
    market, table = model.market, model.partners
    n, depth = table.n, market.pipeline_quarters
    partner, cell = np.arange(n), np.full(n, ENTERPRISE)
    ring = table.buffer("pipeline")
    ring[...] = 0.0
    draws = np.random.default_rng(5)  # the wins themselves, the same for both rules
    closed = []
    for quarter in range(1, quarters + 1):
        count = draws.poisson(3.0, n)
        won = np.flatnonzero(count)
        z = draws.standard_normal(won.size)
        value = market.deal_values(count[won], cell[won], z)
        rule(market, table, model.streams, quarter, partner[won], cell[won], cell[won], count[won], z, value,
             np.ones(won.size), np.zeros(won.size, np.int64), np.zeros((model.n_vendors, 1)))
        due = ring[quarter % depth, 0, ENTERPRISE, :n]
        closed.append(due.copy())
        due[...] = 0.0
    closed = np.array(closed[depth:])
    return float((closed.std(axis=0) / closed.mean(axis=0)).mean())


def test_each_deal_closing_on_its_own_date_makes_a_partners_closed_revenue_smoother_than_one_date_per_cell():
    assert closed_value_swing(Market.book_wins) < 0.85 * closed_value_swing(one_delay_per_cell)


def moved_by_spif(monkeypatch, **terms):
    """Dollars the focal SPIF moved (closed early or held over), by quarter, and the run's quarters (a small
    channel, the SPIF on every line)."""
    moved: dict[int, float] = {}
    in_spif = []
    time_deals = spif.Spif.time_deals

    def spif_timing(self, model, sales):
        in_spif.append(self.vendor == 0)
        time_deals(self, model, sales)
        in_spif.pop()

    def recording(move):
        def wrapped(model, vendor, sales, fraction):
            if in_spif and in_spif[-1]:
                ring = model.partners.pipeline
                source = ring[(model.quarter + 1) % ring.shape[0], vendor] if move is timing.close_early \
                    else sales.revenue_by_segment[vendor]
                moved[model.quarter] = moved.get(model.quarter, 0.0) + float((source * fraction).sum())
            move(model, vendor, sales, fraction)
        return wrapped

    with monkeypatch.context() as patched:  # undone before the next run
        patched.setattr(spif.Spif, "time_deals", spif_timing)
        patched.setattr(timing, "close_early", recording(timing.close_early))
        patched.setattr(timing, "hold_over", recording(timing.hold_over))
        frame = ChannelModel(rng=2, partners__count=150, quarters=10, vendor__spif__line="",
                             **{f"vendor__spif__{k}": v for k, v in terms.items()}).run()
    return moved, frame


def test_a_one_dollar_spif_moves_no_closing_date_measurably_and_a_thousand_dollar_one_does(monkeypatch):
    moved_1, frame_1 = moved_by_spif(monkeypatch, amount=1.0)
    moved_1000, frame_1000 = moved_by_spif(monkeypatch, amount=1_000.0)
    revenue = frame_1000["revenue"].sum()
    assert sum(moved_1.values()) < 1e-4 * revenue
    assert sum(moved_1000.values()) > 1e-2 * revenue / 4  # a few per cent of the quarter around a window
    # paired with no SPIF at all: the $1 SPIF leaves each quarter's revenue as it was, within a thousandth
    none = ChannelModel(rng=2, partners__count=150, quarters=10, vendor__spif__enabled=False).run()
    np.testing.assert_allclose(frame_1["revenue"], none["revenue"], rtol=1e-3)
    # timing alone (same SPIF, same effort): $1,000 shifts revenue into the window's last quarter and out of the next
    still = ChannelModel(rng=2, partners__count=150, quarters=10, vendor__spif__line="", vendor__spif__amount=1_000.0,
                         vendor__spif__pull_forward=0.0, vendor__spif__hold_back=0.0).run()
    window, after = 8, 9  # windows at 4 and 8 (every 4 from 4)
    assert frame_1000["revenue"].iloc[window - 1] > still["revenue"].iloc[window - 1]
    assert frame_1000["revenue"].iloc[after - 1] < still["revenue"].iloc[after - 1]


def test_deals_are_pulled_forward_only_in_a_windows_last_quarter(monkeypatch):
    moved, _ = moved_by_spif(monkeypatch, amount=1_000.0, start=2, length=3, every=5, hold_back=0.0)
    assert set(moved) == {4, 9}  # windows 2-4 and 7-9


def test_a_partner_just_above_its_rebate_threshold_holds_no_deals_for_a_modest_spif_and_one_far_above_does(
        monkeypatch):
    held: dict[str, float] = {}
    original = spif.Spif.hold_for_window

    def placed(self, model, sales):
        table, j = model.partners, self.vendor
        threshold = model.params.vendor.rebate.threshold
        revenue = sales.revenue[j].astype(np.float64)
        near, far = np.argsort(-revenue)[:2]
        table.rebate_progress[j, near] = 1.01 * threshold - revenue[near]  # the period ends just above
        table.rebate_progress[j, far] = 5.0 * threshold - revenue[far]  # far above
        before = sales.revenue[j].copy()
        original(self, model, sales)
        held["near"] = float(before[near] - sales.revenue[j][near])
        held["far"] = float(before[far] - sales.revenue[j][far])
        held["revenue"] = float(min(before[near], before[far]))

    monkeypatch.setattr(spif.Spif, "hold_for_window", placed)
    ChannelModel(rng=1, partners__count=100, quarters=3, vendor__spif__amount=300.0, vendor__spif__line="",
                 vendor__spif__hold_back=1.0, vendor__rebate__period="quarter").run()
    assert held["revenue"] > 0
    assert held["near"] == 0.0
    assert held["far"] > 0.0


def test_holding_deals_forfeits_a_retroactive_rebate_only_when_it_drops_the_partner_below_its_threshold():
    model = ChannelModel(rng=1, partners__count=10, quarters=1, vendor__rebate__period="quarter")
    policy = next(p for p in model.vendors[0].policies if isinstance(p, rebates.VolumeRebate))
    model.quarter = 1
    rate, threshold = model.params.vendor.rebate.rate, model.params.vendor.rebate.threshold

    class Quarter:
        revenue = np.zeros((model.n_vendors, model.partners.n), np.float32)

    model.partners.rebate_progress[0] = 0.0
    Quarter.revenue[0, :3] = [1.05 * threshold, 3.0 * threshold, 0.5 * threshold]
    held = np.zeros(model.partners.n)
    held[:3] = 0.1 * threshold
    forfeit = policy.forfeit(model, Quarter, held)
    assert forfeit[0] == pytest.approx(rate * 1.05 * threshold, rel=1e-6)  # dropped below: the whole rebate
    assert forfeit[1] == pytest.approx(0.0, abs=1e-6)  # still above: the held deals earn it next period
    assert forfeit[2] == 0.0  # below anyway
