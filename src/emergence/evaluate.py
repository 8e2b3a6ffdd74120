"""Evaluate every checkpoint of a model on one task's requests.

Output contract:
- metrics table: one row per checkpoint x prompt x shots x labels x metric with columns
  model, step, tokens, task, prompt, shots, labels, metric, value, n, chance.
- samples table: one row per checkpoint x request: the item, every choice's
  log-likelihood (multiple choice) or the generated text, extracted answer and the
  reference answer's log-probability (generation), so any metric can be recomputed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from emergence import metrics
from emergence.files import atomic_write
from emergence.inference import Inference, ParamsReader, load_model_config
from emergence.shards import open_tokens
from emergence.tasks import GENERATION, ICL, KINDS, MC

SETTING = ("prompt", "shots", "labels")


def _score_mc(inf, params, requests, enc) -> list[dict]:
    pairs = [(enc(r["text"]), enc(c)) for r in requests for c in r["choices"]]
    logprobs = inf.continuation_logprobs(params, pairs)
    out, k = [], 0
    for r in requests:
        n = len(r["choices"])
        ll = [float(lp.sum()) for lp in logprobs[k : k + n]]
        k += n
        m = metrics.mc_metrics(ll, [len(c.encode()) for c in r["choices"]], r["label"])
        out.append({"metrics": m, "choice_logliks": ll, "prediction": int(np.argmax(ll))})
    return out


def _score_generation(inf, params, requests, tok, enc, numeric: bool) -> list[dict]:
    out: list[dict | None] = [None] * len(requests)
    by_cap = defaultdict(list)
    for i, r in enumerate(requests):
        by_cap[r["max_new"]].append(i)
    answer_lp = inf.continuation_logprobs(params, [(enc(r["text"]), enc(r["target"])) for r in requests])
    for max_new, idx in by_cap.items():
        tokens = inf.greedy(params, [enc(requests[i]["text"]) for i in idx], max_new)
        for row, i in enumerate(idx):
            r = requests[i]
            text = metrics.cut_at_stop(tok.decode(tokens[row].tolist()), r["stops"])
            pred = metrics.extract_number(text) if numeric else metrics.extract_first_line(text)
            lp = answer_lp[i]
            out[i] = {
                "generated": text,
                "extracted": pred,
                "metrics": {
                    "exact_match": metrics.exact_match(pred, r["answer"]),
                    "edit_distance": metrics.normalised_edit_distance(enc(pred or ""), enc(r["answer"])),
                    "answer_logprob": float(lp.sum()),
                    "answer_logprob_per_token": float(lp.mean()),
                },
            }
    return out


def icl_losses(inf: Inference, params, val_tokens: np.ndarray, n_windows: int = 64) -> np.ndarray:
    """Mean loss (nats) at each position of the context, over the first validation windows."""
    L = inf.mcfg.context
    n = max(1, min(n_windows, (len(val_tokens) - 1) // L))
    windows = [val_tokens[i * L : i * L + L + 1].astype(np.int64).tolist() for i in range(n)]
    logprobs = inf.continuation_logprobs(params, [(w[:1], w[1:]) for w in windows])
    return -np.mean(np.stack(logprobs), axis=0)


def icl_metrics(loss_L: np.ndarray, positions: tuple[float, float]) -> dict[str, float]:
    """Olsson et al.'s in-context-learning score: loss late in the context minus loss early
    in it (negative when later tokens profit from the context), each averaged over a
    window of 10% of the context around its position."""
    L = len(loss_L)
    half = max(1, L // 20)

    def around(f):
        c = min(L - 1, max(0, round(f * (L - 1))))
        return float(loss_L[max(0, c - half) : c + half + 1].mean())

    early, late = around(positions[0]), around(positions[1])
    return {"icl_score": late - early, "loss_early": early, "loss_late": late}


def evaluate(model_dir: Path, task: dict, tokenizer, steps: list[int] | None = None, data_dir: Path | None = None,
             progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, samples) tables for `task` (a task file's content) on the model's checkpoints."""
    model_dir = Path(model_dir)
    summary = json.loads((model_dir / "model.json").read_text())
    mcfg = load_model_config(model_dir)
    steps = summary["checkpoint_steps"] if steps is None else steps
    tokens_per_step = summary["batch_size"] * mcfg.context
    kind = KINDS[task["kind"]]
    inf = Inference(mcfg)
    enc_cache: dict[str, list[int]] = {}

    def enc(text: str) -> list[int]:
        if text not in enc_cache:
            enc_cache[text] = tokenizer.encode(text).ids
        return enc_cache[text]

    val = open_tokens(Path(data_dir) / "val.npy") if kind.scoring == ICL else None
    read_params = ParamsReader(model_dir, mcfg)
    rows, samples = [], []
    base = {"model": summary["name"], "task": task["task"]}
    for step in steps:
        params = read_params(step)
        at = {**base, "step": step, "tokens": step * tokens_per_step}
        if kind.scoring == ICL:
            loss_L = icl_losses(inf, params, val)
            for metric, value in icl_metrics(loss_L, tuple(task["spec"]["icl_positions"])).items():
                rows.append({**at, "prompt": "none", "shots": 0, "labels": "none", "metric": metric, "value": value,
                             "n": 1, "chance": 0.0 if metric == "icl_score" else None})
            samples.append({**at, "item": "loss_by_position", "loss_by_position": loss_L.tolist()})
        else:
            reqs = task["requests"]
            scored = _score_mc(inf, params, reqs, enc) if kind.scoring == MC else _score_generation(inf, params, reqs, tokenizer, enc, kind.numeric)
            groups = defaultdict(lambda: defaultdict(list))
            for r, s in zip(reqs, scored):
                for metric, value in s.pop("metrics").items():
                    groups[tuple(r[k] for k in SETTING)][metric].append(value)
                    s[metric] = value
                samples.append({**at, **{k: r[k] for k in SETTING}, "item": r["item"], "answer": r["answer"], **s})
            for setting, by_metric in groups.items():
                for metric, values in by_metric.items():
                    value, n = metrics.aggregate(values)
                    rows.append({**at, **dict(zip(SETTING, setting)), "metric": metric, "value": value, "n": n,
                                 "chance": task["chance"].get(metric)})
        if progress:
            progress(step)
    return pd.DataFrame(rows), pd.DataFrame(samples)


def write_table(df: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as tmp:
        df.to_parquet(tmp, index=False)


def headline(task: dict, table: pd.DataFrame) -> dict:
    """The task's main metric at the last evaluated checkpoint, first setting."""
    metric = {MC: "acc", GENERATION: "exact_match", ICL: "icl_score"}[KINDS[task["kind"]].scoring]
    last = table[(table.metric == metric) & (table.step == table.step.max())].iloc[0]
    return {"n": int(last.n), "metric": metric, "value": None if math.isnan(last.value) else float(last.value)}
