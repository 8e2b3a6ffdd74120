"""Report sentences generated from the thresholds and results tables."""

import pandas as pd

from emergence.report.findings import summary_sentences
from emergence.report.in_context import ablation_sentences, control_sentences, icl_findings


def row(task, metric, verdict, threshold=None, lo=None, hi=None, reason="ok", seed="all", sizes_below=3):
    return {
        "task": task,
        "prompt": "none" if metric == "prefix_matching" else "standard",
        "metric": metric,
        "labels": "flipped" if metric == "follows_labels" else "gold",
        "seed": seed,
        "verdict": verdict,
        "threshold": threshold,
        "ci_low": lo,
        "ci_high": hi,
        "interval": "runs and items",
        "sizes_below": sizes_below,
        "reason": reason,
    }


def test_icl_findings_state_each_threshold_and_order_the_phase_change_by_interval():
    table = pd.DataFrame(
        [
            row("induction", "prefix_matching", "emergent", 2.1, 2.0, 2.2),
            row("mapping", "kshot_gain", "emergent", 1.85, 1.8, 1.9),
            row("letters", "kshot_gain", "emergent", 2.15, 2.05, 2.3),
            row("late", "kshot_gain", "emergent", 2.5, 2.4, 2.6),
            row("overlap", "kshot_gain", "emergent", 2.25, 2.15, 2.4),
            row("induction", "icl_score", "emergent", 2.12, 2.0, 2.25),
            row("sentiment", "kshot_gain", "inconclusive", reason="the onset is at the edge of the data"),
            row("sentiment", "follows_labels", "flat", reason="no trend"),
            row("flatheads", "prefix_matching", "flat", reason="no rise"),
            row("flatheads", "copying", "emergent", 1.8, 1.7, 1.9),
            {**row("mapping", "kshot_gain", "emergent", 1.0, 0.9, 1.1), "seed": "0"},  # a per-seed row: not stated
        ]
    )
    text = icl_findings(table)
    assert (
        "induction: the induction heads' prefix-matching score has a threshold: onset at a loss of 2.100 [2.000, 2.200]"
        in text[0]
    )
    assert "sentiment: the k-shot gain shows no threshold: inconclusive (the onset is at the edge of the data)." in text
    joined = " ".join(text)
    assert "2.100 [2.000, 2.200]) precedes (its onset interval lies wholly at higher loss" in joined
    assert "coincides with (each onset lies inside the other's interval) the letters k-shot gain" in joined
    assert "cannot be ordered against (their onset intervals overlap) the overlap k-shot gain" in joined
    assert "coincides with (each onset lies inside the other's interval) the induction ICL score's onset" in joined
    assert "follows (its onset interval lies wholly at lower loss) the late k-shot gain" in joined
    assert "sentiment's k-shot gain has no emergent onset" in joined
    assert "sentiment: answering with the demonstrations' labels (flipped labels) shows no threshold: flat" in joined
    assert "flatheads: a copying score without prefix matching is no induction head" in joined
    assert "1.000" not in joined


def test_ablation_shares_are_stated_only_where_gold_demonstrations_gain():
    rows = []
    for step, loss in enumerate([3.0, 2.0, 1.5]):
        for task, gains in (
            ("big", {"gold": 0.4, "random": 0.1, "no_format": 0.3}),
            ("none", {"gold": 0.01, "random": 0.0}),
        ):
            checkpoint = {"task": task, "prompt": "standard", "model": "m", "step": step, "loss": loss}
            rows += [
                {**checkpoint, "warmup": step == 0, "metric": "kshot_gain", "labels": lab, "value": v}
                for lab, v in gains.items()
            ]
    text = ablation_sentences(pd.DataFrame(rows))
    assert text[0] == (
        "big, mean of the 2 lowest-loss checkpoints: gold demonstrations add +0.40 accuracy; "
        "share kept by no_format 75%, random 25%."
    )
    assert text[1].startswith(
        "none, mean of the 2 lowest-loss checkpoints: gold demonstrations add +0.01 accuracy, too little"
    )


