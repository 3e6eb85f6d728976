"""What is measured each quarter (model level, for Mesa's DataCollector) and the partner panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.params import SEGMENTS
from sim.quarter import FOCAL

if TYPE_CHECKING:
    from sim.model import ChannelModel

PANEL_COLUMNS = ["quarter", "partner_id", "headcount", "segment", "velocity", "velocity_class", "tier", "recruit",
                 "joined", "alignment", "mindshare", "revenue", "trailing_revenue", "won_deals", "profit", "capability",
                 "goodwill", "cam_hours", "mdf_claimed", "tenure"]
LIFECYCLE = ["recruits", "exits", "terminations", "moved_to_digital", "promotions", "demotions", "technical_hires"]
# the focal vendor's P&L: its revenue through partners and direct, gross profit, and what is left after the channel
VENDOR_PNL = ["vendor_revenue", "channel_share", "vendor_gross_profit", "vendor_contribution", "unserved_demand"]


def instruments(model: ChannelModel) -> list[str]:
    seen: list[str] = []
    for vendor in model.vendors:
        for policy in vendor.policies:
            if policy.instrument and policy.instrument not in seen:
                seen.append(policy.instrument)
    return seen


def names(model: ChannelModel) -> list[str]:
    verticals = model.params.market.verticals
    rivals = [v.name for v in model.vendors[1:]]
    tiers = model.params.vendor.tiers.names
    return (
        ["quarter", "partners", "revenue", "net_revenue", "direct_revenue", "discount"] + VENDOR_PNL
        + [f"revenue_{s}" for s in SEGMENTS]
        + [f"revenue_{v}" for v in verticals]
        + ["mindshare"] + [f"mindshare_{r}" for r in rivals] + ["mindshare_services", "push_effort_share"]
        + ["won_deals", "win_rate", "active_partners", "active_ratio", "top20_share", "median_partner_profit",
           "goodwill", "capability"]
        + [f"spend_{i}" for i in instruments(model)] + ["spend_total", "spend_pct_revenue"]
        + ["mdf_allocated", "mdf_claimed", "mdf_utilisation", "rebate_near_threshold"]
        + ["partner_certifications", "partner_certification_spend"]
        + ["cam_hours_used", "cam_hours_available"] + [f"revenue_per_cam_hour_{s}" for s in SEGMENTS]
        + [f"partners_{t}" for t in tiers]
        + LIFECYCLE + ["attrition", "voluntary_attrition", "time_to_first_deal", "recruits_dealt_share"]
        + [f"revenue_{r}" for r in rivals]
    )


def top_share(values: np.ndarray, fraction: float = 0.2) -> float:
    """Share of the total held by the top `fraction` of entries."""
    total = values.sum(dtype=np.float64)
    if values.size == 0 or total <= 0:
        return 0.0
    k = max(1, int(np.ceil(fraction * values.size)))
    return float(np.partition(values, values.size - k)[values.size - k:].sum(dtype=np.float64) / total)


@dataclass
class View:
    """What the metrics read of one lane of a model (one replicate), in the quarter just played."""

    partners: Any  # the lane's partners (the whole table, or its block)
    quarter: int
    params: Any
    vendor_names: list[str]
    revenue: list[float]  # per vendor
    net_revenue: float  # focal
    direct_revenue: float
    discount: float
    offers: Any  # the lane's block of the quarter's offers
    sales: Any
    ledger: dict  # the lane's totals: spend, budget, usage, lifecycle
    history: list  # the lane's partner counts and departures, quarter by quarter
    kpis: dict  # the lane's trading metrics (after_review adds to them)
    instruments: list[str]
    mdf_spent: Any = None  # the lane's block of the MDF each partner claimed


def compute(view: View) -> dict[str, float]:
    """What the partners of this quarter did (before partners join or leave)."""
    t = view.partners
    params = view.params
    sales = view.sales
    verticals = params.market.verticals
    n = t.n
    capacity = t.capacity
    effort = t.effort
    weight = capacity.sum(dtype=np.float64)
    focal_revenue = sales.revenue[FOCAL]
    revenue = float(focal_revenue.sum(dtype=np.float64))

    out: dict[str, float] = {"quarter": view.quarter, "revenue": revenue, "net_revenue": view.net_revenue,
                             "direct_revenue": view.direct_revenue, "discount": view.discount}
    by_segment = sales.revenue_by_segment[FOCAL].sum(axis=1, dtype=np.float64)
    out.update({f"revenue_{s}": float(x) for s, x in zip(SEGMENTS, by_segment, strict=True)})
    by_vertical = t.verticals.astype(np.float64) @ focal_revenue.astype(np.float64)
    out.update({f"revenue_{v}": float(x) for v, x in zip(verticals, by_vertical, strict=True)})
    # the vendor's P&L: partner-sourced and direct revenue at the lines' gross margin before channel costs;
    # contribution, which needs the quarter's spend, after the review
    vendor_revenue = revenue + view.direct_revenue
    out["vendor_revenue"] = vendor_revenue
    out["channel_share"] = revenue / vendor_revenue if vendor_revenue > 0 else 0.0
    out["vendor_gross_profit"] = vendor_revenue * params.vendor.margin.blended_gross_margin()
    out["unserved_demand"] = float(sales.unserved[0])  # addressable demand nobody served (at base win rates)

    shares = (effort.astype(np.float64) @ capacity) / weight if weight > 0 else np.zeros(effort.shape[FOCAL])
    out["mindshare"] = float(shares[FOCAL])
    for index, name in enumerate(view.vendor_names[1:], start=1):
        out[f"mindshare_{name}"] = float(shares[index])
    out["mindshare_services"] = float(shares[-1])
    target = int(np.argmax(view.offers.push[FOCAL]))  # the vertical the focal vendor pushes most
    in_vertical = capacity * t.verticals[target]
    in_total = in_vertical.sum()  # zero when no partner has any priority in the pushed vertical
    out["push_effort_share"] = float(in_vertical @ effort[FOCAL] / in_total) if n and in_total > 0 else 0.0

    won = float(sales.won_deals[FOCAL].sum(dtype=np.float64))
    out["won_deals"] = won
    worked = float(sales.opportunities[FOCAL].sum(dtype=np.float64))
    out["win_rate"] = won / worked if worked > 0 else 0.0
    out["top20_share"] = top_share(t.revenue_4q[FOCAL])
    out["median_partner_profit"] = float(np.median(t.profit)) if n else 0.0
    out["goodwill"] = float(t.goodwill[FOCAL].mean(dtype=np.float64)) if n else 0.0
    out["capability"] = float(t.capability[FOCAL].mean(dtype=np.float64)) if n else 0.0

    usage = view.ledger["usage"].get(FOCAL, {})
    allocated = usage.get("mdf_allocated", 0.0)
    out["mdf_allocated"] = allocated
    out["mdf_claimed"] = usage.get("mdf_claimed", 0.0)
    out["mdf_utilisation"] = out["mdf_claimed"] / allocated if allocated > 0 else 0.0
    out["rebate_near_threshold"] = float(usage.get("rebate_near_threshold", 0))
    # what partners fund themselves to reach or keep a tier (sim.policies.tiers)
    out["partner_certifications"] = float(usage.get("partner_certifications", 0.0))
    out["partner_certification_spend"] = float(usage.get("partner_certification_spend", 0.0))
    out["cam_hours_used"] = float(usage.get("cam_hours_used", 0.0))
    out["cam_hours_available"] = float(usage.get("cam_hours_available", 0.0))
    hours = view.offers.cam_hours[FOCAL].astype(np.float64)
    covered_revenue = sales.revenue_by_segment[FOCAL].astype(np.float64) @ (hours > 0)
    hours_by_segment = t.segment_mix.astype(np.float64) @ hours
    for s, name in enumerate(SEGMENTS):
        out[f"revenue_per_cam_hour_{name}"] = (float(covered_revenue[s] / hours_by_segment[s])
                                               if hours_by_segment[s] > 0 else 0.0)
    for index, name in enumerate(view.vendor_names[1:], start=1):
        out[f"revenue_{name}"] = view.revenue[index]
    return out


def after_review(view: View) -> dict[str, float]:
    """The channel at the end of the quarter: who is in it, what the programs spent, who came and went."""
    t = view.partners
    n = t.n
    out: dict[str, float] = {"partners": n}
    active = int(np.count_nonzero(t.won_history.sum(axis=0)))
    out["active_partners"] = active
    out["active_ratio"] = active / n if n else 0.0

    spend = view.ledger["spend"].get(FOCAL, {})
    for instrument in view.instruments:
        out[f"spend_{instrument}"] = float(spend.get(instrument, 0.0))
    total = float(sum(spend.values()))
    out["spend_total"] = total
    revenue = view.kpis.get("revenue", 0.0)
    out["spend_pct_revenue"] = 100.0 * total / revenue if revenue > 0 else 0.0
    # gross profit less the front-end margin partners keep and every instrument's spend, contra-revenue and
    # operating alike (the discount holds margin, tier and loyalty points; no instrument spends into it)
    out["vendor_contribution"] = view.kpis["vendor_gross_profit"] - view.kpis["discount"] - total

    names = view.params.vendor.tiers.names
    levels = np.bincount(t.tier[FOCAL], minlength=len(names))
    for name, count in zip(names, levels, strict=True):
        out[f"partners_{name}"] = int(count)
    lifecycle = view.ledger["lifecycle"].get(FOCAL, {})
    for name in LIFECYCLE:
        out[name] = lifecycle.get(name, 0)

    history = view.history
    history.append({"start": lifecycle.get("start", n), "exits": out["exits"], "terminations": out["terminations"]})
    year = history[-4:]
    mean_partners = np.mean([h["start"] for h in year])
    scale = 4.0 / len(year) / mean_partners if mean_partners > 0 else 0.0
    out["voluntary_attrition"] = scale * sum(h["exits"] for h in year)
    out["attrition"] = scale * sum(h["exits"] + h["terminations"] for h in year)

    recruits = t.joined > 0
    dealt = recruits & (t.first_deal > 0)
    out["time_to_first_deal"] = float(np.median(t.first_deal[dealt] - t.joined[dealt])) if dealt.any() else 0.0
    seasoned = recruits & (view.quarter - t.joined >= 2)
    out["recruits_dealt_share"] = float(dealt[seasoned].mean()) if seasoned.any() else 0.0
    return out


def targeted_verticals(params) -> list[str]:
    """The verticals the focal vendor singles out: those its push weighs most (when it weighs some more than
    others) and its SPIFs' verticals, when they have one."""
    focal = params.vendor
    weights = {v: focal.push.get(v, 1.0) for v in params.market.verticals}
    top = max(weights.values())
    chosen = [v for v, w in weights.items() if w == top] if min(weights.values()) < top else []
    for spif in (focal.spif, focal.spif_campaign):
        if spif.enabled and spif.vertical and spif.vertical not in chosen:
            chosen.append(spif.vertical)
    return chosen


