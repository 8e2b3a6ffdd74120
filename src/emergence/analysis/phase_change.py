"""The induction-head phase change of each size: when (in tokens) and at what loss its best
head's prefix-matching score leaves chance (Olsson et al. 2022).

The thresholds table fits the score of all sizes pooled against loss; a phase change is also
a property of one model's training, and a claim such as "the onset scales with the square
root of batch x context, whatever the size" (Aoyama et al. 2025) is about tokens. So each
size of two or more layers gets two fits of its own, with the estimator and verdict rules of
every threshold (`fit_threshold`; intervals resample its seeds when it has several, else its
checkpoints): one against loss, one against tokens. The tokens fit runs on
x = 1 + ln(t_max / tokens), t_max the size's most tokens: later in training is lower x, as
lower loss is, and x stays positive, as the smooth alternatives in a power of x need (the
exponential alternative in x is then a power law in tokens). Its onset and interval are
reported back in tokens, and its interval's width rule (`MAX_CI_WIDTH`) reads as a factor of
exp(0.2) = 1.22 between the interval's ends.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from emergence.analysis.thresholds import fit_threshold

METRIC = "prefix_matching"
AXES = ("loss", "tokens")
COLUMNS = (
    "size",
    "n_layers",
    "axis",
    "verdict",
    "onset",
    "onset_low",
    "onset_high",
    "threshold_support",
    "n_runs",
    "n_points",
    "reason",
    "chance",
    "x_min",
    "x_max",
)


def _fit(d: pd.DataFrame, axis: str, n_boot: int, seed: int, level: float) -> dict:
    tokens = d["tokens"].to_numpy(float)
    t_max = tokens.max()
    x = d["loss"].to_numpy(float) if axis == "loss" else 1 + np.log(t_max / tokens)
    fit = fit_threshold(
        x,
        d["value"].to_numpy(float),
        run=d["seed"].to_numpy(),
        chance=float(d["chance"].iloc[0]),
        n_boot=n_boot,
        seed=seed,
        level=level,
    )
    onset, low, high = (fit.get(k) for k in ("threshold", "ci_low", "ci_high"))
    if axis == "tokens" and onset is not None:
        # x back to tokens: the interval's ends swap.
        onset, low, high = (t_max * math.exp(1 - v) for v in (onset, high, low))
    lo, hi = (d[axis].min(), d[axis].max())
    return {
        "axis": axis,
        "verdict": fit["verdict"],
        "onset": onset,
        "onset_low": low,
        "onset_high": high,
        "threshold_support": fit.get("threshold_support"),
        "n_runs": fit.get("n_runs"),
        "n_points": fit.get("n_points"),
        "reason": fit.get("reason"),
        "chance": fit.get("chance"),
        "x_min": float(lo),
        "x_max": float(hi),
    }


def induction_onsets(results: pd.DataFrame, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per size of two or more layers and axis (`AXES`): the verdict on its best head's
    prefix-matching score and, where emergent, its onset with the interval (loss in nats, or
    tokens), from `results` rows of that metric (checkpoints after warm-up; every seed of the
    size). An empty table with `COLUMNS` when there are no such rows."""
    pm = results[(results["metric"] == METRIC) & ~results["warmup"].astype(bool)]
    if "n_layers" in pm:
        pm = pm[pm["n_layers"] >= 2]
    rows = []
    for size, d in pm.groupby("size", sort=True):
        d = d.sort_values(["seed", "step"])
        layers = int(d["n_layers"].iloc[0]) if "n_layers" in d else None
        rows += [{"size": size, "n_layers": layers, **_fit(d, axis, n_boot, seed, level)} for axis in AXES]
    return pd.DataFrame(rows, columns=list(COLUMNS))