def test_the_one_layer_control_is_stated_against_chance_and_the_deeper_sizes():
    sizes = (("w64l1", 1, [0.5, 0.012, 0.02]), ("w64l2", 2, [0.01, 0.3, 0.6]))
    rows = [
        {"metric": "prefix_matching", "size": size, "model": f"{size}-s0", "step": step, "n_layers": layers}
        | {"value": v, "chance": 0.011, "warmup": step == 0}
        for size, layers, values in sizes
        for step, v in enumerate(values)
    ]
    assert control_sentences(pd.DataFrame(rows)) == [
        "One-layer control (w64l1): its best head's prefix-matching score is at most 0.020 over its 2 checkpoints "
        "after warm-up (a head attending uniformly scores 0.011); the deeper sizes reach at most 0.600."
    ]
    assert control_sentences(pd.DataFrame(rows).drop(columns="n_layers")) == []


def test_the_summary_counts_the_emergent_tasks_and_says_how_sure_from_the_table():
    table = pd.DataFrame(
        [
            row("sentiment", "acc", "emergent", 1.654, 1.621, 1.671),
            row("arith", "exact_match", "emergent", 2.2, 2.185, 2.212, sizes_below=2),
            row("letters", "acc", "smooth", reason="rises steadily"),
            row("facts", "acc", "flat", reason="no rise"),
            row("mapping", "acc", "inconclusive", reason="the onset is at the edge of the data"),
            row("sentiment", "p_correct", "emergent", 1.7, 1.6, 1.8),  # not a main metric: not counted
            *(row("sentiment", "acc", "emergent", 1.65, 1.6, 1.7, seed=s) for s in ("0", "1")),
            row("arith", "exact_match", "emergent", 2.2, 2.1, 2.3, seed="0"),
            row("arith", "exact_match", "smooth", seed="1"),
        ]
    )
    assert summary_sentences(table) == [
        "Emergent in 2 of 5 tasks (each task's main metric, all seeds pooled): performance stays at chance above a "
        "loss (nats/token) and rises below it, with onsets (95% intervals over runs and items): sentiment, acc at "
        "1.654 [1.621, 1.671]; arith, exact_match at 2.200 [2.185, 2.212].",
        "The others are smooth (letters, acc), flat (facts, acc) and inconclusive (mapping, acc).",
        "Every seed fitted alone repeats 1 of the 2 emergent verdicts; 1 of the 2 rises across fewer than 3 sizes "
        "(little evidence that sizes share one curve).",
    ]
    one_seed = table[table["seed"] == "all"]
    assert summary_sentences(one_seed)[-1].startswith("With one seed per size, no emergent verdict is checked")
    assert summary_sentences(one_seed[one_seed["verdict"] != "emergent"]) == [
        "None of 3 tasks (each task's main metric, all seeds pooled) is emergent.",
        "They are smooth (letters, acc), flat (facts, acc) and inconclusive (mapping, acc).",
    ]
    assert summary_sentences(table.iloc[:0]) == []


def test_mirage_check_in_the_table_and_in_words():
    # exact match jumps while its per-token log-probability rises smoothly: the summary and the
    # task's sentence say "metric-induced", the table shows the twin's own verdict.
    from emergence.analysis.mirage import with_twins
    from emergence.report.findings import sentences
    from emergence.report.threshold_tables import main_table

    emergent = {
        **row("addition", "exact_match", "emergent", 1.6, 1.55, 1.65),
        **{f"{m}{end}": float("nan") for m in ("midpoint", "saturation") for end in ("", "_low", "_high")},
        "sizes_above": 4,
        "labels": "none",
        "shots": 0,
    }
    twin = {**emergent, "metric": "answer_logprob_per_token", "verdict": "smooth", "threshold": None}
    facts = {**row("facts", "acc", "flat", reason="no rise"), "shots": 0, "sizes_above": 0}
    table = with_twins(pd.DataFrame([emergent, twin, facts, {**facts, "metric": "p_correct", "verdict": "flat"}]))
    said = " ".join(summary_sentences(table))
    assert "Of these, 1 is metric-induced (addition, exact_match)" in said
    words = " ".join(sentences(table, 5))
    assert "Metric-induced: exact match jumps, but the log p(answer) per token (nats) rises smoothly" in words
    assert "Its continuous twin, the probability of the correct choice, is flat." in words
    cells = main_table(table).set_index("task")["mirage check"]
    assert cells["addition"] == "metric-induced (answer_logprob_per_token: smooth)"
    assert cells["facts"] == "not emergent (p_correct: flat)"
