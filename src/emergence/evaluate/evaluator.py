"""Evaluate every checkpoint of a model on each task's requests.

Output contract:
- metrics table: one row per checkpoint x prompt x shots x labels x metric with columns
  model, step, tokens, task, prompt, shots, labels, metric, value, n, chance.
- samples table: one row per checkpoint x request: the item, every choice's
  log-likelihood (multiple choice) or the generated text, extracted answer and the
  reference answer's log-probability (generation), so any metric can be recomputed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.data.shards import open_tokens
from emergence.data.tokenizer import load_tokenizer
from emergence.errors import InputError
from emergence.evaluate import induction, memo, scoring
from emergence.evaluate.items import SETTING, Request, Task
from emergence.evaluate.kinds import KINDS
from emergence.evaluate.metrics import HEADS, ICL, LM_EVAL, MAIN, MC
from emergence.evaluate.opening import check_tokenizer
from emergence.evaluate.tasks import CHOICES_OF, demonstrated_label
from emergence.io import read_json, write_table
from emergence.model.heads import HeadProbe
from emergence.model.inference import Inference, ParamsReader, load_model_config
from emergence.model.transformer import ModelConfig


def _choice_logliks(inf, params, requests: tuple[Request, ...], enc) -> list[list[float]]:
    """Each request's log-likelihood of each of its choices. Where every choice of a request
    is one token, one forward pass over the context scores them all (the next-token
    distribution); otherwise the context is read once and each choice scored after it."""
    single = [all(len(enc(c)) == 1 for c in r.choices) for r in requests]
    next_lp = inf.next_token_logprobs(params, [enc(r.text) for r, one in zip(requests, single) if one])
    multi = inf.choice_logprobs(
        params, [(enc(r.text), [enc(c) for c in r.choices]) for r, one in zip(requests, single) if not one]
    )
    rows, choices, out = iter(next_lp), iter(multi), []
    for r, one in zip(requests, single):
        if one:
            row = next(rows)
            out.append([float(row[enc(c)[0]]) for c in r.choices])
        else:
            out.append([float(lp.sum()) for lp in next(choices)])
    return out


def _score_mc(inf, params, requests: tuple[Request, ...], enc) -> list[dict]:
    out = []
    for r, ll in zip(requests, _choice_logliks(inf, params, requests, enc)):
        m = scoring.mc_metrics(ll, [len(c.encode()) for c in r.choices], r.label)
        if r.shots and r.labels == "flipped":  # (under other settings it is the accuracy, or meaningless)
            m["follows_labels"] = float(np.argmax(ll) == demonstrated_label(r.labels, r.label, len(r.choices)))
        out.append({"metrics": m, "choice_logliks": ll, "prediction": int(np.argmax(ll))})
    return out


def _score_generation(inf, params, requests: tuple[Request, ...], tok, enc, numeric: bool) -> list[dict]:
    out: list[dict | None] = [None] * len(requests)
    by_cap = defaultdict(list)
    for i, r in enumerate(requests):
        by_cap[r.max_new].append(i)
    answer_lp = inf.continuation_logprobs(params, [(enc(r.text), enc(r.target)) for r in requests])
    for max_new, idx in by_cap.items():
        tokens = inf.greedy(params, [enc(requests[i].text) for i in idx], max_new)
        for row, i in enumerate(idx):
            r = requests[i]
            text = scoring.cut_at_stop(tok.decode(tokens[row].tolist()), r.stops)
            pred = scoring.extract_number(text) if numeric else scoring.extract_first_line(text)
            lp = answer_lp[i]
            out[i] = {
                "generated": text,
                "extracted": pred,
                "metrics": {
                    "exact_match": scoring.exact_match(pred, r.answer),
                    "edit_distance": scoring.normalised_edit_distance(enc(pred or ""), enc(r.answer)),
                    "answer_logprob": float(lp.sum()),
                    "answer_logprob_per_token": float(lp.mean()),
                },
            }
    return out


def icl_documents(val_tokens: np.ndarray, eos: int, context: int, n_docs: int = 64) -> list[list[int]]:
    """The first `context` + 1 tokens of each of the first `n_docs` validation documents that
    are at least that long: every position of a window is then in one document, so its loss
    at a late position can profit from everything before it in that document.
    InputError when no document is long enough."""
    ends = np.flatnonzero(np.asarray(val_tokens) == eos)
    starts = np.concatenate([[0], ends[:-1] + 1])
    long = [int(a) for a, b in zip(starts, ends) if b - a >= context + 1][:n_docs]
    if not long:
        raise InputError(
            f"icl_score: no validation document is {context + 1} tokens long (the context + 1); "
            "it needs documents longer than the context (remove the icl_score task for a corpus of short documents)"
        )
    return [val_tokens[a : a + context + 1].astype(np.int64).tolist() for a in long]


def icl_losses(inf: Inference, params, documents: list[list[int]]) -> np.ndarray:
    """Mean loss (nats) at each position of the context, over the documents' windows."""
    logprobs = inf.continuation_logprobs(params, [(w[:1], w[1:]) for w in documents])
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


