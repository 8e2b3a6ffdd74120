"""What the report says about in-context learning, generated from the thresholds and results
tables: which measures have a loss threshold and in what order, what the demonstrations'
ingredients carry (Min et al. 2022), the one-layer control of the induction heads, and the
accuracy of the best checkpoints in each demonstration setting."""

from __future__ import annotations

import pandas as pd

from emergence.analysis.analyze import pooled
from emergence.evaluate.metrics import MAIN, METRICS
from emergence.report.threshold_tables import is_number, with_interval

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
    return (r.ci_low, r.ci_high) if r.verdict == "emergent" and is_number(r.ci_low) and is_number(r.ci_high) else None


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
    for gain in rows[rows["metric"].isin(ORDERED)].itertuples():
        out += [phase_order(head, gain) for head in heads.itertuples()]
    return out


# The measures whose onsets are ordered against the induction-head phase change.
ORDERED = {"kshot_gain": "k-shot gain", "icl_score": "ICL score"}


def phase_order(head, gain) -> str:
    """Whether the induction-head phase change (a pooled prefix-matching row) precedes or
    follows a task's k-shot gain or ICL score (a pooled kshot_gain or icl_score row), from
    their onset intervals: one lies wholly at higher loss than the other (precedes, follows),
    each onset lies inside the other's interval (coincides), or neither (cannot be ordered)."""
    a, b = _interval(head), _interval(gain)
    what = ORDERED[gain.metric]
    if a is None or b is None:
        named = ((f"the {head.task} prefix-matching score", a), (f"{gain.task}'s {what}", b))
        missing = " and ".join(name for name, interval in named if interval is None)
        verb = "have" if a is None and b is None else "has"
        return (
            f"Induction heads ({head.task}) against the {gain.task} {what}: not compared, since {missing} "
            f"{verb} no emergent onset."
        )
    if a[1] < b[0]:
        relation = "follows (its onset interval lies wholly at lower loss)"
    elif a[0] > b[1]:
        relation = "precedes (its onset interval lies wholly at higher loss, reached earlier in training)"
    elif a[0] <= gain.threshold <= a[1] and b[0] <= head.threshold <= b[1]:
        relation = "coincides with (each onset lies inside the other's interval)"
    else:
        relation = "cannot be ordered against (their onset intervals overlap)"
    return (
        f"The induction-head phase change ({head.task}, onset {with_interval(head.threshold, *a)}) {relation} the "
        f"{gain.task} {what}'s onset ({with_interval(gain.threshold, *b)})."
    )


# How the report names each measure fitted per size (phase_change.MEASURES).
_PER_SIZE = {
    "prefix_matching": "the best head's prefix-matching score",
    "kshot_gain": "{task}'s k-shot gain",
    "icl_score": "the ICL score ({task})",
}


def _when(r) -> tuple[float, float, float] | None:
    """(onset, low, high) of an emergent per-size row, else None."""
    ok = r is not None and r.verdict == "emergent" and all(is_number(v) for v in (r.onset, r.onset_low, r.onset_high))
    return (r.onset, r.onset_low, r.onset_high) if ok else None


def _millions(t: tuple[float, float, float]) -> str:
    return f"{t[0] / 1e6:.2f}M [{t[1] / 1e6:.2f}M, {t[2] / 1e6:.2f}M]"


