"""The loyalty bonus: margin points for partners with the vendor `after_quarters` or more.

Claims: only partners at or past the tenure get the points, on top of every other margin term; with the
bonus on, tenured partners give the vendor more of their effort and the discount rises (paired seeds);
off, the run is the run without it, bit for bit; rivals cannot run it (tenure is the focal vendor's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import ChannelModel, ParameterError

BONUS = {"vendor__loyalty__enabled": True, "vendor__loyalty__points": 0.05, "vendor__loyalty__after_quarters": 8}


def test_only_partners_past_the_tenure_get_the_points():
    model = ChannelModel(rng=2, partners__count=300, quarters=4, vendor__recruitment__per_quarter=20, **BONUS)
    model.run(2)
    tenure = model.partners.tenure
    assert (tenure >= 8).any() and (tenure < 8).any()
    with_it = model.plan().margin[0]
    model.params.vendor.loyalty.enabled = False
    added = with_it - model.plan().margin[0]  # the same partners, the same quarter
    np.testing.assert_allclose(added[tenure >= 8], 0.05, atol=1e-6)
    assert (added[tenure < 8] == 0).all()


def test_tenured_partners_move_effort_to_the_vendor_and_the_discount_rises():
    diffs = []
    for seed in range(4):
        kwargs = {"rng": seed, "partners__count": 300, "quarters": 6, "record_partners": True}
        before, after = ChannelModel(**kwargs), ChannelModel(**kwargs, **BONUS)
        frames = before.run(), after.run()
        panels = [m.partner_panel().query("quarter == 6").set_index("partner_id") for m in (before, after)]
        both = panels[0].add_suffix("_before").join(panels[1].add_suffix("_after"), how="inner")
        tenured = both[both["tenure_before"] >= 8]
        diffs.append({"mindshare_tenured": (tenured["mindshare_after"] - tenured["mindshare_before"]).mean(),
                      "discount": frames[1]["discount"].iloc[-4:].mean() - frames[0]["discount"].iloc[-4:].mean()})
    mean = pd.DataFrame(diffs).mean()
    assert mean["mindshare_tenured"] > 0.01  # a few points of margin: a visible shift among those who get them
    assert mean["discount"] > 0


def test_off_it_is_the_run_without_it():
    base = {"rng": 5, "partners__count": 200, "quarters": 4}
    plain = ChannelModel(**base).run()
    off = ChannelModel(**base, vendor__loyalty__points=0.1, vendor__loyalty__after_quarters=0).run()
    pd.testing.assert_frame_equal(plain, off, check_exact=True)


def test_rivals_do_not_run_it():
    with pytest.raises(ParameterError, match="program.loyalty.enabled: rivals do not run loyalty"):
        ChannelModel(rivals__program__loyalty__enabled=True)
