"""The jitted, data-parallel training step of one model, and how steps are grouped into calls."""

from __future__ import annotations

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from emergence.config import TrainingConfig
from emergence.model.transformer import ModelConfig, init_model
from emergence.train.optimizer import make_optimizer


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

    def __init__(self, mcfg: ModelConfig, tcfg: TrainingConfig, schedule: optax.Schedule, mesh: Mesh):
        self.mcfg, self.mesh, self._batch_size, self._compiled = mcfg, mesh, tcfg.batch_size, {}
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(mcfg, 0)))
        self.tx = make_optimizer(tcfg, schedule)
        self.replicated = NamedSharding(mesh, P())
        self.batch_sharding = NamedSharding(mesh, P(None, "data", None))
        self.train_chunk = jax.jit(
            self._train_chunk,
            in_shardings=(self.replicated, self.replicated, self.batch_sharding),
            out_shardings=self.replicated,
            donate_argnums=(0, 1),
        )
        # Validation batches shard like training ones where they divide over the devices
        # (a short split can give fewer windows per batch), else every device takes them whole.
        n = mesh.devices.size
        self.val_sharding = lambda rows: NamedSharding(mesh, P("data", None) if rows % n == 0 else P())
        self.val_loss_sum = jax.jit(self._val_loss_sum)

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
        # Placed explicitly: across processes, jit takes no host arrays for a sharded input.
        sharding = self.val_sharding(windows_NxBxL1.shape[1])
        total = sum(float(self.val_loss_sum(params, jax.device_put(w, sharding))) for w in windows_NxBxL1)
        return total / (windows_NxBxL1.shape[0] * windows_NxBxL1.shape[1] * (windows_NxBxL1.shape[2] - 1))


def chunks(start: int, stop: int, size: int):
    """Split steps start..stop-1 into runs of `size` then single steps, so only two shapes compile."""
    while stop - start >= size:
        yield start, size
        start += size
    for s in range(start, stop):
        yield s, 1
