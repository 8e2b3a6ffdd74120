"""Chain of thought (or any other prompt) against standard prompting, paired.

Every checkpoint answers the same items under each prompt, so the two are compared
checkpoint by checkpoint and item by item. The **gain** is the mean, over the checkpoints
where the ability is present, of (prompt's score - standard's score) on the items both
prompts were scored on; its interval resamples the runs within each size and the item ids
once for both prompts (bootstrap.resamples on the per-item differences), so that what the
two prompts share (a hard item, a lucky seed) cancels instead of widening it. Like the
thresholds' intervals it is rescaled for few runs per size (Rao-Wu) and, as a mean of few
runs needs, widened from z to t quantiles (`_expansion`). On simulated tasks with a planted
gain (tools/prompt_coverage.py) the 95% interval covers it in 93 of 100 (88 without the
widening); where the two prompts are equal it is conservative (0 of 100 called different):
runs and items are redrawn as two crossed factors, so the noise of each item at each run is
counted by both draws.

"Where the ability is present" is read off the thresholds, never typed in: the checkpoints
below the onset interval of the prompt that is emergent (of the one with the higher onset,
where both are); where neither is, the lowest quarter of the losses, the checkpoints nearest
to having it. The gain is conditional on that region (chosen from the same curves it then
compares). Where both are emergent, their onsets' difference is tested as `emergence
compare` tests two studies' (differences.onset_difference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from emergence.analysis.bootstrap import COVERS, choose, labels, resamples, rescaling
from emergence.analysis.differences import onset_difference
from emergence.evaluate.metrics import MAIN, METRICS

BASELINE = "standard"
LOWEST_SHARE = 0.25  # where neither prompt is emergent: the lowest quarter of the losses
MIN_REGION = 3  # fewer checkpoints than this below an onset: use the lowest quarter instead
COLUMNS = [
    "task",
    "metric",
    "prompt",
    "baseline",
    "shots",
    "baseline_shots",
    "verdict",
    "baseline_verdict",
    "region",
    "region_prompt",
    "loss_below",
    "n_points",
    "prompt_mean",
    "baseline_mean",
    "gain",
    "gain_low",
    "gain_high",
    "gain_differs",
    "compared",
    "onset_difference",
    "onset_difference_low",
    "onset_difference_high",
    "onset_z",
    "onset_differs",
    "level",
    "interval",
    "finding",
]


def prompt_table(
    results: pd.DataFrame,
    thresholds: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    n_boot: int,
    seed: int,
    level: float,
) -> pd.DataFrame:
    """One row per task with a standard prompt and another one (e.g. chain of thought), for
    its main metric at the main setting, all seeds pooled: both verdicts, the region compared,
    the paired gain with its interval, the onsets' difference where both are emergent, and a
    one-phrase finding (see `finding`). `results` are the checkpoints the thresholds were fitted
    on; `items` collect's items table (None: intervals over runs only)."""
    fits = thresholds[(thresholds["seed"].astype(str) == "all") & thresholds["metric"].isin(MAIN)]
    rows = []
    for (task, metric), group in fits.groupby(["task", "metric"], sort=True):
        by_prompt = group.set_index("prompt")
        if BASELINE not in by_prompt.index:
            continue
        for prompt in sorted(p for p in by_prompt.index if p != BASELINE):
            fit, base = by_prompt.loc[prompt], by_prompt.loc[BASELINE]
            pair = _paired_points(results, items, task, metric, prompt, fit["shots"], base["shots"])
            if pair is None:
                continue
            rows.append(_row(task, metric, prompt, fit, base, *pair, n_boot=n_boot, seed=seed, level=level))
    return pd.DataFrame(rows, columns=COLUMNS)


def _curve(results: pd.DataFrame, task, metric, prompt, shots) -> pd.DataFrame:
    labelled = results["labels"].isin(METRICS[metric].analysed_at)
    d = results[
        (results["task"] == task)
        & (results["metric"] == metric)
        & (results["prompt"] == prompt)
        & (results["shots"] == shots)
        & labelled
    ]
    return d.drop_duplicates(["model", "step"]).set_index(["model", "step"])


def _paired_points(results, items, task, metric, prompt, shots, base_shots):
    """The checkpoints scored under both prompts (size, seed, loss, both values) and, where
    known for both, each item's score difference at each of them (points x items)."""
    a, b = _curve(results, task, metric, prompt, shots), _curve(results, task, metric, BASELINE, base_shots)
    both = a.index.intersection(b.index)
    if len(both) == 0:
        return None
    points = a.loc[both, ["size", "seed", "loss"]].assign(value=a.loc[both, "value"], base=b.loc[both, "value"])
    points = points.dropna(subset=["loss", "value", "base"]).sort_index()
    if points.empty:
        return None
    diff = None
    if items is not None and len(items):
        wide = [
            _item_matrix(items, task, metric, p, s, points.index) for p, s in ((prompt, shots), (BASELINE, base_shots))
        ]
        if all(w is not None for w in wide):
            ids = wide[0].columns.intersection(wide[1].columns)
            diff = (wide[0][ids] - wide[1][ids]).to_numpy(float)
            if len(ids) == 0 or np.isnan(diff).all(axis=1).any():
                diff = None
    return points.reset_index(), diff


def _item_matrix(items, task, metric, prompt, shots, index) -> pd.DataFrame | None:
    sel = items[
        (items["task"] == task)
        & (items["metric"] == metric)
        & (items["prompt"] == prompt)
        & (items["shots"] == shots)
        & items["labels"].isin(METRICS[metric].analysed_at)
    ]
    if sel.empty:
        return None
    wide = sel.pivot_table(index=["model", "step"], columns="item", values="score", aggfunc="first")
    return wide.reindex(index)


