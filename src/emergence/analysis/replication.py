"""Do two studies agree? Their thresholds tables side by side, e.g. the same config run
with disjoint seed sets, or on two machines: the same verdict for every task and, for every
threshold both call emergent, no significant difference between the two onsets.

The difference is tested against its combined uncertainty, each onset's standard error read
off its interval as (high - low) / (2 z), z the normal quantile of the intervals' level (a
normal approximation of bootstrap intervals that may be skewed). Overlapping intervals are
not agreement: two onsets 2.6 standard errors apart can still overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from emergence.analysis.analyze import pooled
from emergence.errors import InputError
from emergence.evaluate.metrics import MAIN
from emergence.io import read_csv_columns

KEY = ["task", "prompt", "metric"]


def _pooled_main(path: Path) -> pd.DataFrame:
    t = pooled(read_csv_columns(path, (*KEY, "verdict", "threshold", "ci_low", "ci_high")))
    return t[t["metric"].isin(MAIN)].set_index(KEY)


def compare_thresholds(a: Path, b: Path, level: float = 0.95) -> pd.DataFrame:
    """One row per task x prompt x main metric of both tables (all seeds pooled): each
    study's verdict and onset interval, same_verdict, overlap (of the two intervals), and
    the onsets' difference (a - b) with its interval at `level`, z and `differ` (|z| beyond
    the level's quantile). The last five are empty unless both are emergent."""
    ta, tb = _pooled_main(Path(a)), _pooled_main(Path(b))
    both = ta.merge(tb, left_index=True, right_index=True, how="inner", suffixes=("_a", "_b"))
    if both.empty:
        raise InputError(f"{a} and {b} share no task, prompt and metric")
    emergent = (both["verdict_a"] == "emergent") & (both["verdict_b"] == "emergent")
    overlap = (both["ci_low_a"] <= both["ci_high_b"]) & (both["ci_low_b"] <= both["ci_high_a"])
    out = both[[f"{c}_{s}" for s in "ab" for c in ("verdict", "threshold", "ci_low", "ci_high")]].copy()
    out["same_verdict"] = both["verdict_a"] == both["verdict_b"]
    out["overlap"] = overlap.where(emergent, None)
    quantile = stats.norm.ppf(0.5 + level / 2)
    se = np.hypot(*((both[f"ci_high_{s}"] - both[f"ci_low_{s}"]) / (2 * quantile) for s in "ab"))
    difference = (both["threshold_a"] - both["threshold_b"]).where(emergent)
    out["difference"] = difference
    out["difference_low"], out["difference_high"] = difference - quantile * se, difference + quantile * se
    out["z"] = difference / se
    out["differ"] = (out["z"].abs() > quantile).where(emergent, None)
    return out.reset_index()


def agree(table: pd.DataFrame) -> bool:
    """Same verdict everywhere and no significant difference wherever both are emergent."""
    return bool(table["same_verdict"].all() and not (table["differ"].dropna() == True).any())  # noqa: E712
