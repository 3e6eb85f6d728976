"""Make the calibration example: a roster of 300 partner firms and the channel's observed history.

How it was made (run `python experiments/calibration/make_example.py` to make it again, bit for bit):

1. `roster.csv`: the founding partners of the baseline scenario's synthetic population (300 firms, seed
   2026, after its warm start): each firm's segment mix, headcount by role, vertical priorities, revenue
   with the vendor over the last four quarters and tier, under made-up names.
2. `history.csv` and `partner_revenue.csv`: one run of `channel.toml` (the baseline on that roster) over
   24 quarters on seed 2026 (a seed the calibration's replicates do not use: the real channel is one draw
   the model never saw), at these hidden values, none of them the defaults:

       market.opportunities_per_fte.smb          10.0   (default 8)
       market.win_base.smb                       0.28   (default 0.35)
       partners.exit.base                        -3.0   (default -2.5)
       vendor.margin.lines.software.gross_margin 0.70   (default 0.80; it reaches none of the targets)

   history.csv holds the quarterly won deals, win rate, partner count, exits, revenue and active partners;
   partner_revenue.csv each founding partner's revenue in the first 16 quarters (the fitted ones).

`calibration.toml` fits the four parameters from the defaults' ranges; quarters 17-24 are held out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim import scenarios
from sim.model import ChannelModel
from sim.params import SEGMENTS
from sim.quarter import FOCAL

HERE = Path(__file__).resolve().parent
SEED = 2026
HIDDEN = {"market.opportunities_per_fte.smb": 10.0, "market.win_base.smb": 0.28, "partners.exit.base": -3.0,
          "vendor.margin.lines.software.gross_margin": 0.70}
OBSERVED = ["won_deals", "win_rate", "partners", "exits", "revenue", "active_partners"]
FITTED = 16


def roster() -> pd.DataFrame:
    params = scenarios.load(HERE.parent.parent / "scenarios" / "baseline.toml", {"partners.count": 300}).params
    t = ChannelModel(params, rng=SEED).partners
    frame = pd.DataFrame({"id": [f"P{i + 1:03d}" for i in range(t.n)],
                          "name": [f"Partner {i + 1}" for i in range(t.n)]})
    for s, segment in enumerate(SEGMENTS):
        frame[segment] = np.round(t.segment_mix[s], 4)
    frame[list(SEGMENTS)] = frame[list(SEGMENTS)].div(frame[list(SEGMENTS)].sum(axis=1), axis=0).round(6)
    for role in ("sales", "technical", "marketing"):
        frame[role] = getattr(t, role).astype(int)
    for v, vertical in enumerate(params.market.verticals):
        frame[vertical] = np.round(t.verticals[v], 6)
    frame["trailing_revenue"] = np.round(t.revenue_4q[FOCAL], 0)
    frame["tier"] = [params.vendor.tiers.names[k] for k in t.tier[FOCAL]]
    return frame


def history() -> tuple[pd.DataFrame, pd.DataFrame]:
    params = scenarios.load(HERE / "channel.toml", HIDDEN).params
    model = ChannelModel(params, rng=SEED, record_partners=True)
    model.run()
    quarters = model.lane_frames()[0]
    ids = pd.read_csv(HERE / "roster.csv")["id"]
    panel = model.partner_panel(0)
    panel = panel[(panel["partner_id"] < len(ids)) & (panel["quarter"] <= FITTED)]
    partners = pd.DataFrame({"id": ids.to_numpy()[panel["partner_id"].to_numpy()], "quarter": panel["quarter"],
                             "revenue": panel["revenue"].round(2)}).sort_values(["id", "quarter"])
    return quarters[["quarter", *OBSERVED]], partners


if __name__ == "__main__":
    roster().to_csv(HERE / "roster.csv", index=False)
    observed, partners = history()
    observed.to_csv(HERE / "history.csv", index=False)
    partners.to_csv(HERE / "partner_revenue.csv", index=False)
    print(f"wrote roster.csv, history.csv ({len(observed)} quarters), partner_revenue.csv ({len(partners)} rows)")
