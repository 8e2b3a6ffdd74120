"""Instruction tuning of one checkpoint: the trainer's loop on instruction examples, with the
loss on the response tokens only.

The tuning data is one token stream of the examples, each `prompt`, ` response`, a newline
and the end-of-text token, beside a mask that is 1 on the response, the newline and the
end-of-text token (what the model must learn to write, and to stop) and 0 on the prompt. A
step's batch is windows of L + 1 tokens at random offsets of the stream, as in pretraining
(`data.batches`: a pure function of seed and step, so resume is exact), with the mask's
windows at the same offsets; the loss is the mean over the targets whose mask is 1.

A tuning is a run like any other (`train.loop._Job`): validated on the pretraining validation
windows (what tuning costs the language model) and saved at `instruct.n_checkpoints` steps,
resumed from its latest checkpoint of the same configuration after a kill; `tune.json`
appears when it has finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emergence.config import InstructConfig, ModelRun, TrainingConfig
from emergence.errors import ConfigError
from emergence.io import read_json, write_json, write_jsonl
from emergence.model.inference import load_model_config
from emergence.sources import closure
from emergence.train.distributed import primary
from emergence.train.engine import Engine, data_mesh
from emergence.train.extend import from_checkpoint
from emergence.train.loop import _Job, fingerprint
from emergence.train.optimizer import checkpoint_steps, lr_schedule


def encode_examples(examples, encode, eos: int) -> np.ndarray:
    """The tuning stream: (N, 2) int32 rows of (token, mask) for `examples` of (family,
    prompt, response), `encode(text)` giving a text's token ids."""
    rows = []
    for _, prompt, response in examples:
        p, r = encode(prompt), encode(response) + encode("\n") + [eos]
        rows.append(np.stack([np.array(p + r), np.r_[np.zeros(len(p)), np.ones(len(r))]], axis=1))
    return np.concatenate(rows).astype(np.int32)


def masked_mean(losses_N, mask_N):
    """Mean of the losses where the mask is 1 (0 for a batch without any)."""
    mask_N = mask_N.astype(losses_N.dtype)
    return jnp.sum(losses_N * mask_N) / jnp.maximum(jnp.sum(mask_N), 1.0)


class MaskedEngine(Engine):
    """The training engine on batches of (token, mask) pairs, shape (S, B, L+1, 2): the loss
    counts the targets whose mask is 1."""

    def masked_loss(self, params, batch_BxL1x2):
        tokens_BxL1, mask_BxL1 = batch_BxL1x2[..., 0], batch_BxL1x2[..., 1]
        return masked_mean(self._token_losses(params, tokens_BxL1), mask_BxL1[:, 1:].reshape(-1))

    def _train_chunk(self, params, opt_state, batches_SxBxL1x2):
        def step(carry, batch_BxL1x2):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(self.masked_loss)(params, batch_BxL1x2)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, optax.tree.norm(grads))

        (params, opt_state), (losses_S, gnorms_S) = jax.lax.scan(step, (params, opt_state), batches_SxBxL1x2)
        return params, opt_state, losses_S, gnorms_S

    def compile(self, params, opt_state, chunk_sizes) -> None:
        B, L1 = self.batch_sharding, self.mcfg.context + 1
        for n in sorted(chunk_sizes):
            spec = jax.ShapeDtypeStruct((n, self._batch_size, L1, 2), np.int32, sharding=B)
            self._compiled[n] = self.train_chunk.lower(params, opt_state, spec).compile()


class TuneJob(_Job):
    """A training job whose batches come from the tuning stream, trained by the masked engine."""

    def __init__(self, name, run: ModelRun, tcfg: TrainingConfig, schedule, data_dir, ckpt_dir, mcfg, stream):
        super().__init__(name, run.size, run.context, run.seed, tcfg, schedule, data_dir, ckpt_dir, mcfg)
        if len(stream) <= run.context:
            raise ConfigError(
                f"config key 'instruct.tune_examples': {len(stream)} tokens of tuning examples, "
                f"fewer than the context + 1 ({run.context + 1}); raise it"
            )
        self.train_tokens = stream
        self.engine = MaskedEngine(self.mcfg, tcfg, schedule, data_mesh(tcfg.batch_size))


def tuned_name(model: str, step: int) -> str:
    return f"{model}@{step}+instruct"


def tune(
    model_dir: Path,
    step: int,
    ic: InstructConfig,
    tcfg: TrainingConfig,
    data_dir: Path,
    stream: np.ndarray,
    out_dir: Path,
    progress: bool = True,
) -> dict:
    """Instruction-tune the checkpoint at `step` of the model in `model_dir` on `stream`
    (`encode_examples`) for `ic.steps` steps; checkpoints, train_log.jsonl and tune.json
    under `out_dir`. Returns the summary written to tune.json."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    base = read_json(model_dir / "model.json", "model summary")
    run = ModelRun.from_dict(base["run"])
    tcfg = dataclasses.replace(tcfg, batch_size=ic.batch_size, learning_rate=ic.learning_rate)
    schedule = lr_schedule(tcfg, ic.steps)
    name = tuned_name(base["name"], step)
    job = TuneJob(
        name, run, tcfg, schedule, Path(data_dir), out_dir / "checkpoints", load_model_config(model_dir), stream
    )
    # What the tuned weights depend on (not which checkpoints or families are evaluated).
    tuning = {k: getattr(ic, k) for k in ("steps", "batch_size", "learning_rate", "n_checkpoints")}
    spec = {"tuning": tuning, "step": step, "stream": hashlib.sha256(stream.tobytes()).hexdigest()}
    fp = fingerprint(spec, tcfg, job.data_meta, base["fingerprint"], closure("emergence.instruct.tune"))
    steps = checkpoint_steps(ic.steps, ic.n_checkpoints)
    print(f"{name}: {ic.steps} steps of {ic.batch_size} x {run.context} tokens, response tokens only", file=sys.stderr)
    state = job.resume(fp) or from_checkpoint(job, model_dir, step)
    state = job.advance(state, steps, fp, progress)
    job.ckpts.close()
    summary = {
        "name": name,
        "run": run.to_dict(),
        **job.summary(state, steps, fp),
        "base": {"model": base["name"], "step": step},
        "instruct": dataclasses.asdict(ic),
    }
    if primary():
        write_jsonl(out_dir / "train_log.jsonl", job.log(state, steps))
        write_json(out_dir / "tune.json", summary)
    return summary
