"""Decoder-only transformer in Flax NNX: RoPE, RMSNorm pre-norm, causal attention.

Shapes are carried in names: B batch, L sequence, N = B * L tokens, D model width,
H heads, K head width (D = H * K), F MLP width, V vocabulary.

Activations between attention calls are kept 2-D, (N, D): XLA's CPU backend runs the
backward pass of a dense layer on a 2-D input about 4x faster than on a 3-D one (it
avoids a slow transposed copy of the gradient). Inside attention, queries, keys, values
and the key/value cache are head-major, (B, H, L, K): transposing them (after RoPE) and
the output makes the per-head matmuls plain batched ones, a 2-3% faster training step on
XLA's CPU backend than einsums over (B, L, H, K); see docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from emergence.config import ModelSize
from emergence.model.rope import rope_frequencies


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    context: int
    mlp_ratio: int = 4
    rope_base: float = 10000.0
    # Position scaling (model/rope.py): method and factor s over the context trained on
    # (rope_original_context; 0: `context`). Evaluation at s x L sets context to s x L.
    rope_scaling: str = "none"
    rope_factor: float = 1.0
    rope_original_context: int = 0
    # Compute dtype of matmuls and activations ("bfloat16": mixed precision). Parameters
    # (the optimizer's master weights), normalisation statistics, softmax and the loss stay float32.
    dtype: str = "float32"

    @classmethod
    def from_size(cls, size: ModelSize, vocab_size: int, context: int, dtype: str = "float32") -> ModelConfig:
        return cls(vocab_size, size.d_model, size.n_layers, size.n_heads, context, size.mlp_ratio, dtype=dtype)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def scaled(self, method: str, factor: float) -> ModelConfig:
        """The same model read with position scaling `method` at `factor` times its context."""
        original = self.rope_original_context or self.context
        return dataclasses.replace(
            self,
            rope_scaling=method,
            rope_factor=factor,
            rope_original_context=original,
            context=int(round(original * factor)),
        )


def rope_tables(positions: jax.Array, cfg: ModelConfig, seq_len: int) -> tuple[jax.Array, jax.Array]:
    """sin and cos tables for rotary position embeddings, (..., K/2) for positions of shape
    (...), of the model's position scaling for a sequence of `seq_len` tokens (rope.py),
    each multiplied by the method's attention scale."""
    inv_freq, scale = rope_frequencies(
        cfg.rope_scaling,
        cfg.head_dim,
        cfg.rope_base,
        cfg.rope_factor,
        cfg.rope_original_context or cfg.context,
        seq_len,
    )
    angles = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq, jnp.float32)
    return scale * jnp.sin(angles), scale * jnp.cos(angles)


def apply_rope(x_BxLxHxK: jax.Array, sin: jax.Array, cos: jax.Array) -> jax.Array:
    """Rotate pairs (first half, second half) of each head's features; tables are (L, K/2)
    when all rows share positions, or (B, L, K/2)."""
    x1, x2 = jnp.split(x_BxLxHxK, 2, axis=-1)
    sin, cos = (t.astype(x1.dtype) for t in (sin, cos))
    sin, cos = (t[..., None, :] if t.ndim == 3 else t[None, :, None, :] for t in (sin, cos))
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def causal_attention(q_BxHxLxK, k_BxHxSxK, v_BxHxSxK, mask) -> jax.Array:
    """Softmax attention (B, H, L, K) of L queries over S keys where `mask` (L, S) or
    (B, L, S) is true.

    Written as two batched matmuls around a masked softmax rather than
    jax.nn.dot_product_attention: on XLA's CPU backend its forward plus backward pass is
    about 2x faster (docs/performance.md).
    """
    mask = mask[:, None] if mask.ndim == 3 else mask  # broadcast over heads
    scores_BxHxLxS = jnp.einsum("bhlk,bhsk->bhls", q_BxHxLxK, k_BxHxSxK) / math.sqrt(q_BxHxLxK.shape[-1])
    scores_BxHxLxS = scores_BxHxLxS.astype(jnp.float32)  # softmax in float32 under mixed precision
    weights_BxHxLxS = jax.nn.softmax(jnp.where(mask, scores_BxHxLxS, -1e30), axis=-1)
    return jnp.einsum("bhls,bhsk->bhlk", weights_BxHxLxS.astype(v_BxHxSxK.dtype), v_BxHxSxK)


