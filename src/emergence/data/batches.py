"""Which tokens each step trains on, and the fixed validation windows.

A step's batch is a pure function of (seed, step): a resumed run sees exactly the
data an uninterrupted run would, with no data-loader state to checkpoint.
"""

from __future__ import annotations

import numpy as np

from emergence.errors import InputError


def train_batch(tokens: np.ndarray, seed: int, step: int, batch_size: int, context: int) -> np.ndarray:
    """(B, L+1) int32 windows at random offsets for 0-based `step` (inputs and shifted targets)."""
    n_windows = len(tokens) - context
    if n_windows < 1:
        raise InputError(f"training split has {len(tokens)} tokens, fewer than context + 1 = {context + 1}")
    starts_B = np.random.default_rng([seed, step]).integers(0, n_windows, size=batch_size)
    return np.asarray(tokens[starts_B[:, None] + np.arange(context + 1)[None, :]], dtype=np.int32)


def train_batches(
    tokens: np.ndarray, seed: int, first_step: int, n_steps: int, batch_size: int, context: int
) -> np.ndarray:
    """(S, B, L+1) batches of steps first_step .. first_step + n_steps - 1."""
    return np.stack(
        [train_batch(tokens, seed, s, batch_size, context) for s in range(first_step, first_step + n_steps)]
    )


def val_windows(tokens: np.ndarray, max_tokens: int, context: int, batch_size: int) -> np.ndarray:
    """(N, B, L+1) non-overlapping windows from the start of the validation split,
    at most `max_tokens` target tokens, as whole batches (at least one window)."""
    n_windows = min(max_tokens, len(tokens) - 1) // context
    if n_windows < 1:
        raise InputError(f"validation split has {len(tokens)} tokens, fewer than context + 1 = {context + 1}")
    batch_size = min(batch_size, n_windows)
    n_windows -= n_windows % batch_size
    idx = np.arange(n_windows)[:, None] * context + np.arange(context + 1)[None, :]
    return np.asarray(tokens[idx], dtype=np.int32).reshape(n_windows // batch_size, batch_size, context + 1)
