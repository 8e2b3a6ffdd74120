"""The instruction-tuning stage of one model: tune selected checkpoints, then evaluate each
tuned checkpoint and its untuned base on the held-out families, zero-shot.

Output contract (`<out>.parquet`, and the per-request `<out>.samples.parquet`): rows like an
evaluation's metrics table (model, step, tokens, task, prompt, shots, labels, metric, value,
n, chance) where `step` is the **base** checkpoint's step (so the results table joins each
row with the base checkpoint's pretraining loss), `task` is `instruct_<family>`, `prompt` is
`tuned` (the instruction-tuned checkpoint) or `base` (the same checkpoint untuned: the
control), shots 0 and labels none. The metrics are generation's (exact match, edit distance,
log p(answer)) and, under `tuned`, `tuning_gain`: per item, tuned minus base exact match.
Tunings live under `<out>/s<step>/` (resumable; see `tune`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.config import StudyConfig
from emergence.data.tokenizer import load_tokenizer
from emergence.errors import InputError
from emergence.evaluate import scoring
from emergence.evaluate.evaluator import evaluate_step
from emergence.evaluate.opening import check_tokenizer
from emergence.instruct.dataset import read_dataset
from emergence.instruct.tune import encode_examples, tune
from emergence.io import read_json, write_table
from emergence.model.inference import Inference, ParamsReader, load_model_config

TUNED, BASE = "tuned", "base"


def select_steps(model_dir: Path, n: int) -> list[int]:
    """`n` of the model's checkpoints evenly spread over its checkpoint list, always its last:
    those after learning-rate warm-up and, under WSD, not shared with a larger budget (that
    budget's model tunes them)."""
    summary = read_json(Path(model_dir) / "model.json", "model summary")
    if not (Path(model_dir) / "train_log.jsonl").is_file():
        raise InputError(f"{model_dir}/train_log.jsonl does not exist: is {model_dir} a trained model's directory?")
    log = pd.read_json(Path(model_dir) / "train_log.jsonl", lines=True)
    warm = int(log.loc[log["lr"] >= log["lr"].max() * (1 - 1e-6), "step"].min()) if "lr" in log else 0
    shared = set(summary.get("shared_steps", []))
    steps = [s for s in summary["checkpoint_steps"] if s not in shared and s >= warm]
    if not steps:
        raise InputError(f"{model_dir}: no checkpoint after learning-rate warm-up to tune")
    # From the last checkpoint back, so that one pick is the last one.
    picks = np.unique(np.round(np.linspace(len(steps) - 1, 0, min(n, len(steps)))).astype(int))
    return [steps[i] for i in picks]


def _gain_rows(samples: pd.DataFrame, at: dict) -> list[dict]:
    """Per task: the mean over items of tuned minus base exact match, as `tuning_gain` rows."""
    rows = []
    for task, d in samples.groupby("task"):
        by = d.pivot_table(index="item", columns="prompt", values="exact_match", aggfunc="first")
        value, n = scoring.aggregate((by[TUNED] - by[BASE]).dropna().tolist())
        rows.append(
            {
                **at,
                "task": task,
                "prompt": TUNED,
                "shots": 0,
                "labels": "none",
                "metric": "tuning_gain",
                "value": value,
                "n": n,
                "chance": 0.0,
            }
        )
    return rows


def tune_and_evaluate(
    model_dir: Path,
    data_file: Path,
    tokenizer_path: Path,
    data_dir: Path,
    cfg: StudyConfig,
    out: Path,
    progress: bool = False,
) -> dict:
    """Tune the model's selected checkpoints (`select_steps`) and evaluate them and their
    bases; writes `<out>.parquet` and `<out>.samples.parquet`. Returns the mean exact match
    of tuned and base checkpoints per task at the last step."""
    model_dir, out = Path(model_dir), Path(out)
    summary = read_json(model_dir / "model.json", "model summary")
    tokenizer = load_tokenizer(tokenizer_path)
    check_tokenizer(model_dir, tokenizer, tokenizer_path)
    examples, tasks = read_dataset(Path(data_file))
    cache: dict[str, list[int]] = {}

    def enc(text: str) -> list[int]:
        if text not in cache:
            cache[text] = tokenizer.encode(text).ids
        return cache[text]

    eos = read_json(Path(data_dir) / "meta.json", "token shards' meta")["eos_id"]
    stream = encode_examples(examples, enc, eos)
    mcfg = load_model_config(model_dir)
    inf, base_params = Inference(mcfg), ParamsReader(model_dir, mcfg)
    tokens_per_step = summary["batch_size"] * mcfg.context
    rows, samples = [], []
    for step in select_steps(model_dir, cfg.instruct.checkpoints):
        tuned = tune(model_dir, step, cfg.instruct, cfg.training, data_dir, stream, out / f"s{step}", progress)
        tuned_params = ParamsReader(out / f"s{step}", mcfg)(tuned["checkpoint_steps"][-1])
        at = {"model": summary["name"], "step": step, "tokens": step * tokens_per_step}
        step_samples = []
        for prompt, params in ((BASE, base_params(step)), (TUNED, tuned_params)):
            for task in tasks:
                r, s = evaluate_step(inf, params, task, {**at, "task": task.task}, enc, tokenizer, {})
                rows += [{**row, "prompt": prompt} for row in r]
                step_samples += [{**sample, "prompt": prompt} for sample in s]
        rows += _gain_rows(pd.DataFrame(step_samples), at)
        samples += step_samples
        print(f"{summary['name']} step {step}: tuned val loss {tuned['final_val_loss']:.3f}", file=sys.stderr)
    table = pd.DataFrame(rows)
    write_table(pd.DataFrame(samples), parquet=out.parent / f"{out.name}.samples.parquet")
    write_table(table, parquet=out.parent / f"{out.name}.parquet")
    last = table[(table["step"] == table["step"].max()) & (table["metric"] == "exact_match")]
    return {f"{t}/{p}": float(v) for t, p, v in zip(last["task"], last["prompt"], last["value"])}
