"""lm-evaluation-harness on this project's checkpoints: the model class against the project's own
evaluator on the same items (log-likelihoods within 1e-4, the same accuracies and generations),
lm-eval's truncation, the task kind of the study config, and bad task folders."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, evaluate_file

from emergence.errors import InputError

pytest.importorskip("lm_eval")

EXAMPLE = ROOT / "config" / "lm_eval_tasks"

MC_YAML = """task: parity_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: items.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: "{{answer}}"
metric_list:
  - metric: acc
"""

GEN_YAML = """task: parity_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: gsm.jsonl
test_split: test
output_type: generate_until
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_target: "{{answer.split('####')[-1].strip()}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
metric_list:
  - metric: exact_match
    regexes_to_ignore: [" "]
"""


def last_checkpoint(model_dir):
    return model_dir / "checkpoints" / str(json.loads((model_dir / "model.json").read_text())["checkpoint_steps"][-1])


@pytest.fixture(scope="module")
def parity_folder(tmp_path_factory):
    """The example task's sums as MMLU-layout items (the project's loader) and the same items
    as an lm-eval multiple-choice task; and as GSM8K-layout items and an lm-eval generation task."""
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    rows = [json.loads(line) for line in (EXAMPLE / "sums.jsonl").read_text().splitlines()][:24]
    mmlu = [{"question": r["question"], "choices": r["choices"], "answer": r["label"]} for r in rows]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mmlu))
    (folder / "gsm.jsonl").write_text(
        "".join(json.dumps({"question": r["question"], "answer": f"#### {r['answer']}"}) + "\n" for r in rows)
    )
    (folder / "parity_mc.yaml").write_text(MC_YAML)
    (folder / "parity_gen.yaml").write_text(GEN_YAML)
    return folder


def harness(checkpoint, tokenizer, folder, names, shots=0):
    from emergence.evaluate.lm_eval_model import CheckpointLM
    from emergence.evaluate.lm_eval_tasks import evaluate_lm, load_tasks

    lm = CheckpointLM.from_checkpoint(checkpoint, tokenizer)
    return lm, evaluate_lm(lm, load_tasks(folder, names), shots, limit=None)


def test_lm_eval_path_gives_the_project_evaluators_log_likelihoods_and_generations(
    model_dir, smoke_data, parity_folder, tmp_path
):
    checkpoint, tokenizer = last_checkpoint(model_dir), smoke_data.parent / "tokenizer.json"
    ours = {}
    for fmt, path in (("mmlu", "items.jsonl"), ("gsm8k", "gsm.jsonl")):
        out, samples = tmp_path / f"{fmt}.parquet", tmp_path / f"{fmt}.samples.parquet"
        extra = ("--samples", samples, "--max-new-tokens", 8)
        result = evaluate_file(checkpoint, parity_folder / path, fmt, out, tokenizer, *extra)
        assert result.returncode == 0, result.stderr
        ours[fmt] = (pd.read_parquet(out), pd.read_parquet(samples))
    lm, results = harness(checkpoint, tokenizer, parity_folder, ["parity_mc", "parity_gen"])

    mc = sorted(results["samples"]["parity_mc"], key=lambda s: s["doc_id"])
    theirs = np.array([[r[0] for r in s["filtered_resps"]] for s in mc])
    by_line = lambda c: c.str.split(":").str[-1].astype(int)  # noqa: E731  (ids are file:line)
    mine = np.stack(ours["mmlu"][1].sort_values("item", key=by_line)["choice_logliks"])
    assert theirs.shape == mine.shape == (24, 4)
    assert np.abs(theirs - mine).max() <= 1e-4
    acc = ours["mmlu"][0].set_index("metric").value["acc"]
    assert results["results"]["parity_mc"]["acc,none"] == pytest.approx(acc, abs=1e-12)

    gen = sorted(results["samples"]["parity_gen"], key=lambda s: s["doc_id"])
    generated = ours["gsm8k"][1].sort_values("item", key=by_line)["generated"]
    assert [s["filtered_resps"][0] for s in gen] == list(generated)
    em = ours["gsm8k"][0].set_index("metric").value["exact_match"]
    assert results["results"]["parity_gen"]["exact_match,none"] == pytest.approx(em, abs=1e-12)
    assert sum(lm.truncated.values()) == 0


def test_lm_eval_truncates_from_the_left_as_its_hf_model_does(model_dir, smoke_data):
    from lm_eval.api.instance import Instance

    from emergence.evaluate.lm_eval_model import CheckpointLM

    lm = CheckpointLM.from_checkpoint(last_checkpoint(model_dir), smoke_data.parent / "tokenizer.json")
    L = lm.max_length
    long_context = "12+30=42\n" * L  # far more tokens than the context
    tail = lm.tok_decode(lm.tok_encode(long_context)[-(L - 2) :])
    req = lambda ctx: Instance("loglikelihood", {}, (ctx, " 7"), 0)  # noqa: E731
    (whole, _), (cut, _) = lm.loglikelihood([req(long_context), req(tail)])
    assert lm.truncated["loglikelihood"] == 1
    # The long context keeps its last L + 1 - len(continuation) tokens: the tail scored alone
    # conditions on fewer, so the two differ, but both are finite log-probabilities.
    assert np.isfinite(whole) and np.isfinite(cut) and whole < 0
    [rolling] = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (long_context,), 0)])
    n_tokens = len(lm.tok_encode(long_context))
    assert rolling < 0 and -rolling / n_tokens < 20  # every token scored once, in windows
    asked = (long_context, {"until": ["\n"], "max_gen_toks": 4})
    [text] = lm.generate_until([Instance("generate_until", {}, asked, 0)])
    assert "\n" not in text and lm.truncated["generate_until"] == 1


def test_example_task_folder_loads_and_describes_its_chance_levels():
    from emergence.evaluate.lm_eval_tasks import describe, fingerprint, load_tasks

    tasks = load_tasks(EXAMPLE, ["sums_choice", "sums_gen"])
    choice = describe(tasks["sums_choice"], n_items=10)
    assert choice["output_type"] == "multiple_choice" and choice["n_docs"] == 10
    assert choice["chance"]["acc"] == pytest.approx(0.25) and choice["analysed"] == ["acc", "acc_norm"]
    gen = describe(tasks["sums_gen"], n_items=1000)
    assert gen["n_docs"] == 60 and gen["chance"]["exact_match"] == 0.0
    assert set(fingerprint(EXAMPLE)) == {"sums.jsonl", "sums_choice.yaml", "sums_gen.yaml"}


def test_bad_task_folders_get_one_clear_line(tmp_path):
    from emergence.evaluate.lm_eval_tasks import describe, load_tasks

    with pytest.raises(InputError, match="not a directory"):
        load_tasks(tmp_path / "missing", ["x"])
    with pytest.raises(InputError, match=r"no task 'nope'; it defines sums_choice, sums_gen"):
        load_tasks(EXAMPLE, ["nope"])
    folder = tmp_path / "tasks"
    shutil.copytree(EXAMPLE, folder)
    (folder / "sums.jsonl").unlink()
    with pytest.raises(InputError, match=f"lm-eval task folder {folder}: cannot load sums_choice"):
        load_tasks(folder, ["sums_choice"])
    rolling = tmp_path / "rolling"
    rolling.mkdir()
    (rolling / "text.jsonl").write_text('{"text": "a b c"}\n')
    (rolling / "ppl.yaml").write_text(
        "task: ppl\ndataset_path: json\ndataset_kwargs: {data_files: {test: text.jsonl}}\ntest_split: test\n"
        "output_type: loglikelihood_rolling\ndoc_to_text: '{{text}}'\ndoc_to_target: '{{text}}'\n"
        "metric_list: [{metric: word_perplexity}]\n"
    )
    with pytest.raises(InputError, match="output_type 'loglikelihood_rolling'; the study scores"):
        describe(load_tasks(rolling, ["ppl"])["ppl"], 10)


def test_the_smoke_studys_lm_eval_task_lands_in_the_tables_and_reruns_when_its_data_change(smoke_study, tmp_path):
    from helpers import planned_jobs, snakemake

    evals = pd.read_parquet(smoke_study / "results/evals/b-8192-s0/sums_choice.parquet")
    acc = evals[evals.metric == "acc"]
    assert set(acc.shots) == {0, 2} and set(acc.chance) == {0.25} and set(acc.n) == {16}
    assert {"acc", "acc_norm", "p_correct", "brier", "margin"} == set(evals.metric)
    by_shots = acc.pivot_table(index="step", columns="shots", values="value")
    samples = pd.read_parquet(smoke_study / "results/evals/b-8192-s0/sums_choice.samples.parquet")
    assert len(samples) == 16 * len(by_shots) * 2 and samples["item"].nunique() == 16
    thresholds = pd.read_csv(smoke_study / "reports/tables/thresholds.csv")
    assert "sums_choice" in set(thresholds.task)
    work = tmp_path / "study"
    shutil.copytree(smoke_study, work, symlinks=True)
    data = work / "config/lm_eval_tasks/sums.jsonl"
    data.write_text(data.read_text().replace('"3+37="', '"37+3="'))
    DOWNSTREAM = {"collect": 1, "analyze": 1, "forecast": 1, "report": 1, "all": 1}
    plan = planned_jobs(snakemake(work, "-n"))
    assert {k: plan[k] for k in ("task", "evaluate")} == {"task": 1, "evaluate": 2}
    assert DOWNSTREAM.items() <= plan.items() and not {"trunk", "train", "corpus"} & set(plan)