def kshot_gains(requests: tuple[Request, ...], scored: list[dict]) -> dict[tuple, dict[str, list[float]]]:
    """Per item, accuracy with the most demonstrations minus without any, for each prompt
    style and label setting: {setting: {"kshot_gain": values}}. The baseline is the same
    label setting's zero-shot prompt where it has one (settings with answer choices of
    their own), else the zero-shot prompt with the task's own choices."""
    acc = defaultdict(dict)
    for r, s in zip(requests, scored):
        acc[r.setting][r.item] = s["acc"]
    out = {}
    for prompt in {r.prompt for r in requests}:
        most = max(k for (p, k, _) in acc if p == prompt)
        zero = [lab for (p, k, lab) in acc if p == prompt and k == 0]
        if not zero or most == 0:
            continue
        own = [z for z in zero if z not in CHOICES_OF] or zero  # the zero-shot prompt with the task's choices
        for (p, k, lab), by_item in acc.items():
            if p == prompt and k == most:
                base = acc[prompt, 0, lab if lab in zero else own[0]]
                out[p, k, lab] = {"kshot_gain": [v - base[i] for i, v in by_item.items() if i in base]}
    return out


def _unprompted(at: dict, metric: str, value: float, n: int, chance) -> dict:
    """A metric row of a task read without prompts (induction heads, the ICL score)."""
    row = {"prompt": "none", "shots": 0, "labels": "none", "metric": metric, "value": value}
    return {**at, **row, "n": n, "chance": chance}


def evaluate_step(inf, params, task: Task, at: dict, enc, tokenizer, val) -> tuple[list[dict], list[dict]]:
    """(metric rows, sample rows) of one task at one checkpoint."""
    kind, rows, samples = KINDS[task.kind], [], []
    if kind.scoring == LM_EVAL:
        from emergence.evaluate import lm_eval_tasks

        return lm_eval_tasks.evaluate_step(val["lm"], params, task, at, val["lm_eval"][task.task])
    if kind.scoring == HEADS:
        heads, summary = induction.induction_scores(val["probe"], params, val["sequences"][task.task])
        rows += [_unprompted(at, m, value, task.n_items, task.chance.get(m)) for m, value in summary.items()]
        samples += [{**at, "item": f"layer{h.layer}.head{h.head}", **h._asdict()} for h in heads.itertuples(False)]
        return rows, samples
    if kind.scoring == ICL:
        loss_L = icl_losses(inf, params, val["icl"])
        metrics = icl_metrics(loss_L, tuple(task.spec["icl_positions"]))
        rows += [_unprompted(at, m, value, 1, task.chance.get(m)) for m, value in metrics.items()]
        samples.append({**at, "item": "loss_by_position", "loss_by_position": loss_L.tolist()})
        return rows, samples
    reqs = task.requests
    if kind.scoring == MC:
        scored = _score_mc(inf, params, reqs, enc)
    else:
        scored = _score_generation(inf, params, reqs, tokenizer, enc, kind.numeric)
    groups = defaultdict(lambda: defaultdict(list))
    for r, s in zip(reqs, scored):
        for metric, value in s.pop("metrics").items():
            groups[r.setting][metric].append(value)
            s[metric] = value
        samples.append({**at, **dict(zip(SETTING, r.setting)), "item": r.item, "answer": r.answer, **s})
    if kind.scoring == MC:
        for setting, gains in kshot_gains(reqs, scored).items():
            groups[setting].update(gains)
    for setting, by_metric in groups.items():
        for metric, values in by_metric.items():
            value, n = scoring.aggregate(values)
            rows.append(
                {
                    **at,
                    **dict(zip(SETTING, setting)),
                    "metric": metric,
                    "value": value,
                    "n": n,
                    "chance": task.chance.get(metric),
                }
            )
    return rows, samples


