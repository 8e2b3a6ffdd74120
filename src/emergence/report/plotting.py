"""What several figures share: the theme, the loss axis, legends by size and token budget,
the fitted curve and onset marks of a panel against loss, chance lines and bands of loss."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

LOSS = "validation loss (nats/token)"


def setup(style: str, context: str) -> None:
    sns.set_theme(style=style, context=context)


def log_loss_axis(ax) -> None:
    """Loss on a log axis with plain tick labels, better models (lower loss) to the right."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if not ax.xaxis_inverted():
        ax.invert_xaxis()


def budget_legend(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """`df` with its token budgets as labels ("3M tokens") and the marker keywords that order
    them by size (as numbers, 10M would sort before 3M)."""
    budgets = sorted(df["budget"].unique())
    names = {b: f"{b / 1e6:g}M tokens" for b in budgets}
    return df.assign(budget=df["budget"].map(names)), {"style": "budget", "style_order": [names[b] for b in budgets]}


def size_legend(df: pd.DataFrame) -> dict:
    """Colour by size in order of parameters, so the palette reads small -> large."""
    order = df.sort_values("nonembedding_params")["size"].drop_duplicates().tolist()
    return {"hue": "size", "hue_order": order}


def threshold_marks(ax, panel: str, d: pd.DataFrame, thresholds: pd.DataFrame, curve, x: str, metric: str) -> None:
    """The fitted curve, the onset and its interval (all seeds pooled) and each seed's own
    onset (triangles along the top) on one panel of performance against loss."""
    rows = thresholds[
        (thresholds.task == d.task.iloc[0]) & (thresholds.prompt == d.prompt.iloc[0]) & (thresholds.metric == metric)
    ]
    seeds = rows["seed"].astype(str) if "seed" in rows else pd.Series("all", index=rows.index)
    if not (seeds == "all").any():
        ax.set_title(panel)
        return
    pooled = rows[seeds == "all"].iloc[0]
    if curve is not None:
        xs = np.linspace(d[x].min(), d[x].max(), 200)
        ys = curve(pooled, xs)
        if ys is not None:
            ax.plot(xs, ys, color="black", lw=1.5, label="best-fitting model (all seeds)")
    if pd.notna(pooled.threshold):
        ax.axvspan(pooled.ci_low, pooled.ci_high, color="tab:red", alpha=0.15, label="onset, 95% CI")
        ax.axvline(pooled.threshold, color="tab:red", lw=1.2)
        onset = f"{pooled.threshold:.2f} [{pooled.ci_low:.2f}, {pooled.ci_high:.2f}]"
        ax.set_title(f"{panel}: {pooled.verdict} at {onset}", fontsize=10)
    else:
        ax.set_title(f"{panel}: {pooled.verdict}", fontsize=10)
    per_seed = rows[(seeds != "all") & rows["threshold"].notna()]
    if len(per_seed):
        ax.plot(
            per_seed["threshold"],
            np.full(len(per_seed), 1.0),
            "v",
            color="tab:red",
            ms=6,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label="onset of each seed alone",
        )


def one_legend(fig, axes, n_used: int) -> None:
    """Hide the unused panels; one legend: every entry any panel drew (e.g. the onset band), once."""
    for ax in list(axes.flat)[n_used:]:
        ax.set_visible(False)
    entries = {}
    for ax in axes.flat:
        entries.update({n: h for h, n in zip(*ax.get_legend_handles_labels()) if n not in entries})
    if axes.flat[0].get_legend():
        axes.flat[0].get_legend().remove()
    fig.legend(list(entries.values()), list(entries), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def legend_beside(fig, axes) -> None:
    """The first panel's legend (the only one drawn) moved beside the figure."""
    if axes.flat[0].get_legend():
        handles, labels = axes.flat[0].get_legend_handles_labels()
        axes.flat[0].get_legend().remove()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def chance_lines(g, df: pd.DataFrame) -> None:
    """A dotted line at each task's chance level on its facet (facets in task order)."""
    for ax, (_, d) in zip(g.axes.flat, df.groupby("task")):
        if d["chance"].notna().any():
            ax.axhline(d["chance"].dropna().iloc[0], color="grey", ls=":", lw=1.2)


def loss_bands(df: pd.DataFrame, n: int = 4) -> pd.Series:
    """Each row's band of validation loss (ordered categorical): `n` bands of equally many
    checkpoints (model x step), from the highest loss to the lowest, labelled by number and range."""
    per_ckpt = df.drop_duplicates(["model", "step"]).set_index(["model", "step"])["loss"]
    n = max(1, min(n, len(per_ckpt)))
    codes = pd.qcut(per_ckpt.rank(method="first", ascending=False), n, labels=False)
    names = [f"{c + 1}: {per_ckpt[codes == c].max():.2f}-{per_ckpt[codes == c].min():.2f}" for c in range(n)]
    keys = pd.MultiIndex.from_frame(df[["model", "step"]])
    band = codes.reindex(keys).map(dict(enumerate(names))).to_numpy()
    return pd.Series(pd.Categorical(band, categories=names, ordered=True), index=df.index)
