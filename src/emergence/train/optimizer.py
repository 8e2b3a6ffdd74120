"""AdamW with linear warmup and cosine decay to the run's own token budget."""

from __future__ import annotations

import math

import jax
import optax

from emergence.config import TrainingConfig


def total_steps(tokens: int, batch_size: int, context: int) -> int:
    """Optimizer steps that cover a token budget (the last step may overshoot it slightly)."""
    return max(1, math.ceil(tokens / (batch_size * context)))


def lr_schedule(cfg: TrainingConfig, steps: int) -> optax.Schedule:
    """Warmup over `warmup_fraction` of the steps, then cosine decay to min_lr_ratio * peak at `steps`."""
    warmup = max(1, round(cfg.warmup_fraction * steps)) if cfg.warmup_fraction > 0 else 0
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else cfg.learning_rate,
        peak_value=cfg.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(steps, warmup + 1),
        end_value=cfg.learning_rate * cfg.min_lr_ratio,
    )


def _decay_mask(params):
    # Weight decay on matrices only: not on norm scales.
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(cfg: TrainingConfig, steps: int) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(
            lr_schedule(cfg, steps), b1=cfg.beta1, b2=cfg.beta2, weight_decay=cfg.weight_decay, mask=_decay_mask
        ),
    )


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """Pythia-style schedule of about `n` checkpoint steps in 1..steps: half evenly
    spaced (always ending at `steps`), the rest the largest powers of two below the
    first even one, so the fast early fall of the loss is sampled too."""
    n_even = max(1, math.ceil(n / 2))
    even = {max(1, round(steps * i / n_even)) for i in range(1, n_even + 1)}
    first_even = min(even)
    powers = [2**k for k in range(int(math.log2(steps)) + 1) if 2**k < first_even]
    return sorted(even | set(powers[-(n - n_even) :] if n > n_even else []))
