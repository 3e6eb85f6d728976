"""The partner population's equations, pinned number by number (MODEL.md 3.1, 3.3.1 and 3.3.11).

`generate` reads one row of uniforms per firm from its stream; each test below reads the same uniforms
(`Streams.uniform`, the layout documented in `population_draws`) and recomputes every attribute from the
equations of MODEL.md 3.3.1, written out plainly here. Integer-valued attributes must match exactly, the
rest to 1e-12: any change to a constant, an operator or a branch of `sim.partners` that alters a firm fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import ndtri

from sim import ChannelModel, partners
from sim.params import SEGMENTS, build_scenario
from sim.streams import Streams
from sim.table import REAL, PartnerTable

VENDORS = 3
EXACT = {"rtol": 1e-12, "atol": 0.0}

# Parameter settings chosen so that every constant and branch of `generate` shows in its output.
SETTINGS = {
    "default": {},
    # a zero mean role gets weight 1e-9 (its log is finite), and a wide spread lets that weight show
    "no_seller_in_the_mean_split": {"partners.roles.sales": 0.0, "partners.roles.technical": 0.6,
                                    "partners.roles.marketing": 0.4, "partners.role_spread": 4.0},
    "sellers_only_in_the_mean_split": {"partners.roles.sales": 1.0, "partners.roles.technical": 0.0,
                                       "partners.roles.marketing": 0.0, "partners.role_spread": 10.0},
    # almost everyone a marketer: the seller every firm keeps comes off marketing once technical is empty
    "marketers_only_in_the_mean_split": {"partners.roles.sales": 0.0, "partners.roles.technical": 0.0,
                                         "partners.roles.marketing": 1.0, "partners.role_spread": 1.5},
    # a fractional minimum: firms rounded below it count as size_min (log size clipped at 0)
    "fractional_minimum_size": {"partners.size_min": 2.4, "partners.size_max": 60.0,
                                "partners.size_pareto_index": 0.8, "partners.upmarket_per_log_size": 2.0,
                                "partners.segment_spread": 0.3, "partners.presales_selling": 0.3},
    # one-person firms: the headcount floor of 1, and no room for anyone but the seller
    "one_person_firms": {"partners.size_min": 1.0, "partners.size_max": 3.0, "partners.size_pareto_index": 3.0},
    # starting levels at and beyond the clip bounds 0.01 and 0.99
    "relationships_at_zero_and_one": {"partners.capability.initial": 0.0, "partners.capability.spread": 1.3,
                                      "partners.goodwill.initial": 1.0, "partners.goodwill.spread": 0.2},
    "relationships_at_one_and_zero": {"partners.capability.initial": 1.0, "partners.goodwill.initial": 0.0},
    "relationships_off_the_defaults": {"partners.capability.initial": 0.3, "partners.capability.spread": 0.9,
                                       "partners.goodwill.initial": 0.8, "partners.goodwill.spread": 0.1,
                                       "partners.attraction.idiosyncrasy": 0.9},
    # a population leaning to some verticals (the others keep weight 1)
    "vertical_leanings": {"partners.vertical_mix": {"healthcare": 4.0, "retail": 0.25},
                          "partners.vertical_spread": 0.7, "partners.upmarket_per_log_size": 0.4,
                          "partners.segment_spread": 1.6},
}


def scenario(name: str):
    return build_scenario(None, SETTINGS[name])


def population_draws(sources, n_vendors: int, n_verticals: int, stream: str = "population",
                     quarter: int = 0) -> dict[str, np.ndarray]:
    """A firm's row of uniforms, named: size 1, roles 3, role rounding 2, segments 3, verticals V, taste
    vendors + 1, capability vendors, goodwill vendors, activation 1 (each name: its rows x firms)."""
    layout = [("size", 1), ("roles", 3), ("role_rounding", 2), ("segments", len(SEGMENTS)),
              ("verticals", n_verticals), ("taste", n_vendors + 1), ("capability", n_vendors),
              ("goodwill", n_vendors), ("activation", 1)]
    width = sum(w for _, w in layout)
    block = np.concatenate([streams.uniform(stream, quarter, keys, (width,)) for streams, keys in sources],
                           axis=1).astype(np.float64)
    draws, row = {}, 0
    for name, w in layout:
        draws[name] = block[row:row + w]
        row += w
    return draws


def shares(logits: np.ndarray) -> np.ndarray:
    """Softmax over the first axis."""
    weights = np.exp(logits - logits.max(axis=0))
    return weights / weights.sum(axis=0)


def expected_firms(params, u: dict[str, np.ndarray], n_vendors: int, population=None) -> dict[str, np.ndarray]:
    """MODEL.md 3.3.1, equation by equation."""
    p = population or params.partners
    market = params.market
    # H = round(H_min / (1 - u (1 - (H_min / H_max)^a))^(1/a)), at least 1
    a, low, high = p.size_pareto_index, p.size_min, p.size_max
    headcount = np.maximum(1.0, np.round(low / (1.0 - u["size"][0] * (1.0 - (low / high) ** a)) ** (1.0 / a)))
    # role shares: softmax(ln(mean + 1e-9) + role_spread z); technical and marketing heads floor(H share + u)
    mean = np.log([[p.roles.sales + 1e-9], [p.roles.technical + 1e-9], [p.roles.marketing + 1e-9]])
    role = shares(mean + p.role_spread * ndtri(u["roles"]))
    technical = np.floor(headcount * role[1] + u["role_rounding"][0])
    marketing = np.floor(headcount * role[2] + u["role_rounding"][1])
    # at least one seller: the heads that leave none come off technical first, then marketing
    short = np.maximum(0.0, technical + marketing + 1.0 - headcount)
    off_technical = np.minimum(short, technical)
    technical = technical - off_technical
    marketing = marketing - (short - off_technical)
    sales = headcount - technical - marketing
    # segment log-odds (0, -0.7 + 0.55 b x, -2.5 + b x), x = max(0, ln(H / H_min))
    x = np.maximum(0.0, np.log(headcount / low))
    b = p.upmarket_per_log_size
    segment_logits = np.stack([np.zeros_like(x), -0.7 + 0.55 * b * x, -2.5 + b * x])
    segment_mix = shares(segment_logits + p.segment_spread * ndtri(u["segments"]))
    lean = np.log([[p.vertical_mix.get(v, 1.0)] for v in market.verticals])
    verticals = shares(lean + p.vertical_spread * ndtri(u["verticals"]))

    def logit_normal(initial, spread, z):
        m = min(max(initial, 0.01), 0.99)
        return 1.0 / (1.0 + np.exp(-(np.log(m / (1.0 - m)) + spread * z)))

    return {
        "headcount": headcount, "sales": sales, "technical": technical, "marketing": marketing,
        "capacity": sales + params.partners.presales_selling * technical,
        "segment_mix": segment_mix, "verticals": verticals,
        **expected_profile(segment_mix, verticals, params),
        "taste": p.attraction.idiosyncrasy * ndtri(u["taste"]),
        "capability": logit_normal(p.capability.initial, p.capability.spread, ndtri(u["capability"])),
        "goodwill": logit_normal(p.goodwill.initial, p.goodwill.spread, ndtri(u["goodwill"])),
        "activation_draw": u["activation"][0],
    }


def expected_profile(segment_mix: np.ndarray, verticals: np.ndarray, params) -> dict[str, np.ndarray]:
    """velocity = sum_s mix_s o_s w_s; cycle = sum_s mix_s E[delay_s]; deals per dollar = velocity /
    sum_s mix_s o_s w_s median_s exp(sigma_s^2 / 2) (0 where no segment gives deals); the priorities at
    length 1 and their cosine with an even push, 1 / (sqrt(V) |v|)."""
    m = params.market
    deals = np.array([m.opportunities_per_fte.smb * m.win_base.smb,
                      m.opportunities_per_fte.midmarket * m.win_base.midmarket,
                      m.opportunities_per_fte.enterprise * m.win_base.enterprise])
    medians = np.array([m.deal_size_median.smb, m.deal_size_median.midmarket, m.deal_size_median.enterprise])
    sigmas = np.array([m.deal_size_sigma.smb, m.deal_size_sigma.midmarket, m.deal_size_sigma.enterprise])
    delays = [m.close_delay.smb, m.close_delay.midmarket, m.close_delay.enterprise]
    mean_delay = np.array([sum(d * prob for d, prob in enumerate(row)) for row in delays])
    velocity = (deals[:, None] * segment_mix).sum(axis=0)
    value = (deals[:, None] * medians[:, None] * np.exp(0.5 * sigmas[:, None] ** 2) * segment_mix).sum(axis=0)
    length = np.sqrt((verticals ** 2).sum(axis=0))
    return {
        "velocity": velocity,
        "cycle": (mean_delay[:, None] * segment_mix).sum(axis=0),
        "deals_per_dollar": np.where(value > 0, velocity / np.where(value > 0, value, 1.0), 0.0),
        "verticals_unit": verticals / length,
        "even_fit": 1.0 / (np.sqrt(verticals.shape[0]) * length),
    }


def assert_firms_match(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for name in ("headcount", "sales", "technical", "marketing"):  # whole people
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        # the profile is a sum of three terms taken in another order here: a few ulps apart at most
        tolerance = {"rtol": 1e-11, "atol": 1e-15} if name in ("velocity", "cycle", "deals_per_dollar") else EXACT
        np.testing.assert_allclose(got[name], want[name], err_msg=name, **tolerance)


def one_lane(seed: int = 5, firms: int = 300):
    return [(Streams(seed), np.arange(firms, dtype=np.int64))]


# --------------------------------------------------------------------------- generate: the equations


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_each_firm_is_its_uniforms_put_through_the_population_equations(setting):
    params = scenario(setting)
    sources = one_lane()
    got = partners.generate(params, sources, VENDORS)
    want = expected_firms(params, population_draws(sources, VENDORS, len(params.market.verticals)), VENDORS)
    assert_firms_match(got, want)
    assert got["engaged"].dtype == bool and got["engaged"].all()
    assert got["first_deal"].dtype == np.int32 and (got["first_deal"] == -1).all()


def test_the_settings_reach_the_branches_they_are_there_for():
    """Guards the fixtures: each setting must produce the case it was chosen for, or its test proves less."""
    def firms(setting):
        params = scenario(setting)
        return params, partners.generate(params, one_lane(), VENDORS)

    _, ones = firms("one_person_firms")
    assert (ones["headcount"] == 1).sum() > 20  # one-person firms: a floor of 2 would show
    params, small = firms("fractional_minimum_size")
    assert (small["headcount"] < params.partners.size_min).sum() > 5  # log size clipped at 0
    _, marketers = firms("marketers_only_in_the_mean_split")
    h, technical, marketing = marketers["headcount"], marketers["technical"], marketers["marketing"]
    assert ((marketing == h - 1) & (technical == 0)).sum() > 20  # the seller came off marketing
    _, no_sellers = firms("no_seller_in_the_mean_split")
    assert (no_sellers["sales"] == 1).all()  # the seller every firm keeps is all it has
    assert ((no_sellers["technical"] > 0) & (no_sellers["marketing"] > 0)).sum() > 20
    _, sellers = firms("sellers_only_in_the_mean_split")
    assert (sellers["technical"] > 0).sum() > 20 and (sellers["marketing"] > 0).sum() > 10


def test_firms_drawn_in_two_lanes_each_read_their_own_lanes_stream():
    params = scenario("default")
    sources = [(Streams(5), np.arange(120, dtype=np.int64)), (Streams(11), np.arange(40, 90, dtype=np.int64))]
    got = partners.generate(params, sources, VENDORS)
    want = expected_firms(params, population_draws(sources, VENDORS, 5), VENDORS)
    assert_firms_match(got, want)
    assert got["headcount"].shape == (170,)


def test_a_firm_is_the_same_whoever_else_is_drawn():
    params = scenario("default")
    everyone = partners.generate(params, one_lane(firms=60), VENDORS)
    alone = partners.generate(params, [(Streams(5), np.array([17], dtype=np.int64))], VENDORS)
    for name, value in alone.items():
        np.testing.assert_array_equal(value[..., 0], everyone[name][..., 17], err_msg=name)


def test_a_recruit_cohort_reads_its_own_stream_and_quarter():
    params = scenario("vertical_leanings")
    sources = one_lane(firms=80)
    got = partners.generate(params, sources, VENDORS, stream="recruits", quarter=4)
    want = expected_firms(params, population_draws(sources, VENDORS, 5, stream="recruits", quarter=4), VENDORS)
    assert_firms_match(got, want)
    founders = partners.generate(params, sources, VENDORS)
    assert not np.array_equal(got["activation_draw"], founders["activation_draw"])


def test_a_population_given_replaces_the_scenarios_own():
    params = scenario("default")
    profile = {"size_min": 5.0, "size_max": 50.0, "upmarket_per_log_size": 2.0, "vertical_spread": 0.4,
               "vertical_mix": {"finance": 3.0}}
    recruits = params.partners.model_copy(update=profile)
    sources = one_lane(firms=200)
    got = partners.generate(params, sources, VENDORS, population=recruits)
    want = expected_firms(params, population_draws(sources, VENDORS, 5), VENDORS, population=recruits)
    assert_firms_match(got, want)
    assert got["headcount"].min() >= 5 and got["headcount"].max() <= 50


def test_one_vendor_still_gets_a_row_per_vendor():
    params = scenario("relationships_off_the_defaults")
    sources = one_lane(firms=50)
    got = partners.generate(params, sources, 1)
    assert_firms_match(got, expected_firms(params, population_draws(sources, 1, 5), 1))
    assert got["capability"].shape == (1, 50) and got["taste"].shape == (2, 50)


# --------------------------------------------------------------------------- generate: what must always hold


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_firm_has_a_seller_and_its_roles_add_up_to_its_headcount(setting):
    params = scenario(setting)
    p = params.partners
    firms = partners.generate(params, one_lane(), VENDORS)
    h = firms["headcount"]
    assert (h >= max(1.0, np.round(p.size_min))).all() and (h <= np.round(p.size_max)).all()
    np.testing.assert_array_equal(firms["sales"] + firms["technical"] + firms["marketing"], h)
    assert (firms["sales"] >= 1).all() and (firms["technical"] >= 0).all() and (firms["marketing"] >= 0).all()
    for name in ("segment_mix", "verticals"):
        np.testing.assert_allclose(firms[name].sum(axis=0), 1.0, rtol=1e-12)
        assert (firms[name] > 0).all()
    for name in ("capability", "goodwill"):
        assert ((firms[name] > 0) & (firms[name] < 1)).all()
    assert ((firms["activation_draw"] > 0) & (firms["activation_draw"] < 1)).all()


def test_without_spread_a_firms_segments_follow_its_size_alone():
    """MODEL.md: a 2-person firm is ~63 % SMB; bigger firms sell further upmarket."""
    params = build_scenario(None, {"partners.segment_spread": 0.0})
    firms = partners.generate(params, one_lane(firms=2000), VENDORS)
    h, mix = firms["headcount"], firms["segment_mix"]
    np.testing.assert_allclose(mix[0, h == 2], 1.0 / (1.0 + np.exp(-0.7) + np.exp(-2.5)), rtol=1e-12)
    assert mix[0, h == 2][0] == pytest.approx(0.633, abs=5e-4)
    order = np.argsort(h, kind="stable")
    assert (np.diff(mix[2, order]) >= 0).all() and (np.diff(mix[0, order]) <= 0).all()
    assert mix[2, h.argmax()] > 0.4 > mix[0, h.argmax()]


def test_a_steeper_upmarket_slope_moves_bigger_firms_upmarket_and_leaves_the_smallest_alone():
    flat = partners.generate(build_scenario(None, {"partners.upmarket_per_log_size": 0.9}), one_lane(), VENDORS)
    steep = partners.generate(build_scenario(None, {"partners.upmarket_per_log_size": 2.0}), one_lane(), VENDORS)
    np.testing.assert_array_equal(flat["headcount"], steep["headcount"])  # the same firms
    big = flat["headcount"] > 2
    assert big.sum() > 50
    assert (steep["segment_mix"][2, big] > flat["segment_mix"][2, big]).all()
    assert (steep["segment_mix"][0, big] < flat["segment_mix"][0, big]).all()
    np.testing.assert_allclose(steep["segment_mix"][:, ~big], flat["segment_mix"][:, ~big], rtol=1e-12)


def test_a_vertical_leaning_tilts_every_firm_and_keeps_the_rest_in_proportion():
    even = partners.generate(scenario("default"), one_lane(), VENDORS)
    leaning = partners.generate(build_scenario(None, {"partners.vertical_mix": {"healthcare": 3.0}}),
                                one_lane(), VENDORS)
    health = 1  # healthcare, second of the default verticals
    assert (leaning["verticals"][health] > even["verticals"][health]).all()
    others = [0, 2, 3, 4]
    np.testing.assert_allclose(leaning["verticals"][others] / leaning["verticals"][others].sum(axis=0),
                               even["verticals"][others] / even["verticals"][others].sum(axis=0), rtol=1e-12)
    # the odds of healthcare against the rest triple
    odds = even["verticals"][health] / (1.0 - even["verticals"][health])
    np.testing.assert_allclose(leaning["verticals"][health] / (1.0 - leaning["verticals"][health]), 3.0 * odds,
                               rtol=1e-10)


@pytest.mark.parametrize(("initial", "level"), [(0.0, 0.01), (0.3, 0.3), (1.0, 0.99)])
def test_without_spread_starting_relationships_sit_at_their_initial_level_within_the_clip(initial, level):
    params = build_scenario(None, {"partners.capability.initial": initial, "partners.capability.spread": 0.0,
                                   "partners.goodwill.initial": initial, "partners.goodwill.spread": 0.0})
    firms = partners.generate(params, one_lane(firms=20), VENDORS)
    np.testing.assert_allclose(firms["capability"], level, rtol=1e-12)
    np.testing.assert_allclose(firms["goodwill"], level, rtol=1e-12)


def test_a_zero_role_spread_gives_every_firm_the_mean_split_rounded_stochastically():
    params = build_scenario(None, {"partners.role_spread": 0.0})
    sources = one_lane()
    firms = partners.generate(params, sources, VENDORS)
    u = population_draws(sources, VENDORS, 5)["role_rounding"]
    h = firms["headcount"]
    big = h >= 10  # large enough that the seller fix never binds
    np.testing.assert_array_equal(firms["technical"][big], np.floor(0.30 * h[big] + u[0, big]))
    np.testing.assert_array_equal(firms["marketing"][big], np.floor(0.15 * h[big] + u[1, big]))


def test_about_four_in_ten_default_firms_have_no_marketer():
    firms = partners.generate(scenario("default"), one_lane(firms=5000), VENDORS)
    assert (firms["marketing"] == 0).mean() == pytest.approx(0.44, abs=0.03)


# --------------------------------------------------------------------------- capacity and profile


def test_selling_capacity_is_the_sellers_plus_the_selling_share_of_presales_time():
    params = build_scenario(None, {"partners.presales_selling": 0.3})
    sales = np.array([1.0, 4.0, 10.0, 2.0])
    technical = np.array([0.0, 2.0, 5.0, 7.0])
    np.testing.assert_allclose(partners.selling_capacity(sales, technical, params), [1.0, 4.6, 11.5, 4.1],
                               rtol=1e-12)


def leave_nan_in_freed_memory(floats: int) -> None:
    """Free many NaN-filled arrays of this size, so that an array allocated next and left partly unwritten shows NaN
    where it was not written (rather than whatever zeros the memory happened to hold)."""
    arrays = [np.full(floats, np.nan) for _ in range(64)]
    del arrays


def test_a_firms_profile_follows_from_its_segments_and_verticals():
    params = build_scenario(None, {
        "market.opportunities_per_fte": {"smb": 6.0, "midmarket": 2.0, "enterprise": 0.0},
        "market.win_base": {"smb": 0.4, "midmarket": 0.2, "enterprise": 0.3},
        "market.deal_size_median": {"smb": 10_000.0, "midmarket": 50_000.0, "enterprise": 200_000.0},
        "market.deal_size_sigma": {"smb": 0.5, "midmarket": 1.2, "enterprise": 0.9},
        "market.close_delay": {"smb": [0.7, 0.3], "midmarket": [0.2, 0.5, 0.3],
                               "enterprise": [0.0, 0.1, 0.2, 0.3, 0.4]},
    })
    # columns: an SMB firm, a mixed one, an enterprise-only one (no deals at all), one with a sliver of SMB
    # (so little business that a dollar of it is less than one dollar a seller), and an even one
    segment_mix = np.array([[1.0, 0.5, 0.0, 1e-9, 1 / 3],
                            [0.0, 0.3, 0.0, 0.0, 1 / 3],
                            [0.0, 0.2, 1.0, 1.0 - 1e-9, 1 / 3]])
    verticals = np.array([[0.7, 0.2, 0.25, 1.0, 0.1],
                          [0.2, 0.2, 0.25, 0.0, 0.1],
                          [0.1, 0.6, 0.5, 0.0, 0.8]])
    leave_nan_in_freed_memory(segment_mix.shape[1])
    got = partners.firm_profile(segment_mix, verticals, params)
    want = expected_profile(segment_mix, verticals, params)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-18, err_msg=name)
    # in numbers: the SMB firm wins 6 x 0.4 deals a quarter per seller, each worth 10,000 e^(0.125) on average
    assert got["velocity"][0] == pytest.approx(2.4, rel=1e-12)
    assert got["cycle"][0] == pytest.approx(0.3, rel=1e-12)
    assert got["cycle"][2] == pytest.approx(3.0, rel=1e-12)
    assert got["deals_per_dollar"][0] == pytest.approx(1.0 / (10_000.0 * np.exp(0.125)), rel=1e-12)
    assert got["deals_per_dollar"][2] == 0.0  # no deals, none per dollar (not 0/0)
    assert got["deals_per_dollar"][3] == pytest.approx(1.0 / (10_000.0 * np.exp(0.125)), rel=1e-9)
    assert got["even_fit"][3] == pytest.approx(1.0 / np.sqrt(3.0), rel=1e-12)  # a specialist
    np.testing.assert_allclose(np.linalg.norm(got["verticals_unit"], axis=0), 1.0, rtol=1e-12)


# --------------------------------------------------------------------------- the columns a partner has

# name: (shape without the partner axis, dtype, starting value); n_vendors 3, 4 verticals, a 6-quarter pipeline
COLUMNS = {
    "local_id": ((), np.int64, 0), "external_id": ((), object, None), "name": ((), object, None),
    "tenure": ((), np.int32, 0), "joined": ((), np.int32, 0), "first_deal": ((), np.int32, 0),
    "engaged": ((), bool, False), "digital": ((3,), bool, False),
    "headcount": ((), REAL, 0), "sales": ((), REAL, 0), "technical": ((), REAL, 0), "marketing": ((), REAL, 0),
    "capacity": ((), REAL, 0), "segment_mix": ((3,), REAL, 0), "verticals": ((4,), REAL, 0),
    "verticals_unit": ((4,), REAL, 0), "even_fit": ((), REAL, 0), "velocity": ((), REAL, 0),
    "cycle": ((), REAL, 0), "deals_per_dollar": ((), REAL, 0), "taste": ((4,), REAL, 0),
    "access": ((), REAL, 1),  # a firm's reach is its size until a roster says otherwise
    "effort": ((4,), REAL, 0), "capability": ((3,), REAL, 0), "goodwill": ((3,), REAL, 0),
    "goodwill_change": ((3,), REAL, 0), "conflict": ((3,), REAL, 0), "mdf_stock": ((3,), REAL, 0),
    "pipeline": ((6, 3, 3), REAL, 0), "revenue": ((3,), REAL, 0), "revenue_history": ((4, 3), REAL, 0),
    "revenue_4q": ((3,), REAL, 0), "revenue_trend": ((3,), REAL, 0), "won_deals": ((3,), np.int32, 0),
    "won_history": ((4,), np.int32, 0), "incentives": ((3,), REAL, 0), "profit": ((), REAL, 0),
    "profit_by_vendor": ((3,), REAL, 0),
}


def test_every_partner_has_the_declared_columns_with_their_shapes_types_and_starting_values():
    table = PartnerTable(capacity=7)
    partners.declare_columns(table, n_vendors=3, n_verticals=4, pipeline_quarters=6)
    assert table.columns == ["pid", "lane", "agent", *COLUMNS]
    for name, (lead, dtype, fill) in COLUMNS.items():
        buffer = table.buffer(name)
        assert buffer.shape == (*lead, 7), name
        assert buffer.dtype == np.dtype(dtype), name
        if fill is None:
            assert all(value is None for value in buffer.ravel()), name
        else:
            assert (buffer == fill).all(), name


# --------------------------------------------------------------------------- a quarter in the accounts


@pytest.fixture
def booked():
    """A small channel's offers and a market draw, to be booked as quarter 6: its accounts primed with history
    and the records crafted to cover every case. Returns the model, the records and the accounts before."""
    model = ChannelModel(rng=7, quarters=8, partners__count=40, market__growth=0.03)
    t, n = model.partners, model.partners.n
    rng = np.random.default_rng(1)
    offers = model.plan()
    sales = model.market.realise(t, offers, model.streams, 1)
    offers.registration[...] = rng.uniform(0.01, 0.05, offers.registration.shape)
    vendors = model.n_vendors
    won = rng.integers(0, 3, (vendors, n)).astype(np.int32)  # 0, 1 or 2 deals, the vendors' rows differing
    won[1] = 2 - won[0]
    revenue = sales.revenue.copy()
    revenue[:, ::5] = 0.0  # some partners close nothing this quarter
    sales = dataclasses.replace(sales, won_deals=won, revenue=revenue)
    t.revenue_history = rng.uniform(0.0, 5e4, t.revenue_history.shape)
    t.revenue_trend = rng.uniform(0.0, 5e4, t.revenue_trend.shape)
    t.won_history = rng.integers(0, 4, t.won_history.shape)
    t.first_deal = np.resize(np.array([-1, 0, 3], np.int32), n)  # none yet, dealt before the run, dealt in q3
    t.tenure = rng.integers(0, 30, n)
    cash = rng.uniform(0.0, 2e3, (vendors, n)).astype(REAL)
    conflict = rng.uniform(0.0, 0.2, (vendors, n)).astype(REAL)
    before = {name: getattr(t, name).astype(np.float64) for name in
              ("revenue_history", "revenue_trend", "won_history", "first_deal", "tenure", "effort", "capacity")}
    return model, offers, sales, cash, conflict, before


def test_a_quarter_books_revenue_history_cash_profit_conflict_and_tenure(booked):
    model, offers, sales, cash, conflict, before = booked
    t, params, quarter = model.partners, model.params, 6
    partners.record_quarter(t, offers, sales, cash, conflict, params, quarter)
    revenue = sales.revenue.astype(np.float64)
    history = before["revenue_history"].copy()
    history[quarter % 4] = revenue  # the ring holds the last four quarters
    np.testing.assert_allclose(t.revenue, revenue, rtol=1e-6)
    np.testing.assert_allclose(t.revenue_history, history, rtol=1e-6)
    np.testing.assert_allclose(t.revenue_4q, history.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(t.revenue_trend, 0.5 * before["revenue_trend"] + 0.5 * revenue, rtol=1e-6)
    np.testing.assert_array_equal(t.won_deals, sales.won_deals)
    won_history = before["won_history"].copy()
    won_history[quarter % 4] = sales.won_deals[0]  # focal deals only
    np.testing.assert_array_equal(t.won_history, won_history)
    # the first focal deal: only a partner with none yet (-1) that signs one this quarter
    first = (before["first_deal"] == -1) & (sales.won_deals[0] >= 1)
    np.testing.assert_array_equal(t.first_deal, np.where(first, quarter, before["first_deal"]))
    np.testing.assert_array_equal(t.incentives, cash)
    # gross profit: (margin + registration points) x revenue + cash, by vendor; plus the services line,
    # effort on services x capacity x services margin x services revenue per FTE x (1 + growth)^quarter
    by_vendor = (offers.margin.astype(np.float64) + offers.registration) * revenue + cash
    np.testing.assert_allclose(t.profit_by_vendor, by_vendor, rtol=1e-5)
    market = params.market
    services = (before["effort"][model.n_vendors] * before["capacity"] * market.services_margin
                * market.services_revenue_per_fte * (1.0 + market.growth) ** quarter)
    np.testing.assert_allclose(t.profit, by_vendor.sum(axis=0) + services, rtol=1e-5)
    np.testing.assert_array_equal(t.conflict, conflict)
    np.testing.assert_array_equal(t.tenure, before["tenure"] + 1)


def test_the_booking_fixture_covers_every_case_of_the_first_deal(booked):
    model, _, sales, cash, _, before = booked
    won = sales.won_deals[0]
    for was in (-1, 0, 3):
        for deals in (0, 1, 2):
            assert ((before["first_deal"] == was) & (won == deals)).any(), (was, deals)
    assert (sales.won_deals[0] != sales.won_deals[1]).any() and (cash > 0).all()
    assert (before["effort"][model.n_vendors] * before["capacity"] > 1.0).any()  # services earn more than a unit


def test_a_partners_four_quarter_revenue_is_its_last_four_quarters(booked):
    model, offers, sales, cash, conflict, _ = booked
    t = model.partners
    t.revenue_history = 0.0
    closed = {}
    for quarter in range(1, 8):
        revenue = np.full_like(sales.revenue, 1000.0 * quarter)
        revenue[1] = 10.0 * quarter
        closed[quarter] = revenue
        partners.record_quarter(t, offers, dataclasses.replace(sales, revenue=revenue), cash, conflict,
                                model.params, quarter)
    np.testing.assert_allclose(t.revenue_4q, closed[4] + closed[5] + closed[6] + closed[7], rtol=1e-6)
