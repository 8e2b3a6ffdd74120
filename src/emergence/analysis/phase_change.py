"""Each size's own onsets of the in-context-learning measures: when (in tokens) and at what
loss its best head's prefix-matching score, a task's k-shot gain and the ICL score leave
their chance or null level (Olsson et al. 2022).

The thresholds table fits each measure with all sizes pooled against loss; a phase change is
also a property of one model's training, and a claim such as "the onset scales with the
square root of batch x context, whatever the size" (Aoyama et al. 2025) is about tokens. So
each size gets two fits per measure of its own, with the estimator and verdict rules of every
threshold (`fit_threshold`; intervals resample its seeds when it has several, else its
checkpoints): one against loss, one against tokens; and, with several seeds, each seed one
against tokens (seeds whose onsets lie far apart make the pooled curve a staircase that no
single onset fits: their own onsets say how far apart). Induction-head scores are fitted for
sizes of two or more layers only (one layer is their control); the k-shot gain and the ICL
score for every size.

The tokens fit runs on x = 1 + ln(t_max / tokens), t_max the size's most tokens: later in
training is lower x, as lower loss is, and x stays positive, as the smooth alternatives in a
power of x need (the exponential alternative in x is then a power law in tokens). Its onset
and interval are reported back in tokens, and its interval's width rule (`MAX_CI_WIDTH`)
reads as a factor of exp(0.2) = 1.22 between the interval's ends.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from emergence.analysis.thresholds import fit_threshold
from emergence.evaluate.metrics import HEADS, METRICS

# The measures fitted per size, in the order the report states them.
MEASURES = ("prefix_matching", "kshot_gain", "icl_score")
AXES = ("loss", "tokens")
COLUMNS = (
    "task",
    "metric",
    "labels",
    "size",
    "n_layers",
    "seed",
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


# fit_threshold's reasons speak of loss; on the tokens axis the same words read in tokens.
_IN_TOKENS = (
    ("with falling loss", "with more tokens"),
    ("as loss falls", "as tokens grow"),
    ("at the high-loss edge of the data", "at the early edge of the data"),
    ("at the low-loss edge of the data", "at the late edge of the data"),
    ("nats wide", "in ln(tokens) wide"),
)


def _fit(d: pd.DataFrame, axis: str, n_boot: int, seed: int, level: float) -> dict:
    m = METRICS[d["metric"].iloc[0]]
    tokens = d["tokens"].to_numpy(float)
    t_max = tokens.max()
    x = d["loss"].to_numpy(float) if axis == "loss" else 1 + np.log(t_max / tokens)
    level_at = float(d["chance"].dropna().iloc[0]) if d["chance"].notna().any() else None
    fit = fit_threshold(
        x,
        d["value"].to_numpy(float),
        run=d["seed"].to_numpy(),
        **m.levels(level_at),
        higher_is_better=m.higher_is_better,
        n_boot=n_boot,
        seed=seed,
        level=level,
    )
    onset, low, high = (fit.get(k) for k in ("threshold", "ci_low", "ci_high"))
    if axis == "tokens" and onset is not None:
        # x back to tokens: the interval's ends swap.
        onset, low, high = (t_max * math.exp(1 - v) for v in (onset, high, low))
    reason = fit.get("reason")
    if axis == "tokens" and reason:
        for loss_words, token_words in _IN_TOKENS:
            reason = reason.replace(loss_words, token_words)
    return {
        "axis": axis,
        "verdict": fit["verdict"],
        "onset": onset,
        "onset_low": low,
        "onset_high": high,
        "threshold_support": fit.get("threshold_support"),
        "n_runs": fit.get("n_runs"),
        "n_points": fit.get("n_points"),
        "reason": reason,
        "chance": level_at,
        "x_min": float(d[axis].min()),
        "x_max": float(d[axis].max()),
    }


def size_onsets(main: pd.DataFrame, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per measure (`MEASURES`), size and axis (`AXES`): the verdict and, where emergent, the
    onset with its interval (loss in nats, or tokens), from `main`, the results rows the
    thresholds are fitted on (analyze.main_setting of the checkpoints after warm-up: gold
    labels, most demonstrations), every seed of the size together. An empty table with
    `COLUMNS` when there are no such rows."""
    rows = []
    # Standard prompts (the k-shot gain), or none (scores read without prompts).
    main = main[main["metric"].isin(MEASURES) & main["prompt"].isin(["standard", "none"])]
    for (task, metric, labels), d in main.groupby(["task", "metric", "labels"], sort=False):
        if METRICS[metric].scoring == HEADS and "n_layers" in d:
            d = d[d["n_layers"] >= 2]
        for size, s in d.groupby("size", sort=True):
            s = s.sort_values(["seed", "step"])
            layers = int(s["n_layers"].iloc[0]) if "n_layers" in s else None
            head = {"task": task, "metric": metric, "labels": labels, "size": size, "n_layers": layers}
            rows += [head | {"seed": "all"} | _fit(s, axis, n_boot, seed, level) for axis in AXES]
            if s["seed"].nunique() > 1:  # each seed alone, against tokens: when did this run change?
                for k, g in s.groupby("seed", sort=True):
                    rows.append(head | {"seed": str(k)} | _fit(g, "tokens", n_boot, seed, level))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {m: i for i, m in enumerate(MEASURES)}
    return table.sort_values(["metric", "task", "size"], key=lambda c: c.map(order) if c.name == "metric" else c)
