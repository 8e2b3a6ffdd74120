"""Induction-head scores (Olsson et al. 2022) on repeated random token sequences.

Each sequence is `half` random tokens followed by the same `half` tokens again (T = 2 *
half). In the second repeat an induction head at query i attends to i - half + 1, the
position after the earlier occurrence of token i (prefix matching), and raises the
logit of the token it attends to (copying). The scores are pure numpy functions of
attention weights, direct logits and losses, so tests check them on hand-built arrays;
`induction_scores` runs a `HeadProbe` on one checkpoint and applies them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence.evaluate.metrics import uniform_prefix_matching
from emergence.model.heads import HeadProbe

__all__ = ["uniform_prefix_matching"]  # the chance level, declared in the metric registry


def repeated_sequences(rng: np.random.Generator, candidates: np.ndarray, n_seqs: int, half: int) -> np.ndarray:
    """(n_seqs, 2 * half) int32: each row is `half` tokens drawn uniformly with replacement
    from `candidates`, then the same `half` tokens again."""
    first_NxH = rng.choice(np.asarray(candidates), size=(n_seqs, half), replace=True)
    return np.concatenate([first_NxH, first_NxH], axis=1).astype(np.int32)


def _second_repeat(half: int, T: int) -> np.ndarray:
    """The query positions scored: the second repeat, half .. 2*half - 1."""
    if half < 1 or T < 2 * half:
        raise ValueError(f"sequences of length {T} have no two repeats of length {half}")
    return np.arange(half, 2 * half)


def _mean_per_head(x_xHxQ: np.ndarray) -> np.ndarray:
    """(H,): the mean over the last (query) axis and over any leading batch axes."""
    x_xHxQ = np.asarray(x_xHxQ, np.float64)
    return x_xHxQ.reshape(-1, *x_xHxQ.shape[-2:]).mean(axis=(0, 2))


def prefix_matching(weights_HxTxT: np.ndarray, half: int) -> np.ndarray:
    """(H,): each head's mean attention weight, over queries i = half .. 2*half - 1 (and a
    leading batch axis if given, (n, H, T, T)), from i to key i - half + 1: the token after
    the earlier occurrence of token i. 1 for a perfect induction head."""
    i_Q = _second_repeat(half, weights_HxTxT.shape[-1])
    return _mean_per_head(weights_HxTxT[..., i_Q, i_Q - half + 1])


def copying(weights_HxTxT: np.ndarray, direct_logits_HxTxV: np.ndarray, tokens_T: np.ndarray, half: int) -> np.ndarray:
    """(H,): each head's mean, over queries i = half .. 2*half - 1 (and a leading batch
    axis if given: weights (n, H, T, T), logits (n, H, T, V), tokens (n, T)), of

        sum_j weights[h, i, j] * (direct_logits[h, i, tokens[j]] - mean_v direct_logits[h, i, v]),

    how far the head's direct effect raises the logits of the tokens it attends to above
    its mean logit (logit units, i.e. nats of log-odds)."""
    weights_nxHxTxT = np.asarray(weights_HxTxT, np.float64)
    logits_nxHxTxV = np.asarray(direct_logits_HxTxV, np.float64)
    tokens_nxT = np.asarray(tokens_T)
    if tokens_nxT.ndim == 1:
        weights_nxHxTxT, logits_nxHxTxV, tokens_nxT = weights_nxHxTxT[None], logits_nxHxTxV[None], tokens_nxT[None]
    i_Q = _second_repeat(half, weights_nxHxTxT.shape[-1])
    centred_nxHxTxV = logits_nxHxTxV - logits_nxHxTxV.mean(axis=-1, keepdims=True)
    n, H, T, _ = centred_nxHxTxV.shape
    keys_nxHxTxT = np.broadcast_to(tokens_nxT[:, None, None, :], (n, H, T, T))
    attended_nxHxTxT = np.take_along_axis(centred_nxHxTxV, keys_nxHxTxT, axis=-1)
    per_query_nxHxT = (weights_nxHxTxT * attended_nxHxTxT).sum(axis=-1)
    return _mean_per_head(per_query_nxHxT[..., i_Q])


def repeat_losses(token_loss_T1: np.ndarray, half: int) -> tuple[float, float]:
    """(first, second): mean next-token loss, with entry t of `token_loss_T1` ((T-1,) or
    (n, T-1)) the loss of token t+1 given tokens 0..t, over

    - first: targets 1 .. half-1 of the first repeat (entries 0 .. half-2; token 0 has
      no context),
    - second: targets half+1 .. 2*half-1 (entries half .. 2*half-2), the same positions
      of the second repeat: its first token repeats token 0, which nothing predicts.
    """
    loss_nxT1 = np.atleast_2d(np.asarray(token_loss_T1, np.float64))
    i_Q = _second_repeat(half, loss_nxT1.shape[-1] + 1)
    return float(loss_nxT1[:, : half - 1].mean()), float(loss_nxT1[:, i_Q[1:] - 1].mean())


def head_table(weights_LyxNxHxTxT: np.ndarray, copying_LyxNxHxT: np.ndarray, half: int) -> pd.DataFrame:
    """One row per (layer, head): prefix_matching and copying (the mean over second-repeat
    queries and sequences of `heads.copying_per_query`, the definition of `copying`)."""
    i_Q = _second_repeat(half, weights_LyxNxHxTxT.shape[-1])
    rows = []
    for layer, (w_NxHxTxT, c_NxHxT) in enumerate(zip(weights_LyxNxHxTxT, copying_LyxNxHxT)):
        pm_H, copy_H = prefix_matching(w_NxHxTxT, half), _mean_per_head(c_NxHxT[..., i_Q])
        rows += [
            {"layer": layer, "head": h, "prefix_matching": float(pm_H[h]), "copying": float(copy_H[h])}
            for h in range(len(pm_H))
        ]
    return pd.DataFrame(rows, columns=["layer", "head", "prefix_matching", "copying"])


def summarize(heads: pd.DataFrame, token_loss_NxT1: np.ndarray, half: int) -> dict[str, float]:
    """prefix_matching: the highest over heads; copying: that head's copying score (the
    first such head on ties); repeat losses as `repeat_losses`, and their gain first - second."""
    best = heads.loc[heads["prefix_matching"].idxmax()]
    first, second = repeat_losses(token_loss_NxT1, half)
    return {
        "prefix_matching": float(best["prefix_matching"]),
        "copying": float(best["copying"]),
        "repeat_loss_first": first,
        "repeat_loss_second": second,
        "repeat_loss_gain": first - second,
    }


def induction_scores(probe: HeadProbe, params, tokens_NxT: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-head scores (`head_table`) and their summary (`summarize`) of one checkpoint's
    `params` on repeated sequences `tokens_NxT` (e.g. from `repeated_sequences`), from one
    jitted forward pass."""
    tokens_NxT = np.asarray(tokens_NxT)
    half = tokens_NxT.shape[1] // 2
    if tokens_NxT.shape[1] % 2 or not np.array_equal(tokens_NxT[:, :half], tokens_NxT[:, half:]):
        raise ValueError("tokens_NxT must be sequences repeated once (rows of repeated_sequences)")
    out = probe(params, tokens_NxT)
    heads = head_table(out["weights_LyxNxHxTxT"], out["copying_LyxNxHxT"], half)
    return heads, summarize(heads, out["loss_NxT1"], half)
