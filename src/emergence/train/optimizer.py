"""AdamW and its learning-rate schedules, and which steps a run checkpoints.

Two schedules (training.schedule):
- `cosine`: each token budget is its own run, warmup then cosine decay to that budget.
- `wsd` (warmup-stable-decay; Hägele et al. 2024, MiniCPM): one trunk per (size, seed)
  warms up and holds the peak rate; each budget branches off the trunk at the start of
  its cool-down (the last `cooldown_fraction` of its steps) and decays to min_lr_ratio x
  peak with a 1 - sqrt shape. Before its branch a budget's run *is* the trunk (same data
  order, same rate), so the trunk's checkpoints serve as its early checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from emergence.config import TrainingConfig


def total_steps(tokens: int, batch_size: int, context: int) -> int:
    """Optimizer steps that cover a token budget (the last step may overshoot it slightly)."""
    return max(1, math.ceil(tokens / (batch_size * context)))


def _warmup_steps(cfg: TrainingConfig, steps: int) -> int:
    return max(1, round(cfg.warmup_fraction * steps)) if cfg.warmup_fraction > 0 else 0


def lr_schedule(cfg: TrainingConfig, steps: int) -> optax.Schedule:
    """Cosine: warmup over `warmup_fraction` of the steps, then decay to min_lr_ratio * peak at `steps`."""
    warmup = _warmup_steps(cfg, steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else cfg.learning_rate,
        peak_value=cfg.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(steps, warmup + 1),
        end_value=cfg.learning_rate * cfg.min_lr_ratio,
    )


def wsd_warmup(cfg: TrainingConfig, budget_steps: Sequence[int]) -> int:
    """WSD warmup: `warmup_fraction` of the smallest budget's steps, so that it ends before
    any budget starts to cool down (a fixed number of steps for every budget, as in WSD)."""
    return _warmup_steps(cfg, min(budget_steps))


def branch_step(cfg: TrainingConfig, steps: int) -> int:
    """The step at which a budget of `steps` steps leaves the trunk and starts its cool-down."""
    return steps - max(1, round(cfg.cooldown_fraction * steps))


def wsd_schedule(cfg: TrainingConfig, warmup: int, branch: int | None = None, steps: int | None = None):
    """Linear warmup to the peak over `warmup` steps, then the peak; from `branch` on (when
    given), a 1 - sqrt cool-down that reaches min_lr_ratio * peak at `steps`."""
    peak, low = cfg.learning_rate, cfg.learning_rate * cfg.min_lr_ratio
    parts, bounds = [], []
    if warmup:
        parts.append(optax.linear_schedule(0.0, peak, warmup))
        bounds.append(warmup)
    parts.append(optax.constant_schedule(peak))
    if branch is not None:
        length = max(1, steps - branch)
        parts.append(lambda c: low + (peak - low) * (1.0 - jnp.sqrt(jnp.clip(c / length, 0.0, 1.0))))
        bounds.append(branch)
    return optax.join_schedules(parts, bounds) if bounds else parts[0]


def _decay_mask(params):
    # Weight decay on matrices only: not on norm scales.
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(cfg: TrainingConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(schedule, b1=cfg.beta1, b2=cfg.beta2, weight_decay=cfg.weight_decay, mask=_decay_mask),
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


def stable_checkpoints(cfg: TrainingConfig, steps: int) -> set[int]:
    """WSD: a budget's checkpoints up to its branch step, i.e. the trunk's weights."""
    return {s for s in checkpoint_steps(steps, cfg.n_checkpoints) if s <= branch_step(cfg, steps)}


def trunk_checkpoint_steps(cfg: TrainingConfig, budget_steps: Sequence[int]) -> list[int]:
    """What a WSD trunk saves: every budget's checkpoints before its branch, and each branch
    point. The trunk ends at the last branch point."""
    steps = set()
    for n in budget_steps:
        steps |= stable_checkpoints(cfg, n) | {branch_step(cfg, n)}
    return sorted(s for s in steps if s > 0)


def shared_steps(cfg: TrainingConfig, budget_steps: Sequence[int], steps: int) -> list[int]:
    """WSD: the checkpoints of the budget of `steps` steps that a larger budget of the same
    trunk also has (the same weights). They are evaluated and counted once, under the
    largest budget."""
    larger = set().union(*(stable_checkpoints(cfg, n) for n in budget_steps if n > steps))
    return sorted(stable_checkpoints(cfg, steps) & larger)
