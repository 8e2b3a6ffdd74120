"""Instruction tuning (emergence.instruct): a dataset split by family that the model never read,
tuning with the loss on the response only, a resumable stage that evaluates tuned checkpoints
and their untuned bases on the held-out families."""

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import INSTRUCT, SMOKE, instruct_spec, read_log, run_cli

from emergence.config import StudyConfig, load_config
from emergence.data.corpus import iter_texts
from emergence.data.tokenizer import load_tokenizer
from emergence.data.world import World
from emergence.errors import ConfigError
from emergence.instruct.dataset import build_dataset, read_dataset, task_name
from emergence.instruct.families import FAMILIES
from emergence.model.checkpoints import Checkpoints


@pytest.fixture(scope="module")
def cfg():
    return StudyConfig.from_dict(json.loads(instruct_spec()))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, cfg, smoke_data):
    out = tmp_path_factory.mktemp("instruct") / "data.json"
    build_dataset(cfg, smoke_data.parent / "corpus", smoke_data.parent / "tokenizer.json", out)
    return out


def test_tuning_and_heldout_families_are_disjoint_and_no_heldout_item_is_seen(cfg, dataset, smoke_data):
    tune, tasks = read_dataset(dataset)
    tuned_families = {family for family, _, _ in tune}
    asked = {t.spec["family"] for t in tasks}
    assert tuned_families == set(cfg.instruct.tune_families) and asked == set(cfg.instruct.heldout_families)
    assert not tuned_families & asked
    assert [t.task for t in tasks] == [task_name(f) for f in cfg.instruct.heldout_families]
    # Every evaluated item is of its family's eval split (a held-out sum, fact or review of the
    # corpus for add, fact, classify), and neither its prompt nor its answer line is in the
    # corpus or the tuning data.
    world = World.build(cfg.corpus.synthetic, cfg.seed)
    corpus = "\n\n".join(iter_texts(smoke_data.parent / "corpus" / "train.jsonl"))
    prompts = {prompt for _, prompt, _ in tune}
    for task in tasks:
        family = FAMILIES[task.spec["family"]]
        assert len(task.requests) == INSTRUCT["n_items"] == len({r.item for r in task.requests})
        for r in task.requests:
            assert family.split(world, r.item) == "eval"
            assert r.text not in prompts and (r.text + r.target) not in corpus
            assert r.text.startswith("Instruction: ") and r.text.endswith("\nResponse:") and r.shots == 0
    assert "Instruction:" not in corpus
    assert json.loads(dataset.read_text())["contamination"] == {"corpus": 0, "tuning": 0}
    # The same config gives the same dataset.
    again = dataset.with_name("again.json")
    build_dataset(cfg, smoke_data.parent / "corpus", smoke_data.parent / "tokenizer.json", again)
    assert again.read_bytes() == dataset.read_bytes()


def test_the_contamination_check_finds_a_planted_item(cfg, dataset):
    """An evaluated item written into the corpus in a line its generator would write, or a
    tuning example that uses an evaluated key of the same key space, is counted."""
    from emergence.instruct.dataset import contamination, heldout_task
    from emergence.instruct.families import Example

    world = World.build(cfg.corpus.synthetic, cfg.seed)
    tasks = [
        heldout_task(dataclasses.replace(cfg, instruct=dataclasses.replace(cfg.instruct, heldout_families=f)), f)
        for f in ("add3", "judge", "fact")
    ]
    tune = [Example(**read_dataset(dataset)[1][0].items[0])]  # a tuning family's example, never evaluated here
    assert contamination(world, tasks, tune, "Ba tolen.") == {"corpus": 0, "tuning": 0}
    add3, judge, fact = (Example(**t.items[0]) for t in tasks)
    corpus = "\n".join(["Ba tolen.", f"{add3.key}={add3.answer}"])
    assert contamination(world, tasks, tune, corpus)["corpus"] == 1
    assert contamination(world, tasks, tune, f"9{add3.key}={add3.answer}")["corpus"] == 0  # another, longer sum
    subject, negated, adjective = judge.key.split("|")
    review = f"review: {subject} was {'not ' if negated == '1' else ''}{adjective} -> negative"
    assert contamination(world, tasks, tune, review)["corpus"] == 1
    entity, attribute = fact.key.split("|")
    assert contamination(world, tasks, tune, f"Q: In which city does {entity} live? A: X")["corpus"] == int(
        attribute == "city"
    )
    # `classify` shares the reviews' key space with `judge`: a tuned review is the same item.
    leak = Example("classify", judge.key, "is this review positive or negative? ...", "positive")
    assert contamination(world, tasks, tune + [leak], "")["tuning"] == 1


