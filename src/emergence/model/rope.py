"""Rotary position frequencies, plain or scaled to read past the training context.

A model trained on contexts of L tokens sees rotations it never saw beyond L. The methods
below rescale the rotary frequencies by a factor s so that s x L tokens fit, at inference
without retraining (or after a short fine-tune):

- `none`: plain RoPE, inv_freq_i = base^(-2i/d);
- `linear`: position interpolation (Chen et al. 2023): positions divided by s, i.e. every
  inverse frequency divided by s;
- `ntk`: NTK-aware scaling: the base multiplied by s^(d/(d-2)), which stretches the slow
  dimensions most and leaves the fastest nearly alone;
- `dynamic_ntk`: the NTK base recomputed from the sequence length n once n > L,
  base * ((s n / L) - (s - 1))^(d/(d-2)); plain RoPE while n <= L. Here n is the length of
  the whole sequence the model is run on (for generation: prompt plus new tokens, the
  KV cache's length), so cached keys and a recomputation use the same base;
- `yarn` (Peng et al. 2023): each dimension blends interpolation (divided by s) and
  extrapolation (unchanged) by a linear ramp over the dimensions that complete between
  beta = 32 and alpha = 1 rotations over L (the correction range, floored and ceiled as in
  the reference implementation), and the attention is sharpened by scaling the rotary
  tables by 0.1 ln s + 1 (so the logits by its square, as the reference does).

`rope_frequencies` is the one function the model calls (`emergence rope` prints it).
"""

from __future__ import annotations

import math

import numpy as np

from emergence.errors import ConfigError

METHODS = ("none", "linear", "ntk", "dynamic_ntk", "yarn")
# YaRN's correction range: dimensions with more than BETA rotations over the original
# context keep their frequency; those with fewer than ALPHA are interpolated.
YARN_BETA, YARN_ALPHA = 32.0, 1.0


def _yarn_dim(rotations: float, dim: int, base: float, context: int) -> float:
    """The dimension index (fractional) whose wavelength fits `rotations` times in `context`."""
    return dim * math.log(context / (rotations * 2 * math.pi)) / (2 * math.log(base))


def rope_frequencies(
    method: str, dim: int, base: float, factor: float, original_context: int, seq_len: int | None = None
) -> tuple[np.ndarray, float]:
    """(inverse frequencies of length dim/2, attention scale) of `method` with scale factor
    `factor` over `original_context`; `seq_len` is the sequence length (dynamic_ntk only).
    ConfigError (one line) for an unknown method, an odd dim, or a factor below 1."""
    if method not in METHODS:
        raise ConfigError(f"rope scaling {method!r} is not one of {', '.join(METHODS)}")
    if dim % 2 or dim < 2:
        raise ConfigError(f"rotary dimension {dim} must be even and positive")
    if not factor >= 1.0:
        raise ConfigError(f"rope factor {factor} must be at least 1")
    exponents = np.arange(0, dim, 2, dtype=np.float64) / dim
    plain = base**-exponents
    if method == "none" or factor == 1.0:
        return plain, 1.0
    if method == "linear":
        return plain / factor, 1.0
    if method == "ntk":
        return (base * factor ** (dim / (dim - 2))) ** -exponents, 1.0
    if method == "dynamic_ntk":
        n = original_context if seq_len is None else seq_len
        if n <= original_context:
            return plain, 1.0
        scaled = base * ((factor * n / original_context) - (factor - 1)) ** (dim / (dim - 2))
        return scaled**-exponents, 1.0
    # yarn
    low = max(math.floor(_yarn_dim(YARN_BETA, dim, base, original_context)), 0)
    high = min(math.ceil(_yarn_dim(YARN_ALPHA, dim, base, original_context)), dim - 1)
    if low == high:
        high += 0.001  # the reference's guard against a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    keep = 1.0 - ramp  # 1: extrapolate (fast dimensions), 0: interpolate (slow ones)
    inv_freq = plain / factor * (1.0 - keep) + plain * keep
    return inv_freq, 0.1 * math.log(factor) + 1.0
