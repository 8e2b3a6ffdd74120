"""What the report says about instruction tuning, generated from reports/tables/instruct.csv
(the stage's rows, each at its base checkpoint's pretraining loss) and
instruct_thresholds.csv (the same threshold analysis as every task's), beside the few-shot
thresholds of the tasks that ask for the same abilities (thresholds.csv)."""

from __future__ import annotations

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.instruct.dataset import task_name
from emergence.instruct.families import FAMILIES
from emergence.report.threshold_tables import with_interval

TUNED, BASE, EM, GAIN, LOGP = "tuned", "base", "exact_match", "tuning_gain", "answer_logprob_per_token"


def family_of(task: str) -> str:
    return task.removeprefix("instruct_")


def _row(thresholds: pd.DataFrame, task: str, prompt: str, metric: str):
    if not len(thresholds):
        return None
    rows = pooled(thresholds)
    rows = rows[(rows.task == task) & (rows.prompt == prompt) & (rows.metric == metric)]
    return rows.iloc[0] if len(rows) else None


def _verdict(r) -> str:
    if r is None:
        return "not fitted"
    if r.verdict == "emergent":
        return f"emergent, onset {with_interval(r.threshold, r.ci_low, r.ci_high)} nats"
    return f"{r.verdict} ({r.reason})" if isinstance(r.reason, str) and r.reason else str(r.verdict)


def _few_shot(family: str, thresholds: pd.DataFrame, kinds: dict[str, str]) -> list[pd.Series]:
    """The pooled main-metric rows (standard prompt) of the study's tasks that ask, with
    demonstrations or none, for the family's ability (its related task kinds)."""
    if not len(thresholds):
        return []
    rows = pooled(thresholds)
    rows = rows[(rows.prompt == "standard") & rows.metric.isin(("acc", EM))]
    related = [task for task, kind in kinds.items() if kind in FAMILIES[family].related]
    return [r for task in related for _, r in rows[rows.task == task].iterrows()]


def _compare(tuned, few) -> str:
    """The tuned onset against one few-shot task's, both emergent (else nothing)."""
    if tuned is None or tuned.verdict != "emergent" or few.verdict != "emergent":
        return ""
    if tuned.ci_high < few.ci_low:
        return f" Tuned instruction following needs a lower loss than {few.task} (intervals apart)."
    if tuned.ci_low > few.ci_high:
        return f" Tuned instruction following appears at a higher loss than {few.task} (intervals apart)."
    return f" The onsets of tuned instruction following and {few.task} overlap: no evidence that they differ."


def _best(rows: pd.DataFrame, task: str) -> str:
    """Mean exact match of tuned and base checkpoints among the 20% of lowest base loss."""
    d = rows[(rows.task == task) & (rows.metric == EM)]
    if not len(d):
        return ""
    low = d[d["loss"] <= d["loss"].quantile(0.2)]
    tuned, base = low[low.prompt == TUNED]["value"].mean(), low[low.prompt == BASE]["value"].mean()
    return (
        f"At the lowest fifth of base losses (<= {low['loss'].max():.3f} nats) tuned checkpoints answer "
        f"{tuned:.0%} exactly, their untuned bases {base:.0%}."
    )


