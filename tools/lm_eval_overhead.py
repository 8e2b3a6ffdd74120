"""The lm-evaluation-harness path against the project's own evaluator on the same items and
checkpoint: seconds to score one checkpoint (best of 3, after one warm-up that compiles; the
two share one Inference, so neither pays for loading or compiling), and the ratio.

    .venv/bin/python tools/lm_eval_overhead.py results/models/M/checkpoints/STEP [shots]

Items: the 60 sums of config/lm_eval_tasks/sums.jsonl, written as an MMLU-layout file and a
GSM8K-layout file (the project's `emergence evaluate --checkpoint` path) and as lm-eval tasks
that make the same prompts ("Question: 3+37=\nAnswer:", then " 40" or a generation cut at the
line's end; the YAML of tests/test_lm_eval.py). Prints one line per comparison and a JSON line."""

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import dataclasses  # noqa: E402

from emergence.config import defaults, task_spec  # noqa: E402
from emergence.evaluate.evaluator import evaluate_step  # noqa: E402
from emergence.evaluate.lm_eval_model import CheckpointLM  # noqa: E402
from emergence.evaluate.lm_eval_tasks import evaluate_lm, load_tasks  # noqa: E402
from emergence.evaluate.opening import open_checkpoint  # noqa: E402
from emergence.evaluate.tasks import assemble_task  # noqa: E402

EXAMPLE = ROOT / "config" / "lm_eval_tasks"
HEAD = """task: NAME
dataset_path: json
dataset_kwargs: {data_files: {test: DATA}}
test_split: test
fewshot_split: test
doc_to_text: "Question: {{question}}\\nAnswer:"
"""
MC = """output_type: multiple_choice
doc_to_choice: "{{choices}}"
doc_to_target: "{{answer}}"
metric_list: [{metric: acc}]
"""
GEN = """output_type: generate_until
doc_to_target: "{{answer.split('####')[-1].strip()}}"
generation_kwargs: {until: ["\\n"], max_gen_toks: 8}
metric_list: [{metric: exact_match}]
"""


def best(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(checkpoint: Path, shots: int) -> dict:
    rows = [json.loads(line) for line in (EXAMPLE / "sums.jsonl").read_text().splitlines()]
    work = Path(tempfile.mkdtemp())
    mmlu, gsm = work / "sums.jsonl", work / "gsm.jsonl"
    mmlu.write_text(
        "".join(json.dumps({k: r[k] for k in ("question", "choices")} | {"answer": r["label"]}) + "\n" for r in rows)
    )
    gsm.write_text(
        "".join(json.dumps({"question": r["question"], "answer": f"#### {r['answer']}"}) + "\n" for r in rows)
    )
    inf, params, tok = open_checkpoint(checkpoint, None)
    lm = CheckpointLM(inference=inf, params=params, tok=tok)  # both paths share the compiled code
    for name, data, body in (("sums_choice", mmlu, MC), ("sums_gen", gsm, GEN)):
        (work / f"{name}.yaml").write_text(HEAD.replace("NAME", name).replace("DATA", data.name) + body)
    tasks = load_tasks(work, ["sums_choice", "sums_gen"])
    out = {"checkpoint": str(checkpoint), "items": len(rows), "shots": shots}
    enc = lambda text: tok.encode(text).ids  # noqa: E731
    for kind, fmt, path in (("multiple choice", "mmlu", mmlu), ("generation", "gsm8k", gsm)):
        name = "sums_choice" if fmt == "mmlu" else "sums_gen"
        settings = {"kind": fmt, "path": str(path), "n_items": len(rows), "demo_pool": 0, "shots": [shots]}
        spec = dataclasses.replace(task_spec(fmt, {**settings, "max_new_tokens": 8}), name=name)
        task = assemble_task(spec, defaults(), tok, inf.mcfg.context, truncate=True)
        at = {"model": "m", "task": name, "step": 0, "tokens": 0}
        ours_s = best(lambda task=task, at=at: evaluate_step(inf, params, task, at, enc, tok, {}))
        lm_s = best(lambda name=name: evaluate_lm(lm, {name: tasks[name]}, shots, limit=None))
        out[fmt] = {"ours_s": ours_s, "lm_eval_s": lm_s, "ratio": lm_s / ours_s}
        print(
            f"{kind}, {len(rows)} items, {shots} shots: project evaluator {ours_s:.3f} s, lm-eval path {lm_s:.3f} s "
            f"({lm_s / ours_s:.2f}x)",
            flush=True,
        )
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)))