def test_an_answer_longer_than_the_generation_cap_is_a_config_error(cfg, smoke_data, tmp_path):
    ic = dataclasses.replace(cfg.instruct, heldout_families=("reverse",), tune_families=("copy",), max_new_tokens=2)
    short = dataclasses.replace(cfg, instruct=ic)
    with pytest.raises(ConfigError, match=r"instruct\.max_new_tokens.*instruct_reverse"):
        build_dataset(short, smoke_data.parent / "corpus", smoke_data.parent / "tokenizer.json", tmp_path / "d.json")
    assert not (tmp_path / "d.json").exists()


def test_a_family_in_both_splits_is_a_config_error():
    with pytest.raises(ConfigError, match=r"instruct\.heldout_families.*\['add'\]"):
        StudyConfig.from_dict({"instruct": {**INSTRUCT, "tune_families": ["copy", "add"], "heldout_families": ["add"]}})
    with pytest.raises(ConfigError, match=r"instruct\.budgets"):
        StudyConfig.from_dict({"instruct": {**INSTRUCT, "budgets": [123]}})
    # Under WSD a smaller budget's early checkpoints are the larger budget's: tuned with it.
    models = {"token_budgets": [1000000, 3000000]}
    with pytest.raises(ConfigError, match=r"instruct\.budgets.*add \[3000000\]"):
        StudyConfig.from_dict({"models": models, "instruct": {**INSTRUCT, "budgets": [1000000]}})
    assert StudyConfig.from_dict({"models": models, "instruct": {**INSTRUCT, "budgets": [3000000]}})
    with pytest.raises(ConfigError, match=r"instruct\.tune_examples"):
        StudyConfig.from_dict({"instruct": {**INSTRUCT, "tune_examples": 2}})


def test_the_loss_mask_covers_exactly_the_response(model_dir, smoke_data):
    """A hand-built example: the mask is 0 on every prompt token and 1 on the response, its
    newline and the end-of-text token, and the masked loss is the response's own loss."""
    import jax

    from emergence.instruct.tune import MaskedEngine, encode_examples
    from emergence.model.inference import Inference, load_model_config, load_params
    from emergence.train.engine import data_mesh
    from emergence.train.optimizer import lr_schedule

    tok = load_tokenizer(smoke_data.parent / "tokenizer.json")
    enc = lambda t: tok.encode(t).ids  # noqa: E731
    eos = json.loads((smoke_data / "meta.json").read_text())["eos_id"]
    prompt, response = "Instruction: repeat these words: ba ko\nResponse:", " ba ko"
    stream = encode_examples([("copy", prompt, response)], enc, eos)
    p, r = enc(prompt), enc(response) + enc("\n") + [eos]
    assert stream[:, 0].tolist() == p + r
    assert stream[:, 1].tolist() == [0] * len(p) + [1] * len(r)

    mcfg = load_model_config(model_dir)
    params = load_params(model_dir, json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1], mcfg)
    tcfg = dataclasses.replace(load_config(SMOKE).training, batch_size=1)
    engine = MaskedEngine(mcfg, tcfg, lr_schedule(tcfg, 4), data_mesh(1))
    # One window of L + 1 tokens: the example, then padding that the mask leaves out.
    pad = mcfg.context + 1 - len(stream)
    batch = np.concatenate([stream, np.tile([[eos, 0]], (pad, 1))]).astype(np.int32)[None]
    masked = float(jax.jit(engine.masked_loss)(params, batch))
    response_logp = Inference(mcfg, batch_size=1).continuation_logprobs(params, [(p, r)])[0]
    assert masked == pytest.approx(-float(np.mean(response_logp)), rel=1e-4)
    # Changing the prompt's tokens changes the context, not which targets count: a mask of
    # zeros on the example leaves no loss at all.
    assert float(engine.masked_loss(params, batch * np.array([1, 0], dtype=np.int32))) == 0.0


def instruct_cli(model_dir, dataset, data, out, **changes):
    args = ["instruct", "--model-dir", model_dir, "--dataset", dataset, "--spec", instruct_spec(**changes)]
    args += ["--tokenizer", data.parent / "tokenizer.json", "--data", data, "--out", out, "--quiet"]
    return run_cli(*args)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, model_dir, dataset, smoke_data):
    out = tmp_path_factory.mktemp("tuned") / "t-16k-s0"
    result = instruct_cli(model_dir, dataset, smoke_data, out)
    assert result.returncode == 0, result.stderr
    return out


