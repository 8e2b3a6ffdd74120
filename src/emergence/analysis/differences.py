"""The difference of two onsets, tested against their combined uncertainty: two studies'
(`emergence compare`, replication.py) or two prompts' of one study (prompts.py).

Each onset's standard error is read off its interval as (high - low) / (2 z), z the normal
quantile of the intervals' level (a normal approximation of bootstrap intervals that may be
skewed), and the two are combined as if independent. Overlapping intervals are not
agreement: two onsets 2.6 standard errors apart can still overlap."""

from __future__ import annotations

import numpy as np
from scipy import stats


def onset_difference(a, a_low, a_high, b, b_low, b_high, level: float = 0.95) -> dict:
    """a - b with its interval at `level` (difference, difference_low, difference_high), its
    z and whether it differs significantly (|z| beyond the level's quantile); numbers or
    pandas Series alike."""
    q = stats.norm.ppf(0.5 + level / 2)
    se = np.hypot((a_high - a_low) / (2 * q), (b_high - b_low) / (2 * q))
    d = a - b
    with np.errstate(divide="ignore", invalid="ignore"):
        z = d / se
    return {
        "difference": d,
        "difference_low": d - q * se,
        "difference_high": d + q * se,
        "z": z,
        "differs": abs(z) > q,
    }
