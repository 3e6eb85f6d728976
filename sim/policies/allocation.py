"""Allocation rules: who gets a budget (MDF dollars, CAM hours, certifications), apart from what is given.

A rule scores every live partner; an instrument hands out `budget x score / sum(score)` (or
covers the top scorers) and never more than it has. Scores are zero for partners a rule
excludes (a targeted segment's outsiders, partners moved to the digital tier, tiers without
the benefit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.params import SEGMENTS

if TYPE_CHECKING:
    from sim.model import ChannelModel


def scores(rule: str, model: ChannelModel, vendor: int, target: str = "") -> np.ndarray:
    """The rule's score for each live partner (float64, >= 0)."""
    t = model.partners
    if rule == "trailing_revenue":
        return t.revenue_4q[vendor].astype(np.float64)
    if rule == "potential":  # capacity x addressable demand: revenue a quarter at full effort
        return model.market.potential(t, model.quarter)
    if rule == "velocity":  # deal flow: many quick deals first
        return (t.velocity * t.capacity).astype(np.float64)
    if rule == "equal":
        return np.ones(t.n)
    if rule == "tier":
        return model.vendors[vendor].tiers.mdf_weights(model)
    if rule == "segment":
        return t.segment_mix[SEGMENTS.index(target)].astype(np.float64)
    if rule == "vertical":
        return t.verticals[model.params.market.verticals.index(target)].astype(np.float64)
    if rule == "recruits":  # partners in their first year
        return (t.tenure <= 4).astype(np.float64)
    raise ValueError(f"unknown allocation rule {rule!r}")


def weights(rule: str, model: ChannelModel, vendor: int, target: str = "",
            eligible: np.ndarray | None = None) -> np.ndarray:
    """The rule's scores as shares of each lane's total."""
    score = scores(rule, model, vendor, target)
    if eligible is not None:
        score = score * eligible
    return model.partners.normalise(score)


def share_out(budget: float, shares: np.ndarray) -> np.ndarray:
    """budget x shares as per-partner float32 amounts that never add up to more than the budget
    (a part in a million is held back against rounding)."""
    return (budget * (1.0 - 1e-6) * shares).astype(np.float32)
