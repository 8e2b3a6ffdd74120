"""lm-evaluation-harness tasks from a local folder, scored into this project's tables.

A study task of kind `lm_eval` names an lm-eval task (`lm_eval_task`, default the study
task's own name) and the folder of YAML and data files it is defined in (`path`, lm-eval's
`--include-path`). Data files named relatively in a YAML (`dataset_kwargs.data_files`) are
read relative to that folder, and nothing is fetched from the network.

What lands in the results table: the lm-eval metrics this project's analysis knows
(`emergence.evaluate.metrics`: acc, acc_norm, exact_match), as lm-eval aggregated them, and
for multiple-choice tasks the continuous twins of accuracy computed from the same
log-likelihoods (p_correct, brier, margin), so the mirage check works on them. Other
metrics are listed in the task file as not analysed. Each document is an item (its
`doc_id`), so the item-level bootstrap redraws documents.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from emergence.errors import InputError
from emergence.evaluate import scoring
from emergence.evaluate.metrics import GENERATION, MC, METRICS, chance_levels
from emergence.io import folder_files

# lm-eval output types this project scores, and how (the metric registry's scorings).
SCORED_AS = {"multiple_choice": MC, "generate_until": GENERATION}
# What a multiple-choice task adds to lm-eval's metrics, from the same log-likelihoods.
TWINS = ("p_correct", "brier", "margin")


def _quiet() -> None:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("lm_eval", "lm-eval", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


def require_lm_eval() -> None:
    """InputError unless lm-evaluation-harness is installed (the `lm_eval` extra)."""
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise InputError(
            "tasks of kind lm_eval need lm-evaluation-harness: pip install -e '.[lm_eval]' -c requirements.lock"
        ) from None


def fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file under the task folder (by path relative to it): a task file that
    records it changes when any YAML or data file does, so its evaluations rerun."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder_files(folder)}


def load_tasks(folder: Path, names: list[str]) -> dict:
    """lm-eval's Task objects of `names` defined in `folder`, their data read from it.
    InputError naming the folder when it is missing or does not define a name."""
    require_lm_eval()
    _quiet()
    from lm_eval.tasks import TaskManager

    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise InputError(f"lm-eval task folder {folder}: not a directory")
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    missing = [n for n in names if n not in manager.all_tasks]
    if missing:
        raise InputError(
            f"lm-eval task folder {folder}: no task {', '.join(map(repr, missing))}; "
            f"it defines {', '.join(manager.all_tasks) or 'none'}"
        )
    try:
        with contextlib.chdir(folder):
            return manager.load(list(names))["tasks"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"lm-eval task folder {folder}: cannot load {', '.join(names)}: {e}") from None


def describe(task, n_items: int) -> dict:
    """What the study needs to know of an lm-eval task before any model reads it: how it is
    scored, how many documents are evaluated, each analysed metric's chance level (from the
    number of choices of each document), and the metrics that are not analysed."""
    output_type = task.get_config("output_type")
    if output_type not in SCORED_AS:
        raise InputError(
            f"lm-eval task {task.task_name}: output_type {output_type!r}; the study scores "
            f"{', '.join(SCORED_AS)} (evaluate others with `emergence lm-eval`)"
        )
    docs = list(task.eval_docs)[:n_items]
    if not docs:
        raise InputError(f"lm-eval task {task.task_name}: has no documents to evaluate")
    reported = list(task.aggregation())
    scoring_ = SCORED_AS[output_type]
    analysed = [m for m in reported if m in METRICS and METRICS[m].scoring == scoring_]
    if not analysed:
        raise InputError(
            f"lm-eval task {task.task_name}: reports {', '.join(reported)}; the study analyses "
            f"{'acc or acc_norm' if scoring_ == MC else 'exact_match'}: add one to its metric_list"
        )
    if scoring_ == MC:
        per_doc = [chance_levels(MC, len(task.doc_to_choice(d))) for d in docs]
        chance = {m: float(np.mean([c[m] for c in per_doc])) for m in (*analysed, *TWINS)}
    else:
        chance = chance_levels(GENERATION, 0)
    return {
        "output_type": output_type,
        "n_docs": len(docs),
        "chance": chance,
        "analysed": analysed,
        "not_analysed": [m for m in reported if m not in analysed],
    }


def _no_index():
    """A TaskManager that indexes nothing: the tasks are passed loaded, and simple_evaluate's
    default one reads lm-eval's ~14,000 built-in YAML files (15 s) on every call."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False)


