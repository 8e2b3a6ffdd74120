"""Context extension (train/extend.py): a model's final checkpoint fine-tuned at s x its
context with a position scaling; a run like any other (log, checkpoints, resume), read by
the long-context stage and by `emergence evaluate --checkpoint` with its own scaling."""

import json
import shutil

import pandas as pd
import pytest
from helpers import GSM8K, evaluate_file, long_context_spec, read_log, run_cli

from emergence.model.checkpoints import Checkpoints

EXTEND = {"steps": 12, "n_checkpoints": 4}


def spec() -> str:
    return long_context_spec(**EXTEND)


def extend_cli(model_dir, data, out):
    return run_cli("extend", "--model-dir", model_dir, "--spec", spec(), "--data", data, "--out", out, "--quiet")


@pytest.fixture(scope="module")
def extended(tmp_path_factory, model_dir, smoke_data):
    out = tmp_path_factory.mktemp("extended") / "t"
    result = extend_cli(model_dir, smoke_data, out)
    assert result.returncode == 0, result.stderr
    return out


def test_the_extension_trains_at_s_times_the_context_from_the_final_checkpoint(extended, model_dir):
    summary = json.loads((extended / "model.json").read_text())
    base = json.loads((model_dir / "model.json").read_text())
    m = summary["model"]
    assert (m["context"], m["rope_scaling"], m["rope_factor"], m["rope_original_context"]) == (320, "yarn", 2, 160)
    assert summary["extended_from"] == {
        "model": base["name"],
        "step": base["checkpoint_steps"][-1],
        "final_val_loss": base["final_val_loss"],
    }
    assert summary["name"] == "t-16k-s0+yarnx2" and summary["steps"] == 12
    log = read_log(extended / "train_log.jsonl")
    # Batches of 2 x 160 tokens, half as many: a step sees as many tokens as in pretraining.
    assert log[-1]["tokens"] == 12 * 4 * 320 and summary["batch_size"] == 4
    assert [line["step"] for line in log if line["val_loss"] is not None] == summary["checkpoint_steps"]
    assert all(line["lr"] == pytest.approx(0.001) for line in log if line["step"] > 1)  # constant after warm-up
    # It starts from the pretrained weights: its first loss is far below a fresh model's ln(V).
    assert log[0]["loss"] < 0.8 * json.loads((model_dir / "train_log.jsonl").read_text().splitlines()[0])["loss"]


def test_a_killed_extension_resumes_to_the_same_log(extended, model_dir, smoke_data, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(extended, out)
    steps = Checkpoints(out / "checkpoints").steps()
    for s in steps[1:]:
        shutil.rmtree(out / "checkpoints" / str(s))
    (out / "train_log.jsonl").unlink()
    (out / "model.json").unlink()
    result = extend_cli(model_dir, smoke_data, out)
    assert result.returncode == 0, result.stderr
    assert f"resumed from checkpoint at step {steps[0]}" in result.stderr
    assert json.dumps(read_log(out / "train_log.jsonl")) == json.dumps(read_log(extended / "train_log.jsonl"))


def test_the_long_context_stage_probes_the_extended_model_beside_the_base(extended, model_dir, smoke_data, tmp_path):
    out = tmp_path / "lc.parquet"
    args = ["long-context", "--model-dir", model_dir, "--data", smoke_data, "--spec", spec(), "--tokenizer"]
    args += [smoke_data.parent / "tokenizer.json", "--out", out, "--extended", extended]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out)
    for probe in ("position", "passkey", "many_shot"):
        assert "yarn_tuned" in set(table[table["probe"] == probe]["method"])
    tuned = table[(table["probe"] == "position") & (table["method"] == "yarn_tuned")]
    assert tuned["x"].max() == 320 and tuned["value"].gt(0).all()


def test_an_extended_checkpoint_is_evaluated_like_any_other(extended, smoke_data, tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in GSM8K))
    last = extended / "checkpoints" / str(Checkpoints(extended / "checkpoints").latest_step())
    result = evaluate_file(last, path, "gsm8k", tmp_path / "o.parquet", smoke_data.parent / "tokenizer.json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["context"] == 320  # read at its extended context
