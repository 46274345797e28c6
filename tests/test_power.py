"""Power of the paired design against known values (G*Power, DESIGN.md), statsmodels' TTestPower
and the normal approximation."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from vt_core.analysis.power import paired_detectable_d_z, paired_n_for_power, paired_power


def test_known_designs():
    # DESIGN.md: 12 pairs detect only d_z of about 0.89 at 80%; 60 pairs detect about 0.37
    assert paired_detectable_d_z(12) == pytest.approx(0.889, abs=0.001)
    assert paired_detectable_d_z(60) == pytest.approx(0.368, abs=0.001)
    # G*Power, matched pairs, two-tailed, alpha .05, power .80: d_z 0.5 -> 34 pairs (actual power
    # 0.8078); d_z 0.8 -> 15 pairs
    assert paired_n_for_power(0.5) == 34
    assert paired_power(34, 0.5) == pytest.approx(0.8078, abs=0.0001)
    assert paired_n_for_power(0.8) == 15


@pytest.mark.parametrize("n", [2, 5, 12, 34, 60, 250])
@pytest.mark.parametrize("d_z", [0.1, 0.37, 0.5, 0.89, 1.5])
def test_power_matches_statsmodels(n, d_z):
    assert paired_power(n, d_z) == pytest.approx(TTestPower().power(effect_size=d_z, nobs=n, alpha=0.05),
                                                 abs=1e-9)


@pytest.mark.parametrize("d_z", [0.01, 0.2, 0.5, 0.8, 1.2, 3.0, -0.5])
def test_n_for_power_is_the_smallest_n(d_z):
    n = paired_n_for_power(d_z)
    assert paired_power(n, d_z) >= 0.8
    assert n == 2 or paired_power(n - 1, d_z) < 0.8
    solved = TTestPower().solve_power(effect_size=abs(d_z), alpha=0.05, power=0.8)
    assert n == math.ceil(solved)


def test_no_effect_has_power_alpha_and_sign_does_not_matter():
    assert paired_power(20, 0.0) == pytest.approx(0.05, abs=1e-12)
    assert paired_power(20, -0.6) == paired_power(20, 0.6)
    assert paired_power(20, 0.6, alpha=0.01) < paired_power(20, 0.6)


def test_large_n_agrees_with_the_normal_approximation():
    n, d_z, z = 10_000, 0.03, stats.norm.ppf(0.975)
    normal = stats.norm.cdf(d_z * math.sqrt(n) - z) + stats.norm.cdf(-d_z * math.sqrt(n) - z)
    assert paired_power(n, d_z) == pytest.approx(normal, abs=1e-3)
    # far in the tails scipy's nct.cdf returns NaN; the power must still be a number
    assert paired_power(890, 1.23) == 1.0


@pytest.mark.parametrize("call, words", [
    (lambda: paired_power(1, 0.5), "at least 2 pairs"),
    (lambda: paired_power(10, math.nan), "finite"),
    (lambda: paired_power(10, 0.5, alpha=1.5), "alpha"),
    (lambda: paired_n_for_power(0.0), "d_z = 0"),
    (lambda: paired_n_for_power(0.5, power=1.2), "power"),
    (lambda: paired_n_for_power(1e-6), "more than"),
])
def test_bad_input_is_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
