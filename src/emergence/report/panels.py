"""The study's figures (seaborn): each function draws one figure from the rows that
`figures.py` selected for it, with the shared parts (`plotting.py`).

Every figure has titled axes with units, a legend, and log scales where they belong;
each is saved as PNG and SVG (or the formats configured under `plots`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from emergence.evaluate.metrics import METRICS, label
from emergence.report.in_context import ABLATIONS
from emergence.report.plotting import (
    LOSS,
    budget_legend,
    chance_lines,
    legend_beside,
    log_loss_axis,
    loss_bands,
    one_legend,
    size_legend,
    threshold_marks,
)


def loss_curves(training: pd.DataFrame, palette: str):
    val = training.dropna(subset=["val_loss"]).copy()
    val["budget "] = val["budget"].map(lambda b: f"{b / 1e6:g}M tokens")
    g = sns.relplot(
        data=val,
        x="tokens",
        y="val_loss",
        kind="line",
        marker="o",
        style="budget ",
        palette=palette,
        height=4,
        aspect=1.5,
        **size_legend(val),
    )
    g.set(
        xscale="log", xlabel="training tokens", ylabel=LOSS, title="Validation loss along each run (dots: checkpoints)"
    )
    return g.figure


def performance_vs_x(
    df: pd.DataFrame, x: str, thresholds: pd.DataFrame | None, curve: Callable | None, palette: str, title: str
):
    """One facet per task (and prompt), points coloured by model size; chance line, fitted
    curve and threshold band when the analysis found one. Checkpoints taken during warm-up,
    which no fit uses, are drawn hollow."""
    df, budget = budget_legend(df)
    df["panel"] = df["task"] + (" / " + df["prompt"]).where(df["prompt"] != "standard", "")
    panels = sorted(df["panel"].unique())
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    hue = size_legend(df)
    for ax, panel in zip(axes.flat, panels):
        d = df[df.panel == panel]
        warm = d["warmup"].astype(bool) if "warmup" in d else pd.Series(False, index=d.index)
        first = ax is axes.flat[0]
        sns.scatterplot(data=d[~warm], x=x, y="value", palette=palette, ax=ax, s=28, legend=first, **hue, **budget)
        if warm.any():
            hollow = {"s": 20, "facecolors": "none", "edgecolors": "grey", "lw": 0.8}
            ax.scatter(d.loc[warm, x], d.loc[warm, "value"], **hollow, label="warm-up checkpoint (not fitted)")
        metric = d["metric"].iloc[0]
        if d["chance"].notna().any():
            ax.axhline(d["chance"].dropna().iloc[0], color="grey", ls=":", lw=1.2, label="chance")
        if thresholds is not None and x == "loss":
            threshold_marks(ax, panel, d, thresholds, curve, x, metric)
        else:
            ax.set_title(panel)
        if x == "loss":
            # Log scale: early checkpoints at high loss would squeeze the region where abilities change.
            log_loss_axis(ax)
            ax.set_xlabel("validation loss (nats/token, log scale)")
        else:
            ax.set_xscale("log")
            ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel(label(metric))
    one_legend(fig, axes, len(panels))
    fig.suptitle(title + ("  (lower loss, i.e. better models, to the right)" if x == "loss" else ""))
    fig.tight_layout()
    return fig


def cot_gain(df: pd.DataFrame, palette: str):
    """Chain-of-thought minus standard prompting, per checkpoint, against loss."""
    wide = df.pivot_table(
        index=["task", "model", "size", "nonembedding_params", "step", "loss"], columns="prompt", values="value"
    ).reset_index()
    wide["gain"] = wide["cot"] - wide["standard"]
    g = sns.relplot(
        data=wide, x="loss", y="gain", col="task", palette=palette, height=3.6, aspect=1.2, **size_legend(wide)
    )
    for ax in g.axes.flat:
        ax.axhline(0, color="grey", ls=":", lw=1.2)
        log_loss_axis(ax)
    g.set(xlabel="validation loss (nats/token, log)", ylabel="CoT minus standard (exact match)")
    g.figure.suptitle("Does chain-of-thought help? (above 0: yes)", y=1.03)
    return g.figure


def kshot(df: pd.DataFrame, palette: str):
    """Accuracy against the number of demonstrations, one line per loss band (mean, 95% interval)."""
    df = df.assign(band=loss_bands(df))
    g = sns.relplot(
        data=df,
        x="shots",
        y="value",
        col="task",
        hue="band",
        kind="line",
        marker="o",
        err_style="bars",
        palette=palette,
        height=3.6,
        aspect=1.2,
        facet_kws={"sharey": False},
    )
    chance_lines(g, df)
    g.set(xlabel="demonstrations in the prompt (k)", ylabel="accuracy (gold labels)")
    g.legend.set_title("checkpoints by\nloss band (nats)")
    g.figure.suptitle("k-shot curves by pretraining loss (better models: lower loss)", y=1.03)
    return g.figure


def ablations(df: pd.DataFrame, palette: str):
    """Min et al.'s ablations: the k-shot gain of gold demonstrations and of each ablation, per loss band."""
    df = df.assign(band=loss_bands(df))
    order = ["gold", *(lab for lab in ABLATIONS if lab in set(df["labels"]))]
    g = sns.catplot(
        data=df,
        x="labels",
        y="value",
        hue="band",
        col="task",
        kind="bar",
        order=order,
        palette=palette,
        height=3.6,
        aspect=1.5,
        sharey=False,
    )
    for ax in g.axes.flat:
        ax.axhline(0, color="grey", lw=1)
        ax.tick_params(axis="x", rotation=30)
    g.set(xlabel="demonstrations", ylabel="k-shot gain (accuracy)")
    g.legend.set_title("checkpoints by\nloss band (nats)")
    g.figure.suptitle("What the demonstrations carry (Min et al. 2022), by pretraining loss", y=1.06)
    return g.figure