def test_the_stage_evaluates_tuned_checkpoints_beside_their_bases(tuned, model_dir, cfg):
    from emergence.instruct.stage import select_steps

    table = pd.read_parquet(tuned.parent / "t-16k-s0.parquet")
    steps = select_steps(model_dir, INSTRUCT["checkpoints"])
    summary = json.loads((model_dir / "model.json").read_text())
    assert len(steps) == 2 and steps[-1] == summary["checkpoint_steps"][-1]
    assert select_steps(model_dir, 1) == steps[-1:]  # one checkpoint: the last
    assert sorted(table["step"].unique()) == steps
    assert set(table["task"]) == {task_name(f) for f in cfg.instruct.heldout_families}
    assert set(table["prompt"]) == {"tuned", "base"} and set(table["shots"]) == {0}
    assert {"exact_match", "answer_logprob_per_token", "tuning_gain"} <= set(table["metric"])
    assert set(table[table.metric == "tuning_gain"]["prompt"]) == {"tuned"}
    # The gain is tuned minus base exact match, item by item (so also on average).
    em = table[table.metric == "exact_match"].pivot_table(index=["task", "step"], columns="prompt", values="value")
    gain = table[table.metric == "tuning_gain"].set_index(["task", "step"])["value"]
    assert np.allclose(gain.sort_index(), (em["tuned"] - em["base"]).sort_index())
    for step in steps:
        tune = json.loads((tuned / f"s{step}" / "tune.json").read_text())
        assert tune["base"] == {"model": "t-16k-s0", "step": step} and tune["steps"] == INSTRUCT["steps"]
        assert tune["batch_size"] == INSTRUCT["batch_size"]
    # Tuning starts from the base checkpoint, not from scratch: the pretraining loss after
    # tuning the last checkpoint stays near the base's, far below a fresh model's ln(V).
    last = json.loads((tuned / f"s{steps[-1]}" / "tune.json").read_text())
    assert last["final_val_loss"] < summary["final_val_loss"] + 1.0 < np.log(300)


def test_a_killed_instruct_job_resumes_where_it_stopped(tuned, model_dir, dataset, smoke_data, tmp_path):
    out = tmp_path / "t-16k-s0"
    shutil.copytree(tuned, out)
    steps = sorted(int(d.name[1:]) for d in out.iterdir())
    # Killed during the last tuning, after its first checkpoint: no tables, no tune.json.
    last = out / f"s{steps[-1]}"
    saved = Checkpoints(last / "checkpoints").steps()
    shutil.rmtree(last / "checkpoints" / str(saved[-1]))
    (last / "tune.json").unlink()
    (last / "train_log.jsonl").unlink()
    result = instruct_cli(model_dir, dataset, smoke_data, out)
    assert result.returncode == 0, result.stderr
    assert f"resumed from checkpoint at step {saved[0]}" in result.stderr
    assert f"resumed from checkpoint at step {saved[-1]}" in result.stderr  # the first tuning: done, not redone
    assert json.dumps(read_log(last / "train_log.jsonl")) == json.dumps(read_log(tuned / last.name / "train_log.jsonl"))
    drop = ["generated", "extracted"]
    a = pd.read_parquet(tmp_path / "t-16k-s0.parquet")
    b = pd.read_parquet(tuned.parent / "t-16k-s0.parquet")
    pd.testing.assert_frame_equal(a.drop(columns=drop, errors="ignore"), b.drop(columns=drop, errors="ignore"))
    # Settings of what is evaluated leave the tunings as they are; tuning settings start them afresh.
    result = instruct_cli(model_dir, dataset, smoke_data, out, n_items=5, max_new_tokens=12)
    assert result.returncode == 0, result.stderr
    assert "starting afresh" not in result.stderr and result.stderr.count("resumed from checkpoint") == len(steps)
    result = instruct_cli(model_dir, dataset, smoke_data, out, learning_rate=0.002)
    assert result.returncode == 0, result.stderr
    assert "from another configuration: starting afresh" in result.stderr


