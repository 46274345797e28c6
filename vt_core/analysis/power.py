"""Power of a paired (within-subject) comparison: the one-sample t-test on the differences, two-sided.

The test statistic follows a noncentral t with df = n - 1 and noncentrality d_z * sqrt(n), where
d_z = mean difference / SD of the differences. Power is the probability of landing beyond either
critical value. This is the same model as G*Power's "matched pairs" test and statsmodels'
TTestPower, so for d_z = 0.5 at 80% it needs 34 pairs; N = 12 detects d_z of about 0.89 and
N = 60 about 0.37. The Wilcoxon signed-rank test has about 95% of this power on normal data.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

MAX_N = 10_000_000  # beyond this, "the N for this power" is not a useful answer


def _check(d_z: float, alpha: float) -> None:
    if not math.isfinite(d_z):
        raise ValueError(f"d_z must be a finite number, not {d_z!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")


def paired_power(n: int, d_z: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n pairs to detect a standardised effect d_z."""
    _check(d_z, alpha)
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, not {n!r}")
    df = n - 1
    ncp = abs(d_z) * math.sqrt(n)
    critical = stats.t.ppf(1 - alpha / 2, df)
    # the lower tail as the upper tail of -T: scipy's nct.cdf gives NaN far out in the tail
    return float(min(stats.nct.sf(critical, df, ncp) + stats.nct.sf(critical, df, -ncp), 1.0))


def paired_n_for_power(d_z: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """The smallest number of pairs whose power to detect d_z reaches `power`.

    ValueError for d_z = 0 (no N suffices) or when more than MAX_N pairs would be needed."""
    _check(d_z, alpha)
    if not alpha < power < 1:
        raise ValueError(f"power must be between alpha ({alpha}) and 1, not {power!r}")
    if d_z == 0:
        raise ValueError("no number of pairs detects an effect of d_z = 0")
    if paired_power(MAX_N, d_z, alpha) < power:
        raise ValueError(f"d_z = {d_z:g} needs more than {MAX_N:,} pairs for {power:.0%} power")
    low, high = 2, 4
    while paired_power(high, d_z, alpha) < power:  # power grows with n: bracket, then bisect
        low, high = high, min(high * 2, MAX_N)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if paired_power(middle, d_z, alpha) >= power else (middle, high)
    return low if paired_power(low, d_z, alpha) >= power else high


def paired_detectable_d_z(n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest d_z that n pairs detect with the given power (the sensitivity of a design)."""
    if not alpha < power < 1:
        raise ValueError(f"power must be between alpha ({alpha}) and 1, not {power!r}")
    def gap(d_z: float) -> float:
        return paired_power(n, d_z, alpha) - power
    high = 1.0
    while gap(high) < 0:  # also validates n and alpha
        high *= 2
    return float(optimize.brentq(gap, 0.0, high, xtol=1e-10))
