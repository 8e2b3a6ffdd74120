"""The study's analysis: thresholds per task, prompt and metric; the collapse test; the scaling law.

Each task is analysed at its main setting: gold demonstration labels and the largest
number of demonstrations evaluated for that prompt style (and `follows_labels` at flipped
labels). Induction-head scores are fitted on models of two or more layers: one-layer models
are their negative control. The other settings (fewer shots, other labels) are compared in
the figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.collapse import collapse_test
from emergence.analysis.collect import read_results
from emergence.analysis.mirage import with_twins
from emergence.analysis.phase_change import size_onsets
from emergence.analysis.prompts import prompt_table
from emergence.analysis.scaling import fit_scaling, scaling_predict
from emergence.analysis.thresholds import fit_threshold
from emergence.config import AnalysisConfig
from emergence.evaluate.metrics import HEADS, MAIN, METRICS
from emergence.io import read_csv_columns, write_json, write_table


def main_setting(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of each task x prompt at the most demonstrations evaluated, each metric at the
    label settings it is analysed at (`Metric.analysed_at`: gold labels, or none, for most)."""
    at = results["metric"].map(lambda m: METRICS[m].analysed_at if m in METRICS else ("gold", "none"))
    df = results[[lab in a for lab, a in zip(results["labels"], at)]]
    most = df.groupby(["task", "prompt"])["shots"].transform("max")
    return df[df["shots"] == most]


def main_metric(task_rows: pd.DataFrame) -> str:
    return next(m for m in MAIN if m in set(task_rows["metric"]))


# The thresholds table's columns from fit_threshold, in order.
_FIT_COLUMNS = (
    "verdict",
    "threshold",
    "ci_low",
    "ci_high",
    "onset",
    "onset_low",
    "onset_high",
    "midpoint",
    "midpoint_low",
    "midpoint_high",
    "saturation",
    "saturation_low",
    "saturation_high",
    "at_edge",
    "midpoint_at_edge",
    "saturation_at_edge",
    "threshold_support",
    "flat_level",
    "flat_level_se",
    "interval",
    "n_runs",
    "sizes_below",
    "sizes_above",
    "reason",
    "chance",
    "null",
    "spearman",
    "spearman_p",
    "emergence_score",
    "delta_bic",
    "smooth_alternative",
    "best_model",
    "threshold_model",
    "n_points",
    "resolution_warning",
)


def fitted_checkpoints(results: pd.DataFrame) -> pd.DataFrame:
    """The checkpoints every fit uses: all but those taken during learning-rate warm-up
    (see collect.warmup_end for why)."""
    return results[~results["warmup"].astype(bool)]


def item_scores(d: pd.DataFrame, items: dict) -> np.ndarray | None:
    """Each item's score at each checkpoint of curve `d` (rows in d's order, one column per
    item id; NaN where a checkpoint lacks an item), from `items` (item rows grouped by task,
    prompt, shots, labels, metric); None when some checkpoint has no item scores."""
    first = d.iloc[0]
    sel = items.get((first["task"], first["prompt"], first["shots"], first["labels"], first["metric"]))
    if sel is None:
        return None
    wide = sel.pivot_table(index=["model", "step"], columns="item", values="score", aggfunc="first")
    matrix = wide.reindex(pd.MultiIndex.from_frame(d[["model", "step"]])).to_numpy(float)
    return None if np.isnan(matrix).all(axis=1).any() else matrix


def _curve_row(
    d: pd.DataFrame, metric: str, seed: str, n_boot: int, boot_seed: int, level: float, bootstrap: str, items: dict
):
    m = METRICS[metric]
    known = d["chance"].dropna()
    chance = float(known.iloc[0]) if len(known) else None
    fit = fit_threshold(
        d["loss"].to_numpy(),
        d["value"].to_numpy(),
        model=d["size"].to_numpy(),
        run=d["seed"].to_numpy(),
        n=d["n"].to_numpy() if m.proportion else None,
        items=item_scores(d, items) if m.proportion else None,
        **m.levels(chance),
        higher_is_better=m.higher_is_better,
        n_boot=n_boot,
        seed=boot_seed,
        level=level,
        bootstrap=bootstrap if m.proportion or "items" not in bootstrap else "clusters",
    )
    to_bpb = float((d["bpb"] / d["loss"]).iloc[0])
    best = fit.get("best_model") or "smooth"
    return {
        "task": d["task"].iloc[0],
        "prompt": d["prompt"].iloc[0],
        "shots": int(d["shots"].iloc[0]),
        "labels": d["labels"].iloc[0],
        "metric": metric,
        "seed": seed,
        **{k: fit.get(k) for k in _FIT_COLUMNS},
        "threshold_bpb": fit["threshold"] * to_bpb if fit.get("threshold") is not None else None,
        "loss_min": float(d["loss"].min()),
        "loss_max": float(d["loss"].max()),
        # The best model's parameters, in chance-normalised units (see thresholds.normalise).
        "fit": json.dumps(
            {
                k.removeprefix(best + "_"): fit[k]
                for k in fit
                if k.startswith(best + "_") and not k.startswith(("aic", "bic"))
            }
        ),
        "higher_is_better": m.higher_is_better,
    }


