"""What the report says about thresholds, the scaling law and the forecast, in sentences
generated from the analysis tables so that they can never contradict the numbers: the
page's opening summary, one sentence per task, and the held-out forecast in words."""

from __future__ import annotations

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.analysis.evidence import EDGE_POINTS
from emergence.analysis.thresholds import MAX_CI_WIDTH, MIN_SIZES, MIN_SUPPORT
from emergence.evaluate.metrics import label as metric_label
from emergence.report.threshold_tables import is_number, landmark, main_fits, with_interval


def _name(r) -> str:
    return f"{r.task}" + (f" ({r.prompt})" if r.prompt not in ("standard", "none") else "") + f", {r.metric}"


def _onset(r) -> str:
    return with_interval(r.threshold, r.ci_low, r.ci_high)


def _alone(thresholds: pd.DataFrame, r) -> pd.DataFrame:
    """The fits of each seed alone of the task x prompt x metric of the pooled row `r`."""
    if "seed" not in thresholds:
        return thresholds.iloc[:0]
    same = (thresholds.task == r.task) & (thresholds.prompt == r.prompt) & (thresholds.metric == r.metric)
    return thresholds[same & (thresholds["seed"].astype(str) != "all")]


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


def summary_sentences(thresholds: pd.DataFrame) -> list[str]:
    """The page's opening, from the rows of the thresholds table that `sentences` states one by
    one: how many tasks' main metrics are emergent and at which onsets (95% intervals), which
    are smooth, flat or inconclusive, and how sure: how many emergent verdicts every seed
    fitted alone repeats and how many rise across fewer than MIN_SIZES sizes."""
    rows = main_fits(thresholds)
    if not len(rows):
        return []
    emergent = rows[rows["verdict"] == "emergent"]
    tasks = f"{len(rows)} tasks (each task's main metric, all seeds pooled)"
    if not len(emergent):
        return [f"None of {tasks} is emergent.", f"They are {_the_others(rows)}."]
    over = " and ".join(sorted(set(emergent["interval"].astype(str))))
    onsets = "; ".join(f"{_name(r)} at {_onset(r)}" for r in emergent.itertuples())
    out = [
        f"Emergent in {len(emergent)} of {tasks}: performance stays at chance above a loss (nats/token) and "
        f"rises below it, with onsets (95% intervals over {over}): {onsets}."
    ]
    induced = emergent[_mirage(emergent) == "metric-induced"]
    if len(induced):
        names = "; ".join(_name(r) for r in induced.itertuples())
        out.append(
            f"Of these, {len(induced)} {'is' if len(induced) == 1 else 'are'} metric-induced ({names}): the metric "
            "jumps while its continuous twin rises smoothly over the same checkpoints (Schaeffer et al.'s mirage), "
            "so the ability itself improves smoothly."
        )
    if len(emergent) < len(rows):
        out.append(f"The others are {_the_others(rows)}.")
    return out + [_how_sure(thresholds, emergent)]


def _mirage(rows: pd.DataFrame) -> pd.Series:
    """The mirage check of each row (analysis/mirage.py), empty where the table has none."""
    return rows["mirage"].astype(object).fillna("") if "mirage" in rows else pd.Series("", index=rows.index)


def mirage_sentence(r) -> str:
    """What the continuous twin of a row's metric says about its verdict, in one sentence ("" without a twin)."""
    check, twin = getattr(r, "mirage", None), getattr(r, "twin", None)
    if not isinstance(check, str) or not isinstance(twin, str):
        return ""
    name, twin_verdict = metric_label(r.metric), r.twin_verdict
    if check == "metric-induced":
        return (
            f" Metric-induced: {name} jumps, but the {metric_label(twin)} rises smoothly over the same checkpoints "
            "(the mirage of Schaeffer et al.): the model improves smoothly and the metric makes the jump."
        )
    if check == "in both metrics":
        return (
            f" Not the metric's doing: the {metric_label(twin)} is emergent too (onset {r.twin_onset:.3f}), "
            "so the jump is in the model."
        )
    if check == "twin undecided":
        return (
            f" The {metric_label(twin)} is {twin_verdict}, so the mirage check cannot decide whether the jump "
            "is the metric's."
        )
    return f" Its continuous twin, the {metric_label(twin)}, is {twin_verdict}."


