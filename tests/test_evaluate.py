"""Evaluation of real checkpoints of a tiny model trained on the smoke data."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from flax import nnx
from helpers import GSM8K, evaluate_file, run_cli

from emergence.data.tokenizer import load_tokenizer
from emergence.errors import InputError
from emergence.evaluate.evaluator import evaluate, icl_documents, icl_metrics, kshot_gains
from emergence.evaluate.items import Request, Task
from emergence.evaluate.metrics import HEADS, ICL, MC, chance_levels, produced_by
from emergence.model.inference import load_model_config, load_params
from emergence.model.transformer import init_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tok(smoke_data):
    return load_tokenizer(smoke_data.parent / "tokenizer.json")


def mc_task(tok):
    reqs = [
        Request(
            prompt="standard",
            shots=0,
            labels="gold",
            item=f"i{i}",
            text=text,
            target=choices[label],
            answer=choices[label].strip(),
            choices=tuple(choices),
            label=label,
            max_new=4,
            stops=("\n",),
        )
        for i, (text, choices, label) in enumerate(
            [
                ("review: the soup was tasty ->", [" positive", " negative"], 0),
                ("Q: What pet does Velor have? A:", [" cat", " dog", " parrot", " goat"], 2),
                ("12+7=", ["19", "20"], 0),
            ]
        )
    ]
    return Task("mc", "fact_choice", MC, {}, tuple(reqs), chance_levels(MC, 2))


def test_multiple_choice_scores_are_the_models_log_likelihoods(model_dir, tok):
    summary = json.loads((model_dir / "model.json").read_text())
    step = summary["checkpoint_steps"][-1]
    task = mc_task(tok)
    rows, samples = evaluate(model_dir, task, tok, steps=[step])
    mcfg = load_model_config(model_dir)
    model = nnx.merge(nnx.split(nnx.eval_shape(lambda: init_model(mcfg, 0)))[0], load_params(model_dir, step, mcfg))
    for r, (_, s) in zip(task.requests, samples.iterrows()):
        ctx = tok.encode(r.text).ids
        for choice, got in zip(r.choices, s.choice_logliks):
            cont = tok.encode(choice).ids
            logp = jax.nn.log_softmax(model(jnp.array([ctx + cont]))[0], axis=-1)
            want = sum(float(logp[len(ctx) - 1 + t, c]) for t, c in enumerate(cont))
            assert got == pytest.approx(want, abs=1e-4)
        assert s.acc == float(np.argmax(s.choice_logliks) == r.label)
    acc = rows[rows.metric == "acc"].iloc[0]
    assert acc.value == pytest.approx(samples.acc.mean()) and acc.n == 3 and acc.chance == 0.5
    setting = ["model", "step", "tokens", "task", "prompt", "shots", "labels", "metric", "value", "n", "chance"]
    assert set(rows.columns) >= set(setting)
    assert set(rows.metric) == set(produced_by(MC)) - {"kshot_gain", "follows_labels"}  # zero shots, gold labels


def test_every_checkpoint_is_evaluated_and_icl_score_is_late_minus_early(model_dir, tok, smoke_data):
    task = Task("icl", "icl_score", ICL, {"icl_positions": [0.1, 0.9]}, (), chance_levels(ICL, 0))
    rows, samples = evaluate(model_dir, task, tok, data_dir=smoke_data)
    steps = json.loads((model_dir / "model.json").read_text())["checkpoint_steps"]
    assert sorted(rows.step.unique()) == steps
    for step in steps:
        loss = np.array(samples[samples.step == step].loss_by_position.iloc[0])
        got = rows[(rows.step == step)].set_index("metric").value
        assert got["icl_score"] == pytest.approx(icl_metrics(loss, (0.1, 0.9))["icl_score"], abs=1e-5)
        assert got["icl_score"] == pytest.approx(got["loss_late"] - got["loss_early"], abs=1e-5)


def test_checkpoints_shared_with_a_larger_wsd_budget_are_not_evaluated(model_dir, tok, smoke_data, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    summary = json.loads((copy / "model.json").read_text())
    shared = summary["checkpoint_steps"][:2]
    (copy / "model.json").write_text(json.dumps({**summary, "shared_steps": shared}))
    task = Task("icl", "icl_score", ICL, {"icl_positions": [0.1, 0.9]}, (), chance_levels(ICL, 0))
    rows, _ = evaluate(copy, task, tok, data_dir=smoke_data)
    assert sorted(rows.step.unique()) == summary["checkpoint_steps"][2:]


def test_one_pass_over_all_tasks_equals_each_task_alone_and_reruns_only_a_changed_task(
    model_dir, tok, smoke_data, tmp_path
):
    from emergence.evaluate.evaluator import evaluate_model

    tokenizer = smoke_data.parent / "tokenizer.json"
    mc, icl = mc_task(tok), Task("icl", "icl_score", ICL, {"icl_positions": [0.1, 0.9]}, (), chance_levels(ICL, 0))
    paths = []
    for task in (mc, icl):
        paths.append(tmp_path / f"{task.task}.json")
        paths[-1].write_text(json.dumps(task.to_dict()))
    out = tmp_path / "evals"
    first = evaluate_model(model_dir, paths, tokenizer, smoke_data, out)
    assert not any(h.get("reused") for h in first.values())
    for task in (mc, icl):
        alone, _ = evaluate(model_dir, task, tok, data_dir=smoke_data)
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{task.task}.parquet"), alone)
    # Unchanged inputs: both tables are linked back, not recomputed.
    assert {t: h.get("reused") for t, h in evaluate_model(model_dir, paths, tokenizer, smoke_data, out).items()} == {
        "mc": True,
        "icl": True,
    }
    changed = dataclasses.replace(icl, spec={"icl_positions": [0.2, 0.8]})
    paths[1].write_text(json.dumps(changed.to_dict()))
    again = evaluate_model(model_dir, paths, tokenizer, smoke_data, out)
    assert again["mc"].get("reused") and not again["icl"].get("reused")
    alone, _ = evaluate(model_dir, changed, tok, data_dir=smoke_data)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "icl.parquet"), alone)


def last_checkpoint(model_dir):
    return model_dir / "checkpoints" / str(json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1])


@pytest.mark.parametrize("fmt, shots, cot", [("gsm8k", 0, False), ("gsm8k", 1, True), ("mmlu", 1, False)])
def test_standalone_eval_of_one_checkpoint_on_a_benchmark_file(tmp_path, model_dir, smoke_data, fmt, shots, cot):
    if fmt == "gsm8k":
        path = tmp_path / "gsm8k.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in GSM8K))
    else:
        path = tmp_path / "mmlu.csv"
        path.write_text('What is 2+2?,3,4,5,6,B\n"Red, or blue?",red,blue,green,grey,A\nPick C,a,b,c,d,C\n')
    out = tmp_path / "out.parquet"
    extra = ["--shots", shots, "--max-new-tokens", 8] + (["--cot"] if cot else [])
    result = evaluate_file(last_checkpoint(model_dir), path, fmt, out, smoke_data.parent / "tokenizer.json", *extra)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["n"] == 3 and last["metric"] == ("exact_match" if fmt == "gsm8k" else "acc")
    assert 0.0 <= last["value"] <= 1.0
    table = pd.read_parquet(out)
    assert set(table.shots) == {shots} and set(table.prompt) == {"cot" if cot else "standard"}


def test_standalone_eval_names_the_bad_record(tmp_path, model_dir, smoke_data):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GSM8K[0]) + "\n" + json.dumps({"question": "no answer"}) + "\n")
    tok = smoke_data.parent / "tokenizer.json"
    result = evaluate_file(last_checkpoint(model_dir), path, "gsm8k", tmp_path / "o.parquet", tok)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "bad.jsonl" in line and "line 2" in line and "answer" in line


def test_bad_evaluate_inputs_get_one_line_and_exit_2(tmp_path, model_dir, smoke_data):
    """Each bad input names what is wrong in one line, before any work, and writes nothing."""
    import shutil

    from emergence.data.tokenizer import train_tokenizer

    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text("".join(json.dumps(r) + "\n" for r in GSM8K))
    step = json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1]
    ckpt = model_dir / "checkpoints" / str(step)
    tok = smoke_data.parent / "tokenizer.json"
    broken = tmp_path / "broken" / "models" / "m"
    shutil.copytree(model_dir, broken)
    (broken / "model.json").write_text((model_dir / "model.json").read_text()[:40])
    other_tok = tmp_path / "other.json"
    train_tokenizer(smoke_data.parent / "corpus" / "train.jsonl", 280, other_tok)
    (tmp_path / "a_dir").mkdir()
    base = ["evaluate", "--task-file", gsm, "--format", "gsm8k"]
    cases = [
        (
            ["--checkpoint", tmp_path / "nope" / "checkpoints" / "5", "--out", tmp_path / "o.parquet"],
            "no such checkpoint",
        ),
        (["--checkpoint", ckpt, "--shots", "-1", "--out", tmp_path / "o.parquet"], "--shots: -1 is below 0"),
        (["--checkpoint", ckpt, "--max-new-tokens", "-1", "--out", tmp_path / "o.parquet"], "--max-new-tokens"),
        (
            ["--checkpoint", broken / "checkpoints" / str(step), "--tokenizer", tok, "--out", tmp_path / "o.parquet"],
            "model.json is not a model summary",
        ),
        (["--checkpoint", ckpt, "--tokenizer", tok, "--out", tmp_path / "a_dir"], "is a directory"),
        (["--checkpoint", ckpt, "--tokenizer", other_tok, "--out", tmp_path / "o.parquet"], "is not the one"),
    ]
    for args, expected in cases:
        result = run_cli(*base, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and not (tmp_path / "o.parquet").exists()
    args = ["evaluate", "--model-dir", model_dir, "--task", tmp_path / "missing.json", "--data", smoke_data]
    args += ["--tokenizer", tok, "--out-dir", tmp_path / "evals"]
    missing = run_cli(*args)
    assert missing.returncode == 2 and "task file" in missing.stderr and "does not exist" in missing.stderr
    assert not (tmp_path / "evals").exists()


def test_a_damaged_checkpoint_is_one_line(tmp_path, model_dir, smoke_data):
    import shutil

    damaged = tmp_path / "results" / "models" / "m"
    shutil.copytree(model_dir, damaged)
    checkpoint = damaged / "checkpoints" / last_checkpoint(model_dir).name
    biggest = max((p for p in (checkpoint / "params").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    gsm = tmp_path / "gsm8k.jsonl"
    gsm.write_text("".join(json.dumps(r) + "\n" for r in GSM8K))
    result = evaluate_file(checkpoint, gsm, "gsm8k", tmp_path / "o.parquet", smoke_data.parent / "tokenizer.json")
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot be restored" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "o.parquet").exists()


def test_icl_windows_are_the_starts_of_documents_longer_than_the_context():
    eos = 0
    val = np.array([5, 6, eos, 1, 2, 3, 4, 5, 6, 7, eos, 9, 8, 7, 6, 5, 4, eos], np.uint16)
    assert icl_documents(val, eos, context=5) == [[1, 2, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4]]
    assert icl_documents(val, eos, context=5, n_docs=1) == [[1, 2, 3, 4, 5, 6]]
    with pytest.raises(InputError, match="no validation document is 9 tokens long"):
        icl_documents(val, eos, context=8)


def test_kshot_gain_is_each_items_accuracy_with_the_most_shots_minus_without():
    def req(item, shots, labels):
        return Request("standard", shots, labels, item, "", "", "", (" a", " b"), 0)

    # the unrelated zero-shot prompt first: the other settings still take gold's as their baseline
    acc = {
        ("x", 0, "unrelated"): 1.0,
        ("x", 0, "gold"): 0.0,
        ("y", 0, "gold"): 1.0,
        ("x", 4, "gold"): 1.0,
        ("y", 4, "gold"): 1.0,
        ("x", 2, "gold"): 0.0,
        ("x", 4, "flipped"): 0.0,
        ("y", 4, "flipped"): 0.0,
        ("x", 4, "unrelated"): 1.0,
    }
    reqs = tuple(req(i, k, lab) for (i, k, lab) in acc)
    gains = kshot_gains(reqs, [{"acc": v} for v in acc.values()])
    assert gains == {
        ("standard", 4, "gold"): {"kshot_gain": [1.0, 0.0]},
        ("standard", 4, "flipped"): {"kshot_gain": [0.0, -1.0]},
        ("standard", 4, "unrelated"): {"kshot_gain": [0.0]},  # against its own zero-shot choices
    }


def test_induction_heads_are_scored_per_checkpoint_and_head(model_dir, tok, smoke_data):
    mcfg = load_model_config(model_dir)
    task = Task("ind", "induction_heads", HEADS, {"seed": 0}, (), chance_levels(HEADS, mcfg.context // 2), n_items=4)
    rows, samples = evaluate(model_dir, task, tok, data_dir=smoke_data)
    steps = json.loads((model_dir / "model.json").read_text())["checkpoint_steps"]
    assert sorted(rows.step.unique()) == steps
    assert set(rows.metric) == set(produced_by(HEADS)) and (rows.n == 4).all()
    assert len(samples) == len(steps) * mcfg.n_layers * mcfg.n_heads
    for step in steps:
        heads = samples[samples.step == step]
        got = rows[rows.step == step].set_index("metric").value
        assert got["prefix_matching"] == pytest.approx(heads.prefix_matching.max())
        assert got["repeat_loss_gain"] == pytest.approx(got["repeat_loss_first"] - got["repeat_loss_second"])
        assert ((heads.prefix_matching >= 0) & (heads.prefix_matching <= 1)).all()


def test_follows_labels_is_the_share_answering_with_the_demonstrated_label(model_dir, tok):
    def req(labels, choices, label):
        return Request("standard", 2, labels, "i", "review: the soup was tasty ->", "", "", choices, label)

    reqs = (
        req("flipped", (" positive", " negative"), 0),
        req("unrelated", (" cat", " dog"), 1),
        req("gold", (" a", " b"), 0),
    )
    mcfg = load_model_config(model_dir)
    from emergence.evaluate.evaluator import _score_mc
    from emergence.model.inference import Inference

    step = json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1]
    scored = _score_mc(Inference(mcfg), load_params(model_dir, step, mcfg), reqs, lambda t: tok.encode(t).ids)
    flipped, unrelated, gold = scored
    assert flipped["metrics"]["follows_labels"] == float(flipped["prediction"] == 1)  # the other choice
    assert "follows_labels" not in unrelated["metrics"]  # there it would be the accuracy itself
    assert "follows_labels" not in gold["metrics"]


def test_prompts_longer_than_the_context_are_cut_from_the_left_and_counted(tmp_path, model_dir, smoke_data):
    # Two questions far past the model's 160 tokens: before, "no prompt fits" and nothing scored.
    long = [{**r, "question": "It was a long day at the market. " * 12 + r["question"]} for r in GSM8K[:2]] + GSM8K[2:]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in long))
    tok = smoke_data.parent / "tokenizer.json"
    out, samples = tmp_path / "out.parquet", tmp_path / "samples.parquet"
    new = ["--max-new-tokens", "8"]
    result = evaluate_file(last_checkpoint(model_dir), path, "gsm8k", out, tok, *new, "--samples", samples)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["n"] == 3 and last["truncated"] == 2 and last["context"] == 160
    table = pd.read_parquet(samples)
    assert table["truncated"].sum() == 2 and len(table) == 3
    # Read with YaRN at four times the context, the same file needs no cut.
    result = evaluate_file(
        last_checkpoint(model_dir), path, "gsm8k", out, tok, *new, "--rope-scaling", "yarn", "--rope-factor", "4"
    )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["context"] == 640 and last["n"] == 3 and last["truncated"] == 0


def test_loss_by_position_past_the_context_for_each_method(tmp_path, model_dir, smoke_data):
    out = tmp_path / "positions.csv"
    args = ["long-context", "--checkpoint", last_checkpoint(model_dir), "--data", smoke_data, "--factor", "2"]
    args += ["--windows", "2", "--out", out]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["context"] == 160 and summary["best"] in summary["methods"]
    assert set(summary["methods"]) == {"none", "linear", "ntk", "dynamic_ntk", "yarn"}
    table = pd.read_csv(out)
    assert len(table) == 5 * 320 and table["loss"].gt(0).all()
    # Causal attention: before position L, plain RoPE on windows of 2 L gives the losses of windows of L.
    short = tmp_path / "short.csv"
    args = ["long-context", "--checkpoint", last_checkpoint(model_dir), "--data", smoke_data, "--factor", "1"]
    args += ["--methods", "none", "--windows", "2", "--out", short]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    plain = table[table["method"] == "none"].head(159)["loss"].to_numpy()
    np.testing.assert_allclose(plain, pd.read_csv(short)["loss"].to_numpy()[:159], rtol=1e-4)