def thresholds_table(
    results: pd.DataFrame,
    n_boot: int,
    seed: int,
    level: float,
    bootstrap: str = "auto",
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per task x prompt x labels x metric at the main setting: verdict, onset (the threshold),
    midpoint and saturation with their intervals, from the checkpoints after warm-up of all
    seeds pooled (seed "all"; intervals resample runs within each size when there are several
    seeds) and, when there are several, of each seed alone (intervals over items only), and
    each metric's mirage check beside its continuous twin (mirage.with_twins). With `items`
    (collect's items table) the intervals redraw item ids; without, items binomially."""
    keys = ["task", "prompt", "shots", "labels", "metric"]
    by_curve = {} if items is None or items.empty else dict(tuple(items.groupby(keys, sort=False)))
    rows = []
    settings = main_setting(fitted_checkpoints(results)).groupby(["task", "prompt", "labels", "metric"], sort=True)
    for (_, _, _, metric), d in settings:
        if not METRICS[metric].analysed:
            continue
        if METRICS[metric].scoring == HEADS and "n_layers" in d:
            # One-layer models cannot form induction heads: they are the control, not the family.
            d = d[d["n_layers"] != 1]
            if d.empty:
                continue
        d = d.sort_values(["model", "step"])
        seeds = sorted(d["seed"].unique())
        rows.append(_curve_row(d, metric, "all", n_boot, seed, level, bootstrap, by_curve))
        if len(seeds) > 1:
            for s in seeds:
                rows.append(_curve_row(d[d["seed"] == s], metric, str(s), n_boot, seed, level, bootstrap, by_curve))
    return with_twins(pd.DataFrame(rows))


def pooled(thresholds: pd.DataFrame) -> pd.DataFrame:
    """The rows of a thresholds table fitted on all seeds together."""
    return thresholds[thresholds["seed"].astype(str) == "all"] if "seed" in thresholds else thresholds


def collapse_table(results: pd.DataFrame) -> pd.DataFrame:
    """The collapse test for each task x prompt's main metric at the main setting."""
    rows = []
    for (task, prompt), d in main_setting(fitted_checkpoints(results)).groupby(["task", "prompt"], sort=True):
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
    return last[["model", "size", "budget", "nonembedding_params", "tokens", "val_loss"]].rename(
        columns={"val_loss": "loss"}
    )


def scaling_fit(training: pd.DataFrame, n_boot: int, seed: int) -> tuple[dict, pd.DataFrame]:
    """The scaling law on each run's final checkpoint, and those points with the law's prediction."""
    points = final_points(training).reset_index(drop=True)
    if len(points) < 5:  # five free parameters
        return {"note": f"{len(points)} runs are too few to fit five parameters"}, points.assign(predicted=np.nan)
    try:
        fit = fit_scaling(
            points["nonembedding_params"].to_numpy(float),
            points["tokens"].to_numpy(float),
            points["loss"].to_numpy(float),
            n_boot=n_boot,
            seed=seed,
        )
    except ValueError as e:  # e.g. one token budget: the law's token term is not identified
        return {"note": f"not fitted: {e}"}, points.assign(predicted=np.nan)
    points["predicted"] = scaling_predict(
        fit, points["nonembedding_params"].to_numpy(float), points["tokens"].to_numpy(float)
    )
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in fit.items()}, points


def analyze(cfg: AnalysisConfig, tables: Path) -> pd.DataFrame:
    """Thresholds, prompts compared, collapse test and scaling law from `tables` (results.parquet,
    items.parquet where present, training.csv), written beside them as thresholds.csv,
    prompts.csv (prompts.prompt_table), collapse.csv, scaling.json, each size's onsets of the
    in-context-learning measures against loss and tokens as size_onsets.csv
    (phase_change.size_onsets; no rows without those measures), and the thresholds
    of the instruction-tuning rows (instruct.parquet, where present) as instruct_thresholds.csv
    (empty without rows); returns the thresholds."""
    tables = Path(tables)
    results = read_results(tables / "results.parquet")
    items = pd.read_parquet(tables / "items.parquet") if (tables / "items.parquet").is_file() else None
    thresholds = thresholds_table(results, cfg.n_boot, cfg.seed, cfg.level, cfg.bootstrap, items)
    write_table(thresholds, csv=tables / "thresholds.csv")
    paired = prompt_table(
        fitted_checkpoints(results), thresholds, items, n_boot=cfg.n_boot, seed=cfg.seed, level=cfg.level
    )
    write_table(paired, csv=tables / "prompts.csv")
    instruct = tables / "instruct.parquet"
    tuned = read_results(instruct) if instruct.exists() else pd.DataFrame()
    tuned = thresholds_table(tuned, cfg.n_boot, cfg.seed, cfg.level, cfg.bootstrap) if len(tuned) else tuned
    write_table(tuned, csv=tables / "instruct_thresholds.csv")
    write_table(collapse_table(results), csv=tables / "collapse.csv")
    onsets = size_onsets(main_setting(fitted_checkpoints(results)), cfg.n_boot, cfg.seed, cfg.level)
    write_table(onsets, csv=tables / "size_onsets.csv")
    training = read_csv_columns(tables / "training.csv", ("model", "step", "val_loss"))
    fit, points = scaling_fit(training, cfg.n_boot, cfg.seed)
    write_json(tables / "scaling.json", {"fit": fit, "points": points.to_dict("records")})
    return thresholds
