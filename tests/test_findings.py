"""Report sentences generated from the thresholds table."""

import pandas as pd

from emergence.report.findings import ablation_sentences, control_sentences, icl_findings


def row(task, metric, verdict, threshold=None, lo=None, hi=None, reason="ok"):
    return {"task": task, "prompt": "none" if metric == "prefix_matching" else "standard", "metric": metric,
            "labels": "flipped" if metric == "follows_labels" else "gold",
            "seed": "all", "verdict": verdict, "threshold": threshold, "ci_low": lo, "ci_high": hi,
            "interval": "runs and items", "sizes_below": 3, "reason": reason}  # fmt: skip


def test_icl_findings_state_each_threshold_and_order_the_phase_change_by_interval():
    table = pd.DataFrame(
        [
            row("induction", "prefix_matching", "emergent", 2.1, 2.0, 2.2),
            row("mapping", "kshot_gain", "emergent", 1.85, 1.8, 1.9),
            row("letters", "kshot_gain", "emergent", 2.15, 2.05, 2.3),
            row("late", "kshot_gain", "emergent", 2.5, 2.4, 2.6),
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
    assert "cannot be ordered against (their onset intervals overlap) the letters k-shot gain" in joined
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
            rows += [{"task": task, "prompt": "standard", "model": "m", "step": step, "loss": loss, "warmup": step == 0,
                      "metric": "kshot_gain", "labels": lab, "value": v} for lab, v in gains.items()]  # fmt: skip
    text = ablation_sentences(pd.DataFrame(rows))
    assert text[0] == (
        "big, mean of the 2 lowest-loss checkpoints: gold demonstrations add +0.40 accuracy; "
        "share kept by no_format 75%, random 25%."
    )
    assert text[1].startswith(
        "none, mean of the 2 lowest-loss checkpoints: gold demonstrations add +0.01 accuracy, too little"
    )


def test_the_one_layer_control_is_stated_against_chance_and_the_deeper_sizes():
    rows = [{"metric": "prefix_matching", "size": size, "model": f"{size}-s0", "step": step, "n_layers": layers,
             "value": v, "chance": 0.011, "warmup": step == 0}
            for size, layers, values in (("w64l1", 1, [0.5, 0.012, 0.02]), ("w64l2", 2, [0.01, 0.3, 0.6]))
            for step, v in enumerate(values)]  # fmt: skip
    assert control_sentences(pd.DataFrame(rows)) == [
        "One-layer control (w64l1): its best head's prefix-matching score is at most 0.020 over its 2 checkpoints "
        "after warm-up (a head attending uniformly scores 0.011); the deeper sizes reach at most 0.600."
    ]
    assert control_sentences(pd.DataFrame(rows).drop(columns="n_layers")) == []
