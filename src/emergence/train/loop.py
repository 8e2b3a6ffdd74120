"""Train one model of the grid: checkpoints on a log-spaced schedule, exact resume, a JSONL log.

Output contract (under `out_dir`):
- `checkpoints/<step>/`: Orbax checkpoints (params, optimizer state, the log so far).
- `train_log.jsonl`: one line per logged step: step, tokens, loss (mean training loss
  since the previous line), val_loss (nats/token, at checkpoint steps, else null),
  val_bpb, lr, grad_norm (before clipping), tokens_per_s, flops_per_s (wall-clock
  figures: the only fields that differ between identical runs).
- `model.json`: the model's configuration, parameter counts, FLOPs per token,
  checkpoint steps and final validation loss.
`train_log.jsonl` and `model.json` appear only when training has finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from emergence.config import ModelRun, TrainingConfig
from emergence.data import batches
from emergence.data.shards import open_tokens
from emergence.errors import InputError, TrainingError
from emergence.io import read_json, write_json, write_jsonl
from emergence.model.checkpoints import Checkpoints
from emergence.model.transformer import ModelConfig, flops_per_token, param_counts
from emergence.train import code_files
from emergence.train.engine import Engine, chunks, data_mesh
from emergence.train.optimizer import checkpoint_steps, lr_schedule, total_steps

TIMING_FIELDS = ("tokens_per_s", "flops_per_s")


def fingerprint(run: ModelRun, tcfg: TrainingConfig, data_meta: dict) -> str:
    """Identity of a run's configuration, data and training code: checkpoints resume only on a match."""
    code = hashlib.sha256(b"".join(f.read_bytes() for f in code_files())).hexdigest()
    blob = json.dumps([run.to_dict(), dataclasses.asdict(tcfg), data_meta, code], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(run: ModelRun, tcfg: TrainingConfig, data_dir: Path, out_dir: Path, progress: bool = True) -> dict:
    """Train `run` on the shards in `data_dir`, resuming from the latest complete checkpoint
    of the same configuration. Returns the model summary written to model.json."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not (data_dir / "meta.json").exists():
        raise InputError(f"{data_dir}/meta.json does not exist: build the token shards first (`emergence shards`)")
    data_meta = read_json(data_dir / "meta.json", "shards metadata")
    train_tokens = open_tokens(data_dir / "train.npy")
    val_windows = batches.val_windows(open_tokens(data_dir / "val.npy"), tcfg.val_tokens, run.context, tcfg.batch_size)
    mcfg = ModelConfig.from_size(run.size, data_meta["vocab_size"], run.context)
    steps = total_steps(run.tokens, tcfg.batch_size, run.context)
    ckpt_steps = checkpoint_steps(steps, tcfg.n_checkpoints)
    log_steps = set(range(tcfg.log_every, steps + 1, tcfg.log_every)) | set(ckpt_steps)
    tokens_per_step = tcfg.batch_size * run.context
    fpt = flops_per_token(mcfg)
    schedule = lr_schedule(tcfg, steps)
    fp = fingerprint(run, tcfg, data_meta)

    mesh = data_mesh(tcfg.batch_size)
    print(
        f"{run.name}: {steps} steps, data-parallel over {mesh.devices.size} devices ({jax.devices()[0].platform})",
        file=sys.stderr,
    )
    engine = Engine(mcfg, tcfg, steps, mesh)
    params, opt_state = engine.init(run.seed)
    ckpts = Checkpoints(out_dir / "checkpoints")
    step, log = 0, []
    latest = ckpts.latest_step()
    if latest is not None:
        if ckpts.restore_meta(latest).get("fingerprint") != fp:
            print(f"checkpoints in {ckpts.directory} are from another configuration: starting afresh", file=sys.stderr)
            ckpts.wipe()
        else:
            state, meta = ckpts.restore(latest, {"params": params, "opt_state": opt_state})
            params, opt_state = jax.device_put((state["params"], state["opt_state"]), engine.replicated)
            step, log = meta["step"], meta["log"]
            print(f"resumed from checkpoint at step {step}", file=sys.stderr)

    bar = tqdm(
        total=steps, initial=step, desc=run.name, unit="step", file=sys.stderr, disable=not progress, mininterval=2
    )
    engine.compile(params, opt_state, {n for _, n in chunks(step, steps, tcfg.steps_per_call)})
    pending_losses, last_log_step, seconds = [], step, 0.0
    for boundary in [s for s in ckpt_steps if s > step]:
        for first, n in chunks(step, boundary, tcfg.steps_per_call):
            tic = time.perf_counter()
            data = batches.train_batches(train_tokens, run.seed, first, n, tcfg.batch_size, run.context)
            params, opt_state, losses_S, gnorms_S = engine.run_chunk(params, opt_state, data)
            losses_S, gnorms_S = np.asarray(losses_S), np.asarray(gnorms_S)
            step_seconds = (time.perf_counter() - tic) / n
            for i in range(n):
                s = first + i + 1
                if not math.isfinite(losses_S[i]):
                    good = ckpts.latest_step()
                    raise TrainingError(
                        f"{run.name}: training loss became {losses_S[i]} at step {s}; "
                        f"latest good checkpoint: step {good} (try a lower learning_rate)"
                    )
                pending_losses.append(float(losses_S[i]))
                seconds += step_seconds
                if s in log_steps:
                    tps = (s - last_log_step) * tokens_per_step / max(seconds, 1e-9)
                    log.append(
                        {
                            "step": s,
                            "tokens": s * tokens_per_step,
                            "loss": float(np.mean(pending_losses)),
                            "val_loss": None,
                            "val_bpb": None,
                            "lr": float(schedule(s - 1)),
                            "grad_norm": float(gnorms_S[i]),
                            "tokens_per_s": tps,
                            "flops_per_s": tps * fpt,
                        }
                    )
                    pending_losses, last_log_step, seconds = [], s, 0.0
                    bar.set_postfix(loss=f"{log[-1]['loss']:.3f}", tok_s=f"{tps:,.0f}")
            bar.update(n)
        step = boundary
        val_loss = engine.validate(params, val_windows)
        log[-1]["val_loss"] = val_loss
        log[-1]["val_bpb"] = val_loss / math.log(2) / data_meta["bytes_per_token"]
        ckpts.save(step, {"params": params, "opt_state": opt_state}, {"step": step, "fingerprint": fp, "log": log})
    bar.close()
    ckpts.close()

    summary = {
        "name": run.name,
        "run": run.to_dict(),
        "model": dataclasses.asdict(mcfg),
        **param_counts(mcfg),
        "flops_per_token": fpt,
        "batch_size": tcfg.batch_size,
        "steps": steps,
        "tokens_trained": steps * tokens_per_step,
        "checkpoint_steps": ckpt_steps,
        "final_val_loss": log[-1]["val_loss"],
        "final_val_bpb": log[-1]["val_bpb"],
        "bytes_per_token": data_meta["bytes_per_token"],
        "tokenizer_sha256": data_meta.get("tokenizer_sha256"),
        "fingerprint": fp,
    }
    write_jsonl(out_dir / "train_log.jsonl", log)
    write_json(out_dir / "model.json", summary)
    return summary
