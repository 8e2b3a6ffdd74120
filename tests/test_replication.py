"""`emergence compare`: two studies' thresholds side by side."""

import json

import pandas as pd
from helpers import run_cli

from emergence.analysis.replication import agree, compare_thresholds


def table(path, rows):
    cols = ["task", "prompt", "metric", "seed", "verdict", "threshold", "ci_low", "ci_high"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def test_compare_two_studies(tmp_path):
    a = table(
        tmp_path / "a.csv",
        [
            ("sentiment", "standard", "acc", "all", "emergent", 1.53, 1.52, 1.55),
            ("sentiment", "standard", "acc", "0", "emergent", 1.60, 1.58, 1.62),  # per-seed rows are ignored
            ("addition", "cot", "exact_match", "all", "smooth", None, None, None),
            ("addition", "cot", "brier", "all", "flat", None, None, None),  # not a main metric
        ],
    )
    b = table(
        tmp_path / "b.csv",
        [
            ("sentiment", "standard", "acc", "all", "emergent", 1.56, 1.54, 1.58),
            ("addition", "cot", "exact_match", "all", "smooth", None, None, None),
        ],
    )
    t = compare_thresholds(a, b)
    assert len(t) == 2 and t["same_verdict"].all() and agree(t)
    assert t.set_index("task").loc["sentiment", "overlap"] == True  # noqa: E712
    c = table(
        tmp_path / "c.csv",
        [
            ("sentiment", "standard", "acc", "all", "emergent", 1.70, 1.66, 1.73),
            ("addition", "cot", "exact_match", "all", "inconclusive", None, None, None),
        ],
    )
    t = compare_thresholds(a, c)
    assert not agree(t) and t["same_verdict"].sum() == 1
    r = run_cli("compare", a, c)
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["agree"] is False


def test_compare_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("task,verdict\nx,flat\n")
    r = run_cli("compare", bad, bad)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "bad.csv" in r.stderr