def _the_others(rows: pd.DataFrame) -> str:
    """The tasks that are not emergent, by verdict: "smooth (a, acc), flat (b, acc) and inconclusive (c, acc)"."""
    others = [
        f"{verdict} ({'; '.join(_name(r) for r in rows[rows['verdict'] == verdict].itertuples())})"
        for verdict in ("smooth", "flat", "inconclusive")
        if (rows["verdict"] == verdict).any()
    ]
    return ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0]


def _how_sure(thresholds: pd.DataFrame, emergent: pd.DataFrame) -> str:
    """How many emergent verdicts every seed fitted alone repeats, and how many rise across few sizes."""
    alone = [_alone(thresholds, r) for r in emergent.itertuples()]
    repeated = sum(len(a) > 0 and bool((a.verdict == "emergent").all()) for a in alone)
    seeds = (
        f"Every seed fitted alone repeats {repeated} of the {len(emergent)} emergent verdicts"
        if any(len(a) for a in alone)
        else "With one seed per size, no emergent verdict is checked on another seed"
    )
    few = int((emergent["sizes_below"] < MIN_SIZES).sum())
    if few == 0:
        return f"{seeds}; each rises across at least {MIN_SIZES} sizes."
    return (
        f"{seeds}; {few} of the {len(emergent)} rise{'s' * (few == 1)} across fewer than {MIN_SIZES} sizes "
        "(little evidence that sizes share one curve)."
    )


def _seeds_agree(alone: pd.DataFrame) -> str:
    """How the seeds fitted alone agree with an emergent pooled verdict ("" without per-seed fits)."""
    if not len(alone):
        return ""
    agree = int((alone.verdict == "emergent").sum())
    text = f" Seeds fitted alone: {agree} of {len(alone)} emergent"
    inside = alone[(alone.verdict == "emergent")]
    if len(inside):
        text += ", at " + ", ".join(f"{t:.3f}" for t in inside.threshold)
    if agree == len(alone):
        return text + "."
    others = "; ".join(f"{v}" for v in alone[alone.verdict != "emergent"].verdict)
    return text + f": a weaker finding, which only the seeds pooled show (the others: {others})."


def _emergent_sentence(r, n_sizes: int) -> str:
    below = int(r.sizes_below)
    marks = (
        f"; midpoint {landmark(r, 'midpoint')}, saturation {landmark(r, 'saturation')}"
        if is_number(r.midpoint)
        else " (the metric has no best score, so no midpoint or saturation)"
    )
    return (
        f"{_name(r)}: emergent. Performance stays at chance above a loss of {_onset(r)} nats/token (onset; 95% "
        f"interval over {r.interval}) and rises below it{marks}. The rise rests on {below} of {n_sizes} sizes"
        + (f" (fewer than {MIN_SIZES}: little evidence that sizes share one curve)." if below < MIN_SIZES else ".")
    )


def sentences(thresholds: pd.DataFrame, n_sizes: int) -> list[str]:
    """One sentence per task's main metric (all seeds pooled), from its row of the table."""
    out = []
    for r in main_fits(thresholds).itertuples():
        if r.verdict == "emergent":
            out.append(_emergent_sentence(r, n_sizes) + mirage_sentence(r) + _seeds_agree(_alone(thresholds, r)))
        elif r.verdict == "inconclusive":
            out.append(f"{_name(r)}: inconclusive: {r.reason}." + mirage_sentence(r))
        else:
            out.append(f"{_name(r)}: {r.verdict} ({r.reason})." + mirage_sentence(r))
    return out


DEFINITIONS = (
    "The threshold of an emergent task is its onset: the loss at which the fitted curve starts to rise, the "
    "point where its steepest tangent leaves the flat (chance) level (for the hinge, its knot; for the sigmoid, "
    "where it has risen 12% of its rise). The midpoint (50%) and the saturation (90%; for the hinge, the rise is "
    "measured up to the best possible score) are reported beside it. Emergent means that a threshold model "
    "(flat, then rising) beats every smooth curve tried (a line, an exponential and a power in loss) by a BIC "
    f"difference of at least 6, and still does in at least {MIN_SUPPORT:.0%} of the bootstrap resamples of runs and "
    "items, that the checkpoints above the onset's interval sit at chance (within 2% of the "
    "rise plus 2 standard errors of their level), and that the onset is located: an interval at most "
    f"{MAX_CI_WIDTH:g} nats wide, with at least {MIN_SIZES} sizes beyond each end. An onset with fewer than "
    f"{EDGE_POINTS} checkpoints beyond it, or beyond either end of its interval, on either side, is at the edge "
    "of the data and never a finding: the verdict is then inconclusive. Fits use every checkpoint after "
    "learning-rate warm-up (the warm-up checkpoints, hollow in the figure, sit at chance far above the other "
    "losses: a plateau made by random initial weights, not evidence about the ability)."
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


def _pi(v, lo, hi, fmt: str = ".3g") -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]" if is_number(lo) and is_number(hi) else f"{v:{fmt}} (no interval)"


