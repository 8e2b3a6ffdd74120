"""What the report says about thresholds and the scaling law: display tables and sentences,
generated from the analysis tables so that they can never contradict the numbers."""

from __future__ import annotations

import math

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.analysis.thresholds import EDGE_POINTS
from emergence.evaluate.metrics import MAIN


def _num(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def with_interval(v, lo, hi) -> str:
    """ "1.533 [1.522, 1.544]", or the value alone without an interval, or "–"."""
    if not _num(v):
        return "–"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if _num(lo) and _num(hi) else f"{v:.3f}"


def _name(r) -> str:
    return f"{r.task}" + (f" ({r.prompt})" if r.prompt not in ("standard", "none") else "") + f", {r.metric}"


def _landmark(r, name: str) -> str:
    """A midpoint or saturation with its interval; one at the edge of the data is not stated
    as a number: "not reached" below the lowest loss observed, "at the edge" otherwise."""
    v = getattr(r, name)
    if _num(v) and getattr(r, f"{name}_at_edge", False) is True:
        return (
            "not reached in the data"
            if v < r.loss_min + 1e-12 or not _num(getattr(r, f"{name}_low"))
            else (f"{v:.3f} (at the edge of the data)")
        )
    return with_interval(v, getattr(r, f"{name}_low"), getattr(r, f"{name}_high"))


def main_table(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Each task's main metric, all seeds pooled: verdict, onset (the threshold; only where
    emergent), midpoint and saturation with intervals, sizes crossing, what the interval covers, why."""
    rows = []
    for r in pooled(thresholds).itertuples():
        if r.metric not in MAIN:
            continue
        emergent = r.verdict == "emergent"
        rows.append(
            {
                "task": r.task,
                "prompt": r.prompt,
                "metric": r.metric,
                "verdict": r.verdict,
                "onset (threshold)": with_interval(r.threshold, r.ci_low, r.ci_high) if emergent else "–",
                "midpoint": _landmark(r, "midpoint") if emergent else "–",
                "saturation": _landmark(r, "saturation") if emergent else "–",
                "sizes below / above onset": f"{int(r.sizes_below)} / {int(r.sizes_above)}" if emergent else "–",
                "interval covers": r.interval if emergent else "–",
                "why": r.reason,
            }
        )
    return pd.DataFrame(rows)


def seed_table(thresholds: pd.DataFrame) -> pd.DataFrame:
    """Each task's main metric: the verdict and onset of every seed alone beside the pooled fit."""
    if "seed" not in thresholds or thresholds["seed"].astype(str).nunique() < 2:
        return pd.DataFrame()
    t = thresholds[thresholds["metric"].isin(MAIN)].assign(seed=thresholds["seed"].astype(str))
    t = t.assign(
        cell=[
            r.verdict + (f" {with_interval(r.threshold, r.ci_low, r.ci_high)}" if r.verdict == "emergent" else "")
            for r in t.itertuples()
        ]
    )
    wide = t.pivot_table(index=["task", "prompt", "metric"], columns="seed", values="cell", aggfunc="first")
    order = ["all"] + sorted((c for c in wide.columns if c != "all"), key=lambda c: (len(c), c))
    wide = wide[order].rename(columns=lambda c: "all seeds" if c == "all" else f"seed {c}")
    wide.columns.name = None
    return wide.reset_index()


def interval_note(thresholds: pd.DataFrame) -> str:
    """What the intervals of the pooled fits include, in one sentence."""
    p = pooled(thresholds)
    runs = int(p["n_runs"].max()) if "n_runs" in p and len(p) else 1
    if runs < 2:
        return (
            "This study has one seed per size, so each interval covers item noise only: it does not include "
            "run-to-run variance, and a rerun with another seed or on another machine may land outside it."
        )
    return (
        f"Intervals come from a hierarchical bootstrap: the {runs} runs (seeds) of each size are resampled, then "
        "the items of each resampled checkpoint, so they include run-to-run variance. The per-seed fits below "
        "have intervals over items only."
    )


def sentences(thresholds: pd.DataFrame, n_sizes: int) -> list[str]:
    """One sentence per task's main metric (all seeds pooled), from its row of the table."""
    out = []
    seeds = thresholds.assign(seed=thresholds["seed"].astype(str)) if "seed" in thresholds else None
    for r in pooled(thresholds).itertuples():
        if r.metric not in MAIN:
            continue
        if r.verdict == "emergent":
            below = int(r.sizes_below)
            marks = (
                f"; midpoint {_landmark(r, 'midpoint')}, saturation {_landmark(r, 'saturation')}"
                if _num(r.midpoint)
                else " (the metric has no best score, so no midpoint or saturation)"
            )
            s = (
                f"{_name(r)}: emergent. Performance stays at chance above a loss of "
                f"{with_interval(r.threshold, r.ci_low, r.ci_high)} nats/token (onset; 95% interval over "
                f"{r.interval}) and rises below it{marks}. The rise rests on {below} of {n_sizes} sizes"
                + (" (fewer than 3: little evidence that sizes share one curve)." if below < 3 else ".")
            )
            if seeds is not None:
                alone = seeds[(seeds.task == r.task) & (seeds.prompt == r.prompt) & (seeds.metric == r.metric)]
                alone = alone[alone.seed != "all"]
                if len(alone):
                    agree = int((alone.verdict == "emergent").sum())
                    s += f" Seeds fitted alone: {agree} of {len(alone)} emergent"
                    inside = alone[(alone.verdict == "emergent")]
                    if len(inside):
                        s += ", at " + ", ".join(f"{t:.3f}" for t in inside.threshold)
                    s += (
                        "."
                        if agree == len(alone)
                        else ": a weaker finding, which only the seeds pooled show (the others: "
                        + "; ".join(f"{v}" for v in alone[alone.verdict != "emergent"].verdict)
                        + ")."
                    )
        elif r.verdict == "inconclusive":
            s = f"{_name(r)}: inconclusive: {r.reason}."
        else:
            s = f"{_name(r)}: {r.verdict} ({r.reason})."
        out.append(s)
    return out


DEFINITIONS = (
    "The threshold of an emergent task is its onset: the loss at which the fitted curve has risen 10% of its "
    "total rise above its flat (chance) level; for the hinge, its knot. The midpoint (50%) and the saturation "
    "(90%; for the hinge, the rise is measured up to the best possible score) are reported beside it. An onset "
    f"with fewer than {EDGE_POINTS} checkpoints beyond it, or beyond either end of its interval, on either side, "
    "is at the edge of the data and never a finding: the verdict is then inconclusive. Fits use every "
    "checkpoint after learning-rate warm-up (the warm-up checkpoints, hollow in the figure, sit at chance far "
    "above the other losses: a plateau made by random initial weights, not evidence about the ability)."
)


def scaling_text(fit: dict) -> str:
    """The scaling-law fit in one sentence: the identified parameters with standard errors, the others named
    undetermined with the reason."""
    undetermined = fit.get("undetermined") or {}
    shown = [
        f"{k} = {fit[k]:.3g} ± {fit.get(k + '_se', float('nan')):.2g}"
        for k in ("E", "A", "alpha", "B", "beta")
        if k not in undetermined
    ]
    text = ", ".join(shown) if shown else "no parameter is determined"
    if undetermined:
        text += "; undetermined: " + "; ".join(f"{k} ({why})" for k, why in undetermined.items())
    return text


# The in-context-learning questions, each a metric whose threshold the analysis fits.
ICL_METRICS = {
    "kshot_gain": "the k-shot gain",
    "follows_labels": "answering with the demonstrations' labels",
    "prefix_matching": "the induction heads' prefix-matching score",
    "copying": "the copying score of the head that prefix-matches best",
    "repeat_loss_gain": "the loss gain on a repeated sequence",
    "icl_score": "the in-context-learning score",
}


def _interval(r) -> tuple[float, float] | None:
    return (r.ci_low, r.ci_high) if r.verdict == "emergent" and _num(r.ci_low) and _num(r.ci_high) else None


def icl_findings(thresholds: pd.DataFrame) -> list[str]:
    """Which in-context-learning measures show a threshold and where (all seeds pooled), and
    whether the induction-head phase change precedes or follows each k-shot gain's onset:
    one onset interval lies wholly at higher loss (reached earlier in training: precedes),
    or they overlap (the order cannot be told)."""
    rows = pooled(thresholds)
    rows = rows[rows["metric"].isin(list(ICL_METRICS))]
    out = []
    for r in rows.itertuples():
        what = f"{r.task}: {ICL_METRICS[r.metric]}" + (f" ({r.labels} labels)" if r.metric == "follows_labels" else "")
        if r.verdict == "emergent":
            out.append(
                f"{what} has a threshold: onset at a loss of {with_interval(r.threshold, r.ci_low, r.ci_high)} "
                f"nats/token (95% interval over {r.interval}), crossed by {int(r.sizes_below)} sizes."
            )
        else:
            out.append(f"{what} shows no threshold: {r.verdict} ({r.reason}).")
    matching = {r.task for r in rows.itertuples() if r.metric == "prefix_matching" and r.verdict == "emergent"}
    for r in rows.itertuples():
        if r.metric == "copying" and r.verdict == "emergent" and r.task not in matching:
            out.append(
                f"{r.task}: a copying score without prefix matching is no induction head (the head copies what it "
                "attends to, but does not attend to the token after the current one's earlier occurrence; one-layer "
                "models copy too)."
            )
    heads = rows[rows["metric"] == "prefix_matching"]
    for g in rows[rows["metric"] == "kshot_gain"].itertuples():
        for h in heads.itertuples():
            a, b = _interval(h), _interval(g)
            if a is None or b is None:
                missing = " and ".join(
                    name for name, iv in ((f"the {h.task} prefix-matching score", a), (f"{g.task}'s k-shot gain", b))
                    if iv is None
                )  # fmt: skip
                verb = "have" if a is None and b is None else "has"
                out.append(
                    f"Induction heads ({h.task}) against the {g.task} k-shot gain: not compared, since {missing} "
                    f"{verb} no emergent onset."
                )
                continue
            if a[1] < b[0]:
                relation = "follows (its onset interval lies wholly at lower loss)"
            elif a[0] > b[1]:
                relation = "precedes (its onset interval lies wholly at higher loss, reached earlier in training)"
            else:
                relation = "cannot be ordered against (their onset intervals overlap)"
            out.append(
                f"The induction-head phase change ({h.task}, onset {with_interval(h.threshold, *a)}) {relation} the "
                f"{g.task} k-shot gain's onset ({with_interval(g.threshold, *b)})."
            )
    return out


# A gold k-shot gain below this (accuracy) is too small to share out among the ingredients.
MIN_GAIN = 0.05
# Min et al.'s ablations: each removes or spoils one ingredient of gold demonstrations.
ABLATIONS = ("random", "ood", "labels_only", "inputs_only", "no_format")


def ablation_sentences(results: pd.DataFrame, n_best: int = 10) -> list[str]:
    """Min et al.'s question per task: how much of the gold demonstrations' k-shot gain each
    of their ablations (`ABLATIONS`; not flipped or unrelated labels, which change what a
    right answer is) keeps, averaged over the `n_best` lowest-loss checkpoints that have every
    setting (after warm-up); stated as shares only where the gold gain is at least MIN_GAIN."""
    gain = results[(results["metric"] == "kshot_gain") & ~results["warmup"].astype(bool)]
    gain = gain[gain["labels"].isin(["gold", *ABLATIONS])]
    out = []
    for (task, prompt), d in gain.groupby(["task", "prompt"]):
        task = task if prompt == "standard" else f"{task} ({prompt})"
        wide = d.pivot_table(index=["model", "step", "loss"], columns="labels", values="value").dropna()
        if "gold" not in wide or wide.shape[1] < 2 or wide.empty:
            continue
        best = wide.sort_values("loss").head(n_best).mean()
        where = f"{task}, mean of the {min(n_best, len(wide))} lowest-loss checkpoints"
        if best["gold"] < MIN_GAIN:
            out.append(
                f"{where}: gold demonstrations add {best['gold']:+.2f} accuracy, too little to say what carries it "
                f"(other settings: {', '.join(f'{k} {v:+.2f}' for k, v in best.drop('gold').items())})."
            )
        else:
            shares = ", ".join(f"{k} {v / best['gold']:.0%}" for k, v in best.drop("gold").items())
            out.append(f"{where}: gold demonstrations add {best['gold']:+.2f} accuracy; share kept by {shares}.")
    return out


def control_sentences(results: pd.DataFrame) -> list[str]:
    """The one-layer negative control of the induction-head scores: the highest best-head
    prefix-matching score each one-layer size reaches, beside chance and beside the highest
    of the deeper sizes (the fits leave one-layer models out)."""
    pm = results[(results["metric"] == "prefix_matching") & ~results["warmup"].astype(bool)]
    if "n_layers" not in pm or not (pm["n_layers"] == 1).any():
        return []
    deep = pm[pm["n_layers"] != 1]
    out = []
    for size, d in pm[pm["n_layers"] == 1].groupby("size"):
        deeper = f"; the deeper sizes reach at most {deep['value'].max():.3f}" if len(deep) else ""
        out.append(
            f"One-layer control ({size}): its best head's prefix-matching score is at most {d['value'].max():.3f} over "
            f"its {d[['model', 'step']].drop_duplicates().shape[0]} checkpoints after warm-up (a head attending "
            f"uniformly scores {d['chance'].iloc[0]:.3f}){deeper}."
        )
    return out


def _pi(v, lo, hi, fmt: str = ".3g") -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if _num(lo) and _num(hi) else f"{v:{fmt}} (no interval)"


def _outside(r, summary: dict) -> str:
    """Where a held-out run's loss lies beyond the smaller sizes' checkpoints, in words."""
    lowest = summary["curves"][r.task]["fitted_losses"][0]
    if r.loss_actual < lowest:
        return f"its loss {r.loss_actual:.3f} is below every checkpoint of the smaller sizes (lowest {lowest:.3f})"
    return f"its loss {r.loss_actual:.3f} is within the smaller sizes' checkpoints"


def _forecast_verdict(r, summary: dict) -> str:
    """Whether the forecast of one task x budget foresaw what the held-out runs reached."""
    if r.covered:
        return "covered, the interval above chance" if _num(r.chance) and r.low > r.chance else "covered"
    where = "above" if r.actual > r.high else "below"
    if r.loss_covered and not r.covered_given_loss:
        why = f"the loss was forecast within its interval, so the miss is the curve's: {_outside(r, summary)}"
    elif not r.loss_covered and r.covered_given_loss:
        why = "at the loss the runs actually reached the curve covers it, so the miss is the loss law's"
    else:
        why = _outside(r, summary)
    return f"missed, {where} the interval; {why}"


def forecast_sentences(table: pd.DataFrame, summary: dict, thresholds: pd.DataFrame) -> list[str]:
    """The forecast check in words: how many task x budget forecasts of the held-out size cover
    what it reached, then, for each task emergent in the whole study, whether the smaller sizes
    showed its threshold and predicted the held-out size's jump (judged at the budget where it
    scored best), then the other tasks' misses and why."""
    if summary.get("note"):
        return [summary["note"]]
    if not len(table):
        return []
    held, n = summary["held_out"], len(table)
    loss = table.drop_duplicates("tokens")
    out = [
        f"{held} (N = {table['params'].iloc[0]:,.0f}) held out and forecast from "
        f"{', '.join(summary['forecast_from'])}: the 95% prediction intervals cover what its runs reached for "
        f"{int(table['covered'].sum())} of {n} task × budget pairs, and its final loss at "
        f"{int(loss['loss_covered'].sum())} of {len(loss)} budgets ("
        + "; ".join(
            f"{r.tokens / 1e6:.3g}M tokens: forecast {_pi(r.loss_predicted, r.loss_low, r.loss_high, '.3f')}, "
            f"reached {r.loss_actual:.3f}"
            for r in loss.itertuples()
        )
        + ")."
    ]
    main = pooled(thresholds) if len(thresholds) else thresholds
    prompts = main.groupby("task")["prompt"].nunique() if len(main) else {}
    emergent = set()
    for r in main.itertuples() if len(main) else ():
        label = f"{r.task} ({r.prompt})" if prompts[r.task] > 1 else r.task
        if r.verdict == "emergent" and r.metric in set(table.loc[table["task"] == label, "metric"]):
            emergent.add(label)
    for task in sorted(emergent):
        rows = table[table["task"] == task]
        first, best = rows.iloc[0], rows.loc[rows["actual"].idxmax()]
        shown = (
            "the smaller sizes alone show its threshold too"
            if first.verdict == "emergent"
            else f"on the smaller sizes alone the threshold analysis says {first.verdict}, so the forecast uses a "
            "sigmoid"
        )
        budgets = "; ".join(
            f"at {r.tokens / 1e6:.3g}M tokens forecast {_pi(r.predicted, r.low, r.high)}, reached {r.actual:.3g}: "
            + _forecast_verdict(r, summary)
            for r in rows.itertuples()
        )
        jump = best.covered and _num(best.chance) and best.low > best.chance
        said = "predicted" if jump else "did not predict"
        out.append(
            f"{task} (emergent across all sizes): {shown}. {budgets[0].upper()}{budgets[1:]}. The smaller sizes "
            f"{said} {held}'s jump (judged at {best.tokens / 1e6:.3g}M tokens, where it scored best)."
        )
    missed = table[~table["covered"].astype(bool) & ~table["task"].isin(emergent)]
    if len(missed):
        out.append(
            "Missed among the other tasks: "
            + "; ".join(
                f"{r.task} at {r.tokens / 1e6:.3g}M tokens (forecast {_pi(r.predicted, r.low, r.high)}, "
                f"reached {r.actual:.3g}: {_forecast_verdict(r, summary).removeprefix('missed, ')})"
                for r in missed.itertuples()
            )
            + "."
        )
    return out