def test_a_job_killed_for_real_resumes_and_ends_with_the_same_table(tuned, model_dir, dataset, smoke_data, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "t-16k-s0"
    args = [
        "--model-dir",
        model_dir,
        "--dataset",
        dataset,
        "--spec",
        instruct_spec(),
        "--tokenizer",
        smoke_data.parent / "tokenizer.json",
        "--data",
        smoke_data,
        "--out",
        out,
        "--quiet",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emergence", "instruct", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = sorted(int(d.name[1:]) for d in tuned.iterdir())[0]
    deadline = time.monotonic() + 300
    while not (out / f"s{first}" / "tune.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # after the first tuning, before the tables
    proc.wait()
    assert not (tmp_path / "t-16k-s0.parquet").exists()
    result = instruct_cli(model_dir, dataset, smoke_data, out)
    assert result.returncode == 0, result.stderr
    assert "resumed from checkpoint at step" in result.stderr
    a, b = pd.read_parquet(tmp_path / "t-16k-s0.parquet"), pd.read_parquet(tuned.parent / "t-16k-s0.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_a_dataset_that_is_not_one_is_one_line(model_dir, smoke_data, tmp_path):
    bad = tmp_path / "data.json"
    bad.write_text(json.dumps({"tune": []}))
    result = instruct_cli(model_dir, bad, smoke_data, tmp_path / "x")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert str(bad) in result.stderr and "instruction dataset" in result.stderr


def _threshold(task, prompt, metric, verdict, onset=None, lo=None, hi=None, reason="", shots=0):
    return {
        "task": task,
        "prompt": prompt,
        "shots": shots,
        "labels": "none",
        "metric": metric,
        "seed": "all",
        "verdict": verdict,
        "threshold": onset,
        "ci_low": lo,
        "ci_high": hi,
        "reason": reason,
    }


def test_the_report_says_in_words_which_families_have_a_threshold():
    """Sentences from planted tables: judge emergent after tuning and its few-shot twin
    (sentiment) emergent at a higher loss with intervals apart; fact flat."""
    from emergence.report.instruct import sentences

    rows = pd.DataFrame(
        [
            {"model": f"m{i}", "step": 1, "task": t, "prompt": p, "metric": "exact_match", "value": v, "loss": loss}
            for i, loss in enumerate((2.0, 1.8, 1.6, 1.4, 1.3))
            for t, p, v in (
                ("instruct_judge", "tuned", 0.9 * (loss < 1.5)),
                ("instruct_judge", "base", 0.0),
                ("instruct_fact", "tuned", 0.0),
                ("instruct_fact", "base", 0.0),
            )
        ]
    )
    inst = pd.DataFrame(
        [
            _threshold("instruct_judge", "tuned", "exact_match", "emergent", 1.50, 1.46, 1.55),
            _threshold("instruct_judge", "base", "exact_match", "flat", reason="no rise"),
            _threshold("instruct_judge", "tuned", "tuning_gain", "emergent", 1.51, 1.45, 1.56),
            _threshold("instruct_fact", "tuned", "exact_match", "flat", reason="no rise"),
            _threshold("instruct_fact", "base", "exact_match", "flat", reason="no rise"),
            _threshold("instruct_fact", "tuned", "tuning_gain", "flat", reason="no rise"),
        ]
    )
    few = pd.DataFrame([_threshold("sentiment", "standard", "acc", "emergent", 1.70, 1.65, 1.75, shots=4)])
    out = sentences(rows, inst, few, {"sentiment": "sentiment", "facts": "fact_choice"})
    assert out[0].startswith(
        "After instruction tuning, exact match on held-out families has a loss threshold for "
        "1 of 2 families (judge); the untuned bases have one for 0 (none) and the tuning gain "
        "for 1 (judge)."
    )
    judge = next(s for s in out if s.startswith("judge"))
    assert "tuned emergent, onset 1.500 [1.460, 1.550] nats" in judge and "base flat (no rise)" in judge
    assert "log p(answer) per token (continuous): tuned not fitted, base not fitted" in judge
    assert "sentiment (4 demonstrations, acc) emergent, onset 1.700" in judge
    assert "needs a lower loss than sentiment (intervals apart)" in judge
    assert "tuned checkpoints answer 90% exactly, their untuned bases 0%" in judge
    fact = next(s for s in out if s.startswith("fact"))
    assert "tuned flat (no rise)" in fact and "Without tuning" not in fact  # no fact task planted in the thresholds
    # Overlapping intervals are no evidence of a difference.
    few = pd.DataFrame([_threshold("sentiment", "standard", "acc", "emergent", 1.52, 1.48, 1.58, shots=4)])
    judge = next(s for s in sentences(rows, inst, few, {"sentiment": "sentiment"}) if s.startswith("judge"))
    assert "and sentiment overlap: no evidence that they differ" in judge