def split_heads(qkv_NxD3: jax.Array, B: int, L: int, H: int, sin, cos) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Queries and keys rotated by RoPE, and values, each (B, H, L, K), out of the fused
    projection's (N, 3D) output. RoPE runs before the transposes: that order is the faster
    one on XLA's CPU backend (docs/performance.md)."""
    q_BxLxHxK, k_BxLxHxK, v_BxLxHxK = jnp.split(qkv_NxD3.reshape(B, L, 3 * H, -1), 3, axis=2)
    q_BxLxHxK, k_BxLxHxK = apply_rope(q_BxLxHxK, sin, cos), apply_rope(k_BxLxHxK, sin, cos)
    return tuple(x.transpose(0, 2, 1, 3) for x in (q_BxLxHxK, k_BxLxHxK, v_BxLxHxK))


def merge_heads(out_BxHxLxK: jax.Array) -> jax.Array:
    """Attention output (B, H, L, K) as (N, D) rows, head h's features at h*K:(h+1)*K."""
    B, H, L, K = out_BxHxLxK.shape
    return out_BxHxLxK.transpose(0, 2, 1, 3).reshape(B * L, H * K)


def _dense(d_in: int, d_out: int, cfg: ModelConfig, rngs: nnx.Rngs, scale: float = 1.0) -> nnx.Linear:
    init = jax.nn.initializers.normal(stddev=scale / math.sqrt(d_in))
    return nnx.Linear(d_in, d_out, use_bias=False, kernel_init=init, dtype=cfg.dtype, rngs=rngs)


def _norm(d: int, cfg: ModelConfig, rngs: nnx.Rngs) -> nnx.RMSNorm:
    # Flax computes the statistics in float32 whatever the output dtype.
    return nnx.RMSNorm(d, dtype=cfg.dtype, rngs=rngs)


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d, f = cfg.d_model, cfg.d_model * cfg.mlp_ratio
        # Residual-branch outputs start small so the stack starts near identity.
        out_scale = 1.0 / math.sqrt(2 * cfg.n_layers)
        self.cfg = cfg
        self.attn_norm = _norm(d, cfg, rngs)
        self.qkv = _dense(d, 3 * d, cfg, rngs)
        self.attn_out = _dense(d, d, cfg, rngs, out_scale)
        self.mlp_norm = _norm(d, cfg, rngs)
        self.mlp_in = _dense(d, f, cfg, rngs)
        self.mlp_out = _dense(f, d, cfg, rngs, out_scale)

    def attention(self, x_NxD, B, L, sin, cos, mask, cache=None):
        q_BxHxLxK, k_BxHxLxK, v_BxHxLxK = split_heads(self.qkv(x_NxD), B, L, self.cfg.n_heads, sin, cos)
        if cache is None:
            out_BxHxLxK = causal_attention(q_BxHxLxK, k_BxHxLxK, v_BxHxLxK, mask)
            new_cache = None
        else:
            # Decoding with a key/value cache of fixed length S: this call's keys and
            # values go into slots index..index+L-1.
            k_cache_BxHxSxK, v_cache_BxHxSxK, index = cache
            k_BxHxSxK = jax.lax.dynamic_update_slice(k_cache_BxHxSxK, k_BxHxLxK, (0, 0, index, 0))
            v_BxHxSxK = jax.lax.dynamic_update_slice(v_cache_BxHxSxK, v_BxHxLxK, (0, 0, index, 0))
            out_BxHxLxK = causal_attention(q_BxHxLxK, k_BxHxSxK, v_BxHxSxK, mask)
            new_cache = (k_BxHxSxK, v_BxHxSxK)
        return self.attn_out(merge_heads(out_BxHxLxK)), new_cache

    def __call__(self, x_NxD, B, L, sin, cos, mask, cache=None):
        attn_NxD, new_cache = self.attention(self.attn_norm(x_NxD), B, L, sin, cos, mask, cache)
        x_NxD = x_NxD + attn_NxD
        x_NxD = x_NxD + self.mlp_out(jax.nn.gelu(self.mlp_in(self.mlp_norm(x_NxD))))
        return x_NxD, new_cache


