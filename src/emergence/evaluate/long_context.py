"""Reading past the training context: one checkpoint read at s x L tokens under each
position scaling (model/rope.py), without retraining.

Three probes, each a row group of one table (`probe`, `method`, `x`, `metric`, `value`, `n`):
- `position`: the mean loss at each position 1..s L - 1 of validation windows s L + 1
  tokens long, each starting at a document's start and running on across the documents
  after it, as the training batches do. Plain RoPE breaks past L: its loss climbs there.
- `passkey`: retrieval of a number hidden in filler (evaluate/passkey.py), by prompt length.
- `many_shot`: a multiple-choice task with more demonstrations than fit in L, by k.
Passkey and many-shot also run at the trained context with prompts cut from the left
(method `cut`): what the model does without reading further.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.config import StudyConfig
from emergence.data.shards import open_tokens
from emergence.data.tokenizer import load_tokenizer
from emergence.errors import InputError
from emergence.evaluate.evaluator import evaluate, icl_losses
from emergence.evaluate.opening import check_tokenizer, checkpoint_step
from emergence.evaluate.passkey import passkey_prompts, score_passkeys
from emergence.evaluate.tasks import assemble_task
from emergence.io import check_output, read_json, write_table
from emergence.model.inference import Inference, ParamsReader, load_model_config
from emergence.model.rope import METHODS

CUT = "cut"  # the trained context, prompts cut from the left


def long_windows(val_tokens: np.ndarray, eos: int, length: int, n: int) -> list[list[int]]:
    """Up to `n` windows of `length` tokens of the validation stream, each starting at a
    document's start (the first n such starts with room). InputError when none fits."""
    starts = np.concatenate([[0], np.flatnonzero(np.asarray(val_tokens) == eos) + 1])
    starts = [int(a) for a in starts if a + length <= len(val_tokens)][:n]
    if not starts:
        raise InputError(f"the validation text ({len(val_tokens)} tokens) has no window of {length} tokens")
    return [val_tokens[a : a + length].astype(np.int64).tolist() for a in starts]


def _reader(model_dir: Path):
    trained = load_model_config(model_dir)
    return trained, ParamsReader(model_dir, trained)


def loss_by_position(
    checkpoint: Path, data_dir: Path, factor: float, methods=METHODS, n_windows: int = 32
) -> tuple[pd.DataFrame, int]:
    """(table of method, position, loss, the trained context L): the mean loss (nats) at
    each position 1..s x L of the windows, the checkpoint read with each method at
    `factor` times its context."""
    model_dir, step = checkpoint_step(checkpoint)
    trained, read = _reader(model_dir)
    params = read(step)
    readings = [Reading(m, trained.scaled(m, factor), model_dir, step, params) for m in methods]
    table = pd.DataFrame(_position_rows(readings, Path(data_dir), n_windows))
    table = table[["method", "x", "value"]].rename(columns={"x": "position", "value": "loss"})
    return table.astype({"position": int}), trained.context


def summarise(table: pd.DataFrame, context: int) -> dict:
    """Per method: mean loss at positions before L (`within`) and from L on (`beyond`), and
    the method whose loss beyond L is lowest (`best`)."""
    out = {}
    for method, d in table.groupby("method", sort=False):
        within, beyond = d[d["position"] < context]["loss"], d[d["position"] >= context]["loss"]
        out[method] = {"within": float(within.mean()), "beyond": float(beyond.mean())}
    return {"methods": out, "best": min(out, key=lambda m: out[m]["beyond"])}


def probe_checkpoint(checkpoint: Path, data_dir: Path, factor: float, methods, n_windows: int, out: str | None) -> dict:
    """`emergence long-context --checkpoint`: the summary (JSON-ready), and the table written to `out` (CSV)."""
    out = check_output(out) if out else None
    table, context = loss_by_position(checkpoint, data_dir, factor, methods, n_windows)
    if out:
        write_table(table, csv=out)
    return {"context": context, "factor": factor, **summarise(table, context)}


@dataclasses.dataclass(frozen=True)
class Reading:
    """One way of reading a checkpoint: a method's name, the model config it reads with, and
    the checkpoint (its model directory, step and parameters)."""

    method: str
    mcfg: object
    model_dir: Path
    step: int
    params: object