def _region(fit, base, loss: np.ndarray) -> tuple[str, str | None, float]:
    """Which checkpoints the gain averages over (see the module docstring): a description, the
    prompt whose onset bounds them (None for the lowest quarter) and the loss at or below which
    they lie."""
    pair = ((fit, fit.name), (base, BASELINE))
    emergent = [(r["threshold"], r["ci_low"], name) for r, name in pair if r["verdict"] == "emergent"]
    if emergent:
        _, below, name = max(emergent)
        if (loss <= below).sum() >= MIN_REGION:
            return f"below the onset interval of {name}", name, float(below)
    return "lowest quarter of the losses", None, float(np.quantile(loss, LOWEST_SHARE))


def _row(task, metric, prompt, fit, base, points, diff, *, n_boot, seed, level) -> dict:
    loss = points["loss"].to_numpy(float)
    region_text, region_prompt, below = _region(fit, base, loss)
    inside = loss <= below
    if diff is not None:  # on the items both prompts were scored on: what the resamples redraw
        with np.errstate(invalid="ignore"):
            delta = np.nanmean(diff, axis=1)
    else:
        delta = (points["value"] - points["base"]).to_numpy(float)
    low, high, covers = _gain_interval(points, delta, diff, inside, n_boot, seed, level)
    both = fit["verdict"] == "emergent" and base["verdict"] == "emergent"
    # Where both are emergent; None otherwise (a verdict without an onset has none to compare).
    onset = dict.fromkeys(("difference", "difference_low", "difference_high", "z", "differs"))
    if both:
        test = onset_difference(
            *(float(r[c]) for r in (fit, base) for c in ("threshold", "ci_low", "ci_high")), level=level
        )
        onset = {k: bool(v) if k == "differs" else float(v) for k, v in test.items()}
    row = {
        "task": task,
        "metric": metric,
        "prompt": prompt,
        "baseline": BASELINE,
        "shots": int(fit["shots"]),
        "baseline_shots": int(base["shots"]),
        "verdict": fit["verdict"],
        "baseline_verdict": base["verdict"],
        "region": region_text,
        "region_prompt": region_prompt,
        "loss_below": below,
        "n_points": int(inside.sum()),
        "prompt_mean": float(points["value"].to_numpy(float)[inside].mean()),
        "baseline_mean": float(points["base"].to_numpy(float)[inside].mean()),
        "gain": float(delta[inside].mean()),
        "gain_low": low,
        "gain_high": high,
        "gain_differs": bool(low > 0 or high < 0) if np.isfinite(low) else None,
        **{f"onset_{k}": v for k, v in onset.items()},
        "level": level,
        "interval": covers,
    }
    row["compared"] = compared(row, higher_is_better=bool(fit.get("higher_is_better", True)))
    row["finding"] = finding(row)
    return row


def _gain_interval(points, delta, diff, inside, n_boot, seed, level) -> tuple[float, float, str]:
    """Percentile interval of the mean paired difference over the region (runs within sizes
    and item ids redrawn once per replicate for both prompts, through their differences), and
    what it covers."""
    size = len(points)
    model = labels(points["size"], size, "size")
    run = labels(points["seed"], size, "seed")
    scheme = choose("auto", model, run, np.ones(size, int) if diff is not None else None)
    covers = "runs only" if scheme == "runs" and diff is None else COVERS.get(scheme, scheme)
    rng = np.random.default_rng(seed)
    est = float(delta[inside].mean())
    boots = np.array(
        [
            v[inside[idx]].mean() if inside[idx].any() else np.nan
            for idx, v in resamples(scheme, size, model, run, None, delta, n_boot, rng, diff)
        ]
    )
    boots = est + rescaling(scheme, model, run) * _expansion(model, run, inside, scheme, level) * (boots - est)
    boots = boots[np.isfinite(boots)]
    if boots.size < n_boot / 2:
        return float("nan"), float("nan"), covers
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(boots, [tail, 100 - tail])
    return float(lo), float(hi), covers


def _expansion(model, run, inside, scheme: str, level: float) -> float:
    """Hesterberg's (2015) expanded percentile interval for few clusters: a percentile
    interval from R resampled runs is as narrow as a z interval, where the runs' mean needs a
    t interval with R - S degrees of freedom (R runs with checkpoints in the region, S sizes
    they stratify into), so deviations are widened by t / z. 1 unless runs are resampled."""
    if scheme != "runs":
        return 1.0
    pairs = {(m, r) for m, r, i in zip(model, run, inside) if i}
    df = len(pairs) - len({m for m, _ in pairs})
    if df < 1:
        return 1.0
    q = 0.5 + level / 2
    return float(stats.t.ppf(q, df) / stats.norm.ppf(q))


def compared(row: dict, higher_is_better: bool = True) -> str:
    """ "cot better" or "cot worse" where the gain's interval excludes 0, else "no significant difference"."""
    if row["gain_differs"] is not True:
        return "no significant difference"
    return f"{row['prompt']} {'better' if (row['gain'] > 0) == higher_is_better else 'worse'}"


def finding(row: dict) -> str:
    """What the pair shows, in a phrase: each prompt's verdict and whether the prompt does
    significantly better or worse than standard or, where both are emergent, starts at
    another loss."""
    p, verdict, base = row["prompt"], row["verdict"], row["baseline_verdict"]
    if verdict == "emergent" and base == "emergent":
        if row["onset_differs"] is True:
            return f"emergent with both, {p} at a {'higher' if row['onset_difference'] > 0 else 'lower'} loss"
        return "emergent with both, at onsets that do not differ significantly"
    return f"{verdict} with {p}, {base} with standard; {row['compared']}"