# A token is a candidate for the repeated random sequences if it occurs this often in the
# validation text: a token the model never saw would test its embedding, not its heads.
MIN_CANDIDATE_COUNT = 10


def validation_probes(tasks: list[Task], data_dir: Path | None, mcfg) -> dict:
    """What the validation-based kinds read, built once per model: the ICL score's long
    documents ("icl"), and for each induction-heads task its repeated random sequences
    ("sequences", by task name) of `context // 2` tokens drawn from the validation text's
    common tokens, with the jitted attention probe ("probe")."""
    context = mcfg.context
    scorings = {KINDS[t.kind].scoring for t in tasks}
    if not scorings & {ICL, HEADS}:
        return {}
    val = open_tokens(data_dir / "val.npy")
    eos = read_json(data_dir / "meta.json", "token shards' meta")["eos_id"]
    probes = {"icl": icl_documents(val, eos, context)} if ICL in scorings else {}
    heads = [t for t in tasks if KINDS[t.kind].scoring == HEADS]
    if heads:
        counts = np.bincount(np.asarray(val), minlength=eos + 1)
        counts[eos] = 0
        candidates = np.flatnonzero(counts >= MIN_CANDIDATE_COUNT)
        probes["probe"] = HeadProbe(mcfg)
        probes["sequences"] = {
            t.task: induction.repeated_sequences(
                np.random.default_rng([t.spec["seed"], 7]), candidates, t.n_items, context // 2
            )
            for t in heads
        }
    return probes