def _readings(model_dir: Path, factor: float, methods, extended: Path | None) -> list[Reading]:
    """Every reading of the stage: the model's final checkpoint cut to its context (`cut`) and
    under each method at s x L; and the extended model's final checkpoint with its own method
    (`<method>_tuned`), when given."""
    summary = read_json(model_dir / "model.json", "model summary")
    trained, read = _reader(model_dir)
    step = summary["checkpoint_steps"][-1]
    params = read(step)
    out = [Reading(CUT, trained, model_dir, step, params)]
    out += [Reading(m, trained.scaled(m, factor), model_dir, step, params) for m in methods]
    if extended is not None:
        ext = read_json(extended / "model.json", "extended model summary")
        mcfg, read_ext = _reader(extended)
        last = ext["checkpoint_steps"][-1]
        out.append(Reading(f"{mcfg.rope_scaling}_tuned", mcfg, extended, last, read_ext(last)))
    return out


def _position_rows(readings: list[Reading], data_dir: Path, n_windows: int) -> list[dict]:
    meta = read_json(data_dir / "meta.json", "shards metadata")
    val = open_tokens(data_dir / "val.npy")
    rows = []
    for r in readings:
        if r.method == CUT:
            continue
        windows = long_windows(val, meta["eos_id"], r.mcfg.context + 1, n_windows)
        loss = icl_losses(Inference(r.mcfg, batch_size=8), r.params, windows)
        rows += [
            {
                "probe": "position",
                "method": r.method,
                "x": float(i + 1),
                "metric": "loss",
                "value": float(v),
                "n": len(windows),
            }
            for i, v in enumerate(loss)
        ]
    return rows


def _passkey_rows(readings: list[Reading], L: int, tokenizer, cfg: StudyConfig) -> list[dict]:
    lc, rows = cfg.long_context, []
    engines = [(r, Inference(r.mcfg)) for r in readings]
    for multiple in lc.passkey_lengths:
        items = passkey_prompts(tokenizer, int(round(multiple * L)), lc.passkey_items, cfg.seed)
        for r, inf in engines:
            for metric, values in score_passkeys(inf, r.params, items).items():
                rows.append(
                    {
                        "probe": "passkey",
                        "method": r.method,
                        "x": multiple * L,
                        "metric": metric,
                        "value": float(np.mean(values)),
                        "n": len(values),
                    }
                )
    return rows


def _many_shot_rows(readings: list[Reading], L: int, tokenizer, cfg: StudyConfig) -> list[dict]:
    lc = cfg.long_context
    if lc.many_shot_task is None:
        return []
    base = cfg.tasks[lc.many_shot_task]
    spec = dataclasses.replace(
        base, n_items=min(base.n_items, lc.many_shot_items), shots=lc.many_shot, prompts=("standard",), labels=("gold",)
    )
    task = assemble_task(spec, cfg, tokenizer, round(L * lc.factor), truncate=True)
    rows = []
    for r in readings:
        table, _ = evaluate(r.model_dir, task, tokenizer, steps=[r.step], mcfg=r.mcfg)
        for t in table[table["metric"] == "acc"].itertuples():
            rows.append(
                {
                    "probe": "many_shot",
                    "method": r.method,
                    "x": float(t.shots),
                    "metric": "acc",
                    "value": float(t.value),
                    "n": int(t.n),
                    "chance": t.chance,
                }
            )
    return rows


def probe_model(
    model_dir: Path, data_dir: Path, tokenizer_path: Path, cfg: StudyConfig, out: Path, extended: Path | None = None
) -> dict:
    """The workflow's long-context stage for one model: its final checkpoint through the three
    probes under every configured method (and its extended version's, from `extended`);
    writes the table (parquet) and returns a summary."""
    model_dir, out = Path(model_dir), check_output(out, "--out")
    summary = read_json(model_dir / "model.json", "model summary")
    tokenizer = load_tokenizer(tokenizer_path)
    check_tokenizer(model_dir, tokenizer, tokenizer_path)
    lc = cfg.long_context
    readings = _readings(model_dir, lc.factor, lc.methods, Path(extended) if extended else None)
    L = readings[0].mcfg.context
    tic = time.perf_counter()
    rows = _position_rows(readings, Path(data_dir), lc.windows)
    positions = pd.DataFrame(rows).rename(columns={"x": "position", "value": "loss"})
    for probe, fn in (("passkey", _passkey_rows), ("many_shot", _many_shot_rows)):
        print(f"{summary['name']}: {probe} after {time.perf_counter() - tic:.1f} s", file=sys.stderr, flush=True)
        rows += fn(readings, L, tokenizer, cfg)
    print(f"{summary['name']}: done after {time.perf_counter() - tic:.1f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    table.insert(0, "model", summary["name"])
    table.insert(1, "step", readings[0].step)
    table.insert(2, "val_loss", summary["final_val_loss"])
    table.insert(3, "context", L)
    write_table(table, parquet=out)
    return {"model": summary["name"], "rows": len(table), **summarise(positions, L)}