def sentences(rows: pd.DataFrame, inst: pd.DataFrame, thresholds: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """A headline, then per held-out family its tuned, base and gain verdicts, how well the
    best checkpoints do, and the few-shot threshold of the same ability."""
    if not len(rows):
        return []
    families = sorted({family_of(t) for t in rows["task"]})

    def emergent(prompt: str, metric: str) -> list[str]:
        rows_ = [(f, _row(inst, task_name(f), prompt, metric)) for f in families]
        return [f for f, r in rows_ if r is not None and r.verdict == "emergent"]

    found, bases, gains = emergent(TUNED, EM), emergent(BASE, EM), emergent(TUNED, GAIN)
    n_ckpts = rows[["model", "step"]].drop_duplicates().shape[0]
    head = (
        f"After instruction tuning, exact match on held-out families has a loss threshold for {len(found)} of "
        f"{len(families)} families ({', '.join(found) or 'none'}); the untuned bases have one for {len(bases)} "
        f"({', '.join(bases) or 'none'}) and the tuning gain for {len(gains)} ({', '.join(gains) or 'none'}). "
        f"{n_ckpts} checkpoints of {rows['model'].nunique()} models were tuned."
    )
    out = [head]
    for f in families:
        task = task_name(f)
        tuned = _row(inst, task, TUNED, EM)
        s = (
            f"{f} ({FAMILIES[f].group}), exact match: tuned {_verdict(tuned)}; base "
            f"{_verdict(_row(inst, task, BASE, EM))}; gain {_verdict(_row(inst, task, TUNED, GAIN))}. "
            f"log p(answer) per token (continuous): tuned {_verdict(_row(inst, task, TUNED, LOGP))}, base "
            f"{_verdict(_row(inst, task, BASE, LOGP))}. " + _best(rows, task)
        )
        few = _few_shot(f, thresholds, kinds)
        if few:
            s += (
                " Without tuning, the same ability: "
                + "; ".join(
                    f"{r.task} ({int(r.shots)} demonstration{'s' * (int(r.shots) != 1)}, {r.metric}) {_verdict(r)}"
                    for r in few
                )
                + "."
                + "".join(_compare(tuned, r) for r in few)
            )
        out.append(s)
    return out


# Per figure: the metric drawn, its axis label and range, and the title.
FIGURES = {
    EM: ("exact match", (-0.05, 1.05), "Held-out instructions, zero-shot: tuned (colour) and untuned base (grey)"),
    GAIN: ("tuned minus base exact match", (-1.05, 1.05), "What instruction tuning adds, per held-out family"),
}


def figure(rows: pd.DataFrame, thresholds: pd.DataFrame | None, curve, palette: str, metric: str = EM):
    """One panel per held-out family against the base checkpoint's pretraining loss: the
    tuned checkpoints' `metric` (exact match or the tuning gain; coloured by size), with the
    fit and onset of the tuned rows (plotting.threshold_marks) and, for exact match, the
    untuned bases' (grey crosses)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from emergence.report import plotting

    d = rows[rows.metric == metric].assign(family=lambda t: t.task.map(family_of))
    families = sorted(d.family.unique())
    cols, ylabel, ylim, title = min(2, len(families)), *FIGURES[metric]
    n_rows = -(-len(families) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.2 * cols, 3.6 * n_rows), squeeze=False)
    order = d.sort_values("nonembedding_params")["size"].drop_duplicates().tolist()
    for ax, family in zip(axes.flat, families):
        f = d[d.family == family]
        tuned, base = f[f.prompt == TUNED], f[f.prompt == BASE]
        hue = {"hue": "size", "hue_order": order, "palette": palette}
        sns.scatterplot(data=tuned, x="loss", y="value", **hue, ax=ax, s=30, legend=ax is axes.flat[0])
        if len(base):
            ax.scatter(base["loss"], base["value"], marker="x", color="grey", s=22, lw=0.9, label="base (untuned)")
        ax.axhline(0.0, color="grey", ls=":", lw=1.0, label="chance" if metric == EM else "no gain")
        panel = f"{family} ({FAMILIES[family].group})"
        if thresholds is not None:
            plotting.threshold_marks(ax, panel, tuned, thresholds, curve, "loss", metric)
        else:
            ax.set_title(panel, fontsize=10)
        plotting.log_loss_axis(ax)
        ax.set(xlabel="base pretraining loss (nats/token, log scale)", ylabel=ylabel, ylim=ylim)
    plotting.one_legend(fig, axes, len(families))
    fig.suptitle(title + "  (lower loss to the right)")
    fig.tight_layout()
    return fig
