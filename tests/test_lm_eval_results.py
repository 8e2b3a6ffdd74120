"""lm-evaluation-harness results of external model families into the ladder layout: Pythia's
published files (lm-eval 0.3 layout) and a results file of `emergence lm-eval` (0.4 layout,
samples inside), and bad input named in one line."""

import json

import pandas as pd
import pytest
from helpers import ROOT, run_cli

from emergence.analysis.lm_eval_results import import_results, sample_summary
from emergence.errors import InputError

PYTHIA = ROOT / "tests" / "data" / "pythia"


def test_pythias_published_results_become_ladder_rows(tmp_path):
    files = sorted(PYTHIA.glob("*.json"))
    out = tmp_path / "ladder.csv"
    result = run_cli("import-lm-eval", *files, "--models", PYTHIA / "models.csv", "--out", out)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"rows": 195, "checkpoints": 3, "tasks": 65}
    ladder = pd.read_csv(out)
    arc = ladder[ladder.task == "arc_easy"].set_index("run")
    assert arc.loc["EleutherAI/pythia-v1.1-12b-deduped", "value"] == pytest.approx(0.7150673400673401)
    assert arc.loc["EleutherAI/pythia-v1.1-160m-deduped", "params"] == 162322944
    assert set(ladder.tokens) == {113000 * 2097152}
    norm = import_results(files, PYTHIA / "models.csv", metric="acc_norm")
    assert norm.set_index(["run", "task"]).loc[("EleutherAI/pythia-v1.1-410m-deduped", "arc_easy"), "value"] == (
        pytest.approx(0.5303030303030303)
    )


def test_samples_give_chance_and_the_correct_choices_bits_per_byte():
    samples = [
        {"target": 1, "arguments": [("Q", " ab"), ("Q", " cd")], "filtered_resps": [(-3.0, False), (-1.0, True)]},
        {
            "target": 0,
            "arguments": {"gen_args_0": {"arg_0": "Q", "arg_1": " x"}, "gen_args_1": {"arg_0": "Q", "arg_1": " y"}},
            "filtered_resps": [[-2.0, False], [-2.5, False]],
        },
    ]
    got = sample_summary(samples)
    assert got["chance"] == pytest.approx(0.5)
    assert got["bpb"] == pytest.approx((1.0 / 3 + 2.0 / 2) / 2 / 0.6931471805599453)


def test_bad_results_and_models_files_are_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=f"{bad}: not an lm-eval results file"):
        import_results([bad], PYTHIA / "models.csv")
    partial = tmp_path / "models.csv"
    partial.write_text("model,params,tokens\nother,1,2\n")
    with pytest.raises(InputError, match="no row for model 'EleutherAI/pythia-v1.1-160m-deduped@step113000'"):
        import_results(sorted(PYTHIA.glob("*160m*.json")), partial)
    result = run_cli("import-lm-eval", bad, "--models", partial, "--out", tmp_path / "x.csv")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.csv").exists()