def partner_rows(view: View) -> pd.DataFrame:
    """This quarter's partner rows for the panel, straight from the arrays. `alignment`: the partner's priority
    weight on the verticals the focal vendor singles out (`targeted_verticals`; NaN when it singles out none)."""
    t = view.partners
    tiers = view.params.vendor.tiers.names
    targeted = [view.params.market.verticals.index(v) for v in targeted_verticals(view.params)]
    alignment = (t.verticals[targeted].sum(axis=0, dtype=np.float64) if targeted
                 else np.full(t.n, np.nan))
    return pd.DataFrame({
        "quarter": np.full(t.n, view.quarter, np.int32),
        "partner_id": t.local_id.copy(),
        "headcount": t.headcount.copy(),
        "segment": pd.Categorical.from_codes(t.segment_mix.argmax(axis=0), categories=list(SEGMENTS)),
        "velocity": t.velocity.copy(),
        "velocity_class": pd.Categorical.from_codes((t.cycle >= 0.5).astype(np.int64), categories=["high", "low"]),
        "tier": pd.Categorical.from_codes(t.tier[FOCAL].astype(np.int64), categories=list(tiers)),
        "recruit": t.joined > 0,
        "joined": t.joined.copy(),
        "alignment": alignment,
        "mindshare": t.effort[FOCAL].copy(),
        "revenue": t.revenue[FOCAL].copy(),
        "trailing_revenue": t.revenue_4q[FOCAL].copy(),
        "won_deals": t.won_deals[FOCAL].copy(),
        "profit": t.profit.copy(),
        "capability": t.capability[FOCAL].copy(),
        "goodwill": t.goodwill[FOCAL].copy(),
        "cam_hours": view.offers.cam_hours[FOCAL].copy(),
        "mdf_claimed": view.mdf_spent[FOCAL].copy(),
        "tenure": t.tenure.copy(),
    })
