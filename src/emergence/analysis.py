"""The study's analysis: thresholds per task, prompt and metric; the collapse test; the scaling law.

Each task is analysed at its main setting: gold demonstration labels and the largest
number of demonstrations evaluated for that prompt style. The other settings (fewer
shots, other labels) are compared in the figures.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from emergence.collapse import collapse_test
from emergence.scaling import fit_scaling, scaling_predict
from emergence.thresholds import fit_threshold

LOWER_IS_BETTER = {"brier", "edit_distance", "icl_score", "loss_early", "loss_late"}
# Metrics that are proportions of items (their n feeds the item-level bootstrap).
PROPORTIONS = {"acc", "acc_norm", "exact_match"}
# Bounded metrics whose chance level normalises them; others (margin, log-probabilities,
# the ICL score) carry a reference value in `chance` but are analysed in their own units.
BOUNDED = PROPORTIONS | {"p_correct", "brier"}
# The headline metric of each task, by what its metrics are.
MAIN_METRICS = ("acc", "exact_match", "icl_score")
SKIP = {"loss_early", "loss_late"}


def main_setting(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of each task x prompt at gold labels (or none) and the most demonstrations evaluated."""
    df = results[results["labels"].isin(["gold", "none"])]
    most = df.groupby(["task", "prompt"])["shots"].transform("max")
    return df[df["shots"] == most]


def main_metric(task_rows: pd.DataFrame) -> str:
    return next(m for m in MAIN_METRICS if m in set(task_rows["metric"]))


def thresholds_table(results: pd.DataFrame, n_boot: int, seed: int, level: float, bootstrap: str = "auto") -> pd.DataFrame:
    """One row per task x prompt x metric at the main setting: verdict, threshold and interval."""
    rows = []
    for (task, prompt, metric), d in main_setting(results).groupby(["task", "prompt", "metric"], sort=True):
        if metric in SKIP:
            continue
        d = d.sort_values(["model", "step"])
        chance = d["chance"].dropna().iloc[0] if metric in BOUNDED and d["chance"].notna().any() else None
        fit = fit_threshold(
            d["loss"].to_numpy(), d["value"].to_numpy(), model=d["model"].to_numpy(),
            n=d["n"].to_numpy() if metric in PROPORTIONS else None, chance=chance,
            higher_is_better=metric not in LOWER_IS_BETTER, n_boot=n_boot, seed=seed, level=level,
            bootstrap=bootstrap if metric in PROPORTIONS or "items" not in bootstrap else "clusters",
        )
        to_bpb = float((d["bpb"] / d["loss"]).iloc[0])
        best = fit.get("best_model") or "smooth"
        rows.append({
            "task": task, "prompt": prompt, "shots": int(d["shots"].iloc[0]), "labels": d["labels"].iloc[0],
            "metric": metric, **{k: fit.get(k) for k in (
                "verdict", "threshold", "ci_low", "ci_high", "chance", "spearman", "spearman_p", "emergence_score",
                "delta_bic", "best_model", "n_points", "resolution_warning")},
            "threshold_bpb": fit["threshold"] * to_bpb if fit.get("threshold") is not None else None,
            "loss_min": float(d["loss"].min()), "loss_max": float(d["loss"].max()),
            # The best model's parameters, in chance-normalised units (see thresholds.normalise).
            "fit": json.dumps({k.removeprefix(best + "_"): fit[k] for k in fit if k.startswith(best + "_")
                               and not k.startswith(("aic", "bic"))}),
            "higher_is_better": metric not in LOWER_IS_BETTER,
        })
    return pd.DataFrame(rows)


def collapse_table(results: pd.DataFrame) -> pd.DataFrame:
    """The collapse test for each task x prompt's main metric at the main setting."""
    rows = []
    for (task, prompt), d in main_setting(results).groupby(["task", "prompt"], sort=True):
        metric = main_metric(d)
        d = d[d["metric"] == metric].rename(columns={"params": "all_params"})
        d = d.assign(params=d["nonembedding_params"])
        out = collapse_test(d[["loss", "value", "params", "tokens", "flops"]])
        rows.append({"task": task, "prompt": prompt, "metric": metric, **out})
    return pd.DataFrame(rows)


def final_points(training: pd.DataFrame) -> pd.DataFrame:
    """Each run's last checkpoint: non-embedding parameters, tokens trained, validation loss."""
    val = training.dropna(subset=["val_loss"])
    last = val[val["step"] == val.groupby("model")["step"].transform("max")]
    return last[["model", "size", "budget", "nonembedding_params", "tokens", "val_loss"]].rename(columns={"val_loss": "loss"})


def scaling_fit(training: pd.DataFrame, n_boot: int, seed: int) -> tuple[dict, pd.DataFrame]:
    """The scaling law on each run's final checkpoint, and those points with the law's prediction."""
    points = final_points(training).reset_index(drop=True)
    if len(points) < 5:  # five free parameters
        return {"note": f"{len(points)} runs are too few to fit five parameters"}, points.assign(predicted=np.nan)
    fit = fit_scaling(points["nonembedding_params"].to_numpy(float), points["tokens"].to_numpy(float),
                      points["loss"].to_numpy(float), n_boot=n_boot, seed=seed)
    fit = {k: v for k, v in fit.items() if not callable(v)}
    points["predicted"] = scaling_predict(fit, points["nonembedding_params"].to_numpy(float), points["tokens"].to_numpy(float))
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in fit.items()}, points