# Demonstration settings in the order the figures show them.
LABEL_ORDER = ("gold", "random", "flipped", "unrelated", "ood", "labels_only", "inputs_only", "no_format")


def label_settings(df: pd.DataFrame):
    """Each demonstration setting's accuracy against loss (mean over the checkpoints of each loss bin)."""
    order = [lab for lab in LABEL_ORDER if lab in set(df["labels"])]
    df = df.assign(loss_bin=df.groupby("task")["loss"].transform(lambda x: _bin_centres(x)))
    g = sns.relplot(
        data=df,
        x="loss_bin",
        y="value",
        hue="labels",
        hue_order=order,
        col="task",
        kind="line",
        marker="o",
        errorbar=None,
        height=3.6,
        aspect=1.3,
        facet_kws={"sharey": False},
    )
    for ax in g.axes.flat:
        log_loss_axis(ax)
    chance_lines(g, df)
    g.set(xlabel="validation loss (nats/token, log)", ylabel="accuracy (most shots)")
    g.figure.suptitle("Demonstration labels (Wei et al. 2023): gold, random, flipped, unrelated, ...", y=1.03)
    return g.figure


def _bin_centres(loss: pd.Series, n: int = 8) -> pd.Series:
    """Each loss replaced by the mean loss of its bin: `n` bins of equal width in log loss."""
    edges = np.geomspace(loss.min(), loss.max() * (1 + 1e-9), n + 1)
    bins = np.clip(np.searchsorted(edges, loss, side="right") - 1, 0, n - 1)
    return loss.groupby(bins).transform("mean")


def induction_heads(df: pd.DataFrame, palette: str):
    """The best head's prefix-matching and copying scores and the repeat loss gain, against
    training tokens and against loss, one line per model (the one-layer sizes dashed)."""
    metrics = [m for m in ("prefix_matching", "copying", "repeat_loss_gain") if m in set(df["metric"])]
    known = "n_layers" in df and df["n_layers"].notna().all()
    style = {"style": "depth", "style_order": ["2+ layers", "1 layer"]} if known else {}
    if known:
        df = df.assign(depth=df["n_layers"].map(lambda n: "1 layer" if n == 1 else "2+ layers"))
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.1 * len(metrics)), squeeze=False)
    hue = size_legend(df)
    for row, metric in zip(axes, metrics):
        d = df[df.metric == metric]
        for ax, x in zip(row, ("tokens", "loss")):
            sns.lineplot(
                data=d.sort_values(["model", "step"]),
                x=x,
                y="value",
                units="model",
                estimator=None,
                **style,
                palette=palette,
                ax=ax,
                legend=ax is axes.flat[0],
                marker="o",
                markersize=3,
                **hue,
            )
            if x == "loss":
                log_loss_axis(ax)
            else:
                ax.set_xscale("log")
            if d["chance"].notna().any():  # uniform attention (prefix matching); no effect (the others)
                ax.axhline(d["chance"].dropna().iloc[0], color="grey", ls=":", lw=1.2)
            ax.set(xlabel=LOSS + ", log" if x == "loss" else "training tokens (log)", ylabel=label(metric))
    legend_beside(fig, axes)
    fig.suptitle("Induction heads on random tokens repeated once\n(dotted: a head attending uniformly; no effect)")
    fig.tight_layout()
    return fig


