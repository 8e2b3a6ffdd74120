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
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm import tqdm

from emergence import batches
from emergence.checkpoint import Checkpoints
from emergence.config import ModelRun, TrainingConfig
from emergence.errors import TrainingError
from emergence.files import write_json, write_jsonl
from emergence.model import ModelConfig, flops_per_token, init_model, param_counts
from emergence.optimizer import checkpoint_steps, lr_schedule, make_optimizer, total_steps
from emergence.shards import open_tokens

TIMING_FIELDS = ("tokens_per_s", "flops_per_s")
# Source files whose change invalidates checkpoints (resume must not mix code versions).
_CODE = ("model.py", "optimizer.py", "batches.py", "checkpoint.py", "train.py")


def data_mesh(batch_size: int) -> Mesh:
    """A 1-D mesh over as many local devices as evenly divide the batch."""
    devices = jax.devices()
    n = max(d for d in range(1, len(devices) + 1) if batch_size % d == 0)
    return Mesh(np.array(devices[:n]), ("data",))


class Engine:
    """The jitted, data-parallel step functions of one model.

    Parameters and optimizer state are replicated over the mesh; each batch is split
    along its batch axis, and XLA inserts the gradient all-reduce.
    """

    def __init__(self, mcfg: ModelConfig, tcfg: TrainingConfig, steps: int, mesh: Mesh):
        self.mcfg, self.mesh, self._batch_size, self._compiled = mcfg, mesh, tcfg.batch_size, {}
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(mcfg, 0)))
        self.tx = make_optimizer(tcfg, steps)
        self.replicated = NamedSharding(mesh, P())
        self.batch_sharding = NamedSharding(mesh, P(None, "data", None))
        self.train_chunk = jax.jit(
            self._train_chunk,
            in_shardings=(self.replicated, self.replicated, self.batch_sharding),
            out_shardings=self.replicated,
            donate_argnums=(0, 1),
        )
        self.val_loss_sum = jax.jit(self._val_loss_sum, in_shardings=(self.replicated, NamedSharding(mesh, P("data", None))))

    def init(self, seed: int):
        params = nnx.to_pure_dict(nnx.state(init_model(self.mcfg, seed), nnx.Param))
        params = jax.device_put(params, self.replicated)
        return params, jax.device_put(self.tx.init(params), self.replicated)

    def compile(self, params, opt_state, chunk_sizes) -> None:
        """Compile the step function for each chunk length ahead of time, so that
        compilation is not counted as training throughput."""
        B, L1 = self.batch_sharding, self.mcfg.context + 1
        for n in sorted(chunk_sizes):
            spec = jax.ShapeDtypeStruct((n, self._batch_size, L1), np.int32, sharding=B)
            self._compiled[n] = self.train_chunk.lower(params, opt_state, spec).compile()

    def run_chunk(self, params, opt_state, batches_SxBxL1):
        fn = self._compiled.get(batches_SxBxL1.shape[0], self.train_chunk)
        return fn(params, opt_state, jax.device_put(batches_SxBxL1, self.batch_sharding))

    def _token_losses(self, params, tokens_BxL1):
        logits_BxLxV = nnx.merge(self.graphdef, params)(tokens_BxL1[:, :-1])
        # Flattened to (N, V): XLA's CPU backend handles 2-D activations faster.
        logits_NxV = logits_BxLxV.reshape(-1, logits_BxLxV.shape[-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits_NxV, tokens_BxL1[:, 1:].reshape(-1))

    def _train_chunk(self, params, opt_state, batches_SxBxL1):
        """Several optimizer steps in one call: per-step losses and gradient norms."""

        def step(carry, tokens_BxL1):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(lambda p: self._token_losses(p, tokens_BxL1).mean())(params)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, optax.tree.norm(grads))

        (params, opt_state), (losses_S, gnorms_S) = jax.lax.scan(step, (params, opt_state), batches_SxBxL1)
        return params, opt_state, losses_S, gnorms_S

    def _val_loss_sum(self, params, tokens_BxL1):
        return self._token_losses(params, tokens_BxL1).sum()

    def validate(self, params, windows_NxBxL1: np.ndarray) -> float:
        total = sum(float(self.val_loss_sum(params, w)) for w in windows_NxBxL1)
        return total / (windows_NxBxL1.shape[0] * windows_NxBxL1.shape[1] * (windows_NxBxL1.shape[2] - 1))


def fingerprint(run: ModelRun, tcfg: TrainingConfig, data_meta: dict) -> str:
    """Identity of a run's configuration, data and training code: checkpoints resume only on a match."""
    src = Path(__file__).parent
    code = hashlib.sha256(b"".join((src / f).read_bytes() for f in _CODE)).hexdigest()
    blob = json.dumps([run.to_dict(), dataclasses.asdict(tcfg), data_meta, code], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def chunks(start: int, stop: int, size: int):
    """Split steps start..stop-1 into runs of `size` then single steps, so only two shapes compile."""
    while stop - start >= size:
        yield start, size
        start += size
    for s in range(start, stop):
        yield s, 1


def train(run: ModelRun, tcfg: TrainingConfig, data_dir: Path, out_dir: Path, progress: bool = True) -> dict:
    """Train `run` on the shards in `data_dir`, resuming from the latest complete checkpoint
    of the same configuration. Returns the model summary written to model.json."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    data_meta = json.loads((data_dir / "meta.json").read_text())
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
    print(f"{run.name}: {steps} steps, data-parallel over {mesh.devices.size} devices ({jax.devices()[0].platform})", file=sys.stderr)
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

    bar = tqdm(total=steps, initial=step, desc=run.name, unit="step", file=sys.stderr, disable=not progress, mininterval=2)
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
                    log.append({
                        "step": s,
                        "tokens": s * tokens_per_step,
                        "loss": float(np.mean(pending_losses)),
                        "val_loss": None,
                        "val_bpb": None,
                        "lr": float(schedule(s - 1)),
                        "grad_norm": float(gnorms_S[i]),
                        "tokens_per_s": tps,
                        "flops_per_s": tps * fpt,
                    })
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
        "fingerprint": fp,
    }
    write_jsonl(out_dir / "train_log.jsonl", log)
    write_json(out_dir / "model.json", summary)
    return summary