def relation(a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    """How onset a (point, low, high, on an axis where larger is later in training) stands to
    onset b: precedes or follows (its interval wholly before or after b's), coincides with
    (each point inside the other's interval), or cannot be ordered against (neither)."""
    if a[2] < b[1]:
        return "precedes"
    if a[1] > b[2]:
        return "follows"
    if a[1] <= b[0] <= a[2] and b[1] <= a[0] <= b[2]:
        return "coincides with"
    return "cannot be ordered against"


def onset_sentences(onsets: pd.DataFrame) -> list[str]:
    """Each size's own onsets (phase_change.size_onsets): for each measure, the tokens and the
    loss at which it leaves chance (or zero), with their intervals, or the verdict and its
    reason; then, in tokens, how the phase change (prefix matching) stands to the others."""
    out = []
    if "seed" not in onsets:
        onsets = onsets.assign(seed="all")
    onsets = onsets.assign(seed=onsets["seed"].astype(str))
    for size, d in onsets.groupby("size", sort=False):
        pooled_rows = d[d["seed"] == "all"]
        first = pooled_rows.iloc[0]
        seeds = f"{int(first.n_runs)} seed{'s' if first.n_runs != 1 else ''}" if is_number(first.n_runs) else "its runs"
        parts, when = [], {}
        for (task, metric), m in pooled_rows.groupby(["task", "metric"], sort=False):
            by = {r.axis: r for r in m.itertuples()}
            name = _PER_SIZE[metric].format(task=task)
            tokens, loss = _when(by.get("tokens")), _when(by.get("loss"))
            if tokens:
                when[name] = tokens
                at_loss = f" and at a loss of {with_interval(*loss)}" if loss else " (against loss: not emergent)"
                parts.append(f"{name} leaves its chance level at {_millions(tokens)} tokens{at_loss}")
            else:
                r = by.get("tokens")
                parts.append(f"{name}: {r.verdict} against tokens ({r.reason})")
            alone = d[(d["task"] == task) & (d["metric"] == metric) & (d["seed"] != "all")]
            each = [f"seed {r.seed} at {_millions(_when(r))}" for r in alone.itertuples() if _when(r)]
            if each:
                parts[-1] += f" (each seed alone: {', '.join(each)} tokens)"
        head = "the best head's prefix-matching score"
        order = [
            f"in tokens the phase change {relation(when[head], t)} {name}"
            for name, t in when.items()
            if name != head and head in when
        ]
        layers = f"{int(first.n_layers)} layer{'s' if first.n_layers != 1 else ''}"
        out.append(f"{size} ({layers}, {seeds}): " + "; ".join(parts + order) + ".")
    return out


def icl_positions_sentence(config: dict) -> list[str]:
    """Which positions each ICL-score task compares, in tokens of the training context."""
    context = int(config.get("models", {}).get("context", 0))
    out = []
    for name, spec in (config.get("tasks") or {}).items():
        if spec.get("kind") != "icl_score" or not context:
            continue
        early, late = (round(f * (context - 1)) + 1 for f in spec.get("icl_positions", (0.1, 0.9)))
        out.append(
            f"{name}: the ICL score is the mean loss around token {late} minus around token {early} of "
            f"{context}-token windows of validation documents longer than the context (Olsson et al.: token 500 "
            "minus token 50 of 512)."
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


def icl_summary(results: pd.DataFrame, n_best: int = 10) -> list[str]:
    """Plain sentences on the in-context-learning settings: the main metric by label setting and
    by number of demonstrations, averaged over the lowest-loss checkpoints that have them all."""
    out = []
    for task, d in results[
        results["metric"].isin([m for m in MAIN if METRICS[m].proportion]) & (results["prompt"] == "standard")
    ].groupby("task"):
        metric = d["metric"].iloc[0]
        for column, fixed in (("labels", d[d["shots"] == d["shots"].max()]), ("shots", d[d["labels"] == "gold"])):
            if fixed[column].nunique() < 2:
                continue
            wide = fixed.pivot_table(index=["model", "step", "loss"], columns=column, values="value").dropna()
            best = wide.sort_values("loss").head(n_best)
            if best.empty:
                continue
            means = ", ".join(
                f"{v:.2f} with {k}{' shots' if column == 'shots' else ' labels'}" for k, v in best.mean().items()
            )
            out.append(
                f"{task}: mean {metric} over the {len(best)} lowest-loss checkpoints "
                f"(loss ≤ {best.index.get_level_values('loss').max():.2f}): {means}."
            )
    return out