def icl_by_size(df: pd.DataFrame, onsets: pd.DataFrame, palette: str):
    """One row per in-context-learning measure (task x metric) against training tokens, one
    line per run coloured by size, each size's emergent onset in tokens as a line in its
    colour with its interval as a band."""
    curves = df[["task", "metric"]].drop_duplicates().sort_values("metric", key=_measure_order)
    fig, axes = plt.subplots(len(curves), 1, figsize=(7.5, 2.8 * len(curves)), squeeze=False)
    hue = size_legend(df)
    colours = dict(zip(hue["hue_order"], sns.color_palette(palette, len(hue["hue_order"]))))
    for ax, (task, metric) in zip(axes[:, 0], curves.itertuples(index=False)):
        d = df[(df["task"] == task) & (df["metric"] == metric)].sort_values(["model", "step"])
        style = {"units": "model", "estimator": None, "marker": "o", "markersize": 3, "legend": ax is axes[0, 0]}
        sns.lineplot(data=d, x="tokens", y="value", palette=palette, ax=ax, **style, **hue)
        fitted = onsets[(onsets["task"] == task) & (onsets["metric"] == metric) & (onsets["verdict"] == "emergent")]
        for r in fitted.itertuples():
            ax.axvspan(r.onset_low, r.onset_high, color=colours.get(r.size, "grey"), alpha=0.15, lw=0)
            ax.axvline(r.onset, color=colours.get(r.size, "grey"), lw=1.2, ls="--")
        if d["chance"].notna().any():
            ax.axhline(d["chance"].dropna().iloc[0], color="grey", ls=":", lw=1.2)
        ax.set_xscale("log")
        ax.set(xlabel="training tokens (log)", ylabel="", title=f"{task}: {label(metric)}")
    legend_beside(fig, axes)
    fig.suptitle("In-context learning by size: each size's onset in tokens (dashed) and its 95% interval (band)")
    fig.tight_layout()
    return fig


def _measure_order(metrics: pd.Series) -> pd.Series:
    return metrics.map({"prefix_matching": 0, "kshot_gain": 1, "icl_score": 2})


def metric_pairs(df: pd.DataFrame, palette: str):
    """Each task's discontinuous metric beside its continuous twins, against loss (one row per task)."""
    tasks = sorted(df["task"].unique())
    n_cols = max(df.groupby("task")["metric"].nunique())
    fig, axes = plt.subplots(len(tasks), n_cols, figsize=(4.2 * n_cols, 3.2 * len(tasks)), squeeze=False)
    hue = size_legend(df)
    for row, task in zip(axes, tasks):
        d = df[df.task == task]
        for ax, metric in zip(row, list(dict.fromkeys(d.sort_values("metric", key=_metric_order)["metric"]))):
            sns.scatterplot(
                data=d[d.metric == metric],
                x="loss",
                y="value",
                palette=palette,
                ax=ax,
                s=22,
                legend=ax is axes.flat[0],
                **hue,
            )
            log_loss_axis(ax)
            ax.set_title(f"{task}: {label(metric)}", fontsize=9)
            ax.set(xlabel="validation loss (nats/token, log)", ylabel="")
        for ax in row[d["metric"].nunique() :]:
            ax.set_visible(False)
    legend_beside(fig, axes)
    fig.suptitle("Mirage check: the discontinuous metric (left) beside continuous ones; better models to the right")
    fig.tight_layout()
    return fig


def _metric_order(metrics: pd.Series) -> pd.Series:
    return metrics.map(lambda m: 0 if METRICS.get(m) and METRICS[m].main else 1)


def icl_score(df: pd.DataFrame, palette: str):
    df, budget = budget_legend(df)
    g = sns.relplot(data=df, x="loss", y="value", palette=palette, height=4, aspect=1.4, **budget, **size_legend(df))
    for ax in g.axes.flat:
        ax.axhline(0, color="grey", ls=":", lw=1.2)
        log_loss_axis(ax)
    g.set(
        xlabel="validation loss (nats/token, log; better models to the right)",
        ylabel="ICL score: late minus early loss (nats)",
        title="In-context learning score (Olsson et al.) against loss",
    )
    return g.figure


def scaling_fit(points: pd.DataFrame):
    """Fitted against observed final loss of each run."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    points, budget = budget_legend(points)
    sns.scatterplot(data=points, x="predicted", y="loss", hue="size", ax=ax, s=50, **budget)
    lo, hi = points[["predicted", "loss"]].min().min(), points[["predicted", "loss"]].max().max()
    ax.plot([lo, hi], [lo, hi], color="grey", ls=":", label="y = x")
    ax.set(
        xlabel="fitted L(N, D) (nats/token)",
        ylabel="observed final validation loss (nats/token)",
        title="Scaling law fit: E + A/N^α + B/D^β",
    )
    ax.legend(loc="upper left", fontsize=8)
    return fig