def _outside(r, summary: dict) -> str:
    """Where a held-out run's loss lies beyond the smaller sizes' checkpoints, in words."""
    lowest = summary["curves"][r.task]["fitted_losses"][0]
    if r.loss_actual < lowest:
        return f"its loss {r.loss_actual:.3f} is below every checkpoint of the smaller sizes (lowest {lowest:.3f})"
    return f"its loss {r.loss_actual:.3f} is within the smaller sizes' checkpoints"


def _forecast_verdict(r, summary: dict) -> str:
    """Whether the forecast of one task x budget foresaw what the held-out runs reached."""
    if r.covered:
        return "covered, the interval above chance" if is_number(r.chance) and r.low > r.chance else "covered"
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
    if "method" in table.columns:
        out.append(_methods_sentence(table, summary.get("methods", {})))
    emergent = _emergent_in_study(table, thresholds)
    out += [_task_forecast(table[table["task"] == task], summary) for task in sorted(emergent)]
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


def _methods_sentence(table: pd.DataFrame, methods: dict) -> str:
    """Which method `emergence forecast` would have used per task (chosen on the smaller sizes
    alone) and how it did on the held-out size, beside the chain and one step."""
    one = sorted(set(table.loc[table["method"] == "one step", "task"]))
    tasks = table["task"].nunique()
    chosen = (
        f"one step straight from compute for {len(one)} of {tasks} tasks ({', '.join(one)}) and the chain for the rest"
        if one
        else f"the chain for all {tasks} tasks"
    )
    scores = "; ".join(
        f"{name}: {m['covered']} of {len(table)} covered, mean absolute error {m['mean_abs_error']:.3f}"
        for name, m in methods.items()
        if name in ("chosen", "chain", "one step") and "covered" in m
    )
    return (
        "Chosen on the smaller sizes alone (their own largest held out, as `emergence forecast` chooses), the "
        f"forecast uses {chosen}. On the held-out size: {scores}."
    )


def _emergent_in_study(table: pd.DataFrame, thresholds: pd.DataFrame) -> set[str]:
    """The forecast's tasks (named as in its table: with the prompt where a task has several)
    whose metric is emergent across all sizes (all seeds pooled)."""
    main = pooled(thresholds) if len(thresholds) else thresholds
    prompts = main.groupby("task")["prompt"].nunique() if len(main) else {}
    emergent = set()
    for r in main.itertuples() if len(main) else ():
        label = f"{r.task} ({r.prompt})" if prompts[r.task] > 1 else r.task
        if r.verdict == "emergent" and r.metric in set(table.loc[table["task"] == label, "metric"]):
            emergent.add(label)
    return emergent


def _task_forecast(rows: pd.DataFrame, summary: dict) -> str:
    """One emergent task's forecast (its rows of the table, one per budget): whether the smaller
    sizes show its threshold, each budget's forecast, and whether they predicted the jump."""
    task, held = rows["task"].iloc[0], summary["held_out"]
    first, best = rows.iloc[0], rows.loc[rows["actual"].idxmax()]
    shown = (
        "the smaller sizes alone show its threshold too"
        if first.verdict == "emergent"
        else f"on the smaller sizes alone the threshold analysis says {first.verdict}"
    ) + f"; the forecast's curve is the {first.form}"
    budgets = "; ".join(
        f"at {r.tokens / 1e6:.3g}M tokens forecast {_pi(r.predicted, r.low, r.high)}, reached {r.actual:.3g}: "
        + _forecast_verdict(r, summary)
        for r in rows.itertuples()
    )
    jump = best.covered and is_number(best.chance) and best.low > best.chance
    said = "predicted" if jump else "did not predict"
    return (
        f"{task} (emergent across all sizes): {shown}. {budgets[0].upper()}{budgets[1:]}. The smaller sizes "
        f"{said} {held}'s jump (judged at {best.tokens / 1e6:.3g}M tokens, where it scored best)."
    )
