"""Context extension: fine-tune a model's final checkpoint at s x its context with a
position scaling (model/rope.py), as the YaRN paper does (about 400 steps there).

The extended model is a run like any other (`loop._Job`): its batches are s x L tokens long
(batch size divided by s, so a step sees as many tokens as in pretraining), its learning
rate warms up over the first 10% of the steps and then stays constant, it validates and saves
at `n_checkpoints` steps, and a killed job resumes from its latest checkpoint. Its
`model.json` holds the scaled model config, so `emergence evaluate --checkpoint` and the
long-context stage read it at s x L with its method.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import optax

from emergence.config import ModelRun, TrainingConfig
from emergence.errors import InputError
from emergence.io import read_json, write_json, write_jsonl
from emergence.model.checkpoints import Checkpoints
from emergence.model.inference import load_model_config
from emergence.sources import rule_code
from emergence.train.distributed import primary
from emergence.train.loop import State, _Job, fingerprint
from emergence.train.optimizer import checkpoint_steps


@dataclasses.dataclass(frozen=True)
class Extension:
    method: str
    factor: float
    steps: int
    learning_rate: float
    n_checkpoints: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def extended_name(model: str, ext: Extension) -> str:
    return f"{model}+{ext.method}x{ext.factor:g}"


def extend(
    model_dir: Path, ext: Extension, tcfg: TrainingConfig, data_dir: Path, out_dir: Path, progress: bool = True
) -> dict:
    """Fine-tune the final checkpoint of the model in `model_dir` at `ext.factor` times its
    context; writes checkpoints, train_log.jsonl and model.json under `out_dir`."""
    model_dir, data_dir, out_dir = Path(model_dir), Path(data_dir), Path(out_dir)
    base = read_json(model_dir / "model.json", "model summary")
    run = ModelRun.from_dict(base["run"])
    scaled = load_model_config(model_dir).scaled(ext.method, ext.factor)
    batch = max(1, round(tcfg.batch_size / ext.factor))
    tcfg = dataclasses.replace(tcfg, batch_size=batch, learning_rate=ext.learning_rate)
    warmup = max(1, ext.steps // 10)
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, ext.learning_rate, warmup), optax.constant_schedule(ext.learning_rate)], [warmup]
    )
    name = extended_name(base["name"], ext)
    job = _Job(name, run.size, scaled.context, run.seed, tcfg, schedule, data_dir, out_dir / "checkpoints", scaled)
    fp = fingerprint(ext.to_dict(), tcfg, job.data_meta, base["fingerprint"], rule_code("extend"))
    steps = checkpoint_steps(ext.steps, ext.n_checkpoints)
    print(
        f"{name}: {ext.steps} steps at {scaled.context} tokens x {batch}, {ext.method} x {ext.factor:g}",
        file=sys.stderr,
    )
    state = job.resume(fp) or from_checkpoint(job, model_dir, base["checkpoint_steps"][-1])
    state = job.advance(state, steps, fp, progress)
    job.ckpts.close()
    summary = {
        "name": name,
        "run": run.to_dict(),
        **job.summary(state, steps, fp),
        "extended_from": {
            "model": base["name"],
            "step": base["checkpoint_steps"][-1],
            "final_val_loss": base["final_val_loss"],
        },
        "extension": ext.to_dict(),
    }
    if primary():
        write_jsonl(out_dir / "train_log.jsonl", job.log(state, steps))
        write_json(out_dir / "model.json", summary)
    return summary


def from_checkpoint(job: _Job, model_dir: Path, step: int) -> State:
    """Step 0 of a fine-tuning job (an extension, an instruction tuning): the parameters of
    the model in `model_dir` at `step`, a fresh optimizer state."""
    ckpts = Checkpoints(model_dir / "checkpoints")
    if step not in ckpts.steps():
        raise InputError(f"{ckpts.directory} has no checkpoint at step {step}: retrain the model")
    params = job.restore(ckpts, step).params
    ckpts.close()
    _, opt_state = job.engine.init(job.seed)
    return State(0, params, opt_state, [], {})