def evaluate_tasks(
    model_dir: Path,
    tasks: list[Task],
    tokenizer,
    steps: list[int] | None = None,
    data_dir: Path | None = None,
    progress=None,
    mcfg: ModelConfig | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """(metrics, samples) tables of each task on the model's checkpoints (all, or `steps`),
    by task name, the model read as `mcfg` when given. Each checkpoint is read once, and
    every task shares the compiled shapes."""
    model_dir = Path(model_dir)
    summary = read_json(model_dir / "model.json", "model summary")
    trained = load_model_config(model_dir)
    mcfg = mcfg or trained
    if steps is None:  # every checkpoint, but a WSD trunk's shared ones only under the largest budget
        shared = set(summary.get("shared_steps", []))
        steps = [s for s in summary["checkpoint_steps"] if s not in shared]
    tokens_per_step = summary["batch_size"] * trained.context
    enc_cache: dict[str, list[int]] = {}

    def enc(text: str) -> list[int]:
        if text not in enc_cache:
            enc_cache[text] = tokenizer.encode(text).ids
        return enc_cache[text]

    # A task configured with a position scaling (rope_scaling, rope_factor) reads the same
    # weights as its own model config: one inference engine and one set of probes per reading.
    def reading(task: Task) -> ModelConfig:
        method, factor = task.spec.get("rope_scaling", "none"), task.spec.get("rope_factor", 1.0)
        return mcfg if (method, factor) == ("none", 1.0) else trained.scaled(method, factor)

    engines = {}
    for task in tasks:
        cfg_t = reading(task)
        if cfg_t not in engines:
            same = [t for t in tasks if reading(t) == cfg_t]
            inf = Inference(cfg_t)
            engines[cfg_t] = (inf, validation_probes(same, Path(data_dir) if data_dir else None, cfg_t))
            harness = [t for t in same if KINDS[t.kind].scoring == LM_EVAL]
            if harness:  # lm-eval's tasks, loaded once, and its model interface on this engine
                from emergence.evaluate import lm_eval_model, lm_eval_tasks

                engines[cfg_t][1]["lm_eval"] = lm_eval_tasks.open_study_tasks(harness)
                engines[cfg_t][1]["lm"] = lm_eval_model.CheckpointLM(inference=inf, params=None, tok=tokenizer)
    read_params = ParamsReader(model_dir, trained)
    out = {t.task: ([], []) for t in tasks}
    for step in steps:
        params = read_params(step)
        for task in tasks:
            inf, val = engines[reading(task)]
            at = {"model": summary["name"], "task": task.task, "step": step, "tokens": step * tokens_per_step}
            rows, samples = evaluate_step(inf, params, task, at, enc, tokenizer, val)
            out[task.task][0].extend(rows)
            out[task.task][1].extend(samples)
        if progress:
            progress(step)
    return {name: (pd.DataFrame(rows), pd.DataFrame(samples)) for name, (rows, samples) in out.items()}


def evaluate(
    model_dir: Path,
    task: Task,
    tokenizer,
    steps: list[int] | None = None,
    data_dir: Path | None = None,
    progress=None,
    mcfg: ModelConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, samples) tables for `task` on the model's checkpoints (all, or `steps`),
    read as `mcfg` when given (e.g. with scaled positions) instead of as trained."""
    return evaluate_tasks(model_dir, [task], tokenizer, steps, data_dir, progress, mcfg)[task.task]


def headline(task: Task, table: pd.DataFrame) -> dict:
    """The task's main metric at the last evaluated checkpoint, first setting."""
    metric = next(m for m in MAIN if m in set(table.metric))
    last = table[(table.metric == metric) & (table.step == table.step.max())].iloc[0]
    return {"n": int(last.n), "metric": metric, "value": None if math.isnan(last.value) else float(last.value)}


def evaluate_model(
    model_dir: Path, task_paths: list[Path], tokenizer_path: Path, data_dir: Path, out_dir: Path, progress=None
) -> dict:
    """The workflow's evaluation: every checkpoint of a model on each built task file. Writes
    `<out_dir>/<task>.parquet` (metrics) and `<task>.samples.parquet` for each task and
    returns each task's headline (see `headline`). A task whose inputs and code are unchanged
    since its last evaluation here is not evaluated again (see `memo`)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir}: is not a directory")
    tasks = {Path(p): Task.from_dict(read_json(p, "task file")) for p in task_paths}
    tokenizer = load_tokenizer(tokenizer_path)
    check_tokenizer(model_dir, tokenizer, tokenizer_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    headlines, todo = {}, {}
    for path, task in tasks.items():
        outputs = [out_dir / f"{task.task}.parquet", out_dir / f"{task.task}.samples.parquet"]
        k = memo.key(Path(model_dir) / "model.json", path, tokenizer_path, Path(data_dir) / "val.npy")
        if memo.recall(outputs, k):
            headlines[task.task] = {"reused": True, **headline(task, pd.read_parquet(outputs[0]))}
        else:
            todo[task.task] = (task, outputs, k)
    pending = [task for task, _, _ in todo.values()]
    tables = evaluate_tasks(model_dir, pending, tokenizer, data_dir=data_dir, progress=progress) if todo else {}
    for name, (task, outputs, k) in todo.items():
        rows, sample_rows = tables[name]
        write_table(sample_rows, parquet=outputs[1])
        write_table(rows, parquet=outputs[0])
        memo.remember(outputs, k)
        headlines[name] = headline(task, rows)
    return headlines
