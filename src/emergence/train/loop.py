"""Train one model of the grid: checkpoints on a log-spaced schedule, exact resume, a JSONL log.

Under the `cosine` schedule each model is one job from scratch (`train`). Under `wsd` a
trunk per (size, seed) trains at the peak rate (`train_trunk`), and each model of the grid
is a branch (`train` with `trunk_dir`): it takes the trunk's checkpoints before its branch
step as its own early checkpoints, then cools down from the trunk's state there.

Output contract of a model (under `out_dir`):
- `checkpoints/<step>/`: Orbax checkpoints (params, optimizer state, the per-step history so far).
- `train_log.jsonl`: one line per logged step: step, tokens, loss (mean training loss
  since the previous line), val_loss (nats/token, at checkpoint steps, else null),
  val_bpb, lr, grad_norm (before clipping), tokens_per_s, flops_per_s (wall-clock
  figures: the only fields that differ between identical runs).
- `events/`: the same lines as TensorBoard event files, written at each checkpoint while the
  run trains (`events.py`); where the config switches on Weights & Biases, `wandb/` holds its
  files of the run (`wandb_log.py`).
- `model.json`: the model's configuration, parameter counts, FLOPs per token,
  checkpoint steps and final validation loss; under WSD also its trunk, branch step and
  `shared_steps` (checkpoints a larger budget also has: evaluation skips them).
`train_log.jsonl` and `model.json` (a trunk: `trunk.json`) appear only when training has finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from emergence.config import ModelRun, ModelSize, TrainingConfig, Trunk
from emergence.data import batches
from emergence.data.shards import open_tokens
from emergence.errors import InputError, TrainingError
from emergence.io import read_json, write_json, write_jsonl
from emergence.model.checkpoints import Checkpoints
from emergence.model.transformer import ModelConfig, flops_per_token, param_counts
from emergence.sources import digest, rule_code
from emergence.train.distributed import primary
from emergence.train.engine import Engine, chunks, data_mesh
from emergence.train.events import EventLog
from emergence.train.optimizer import (
    branch_step,
    checkpoint_steps,
    lr_schedule,
    shared_steps,
    total_steps,
    trunk_checkpoint_steps,
    wsd_schedule,
    wsd_warmup,
)
from emergence.train.wandb_log import WandbLog, WandbTarget

TIMING_FIELDS = ("tokens_per_s", "flops_per_s")


def fingerprint(spec: dict, tcfg: TrainingConfig, data_meta: dict, parent: str = "", code_files=None) -> str:
    """Identity of a run's configuration, data, code (`code_files`, by default the training
    rule's: emergence.sources) and the run it starts from: checkpoints resume only on a match."""
    code = digest(rule_code("train") if code_files is None else code_files)
    blob = json.dumps([spec, dataclasses.asdict(tcfg), data_meta, code, parent], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclasses.dataclass
class State:
    step: int
    params: Any
    opt_state: Any
    # Per optimizer step: [training loss, gradient norm, wall seconds]; validation loss by step.
    history: list[list[float]]
    val: dict[int, float]

    def meta(self, fp: str) -> dict:
        return {"step": self.step, "fingerprint": fp, "history": self.history, "val": sorted(self.val.items())}


class _Job:
    """What every training job sets up: data, model, the jitted engine, its checkpoints."""

    def __init__(
        self,
        name,
        size: ModelSize,
        context,
        seed,
        tcfg,
        schedule,
        data_dir: Path,
        ckpt_dir: Path,
        mcfg: ModelConfig | None = None,
    ):
        if not (data_dir / "meta.json").exists():
            raise InputError(f"{data_dir}/meta.json does not exist: build the token shards first (`emergence shards`)")
        self.name, self.seed, self.context, self.tcfg, self.schedule = name, seed, context, tcfg, schedule
        self.data_meta = read_json(data_dir / "meta.json", "shards metadata")
        self.train_tokens = open_tokens(data_dir / "train.npy")
        val = open_tokens(data_dir / "val.npy")
        self.val_windows = batches.val_windows(val, tcfg.val_tokens, context, tcfg.batch_size)
        # The model as configured, or `mcfg` (e.g. read with a position scaling: train/extend.py).
        self.mcfg = mcfg or ModelConfig.from_size(size, self.data_meta["vocab_size"], context, tcfg.precision)
        self.tokens_per_step = tcfg.batch_size * context
        mesh = data_mesh(tcfg.batch_size)
        print(f"{name}: data-parallel over {mesh.devices.size} devices ({jax.devices()[0].platform})", file=sys.stderr)
        self.engine = Engine(self.mcfg, tcfg, schedule, mesh)
        self.ckpts = Checkpoints(ckpt_dir)
        self._like = None  # a state of the right structure and sharding, to restore checkpoints into

    def fresh(self) -> State:
        params, opt_state = self.engine.init(self.seed)
        return State(0, params, opt_state, [], {})

    def restore(self, ckpts: Checkpoints, step: int) -> State:
        if self._like is None:
            self._like = self.engine.init(self.seed)
        params, opt_state = self._like
        state, meta = ckpts.restore(step, {"params": params, "opt_state": opt_state})
        params, opt_state = jax.device_put((state["params"], state["opt_state"]), self.engine.replicated)
        return State(meta["step"], params, opt_state, meta["history"], {int(s): v for s, v in meta["val"]})

    def resume(self, fp: str) -> State | None:
        """The latest checkpoint of this configuration, if any (others are wiped)."""
        latest = self.ckpts.latest_step()
        if latest is None:
            return None
        if self.ckpts.restore_meta(latest).get("fingerprint") != fp:
            print(
                f"checkpoints in {self.ckpts.directory} are from another configuration: starting afresh",
                file=sys.stderr,
            )
            self.ckpts.wipe()
            return None
        print(f"resumed from checkpoint at step {latest}", file=sys.stderr)
        return self.restore(self.ckpts, latest)

    def advance(
        self,
        state: State,
        ckpt_steps: list[int],
        fp: str,
        progress: bool,
        wandb: WandbTarget | None = None,
        spec: dict | None = None,
    ) -> State:
        """Train from `state.step` to the last of `ckpt_steps`, validating and saving at each
        (and writing the log lines up to it to the run's live logs: `live_logs`)."""
        engine, tcfg, stop = self.engine, self.tcfg, ckpt_steps[-1]
        bar = tqdm(
            total=stop,
            initial=state.step,
            desc=self.name,
            unit="step",
            file=sys.stderr,
            disable=not progress,
            mininterval=2,
        )
        engine.compile(state.params, state.opt_state, {n for _, n in chunks(state.step, stop, tcfg.steps_per_call)})
        params, opt_state = state.params, state.opt_state
        logs = self.live_logs(state.step, fp, wandb, spec) if primary() else []
        for boundary in [s for s in ckpt_steps if s > state.step]:
            for first, n in chunks(state.step, boundary, tcfg.steps_per_call):
                tic = time.perf_counter()
                data = batches.train_batches(self.train_tokens, self.seed, first, n, tcfg.batch_size, self.context)
                params, opt_state, losses_S, gnorms_S = engine.run_chunk(params, opt_state, data)
                losses_S, gnorms_S = np.asarray(losses_S), np.asarray(gnorms_S)
                seconds = (time.perf_counter() - tic) / n
                for i in range(n):
                    if not math.isfinite(losses_S[i]):
                        raise TrainingError(
                            f"{self.name}: training loss became {losses_S[i]} at step {first + i + 1}; "
                            f"latest good checkpoint: step {self.ckpts.latest_step()} (try a lower learning_rate)"
                        )
                    state.history.append([float(losses_S[i]), float(gnorms_S[i]), seconds])
                state.step = first + n
                bar.set_postfix(loss=f"{losses_S[-1]:.3f}", tok_s=f"{self.tokens_per_step / seconds:,.0f}")
                bar.update(n)
            state.params, state.opt_state = params, opt_state
            state.val[boundary] = engine.validate(params, self.val_windows)
            self.ckpts.save(boundary, {"params": params, "opt_state": opt_state}, state.meta(fp))
            if logs:
                lines = self.log(state, [s for s in ckpt_steps if s <= boundary])
                for log in logs:
                    log.write(lines)
        bar.close()
        for log in logs:
            log.close()
        return state

    def live_logs(self, after_step: int, fp: str, wandb: WandbTarget | None, spec: dict | None) -> list:
        """What shows the run's curves while it trains: TensorBoard events (`events.py`), and
        where `wandb` is given its W&B run, with `spec` (the run) and the training settings as
        its config (`wandb_log.py`). Both start after `after_step`."""
        folder = self.ckpts.directory.parent
        logs = [EventLog(folder / "events", after_step)]
        if wandb:
            config = {"run": spec, "training": dataclasses.asdict(self.tcfg)}
            logs.append(WandbLog(wandb, self.name, fp, config, folder, after_step))
        return logs

    def log(self, state: State, ckpt_steps: list[int]) -> list[dict]:
        """The run's log lines: every `log_every` steps and at each of its checkpoints."""
        fpt, bpt = flops_per_token(self.mcfg), self.data_meta["bytes_per_token"]
        steps = len(state.history)
        log_steps = sorted(set(range(self.tcfg.log_every, steps + 1, self.tcfg.log_every)) | set(ckpt_steps))
        lines, last = [], 0
        for s in log_steps:
            window = state.history[last:s]
            tps = (s - last) * self.tokens_per_step / max(sum(h[2] for h in window), 1e-9)
            val = state.val[s] if s in ckpt_steps else None
            lines.append(
                {
                    "step": s,
                    "tokens": s * self.tokens_per_step,
                    "loss": float(np.mean([h[0] for h in window])),
                    "val_loss": val,
                    "val_bpb": None if val is None else val / math.log(2) / bpt,
                    "lr": float(self.schedule(s - 1)),
                    "grad_norm": window[-1][1],
                    "tokens_per_s": tps,
                    "flops_per_s": tps * fpt,
                }
            )
            last = s
        return lines

    def summary(self, state: State, ckpt_steps: list[int], fp: str) -> dict:
        val = state.val[ckpt_steps[-1]]
        return {
            "model": dataclasses.asdict(self.mcfg),
            **param_counts(self.mcfg),
            "flops_per_token": flops_per_token(self.mcfg),
            "batch_size": self.tcfg.batch_size,
            "steps": state.step,
            "tokens_trained": state.step * self.tokens_per_step,
            "checkpoint_steps": ckpt_steps,
            "final_val_loss": val,
            "final_val_bpb": val / math.log(2) / self.data_meta["bytes_per_token"],
            "bytes_per_token": self.data_meta["bytes_per_token"],
            "tokenizer_sha256": self.data_meta.get("tokenizer_sha256"),
            "fingerprint": fp,
        }


def train_trunk(
    trunk: Trunk,
    tcfg: TrainingConfig,
    data_dir: Path,
    out_dir: Path,
    progress: bool = True,
    wandb: WandbTarget | None = None,
) -> dict:
    """WSD: train the warmup-stable trunk of one size and seed up to its last branch point,
    saving every step that a budget's branch needs. Resumes like any run; writes trunk.json.
    Logs to W&B where `wandb` is given."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    per_step = tcfg.batch_size * trunk.context
    budget_steps = [total_steps(b, tcfg.batch_size, trunk.context) for b in trunk.budgets]
    warmup = wsd_warmup(tcfg, budget_steps)
    ckpt_steps = trunk_checkpoint_steps(tcfg, budget_steps)
    job = _Job(
        trunk.name,
        trunk.size,
        trunk.context,
        trunk.seed,
        tcfg,
        wsd_schedule(tcfg, warmup),
        data_dir,
        out_dir / "checkpoints",
    )
    fp = fingerprint(trunk.to_dict(), tcfg, job.data_meta)
    print(f"{trunk.name}: WSD trunk, {ckpt_steps[-1]} steps at {per_step} tokens, warmup {warmup}", file=sys.stderr)
    state = job.resume(fp) or job.fresh()
    state = job.advance(state, ckpt_steps, fp, progress, wandb, trunk.to_dict())
    job.ckpts.close()
    summary = {
        "name": trunk.name,
        "trunk": trunk.to_dict(),
        "warmup_steps": warmup,
        **job.summary(state, ckpt_steps, fp),
    }
    if primary():
        write_json(out_dir / "trunk.json", summary)
    return summary


def train(
    run: ModelRun,
    tcfg: TrainingConfig,
    data_dir: Path,
    out_dir: Path,
    trunk_dir: Path | None = None,
    progress: bool = True,
    wandb: WandbTarget | None = None,
) -> dict:
    """Train `run` on the shards in `data_dir` (under WSD: branch it off the trunk in
    `trunk_dir`), resuming from the latest complete checkpoint of the same configuration,
    logging to W&B where `wandb` is given. Returns the model summary written to model.json."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    steps = total_steps(run.tokens, tcfg.batch_size, run.context)
    ckpt_steps = checkpoint_steps(steps, tcfg.n_checkpoints)
    if tcfg.schedule == "cosine":
        job = _Job(
            run.name, run.size, run.context, run.seed, tcfg, lr_schedule(tcfg, steps), data_dir, out_dir / "checkpoints"
        )
        fp = fingerprint(run.to_dict(), tcfg, job.data_meta)
        state = job.resume(fp) or job.fresh()
        extra = {"schedule": "cosine"}
    else:
        if trunk_dir is None or not (Path(trunk_dir) / "trunk.json").exists():
            raise InputError(f"{trunk_dir}/trunk.json does not exist: train the WSD trunk first (`emergence trunk`)")
        trunk = read_json(Path(trunk_dir) / "trunk.json", "trunk summary")
        budget_steps = [total_steps(b, tcfg.batch_size, run.context) for b in trunk["trunk"]["budgets"]]
        branch = branch_step(tcfg, steps)
        schedule = wsd_schedule(tcfg, trunk["warmup_steps"], branch, steps)
        job = _Job(run.name, run.size, run.context, run.seed, tcfg, schedule, data_dir, out_dir / "checkpoints")
        fp = fingerprint(run.to_dict(), tcfg, job.data_meta, trunk["fingerprint"])
        state = _branch_off(job, Checkpoints(Path(trunk_dir) / "checkpoints"), branch, ckpt_steps, fp)
        extra = {
            "schedule": "wsd",
            "trunk": trunk["name"],
            "branch_step": branch,
            "shared_steps": shared_steps(tcfg, budget_steps, steps),
        }
    state = job.advance(state, ckpt_steps, fp, progress, wandb, run.to_dict())
    job.ckpts.close()
    summary = {"name": run.name, "run": run.to_dict(), **job.summary(state, ckpt_steps, fp), **extra}
    if primary():
        write_jsonl(out_dir / "train_log.jsonl", job.log(state, ckpt_steps))
        write_json(out_dir / "model.json", summary)
    return summary


def _branch_off(job: _Job, trunk: Checkpoints, branch: int, ckpt_steps: list[int], fp: str) -> State:
    """A branch's state to train on from: its latest cool-down checkpoint, else the trunk's
    state at the branch step. The trunk's checkpoints before the branch become the run's own."""
    state = job.resume(fp)
    have = set(job.ckpts.steps())
    for s in ckpt_steps:
        if s <= branch and s not in have:
            if s not in trunk.steps():
                raise InputError(f"{trunk.directory} has no checkpoint at step {s}: retrain the trunk")
            job.ckpts.adopt(trunk, s, fp)
    if state is None or state.step < branch:
        if branch not in trunk.steps():
            raise InputError(f"{trunk.directory} has no checkpoint at the branch step {branch}: retrain the trunk")
        state = job.restore(trunk, branch)
    trunk.close()
    return state
