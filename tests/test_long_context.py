"""The long-context stage (evaluate/long_context.py, evaluate/passkey.py, report/long_context.py):
passkey prompts, the three probes of one model, and the report's words from a planted table."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from helpers import long_context_spec, run_cli

from emergence.config import StudyConfig, task_spec
from emergence.data.tokenizer import load_tokenizer
from emergence.errors import ConfigError
from emergence.evaluate.evaluator import evaluate
from emergence.evaluate.passkey import passkey_prompts
from emergence.evaluate.tasks import assemble_task
from emergence.model.inference import load_model_config
from emergence.report import long_context as R


def last_step(model_dir) -> int:
    return json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1]


@pytest.fixture(scope="module")
def tok(smoke_data):
    return load_tokenizer(smoke_data.parent / "tokenizer.json")


def test_passkey_prompts_hide_the_key_once_at_their_length(tok):
    bare = max(len(p.prompt) for p in passkey_prompts(tok, 0, 6, seed=0))  # no filler
    for length in (60, 400, 640):
        items = passkey_prompts(tok, length, 6, seed=0)
        assert items == passkey_prompts(tok, length, 6, seed=0)  # the same for every model and method
        for p in items:
            text = tok.decode(p.prompt)
            assert len(p.key) == 5 and text.count(p.key) == 2  # stated once (a sentence naming it twice)
            assert text.endswith("The pass key is") and p.key not in text[-40:]
            assert len(p.prompt) == length or (length < bare and len(p.prompt) <= bare)
    depths = [p.depth for p in passkey_prompts(tok, 640, 20, seed=0)]
    assert min(depths) < 0.3 and max(depths) > 0.7


def test_the_stage_reads_a_model_past_its_context_with_every_probe(tmp_path, model_dir, smoke_data):
    out = tmp_path / "lc.parquet"
    spec = long_context_spec()
    args = ["long-context", "--model-dir", model_dir, "--data", smoke_data, "--spec", spec, "--tokenizer"]
    args += [smoke_data.parent / "tokenizer.json", "--out", out]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(out)
    assert set(table["probe"]) == {"position", "passkey", "many_shot"}
    pos = table[table["probe"] == "position"]
    assert set(pos["method"]) == {"none", "yarn"} and pos["x"].max() == 2 * 160  # factor 2 of context 160
    passkey = table[(table["probe"] == "passkey") & (table["metric"] == "exact_match")]
    assert set(passkey["method"]) == {"cut", "none", "yarn"} and set(passkey["x"]) == {160.0, 320.0}
    assert passkey["value"].between(0, 1).all() and (passkey["n"] == 4).all()
    shots = table[table["probe"] == "many_shot"]
    assert set(shots["x"]) == {0.0, 4.0, 16.0} and shots["value"].between(0, 1).all()
    # k = 0 fits in L: cutting and reading further see the same prompt (YaRN's temperature aside).
    zero = shots[shots["x"] == 0].set_index("method")["value"]
    assert zero["cut"] == zero["none"]
    assert table["val_loss"].nunique() == 1 and table["context"].eq(160).all()


def test_a_many_shot_task_must_be_a_multiple_choice_task_of_the_config():
    base = {"tasks": {"add": {"kind": "addition"}, "map": {"kind": "mapping"}}}
    with pytest.raises(ConfigError, match="long_context.many_shot_task.*not one of"):
        StudyConfig.from_dict({**base, "long_context": {"enabled": True, "many_shot_task": "nope"}})
    with pytest.raises(ConfigError, match="many-shot needs one of"):
        StudyConfig.from_dict({**base, "long_context": {"enabled": True, "many_shot_task": "add"}})
    with pytest.raises(ConfigError, match="passkey_lengths.*exceeds factor"):
        StudyConfig.from_dict({**base, "long_context": {"enabled": True, "factor": 2, "passkey_lengths": [1, 4]}})
    assert StudyConfig.from_dict({**base, "long_context": {"many_shot_task": "map"}}).long_context.factor == 4


def _planted(n_models=6, L=100, best="yarn", gain_falls_with_loss=True) -> pd.DataFrame:
    """A long-context table whose best method and loss dependence are known."""
    rows, rng = [], np.random.default_rng(0)
    for i in range(n_models):
        model, loss = f"m{i}", 3.0 - 0.2 * i
        common = {
            "model": model,
            "size": f"s{i}",
            "budget": 1,
            "seed": 0,
            "step": 10,
            "val_loss": loss,
            "context": L,
            "n": 10,
            "chance": 0.5,
        }
        for method in ("none", "linear", "yarn"):
            past = {"none": 6.0, "linear": 4.0, "yarn": 3.5}[method] if method != best else 3.0
            for x in range(1, 2 * L + 1):
                value = loss if x < L else past + 0.01 * rng.standard_normal()
                rows.append({**common, "probe": "position", "method": method, "x": x, "metric": "loss", "value": value})
        for method in ("cut", "none", "yarn"):
            for k in (0, 8, 32):
                gain = (0.3 - 0.1 * (loss - 2.0)) if (method == "yarn" and k == 32) else 0.0
                rows.append(
                    {
                        **common,
                        "probe": "many_shot",
                        "method": method,
                        "x": k,
                        "metric": "acc",
                        "value": 0.5 + (gain if gain_falls_with_loss else 0.05),
                    }
                )
            for length in (50, 200):
                rows.append(
                    {**common, "probe": "passkey", "method": method, "x": length, "metric": "exact_match", "value": 0.0}
                )
    return pd.DataFrame(rows)


def test_the_reports_words_follow_the_numbers():
    text = " ".join(R.sentences(_planted(best="linear")))
    assert "the lowest loss is linear (PI)'s" in text and "best method for 6 of 6 models" in text
    assert "plain RoPE's loss is" in text and "no model retrieves the key" in text
    assert "reading the whole prompt with YaRN" in text
    assert "depends on pretraining loss" in text and "larger for models of lower loss" in text
    flat = " ".join(R.many_shot_sentences(_planted(gain_falls_with_loss=False)))
    assert "No dependence" in flat or "depends" not in flat
    assert R.sentences(pd.DataFrame()) == []


def test_a_task_configured_with_a_position_scaling_is_read_with_it(model_dir, smoke_cfg, tok):
    # Mapping with 16 demonstrations: prompts past the model's 160 tokens, which fit at 2 x 160.
    spec = task_spec(
        "mapping", {"kind": "mapping", "n_items": 6, "shots": [16], "rope_scaling": "yarn", "rope_factor": 2}
    )
    task = assemble_task(spec, smoke_cfg, tok, 320)
    assert task.requests and not task.skipped and task.spec["rope_scaling"] == "yarn"
    configured, _ = evaluate(model_dir, task, tok, steps=[last_step(model_dir)])
    plain = dataclasses.replace(task, spec={**task.spec, "rope_scaling": "none", "rope_factor": 1.0})
    scaled, _ = evaluate(
        model_dir, plain, tok, steps=[last_step(model_dir)], mcfg=load_model_config(model_dir).scaled("yarn", 2.0)
    )
    pd.testing.assert_frame_equal(configured, scaled)
    cut, _ = evaluate(model_dir, plain, tok, steps=[last_step(model_dir)])  # the trained context: prompts cut
    assert not np.allclose(cut["value"], configured["value"])
