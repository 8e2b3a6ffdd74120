"""The page's tables of thresholds (each task's main metric pooled over seeds, and each seed
alone), and the way they write a value with its interval, which the sentences reuse so that
words and tables state the same numbers."""

from __future__ import annotations

import math

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.evaluate.metrics import MAIN


def is_number(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def with_interval(v, lo, hi) -> str:
    """ "1.533 [1.522, 1.544]", or the value alone without an interval, or "–"."""
    if not is_number(v):
        return "–"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if is_number(lo) and is_number(hi) else f"{v:.3f}"


def landmark(r, name: str) -> str:
    """A midpoint or saturation with its interval; one at the edge of the data is not stated
    as a number: "not reached" below the lowest loss observed, "at the edge" otherwise."""
    v = getattr(r, name)
    if is_number(v) and getattr(r, f"{name}_at_edge", False) is True:
        return (
            "not reached in the data"
            if v < r.loss_min + 1e-12 or not is_number(getattr(r, f"{name}_low"))
            else (f"{v:.3f} (at the edge of the data)")
        )
    return with_interval(v, getattr(r, f"{name}_low"), getattr(r, f"{name}_high"))


def main_fits(thresholds: pd.DataFrame) -> pd.DataFrame:
    """The rows the page is about: each task's main metric, all seeds pooled."""
    rows = pooled(thresholds)
    return rows[rows["metric"].isin(MAIN)]


def main_table(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Each task's main metric, all seeds pooled: verdict, onset (the threshold; only where
    emergent), midpoint and saturation with intervals, sizes crossing, what the interval covers,
    the mirage check beside the continuous twin's verdict, why."""
    rows = []
    for r in main_fits(thresholds).itertuples():
        emergent = r.verdict == "emergent"
        rows.append(
            {
                "task": r.task,
                "prompt": r.prompt,
                "metric": r.metric,
                "verdict": r.verdict,
                "onset (threshold)": with_interval(r.threshold, r.ci_low, r.ci_high) if emergent else "–",
                "midpoint": landmark(r, "midpoint") if emergent else "–",
                "saturation": landmark(r, "saturation") if emergent else "–",
                "sizes below / above onset": f"{int(r.sizes_below)} / {int(r.sizes_above)}" if emergent else "–",
                "interval covers": r.interval if emergent else "–",
                "mirage check": _mirage_cell(r),
                "why": r.reason,
            }
        )
    return pd.DataFrame(rows)


def _mirage_cell(r) -> str:
    """The mirage check and the twin's own verdict: "metric-induced (p_correct: smooth)", or "–"."""
    check, twin = getattr(r, "mirage", None), getattr(r, "twin", None)
    if not isinstance(twin, str):
        return "–"
    return f"{check} ({twin}: {r.twin_verdict})" if isinstance(check, str) else "–"


def seed_table(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Each task's main metric: the verdict and onset of every seed alone beside the pooled fit."""
    if "seed" not in thresholds or thresholds["seed"].astype(str).nunique() < 2:
        return pd.DataFrame()
    t = thresholds[thresholds["metric"].isin(MAIN)].assign(seed=thresholds["seed"].astype(str))
    t = t.assign(
        cell=[
            r.verdict + (f" {with_interval(r.threshold, r.ci_low, r.ci_high)}" if r.verdict == "emergent" else "")
            for r in t.itertuples()
        ]
    )
    wide = t.pivot_table(index=["task", "prompt", "metric"], columns="seed", values="cell", aggfunc="first")
    order = ["all"] + sorted((c for c in wide.columns if c != "all"), key=lambda c: (len(c), c))
    wide = wide[order].rename(columns=lambda c: "all seeds" if c == "all" else f"seed {c}")
    wide.columns.name = None
    return wide.reset_index()
