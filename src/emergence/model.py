"""Decoder-only transformer in Flax NNX: RoPE, RMSNorm pre-norm, causal attention.

Shapes are carried in names: B batch, L sequence, N = B * L tokens, D model width,
H heads, K head width (D = H * K), F MLP width, V vocabulary.

Activations between attention calls are kept 2-D, (N, D): XLA's CPU backend runs the
backward pass of a dense layer on a 2-D input about 4x faster than on a 3-D one (it
avoids a slow transposed copy of the gradient); see docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from emergence.config import ModelSize


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    context: int
    mlp_ratio: int = 4
    rope_base: float = 10000.0

    @classmethod
    def from_size(cls, size: ModelSize, vocab_size: int, context: int) -> "ModelConfig":
        return cls(vocab_size, size.d_model, size.n_layers, size.n_heads, context, size.mlp_ratio)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def rope_tables(positions_L: jax.Array, head_dim: int, base: float) -> tuple[jax.Array, jax.Array]:
    """sin and cos tables (L, K/2) for rotary position embeddings."""
    inv_freq_Kh = base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
    angles_LxKh = positions_L.astype(jnp.float32)[:, None] * inv_freq_Kh[None, :]
    return jnp.sin(angles_LxKh), jnp.cos(angles_LxKh)


def apply_rope(x_BxLxHxK: jax.Array, sin_LxKh: jax.Array, cos_LxKh: jax.Array) -> jax.Array:
    # Rotate pairs (first half, second half) of each head's features.
    x1, x2 = jnp.split(x_BxLxHxK, 2, axis=-1)
    sin, cos = sin_LxKh[None, :, None, :], cos_LxKh[None, :, None, :]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def causal_attention(q_BxLxHxK, k_BxSxHxK, v_BxSxHxK, mask_LxS) -> jax.Array:
    """Softmax attention of L queries over S keys where mask_LxS is true.

    Written as two einsums around a masked softmax rather than jax.nn.dot_product_attention:
    on XLA's CPU backend its forward plus backward pass is about 2x faster (docs/performance.md).
    """
    scores_BxHxLxS = jnp.einsum("blhk,bshk->bhls", q_BxLxHxK, k_BxSxHxK) / math.sqrt(q_BxLxHxK.shape[-1])
    weights_BxHxLxS = jax.nn.softmax(jnp.where(mask_LxS, scores_BxHxLxS, -1e30), axis=-1)
    return jnp.einsum("bhls,bshk->blhk", weights_BxHxLxS, v_BxSxHxK)


def _dense(d_in: int, d_out: int, rngs: nnx.Rngs, scale: float = 1.0) -> nnx.Linear:
    init = jax.nn.initializers.normal(stddev=scale / math.sqrt(d_in))
    return nnx.Linear(d_in, d_out, use_bias=False, kernel_init=init, rngs=rngs)


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d, f = cfg.d_model, cfg.d_model * cfg.mlp_ratio
        # Residual-branch outputs start small so the stack starts near identity.
        out_scale = 1.0 / math.sqrt(2 * cfg.n_layers)
        self.cfg = cfg
        self.attn_norm = nnx.RMSNorm(d, rngs=rngs)
        self.qkv = _dense(d, 3 * d, rngs)
        self.attn_out = _dense(d, d, rngs, out_scale)
        self.mlp_norm = nnx.RMSNorm(d, rngs=rngs)
        self.mlp_in = _dense(d, f, rngs)
        self.mlp_out = _dense(f, d, rngs, out_scale)

    def attention(self, x_NxD, B, L, sin_LxKh, cos_LxKh, cache=None):
        H, K = self.cfg.n_heads, self.cfg.head_dim
        q_BxLxHxK, k_BxLxHxK, v_BxLxHxK = jnp.split(self.qkv(x_NxD).reshape(B, L, 3 * H, K), 3, axis=2)
        q_BxLxHxK = apply_rope(q_BxLxHxK, sin_LxKh, cos_LxKh)
        k_BxLxHxK = apply_rope(k_BxLxHxK, sin_LxKh, cos_LxKh)
        if cache is None:
            mask_LxL = jnp.tril(jnp.ones((L, L), bool))
            out_BxLxHxK = causal_attention(q_BxLxHxK, k_BxLxHxK, v_BxLxHxK, mask_LxL)
            new_cache = None
        else:
            # Decoding with a key/value cache of fixed length S: write this call's keys
            # and values at `index`, attend to every filled slot at or before each query.
            k_cache, v_cache, index = cache
            k_BxSxHxK = jax.lax.dynamic_update_slice(k_cache, k_BxLxHxK, (0, index, 0, 0))
            v_BxSxHxK = jax.lax.dynamic_update_slice(v_cache, v_BxLxHxK, (0, index, 0, 0))
            S = k_BxSxHxK.shape[1]
            mask_LxS = jnp.arange(S)[None, :] <= (index + jnp.arange(L))[:, None]
            out_BxLxHxK = causal_attention(q_BxLxHxK, k_BxSxHxK, v_BxSxHxK, mask_LxS)
            new_cache = (k_BxSxHxK, v_BxSxHxK)
        return self.attn_out(out_BxLxHxK.reshape(B * L, H * K)), new_cache

    def __call__(self, x_NxD, B, L, sin_LxKh, cos_LxKh, cache=None):
        attn_NxD, new_cache = self.attention(self.attn_norm(x_NxD), B, L, sin_LxKh, cos_LxKh, cache)
        x_NxD = x_NxD + attn_NxD
        x_NxD = x_NxD + self.mlp_out(jax.nn.gelu(self.mlp_in(self.mlp_norm(x_NxD))))
        return x_NxD, new_cache


class Transformer(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = nnx.Embed(cfg.vocab_size, cfg.d_model, embedding_init=jax.nn.initializers.normal(0.02), rngs=rngs)
        self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg.n_layers)])
        self.final_norm = nnx.RMSNorm(cfg.d_model, rngs=rngs)
        self.head = _dense(cfg.d_model, cfg.vocab_size, rngs)

    def __call__(self, tokens_BxL: jax.Array, start: jax.Array | int = 0, caches=None):
        """Logits (B, L, V) for each next token. With `caches` (one (k, v) pair per
        layer, each (B, S, H, K)), tokens sit at positions start..start+L-1 and the
        updated caches are returned as well."""
        B, L = tokens_BxL.shape
        sin_LxKh, cos_LxKh = rope_tables(start + jnp.arange(L), self.cfg.head_dim, self.cfg.rope_base)
        x_NxD = self.embed(tokens_BxL.reshape(B * L))
        new_caches = []
        for i, block in enumerate(self.blocks):
            cache = None if caches is None else (*caches[i], start)
            x_NxD, new_cache = block(x_NxD, B, L, sin_LxKh, cos_LxKh, cache)
            new_caches.append(new_cache)
        logits_BxLxV = self.head(self.final_norm(x_NxD)).reshape(B, L, self.cfg.vocab_size)
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
