"""The forecast figure: the largest size held out and forecast from the smaller ones."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from emergence.report.plotting import LOSS, log_loss_axis


def forecast(table: pd.DataFrame, summary: dict, points: pd.DataFrame):
    """The held-out size's forecast: predicted against actual score for every task and budget
    (first panel), then per task the curve fitted on the smaller sizes with its band, their
    checkpoints, the held-out size's checkpoints, the forecast and what the size reached."""
    held_out, curves = summary["held_out"], summary["curves"]
    cols = 4
    rows = math.ceil((len(curves) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    ax = axes.flat[0]
    for covered, colour, name in ((True, "C2", "interval covers it"), (False, "C3", "interval misses it")):
        d = table[table["covered"] == covered]
        below, above = d["predicted"] - d["low"], d["high"] - d["predicted"]
        ax.errorbar(
            d["actual"], d["predicted"], yerr=[below, above], fmt="o", color=colour, ms=5, capsize=2, label=name
        )
    ends = table[["actual", "low", "high"]].stack()
    lo, hi = (float(ends.min()), float(ends.max())) if len(ends) else (0.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="grey", ls=":", label="forecast = actual")
    ax.set(xlabel=f"{held_out} reached (mean over runs)", ylabel="forecast (95% prediction interval)")
    ax.set_title(f"Every task and budget of {held_out}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    for ax, (task, c) in zip(axes.flat[1:], curves.items()):
        d = points[points["task"] == task]
        small, big = d[d["size"] != held_out], d[d["size"] == held_out]
        ax.scatter(small["loss"], small["value"], s=5, color="0.6", alpha=0.5, label="smaller sizes' checkpoints")
        ax.scatter(big["loss"], big["value"], s=5, color="C3", alpha=0.4, label=f"{held_out}'s checkpoints")
        ax.fill_between(c["loss"], c["low"], c["high"], color="C0", alpha=0.25, lw=0)
        ax.plot(c["loss"], c["value"], color="C0", label="curve from the smaller sizes (95% band)")
        for r in table[table["task"] == task].itertuples():
            loss_error = [[r.loss_predicted - r.loss_low], [r.loss_high - r.loss_predicted]]
            error = [[r.predicted - r.low], [r.high - r.predicted]]
            ax.errorbar(
                r.loss_predicted,
                r.predicted,
                xerr=loss_error,
                yerr=error,
                fmt="D",
                color="k",
                ms=4,
                capsize=2,
                label="forecast (95% prediction interval)",
            )
            star = {"marker": "*", "s": 110, "color": "C3", "edgecolor": "k", "zorder": 5}
            ax.scatter(r.loss_actual, r.actual, **star, label=f"{held_out} final (mean over runs)")
        chance = table.loc[table["task"] == task, "chance"].dropna()
        if len(chance):
            ax.axhline(chance.iloc[0], color="grey", ls=":", lw=1, label="chance")
        log_loss_axis(ax)
        ax.set_title(f"{task}: {c['verdict']} ({c['form']})", fontsize=10)
        ax.set(xlabel=LOSS, ylabel=str(d["metric"].iloc[0]) if "metric" in d and len(d) else "score")
    for ax in axes.flat[len(curves) + 1 :]:
        ax.axis("off")
    if len(curves):
        handles, labels = axes.flat[1].get_legend_handles_labels()
        keep = dict(zip(labels, handles))
        fig.legend(keep.values(), keep.keys(), loc="lower center", ncol=len(keep), fontsize=8, frameon=False)
    fig.suptitle(f"Forecast of {held_out} from {', '.join(summary['forecast_from'])}", y=1.0)
    fig.tight_layout(rect=(0, 0.04, 1, 0.98))
    return fig
