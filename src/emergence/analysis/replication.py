"""Do two studies agree? Their thresholds tables side by side, e.g. the same config run
with disjoint seed sets, or on two machines: the same verdict for every task, and
overlapping intervals for every threshold both call emergent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.errors import InputError
from emergence.evaluate.metrics import MAIN
from emergence.io import read_csv_columns

KEY = ["task", "prompt", "metric"]


def _pooled_main(path: Path) -> pd.DataFrame:
    t = pooled(read_csv_columns(path, (*KEY, "verdict", "threshold", "ci_low", "ci_high")))
    return t[t["metric"].isin(MAIN)].set_index(KEY)


def compare_thresholds(a: Path, b: Path) -> pd.DataFrame:
    """One row per task x prompt x main metric of both tables (all seeds pooled): each
    study's verdict and onset interval, same_verdict, and overlap (both emergent with
    overlapping intervals; None unless both are emergent)."""
    ta, tb = _pooled_main(Path(a)), _pooled_main(Path(b))
    both = ta.merge(tb, left_index=True, right_index=True, how="inner", suffixes=("_a", "_b"))
    if both.empty:
        raise InputError(f"{a} and {b} share no task, prompt and metric")
    emergent = (both["verdict_a"] == "emergent") & (both["verdict_b"] == "emergent")
    overlap = (both["ci_low_a"] <= both["ci_high_b"]) & (both["ci_low_b"] <= both["ci_high_a"])
    out = both[[f"{c}_{s}" for s in "ab" for c in ("verdict", "threshold", "ci_low", "ci_high")]].copy()
    out["same_verdict"] = both["verdict_a"] == both["verdict_b"]
    out["overlap"] = overlap.where(emergent, None)
    return out.reset_index()


def agree(table: pd.DataFrame) -> bool:
    """Same verdict everywhere and overlapping intervals wherever both are emergent."""
    return bool(table["same_verdict"].all() and (table["overlap"].dropna() == True).all())  # noqa: E712
