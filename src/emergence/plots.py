"""Draw every figure of a study from its tables (reports/tables) into reports/figures.

A figure whose data the study does not have (say, no chain-of-thought settings) is still
written, as a panel that says what is missing, so the report and the workflow's outputs
stay the same for every study.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emergence import figures as F
from emergence.analysis import main_metric, main_setting
from emergence.config import PlotsConfig
from emergence.thresholds import predict

CONTINUOUS_TWINS = {"acc": ["acc", "p_correct", "brier"], "exact_match": ["exact_match", "answer_logprob_per_token", "edit_distance"]}


def _placeholder(text: str):
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _curve(row: pd.Series, xs: np.ndarray):
    """The best-fitting model's curve, mapped from chance-normalised units back to the metric's."""
    if not isinstance(row.get("fit"), str) or not isinstance(row.get("best_model"), str):
        return None
    y = predict(row["best_model"], json.loads(row["fit"]), xs)
    chance, higher = row.get("chance"), bool(row.get("higher_is_better", True))
    if chance is None or pd.isna(chance):
        return y if higher else -y
    return chance + y * ((1.0 if higher else 0.0) - chance)


def main_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Each task x prompt's main metric at its main setting, ICL score excluded."""
    main = main_setting(results)
    keep = [d[d.metric == main_metric(d)] for _, d in main.groupby(["task", "prompt"])]
    df = pd.concat(keep) if keep else main
    return df[df.metric != "icl_score"]


def make_figures(tables: Path, out_dir: Path, cfg: PlotsConfig) -> list[Path]:
    tables, out_dir = Path(tables), Path(out_dir)
    results = pd.read_parquet(tables / "results.parquet")
    training = pd.read_csv(tables / "training.csv")
    thresholds = pd.read_csv(tables / "thresholds.csv") if (tables / "thresholds.csv").stat().st_size > 1 else None
    scaling = json.loads((tables / "scaling.json").read_text())
    F.setup(cfg.style, cfg.context)
    pal, written = cfg.palette, []

    def save(fig, name):
        written.extend(F.save(fig, out_dir, name, list(cfg.formats), cfg.dpi))

    main = main_rows(results)
    if len(main):
        save(F.performance_vs_x(main, "loss", thresholds, _curve, pal, "Performance against pretraining loss, all model sizes"), "performance_vs_loss")
        save(F.performance_vs_x(main, "flops", None, None, pal, "Performance against training compute"), "performance_vs_compute")
    else:
        for name in ("performance_vs_loss", "performance_vs_compute"):
            save(_placeholder("No task besides the ICL score was evaluated."), name)
    save(F.loss_curves(training, pal), "loss_curves")

    std = main_setting(results)
    pairs = [std[(std.task == t) & (std.prompt == "standard") & std.metric.isin(CONTINUOUS_TWINS[m])]
             for t, m in main[main.prompt == "standard"].groupby("task").metric.first().items() if m in CONTINUOUS_TWINS]
    pairs = pd.concat(pairs) if pairs else pd.DataFrame()
    save(F.metric_pairs(pairs, pal) if len(pairs) else _placeholder("No accuracy or exact-match metric to pair."), "metric_pairs")

    gen = results[(results.metric == "exact_match") & (results["labels"] == "gold")]
    both = gen.groupby(["task", "shots"]).prompt.nunique()
    both = both[both == 2].reset_index()
    if len(both):
        shots = both.groupby("task").shots.max()
        cot = gen[gen.apply(lambda r: shots.get(r.task) == r.shots, axis=1)]
        save(F.cot_gain(cot, pal), "cot_gain")
    else:
        save(_placeholder("No task was evaluated with both standard and chain-of-thought prompts at the same shots."), "cot_gain")

    gold = results[(results["labels"] == "gold") & (results.prompt == "standard")]
    multi = [d[d.metric == main_metric(d)] for _, d in gold.groupby("task") if d.shots.nunique() > 1]
    save(F.kshot(pd.concat(multi), pal) if multi else _placeholder("No task was evaluated at several numbers of demonstrations."), "kshot")

    lab = results[(results.prompt == "standard") & (results.metric == "acc") & (results.shots > 0)]
    lab = [d[d.shots == d.shots.max()] for _, d in lab.groupby("task") if d["labels"].nunique() > 1]
    save(F.label_settings(pd.concat(lab)) if lab else _placeholder("No multiple-choice task was evaluated with several label settings."), "label_settings")

    icl = results[results.metric == "icl_score"]
    save(F.icl_score(icl, pal) if len(icl) else _placeholder("No icl_score task in this study."), "icl_score")

    points = pd.DataFrame(scaling.get("points", []))
    ok = len(points) and points["predicted"].notna().all()
    save(F.scaling_fit(points) if ok else _placeholder(scaling.get("fit", {}).get("note", "No scaling-law fit.")), "scaling_fit")
    return written
