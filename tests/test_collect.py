"""The results table: evaluations joined with checkpoint losses; WSD's shared checkpoints once."""

import json

import pandas as pd

from emergence.analysis.collect import RESULT_COLUMNS, results_table


def fake_model(root, name, budget, steps, shared=(), val=None):
    d = root / name
    d.mkdir()
    summary = {
        "name": name,
        "run": {"size_name": "w8", "tokens": budget, "seed": 0, "context": 4},
        "params": 100,
        "nonembedding_params": 50,
        "flops_per_token": 600.0,
        "batch_size": 2,
        "shared_steps": list(shared),
    }
    (d / "model.json").write_text(json.dumps(summary))
    val = val or {s: 5.0 - 0.1 * s for s in steps}
    lines = [{"step": s, "tokens": 8 * s, "loss": val[s], "val_loss": val[s], "val_bpb": val[s] / 2} for s in steps]
    (d / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    evals = pd.DataFrame(
        {
            "model": name,
            "step": steps,
            "tokens": [8 * s for s in steps],
            "task": "t",
            "prompt": "standard",
            "shots": 0,
            "labels": "gold",
            "metric": "acc",
            "value": 0.5,
            "n": 10,
            "chance": 0.5,
        }
    )
    evals.to_parquet(d / "t.parquet")
    return d


def test_wsd_checkpoints_shared_by_budgets_appear_once_under_the_largest(tmp_path):
    # Budgets of 10 and 30 steps off one trunk; they share steps 2, 4 and 6 (before step 8).
    short = fake_model(tmp_path, "w8-10-s0", 10, [2, 4, 6, 9, 10], shared=[2, 4, 6])
    long = fake_model(tmp_path, "w8-30-s0", 30, [2, 4, 6, 12, 24, 30])
    cosine = fake_model(tmp_path, "w8-20-s0", 20, [2, 4, 20])
    dirs = [short, long, cosine]
    table = results_table(dirs, [d / "t.parquet" for d in dirs])
    assert list(table.columns) == [*RESULT_COLUMNS, "n_layers"]
    steps = table.groupby("model")["step"].apply(sorted).to_dict()
    assert steps == {"w8-10-s0": [9, 10], "w8-30-s0": [2, 4, 6, 12, 24, 30], "w8-20-s0": [2, 4, 20]}
