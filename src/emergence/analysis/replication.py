"""Do two studies agree? Their thresholds tables side by side, e.g. the same config run
with disjoint seed sets, or on two machines: the same verdict for every task and, for every
threshold both call emergent, no significant difference between the two onsets
(differences.onset_difference)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.analysis.differences import onset_difference
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
    test = onset_difference(*(both[f"{c}_{s}"] for s in "ab" for c in ("threshold", "ci_low", "ci_high")), level=level)
    for c in ("difference", "difference_low", "difference_high", "z"):
        out[c] = test[c].where(emergent)
    out["differ"] = test["differs"].where(emergent, None)
    return out.reset_index()


def agree(table: pd.DataFrame) -> bool:
    """Same verdict everywhere and no significant difference wherever both are emergent."""
    return bool(table["same_verdict"].all() and not (table["differ"].dropna() == True).any())  # noqa: E712