def evaluate_lm(lm, tasks: dict, shots: int | None, limit: int | None, stderr: bool = False) -> dict:
    """lm-eval's results (with per-document samples) of `lm` on the loaded `tasks`, with
    `shots` demonstrations (None: each task's own) and at most `limit` documents each;
    lm-eval's fixed seeds, so every checkpoint sees the same demonstrations. `stderr`:
    lm-eval's bootstrap standard errors too (the stage needs none: it resamples items)."""
    _quiet()
    from lm_eval import simple_evaluate

    if shots is not None:
        for task in tasks.values():  # (simple_evaluate's num_fewshot never replaces a 0 once set)
            task.set_config(key="num_fewshot", value=shots)
    with contextlib.redirect_stdout(None):
        return simple_evaluate(
            model=lm,
            tasks=list(tasks.values()),
            task_manager=_no_index(),
            limit=limit,
            log_samples=True,
            **({} if stderr else {"bootstrap_iters": 0}),
        )


def open_study_tasks(tasks: list) -> dict:
    """The lm-eval Task object of each study task of kind lm_eval (its `source` names it), by study task name."""
    loaded = {}
    for t in tasks:
        name = t.source["lm_eval_task"]
        loaded[t.task] = load_tasks(Path(t.spec["path"]), [name])[name]
    return loaded


def evaluate_step(lm, params, task, at: dict, loaded) -> tuple[list[dict], list[dict]]:
    """(metric rows, sample rows) of study task `task` (kind lm_eval) at one checkpoint
    (`params`, read by the CheckpointLM `lm`), at each of its numbers of demonstrations."""
    lm.params = params
    name = task.source["lm_eval_task"]
    rows, samples = [], []
    for shots in task.spec["shots"]:
        results = evaluate_lm(lm, {name: loaded}, shots, task.n_items)
        r, s = to_tables(results, task.task, name, at, shots, task.chance)
        rows += r
        samples += s
    return rows, samples


def _first_filter(samples: list[dict]) -> list[dict]:
    first = samples[0]["filter"] if samples else None
    return [s for s in samples if s["filter"] == first]


def to_tables(results: dict, name: str, lm_name: str, at: dict, shots: int, chance: dict) -> tuple[list, list]:
    """(metric rows, sample rows) of lm-eval task `lm_name` from `results`, in the evaluation
    stage's layout (`emergence.evaluate.evaluator`), as study task `name`."""
    samples = _first_filter(results["samples"][lm_name])
    output_type = results["configs"][lm_name]["output_type"]
    setting = {"prompt": "standard", "shots": shots, "labels": "gold"}
    sample_rows, per_metric = [], {}
    for s in samples:
        row = {**at, "task": name, **setting, "item": str(s["doc_id"]), "answer": str(s["target"])}
        values = {m: float(s[m]) for m in chance if m in s}
        if output_type == "multiple_choice":
            logliks = [float(r[0]) for r in s["filtered_resps"]]
            n_bytes = [max(1, len(cont.encode())) for _, cont in s["arguments"]]
            target = s["target"]
            label = int(target) if not isinstance(target, list) else int(target[0])
            ours = scoring.mc_metrics(logliks, n_bytes, label)
            values = {**{m: v for m, v in ours.items() if m in chance}, **values}
            row.update(answer=s["arguments"][label][1], choice_logliks=logliks, prediction=int(np.argmax(logliks)))
        else:
            row["generated"] = str(s["filtered_resps"][0])
        row.update(values)
        sample_rows.append(row)
        for m, v in values.items():
            per_metric.setdefault(m, []).append(v)
    reported, filt = results["results"][lm_name], samples[0]["filter"]
    metric_rows = [
        {**at, "task": name, **setting, "metric": m, "value": float(reported.get(f"{m},{filt}", np.mean(values)))}
        | {"n": len(values), "chance": chance.get(m)}
        for m, values in per_metric.items()
    ]
    return metric_rows, sample_rows


def run_checkpoint(
    checkpoint: Path,
    names: list[str],
    include_path: Path,
    out: Path,
    shots: int | None = None,
    limit: int | None = None,
    tokenizer: Path | None = None,
    rope_scaling: str = "none",
    rope_factor: float = 1.0,
) -> dict:
    """`emergence lm-eval`: lm-eval tasks `names` of the folder `include_path` on one checkpoint;
    writes lm-eval's results (its JSON layout, per-document samples included) to `out` and
    returns each task's metrics and the requests cut to fit the context."""
    require_lm_eval()
    from lm_eval.utils import handle_non_serializable

    from emergence.evaluate.lm_eval_model import CheckpointLM
    from emergence.io import check_output, write_json

    out = check_output(out, "--out")
    tasks = load_tasks(include_path, names)
    lm = CheckpointLM.from_checkpoint(checkpoint, tokenizer, rope_scaling, rope_factor)
    results = evaluate_lm(lm, tasks, shots, limit, stderr=True)
    results["config"] = {"model": "emergence", "model_args": f"checkpoint={checkpoint}", "limit": limit}
    write_json(out, json.loads(json.dumps(results, default=handle_non_serializable)))
    return {
        "results": {t: {k: v for k, v in r.items() if "," in k} for t, r in results["results"].items()},
        "truncated": dict(lm.truncated),
        "out": str(out),
    }