class Transformer(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        init = jax.nn.initializers.normal(0.02)
        self.embed = nnx.Embed(cfg.vocab_size, cfg.d_model, embedding_init=init, dtype=cfg.dtype, rngs=rngs)
        self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg.n_layers)])
        self.final_norm = _norm(cfg.d_model, cfg, rngs)
        self.head = _dense(cfg.d_model, cfg.vocab_size, cfg, rngs)

    def __call__(
        self, tokens_BxL: jax.Array, caches=None, index: jax.Array | int = 0, positions_BxL=None, valid_BxS=None
    ):
        """Logits (B, L, V) for each next token.

        With `caches` (one (k, v) pair per layer, each (B, H, S, K)) the tokens fill cache
        slots index..index+L-1, attend to every slot up to their own, and the updated
        caches are returned too. `positions_BxL` (default: slot numbers) gives each row
        its own RoPE positions and `valid_BxS` masks out slots (e.g. left padding), so
        prompts of different lengths decode in one batch.
        """
        B, L = tokens_BxL.shape
        S = L if caches is None else caches[0][0].shape[2]
        positions = index + jnp.arange(L) if positions_BxL is None else positions_BxL
        # The sequence's length for dynamic NTK: the cache's when decoding, so that every
        # step and a recomputation of the whole sequence use the same base.
        sin, cos = rope_tables(positions, self.cfg, S)
        mask = jnp.arange(S)[None, :] <= (index + jnp.arange(L))[:, None]  # (L, S), causal
        if valid_BxS is not None:
            mask = mask[None] & valid_BxS[:, None, :]
        x_NxD = self.embed(tokens_BxL.reshape(B * L))
        new_caches = []
        for i, block in enumerate(self.blocks):
            cache = None if caches is None else (*caches[i], index)
            x_NxD, new_cache = block(x_NxD, B, L, sin, cos, mask, cache)
            new_caches.append(new_cache)
        logits_BxLxV = self.head(self.final_norm(x_NxD)).reshape(B, L, self.cfg.vocab_size).astype(jnp.float32)
        return logits_BxLxV if caches is None else (logits_BxLxV, new_caches)


def init_model(cfg: ModelConfig, seed: int) -> Transformer:
    return Transformer(cfg, nnx.Rngs(params=seed))


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """Total parameters, and non-embedding ones (without the token embedding and the output head)."""
    d, f, v = cfg.d_model, cfg.d_model * cfg.mlp_ratio, cfg.vocab_size
    per_block = 3 * d * d + d * d + 2 * d * f + 2 * d  # qkv, out, mlp, two norms
    nonembedding = cfg.n_layers * per_block + d  # + final norm
    return {"params": nonembedding + 2 * v * d, "nonembedding_params": nonembedding}


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6 x (matmul parameters incl. the output head) plus
    attention scores and values, 12 x layers x D x context (the PaLM appendix B count)."""
    d, f, v = cfg.d_model, cfg.d_model * cfg.mlp_ratio, cfg.vocab_size
    matmul_params = cfg.n_layers * (4 * d * d + 2 * d * f) + d * v
    return 6.0 * matmul_params + 12.0 * cfg.n_layers * d * cfg.context
