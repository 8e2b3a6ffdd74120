"""Per-head views of the transformer's forward pass, for induction-head scores.

`trace` reruns `Transformer.__call__` from the model's own submodules and keeps what the
model discards: each layer's attention weights and each head's write into the residual
stream. `direct_logits` maps a head's write to the logits through the final norm and the
output head, holding the norm's RMS at its value for the whole residual stream (the
"direct path" of Elhage et al. 2021). `HeadProbe` jits both for one architecture.

Shapes as in transformer.py (B batch, L or T sequence, H heads, K head width, D model
width, V vocabulary), and Ly: layers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from emergence.model.transformer import (
    ModelConfig,
    Transformer,
    causal_attention,
    init_model,
    rope_tables,
    split_heads,
)


def trace(model: Transformer, tokens_BxL: jax.Array) -> dict:
    """The forward pass of `model` on `tokens_BxL` (no cache, positions 0..L-1), returning

    - "logits_BxLxV": float32, equal (up to rounding) to `model(tokens_BxL)`;
    - "weights_BxHxLxL": one per layer, the float32 causal softmax weights of query l on
      key s, exactly as `causal_attention` computes them (before it casts them to the
      values' dtype under mixed precision);
    - "head_out_BxLxHxD": one per layer, float32, head h's write into the residual stream: its slice
      out[..., h, :] of the attention output times rows h*K:(h+1)*K of `attn_out.kernel`.
      Their sum over H is the layer's attention output, and is what this pass adds to the
      residual stream, so the logits check the decomposition;
    - "final_x_BxLxD": the residual stream before the final norm.
    """
    cfg = model.cfg
    B, L = tokens_BxL.shape
    H, K, D = cfg.n_heads, cfg.head_dim, cfg.d_model
    sin, cos = rope_tables(jnp.arange(L), cfg, L)
    mask_LxL = jnp.arange(L)[None, :] <= jnp.arange(L)[:, None]
    # Attention to one-hot values (value s = e_s) outputs the weights themselves: this
    # reads them out of `causal_attention`, so they cannot drift from the model's softmax.
    onehot_BxHxLxL = jnp.broadcast_to(jnp.eye(L, dtype=jnp.float32)[None, None], (B, H, L, L))
    x_NxD = model.embed(tokens_BxL.reshape(B * L))
    weights, head_outs = [], []
    for block in model.blocks:
        q_BxHxLxK, k_BxHxLxK, v_BxHxLxK = split_heads(block.qkv(block.attn_norm(x_NxD)), B, L, H, sin, cos)
        out_BxHxLxK = causal_attention(q_BxHxLxK, k_BxHxLxK, v_BxHxLxK, mask_LxL)
        weights_BxHxLxL = causal_attention(q_BxHxLxK, k_BxHxLxK, onehot_BxHxLxL, mask_LxL)
        # Inputs rounded to the compute dtype, as nnx.Linear promotes its kernel to it, but
        # products and sums in float32 (bf16 x bf16 -> f32 dots are not on every backend):
        # the sum over heads is then rounded once, as attn_out's one matmul is.
        kernel_HxKxD = block.attn_out.kernel[...].astype(out_BxHxLxK.dtype).reshape(H, K, D)
        head_out_BxLxHxD = jnp.einsum(
            "bhlk,hkd->blhd", out_BxHxLxK.astype(jnp.float32), kernel_HxKxD.astype(jnp.float32)
        )
        weights.append(weights_BxHxLxL)
        head_outs.append(head_out_BxLxHxD)
        x_NxD = x_NxD + head_out_BxLxHxD.sum(axis=2).reshape(B * L, D).astype(x_NxD.dtype)
        x_NxD = x_NxD + block.mlp_out(jax.nn.gelu(block.mlp_in(block.mlp_norm(x_NxD))))
    logits_BxLxV = model.head(model.final_norm(x_NxD)).reshape(B, L, cfg.vocab_size).astype(jnp.float32)
    return {
        "logits_BxLxV": logits_BxLxV,
        "weights_BxHxLxL": weights,
        "head_out_BxLxHxD": head_outs,
        "final_x_BxLxD": x_NxD.reshape(B, L, D),
    }


def final_rms(model: Transformer, final_x_xD: jax.Array) -> jax.Array:
    """The RMS that `model.final_norm` divides each row of `final_x_xD` by (last axis
    dropped): sqrt(mean(x^2) + epsilon), in float32 as nnx.RMSNorm computes its statistics."""
    x = final_x_xD.astype(jnp.float32)
    return jnp.sqrt(jnp.mean(x * x, axis=-1) + model.final_norm.epsilon)


def direct_logits(model: Transformer, head_out_xD: jax.Array, final_x_xD: jax.Array) -> jax.Array:
    """float32 logits of a residual-stream write through the final norm and output head,
    head(scale * head_out / rms(final_x)), with the RMS of the whole stream `final_x` (the
    norm is linear once its RMS is fixed, so writes add up to the logits). final_x's
    leading axes must broadcast against head_out's: pass (B, L, 1, D) for (B, L, H, D).
    `direct_logits(model, final_x, final_x)` equals the model's logits."""
    norm = model.final_norm
    scale_D = norm.scale[...].astype(jnp.float32) if norm.use_scale else 1.0
    y_xD = scale_D * head_out_xD.astype(jnp.float32) / final_rms(model, final_x_xD)[..., None]
    return model.head(y_xD).astype(jnp.float32)


def copying_per_query(weights_BxHxTxT, direct_logits_BxTxHxV, tokens_BxT) -> jax.Array:
    """(B, H, T): at each query i, sum_j weights[h, i, j] * (direct_logits[i, h, tokens[j]]
    - mean_v direct_logits[i, h, v]): how far a head raises the logits of the tokens it
    attends to above its mean logit. `evaluate.induction.copying` is the reference."""
    centred_BxTxHxV = direct_logits_BxTxHxV - direct_logits_BxTxHxV.mean(axis=-1, keepdims=True)
    B, T, H, _ = centred_BxTxHxV.shape
    keys_BxTxHxT = jnp.broadcast_to(tokens_BxT[:, None, None, :], (B, T, H, T))
    attended_BxTxHxT = jnp.take_along_axis(centred_BxTxHxV, keys_BxTxHxT, axis=-1)
    return jnp.einsum("bhij,bihj->bhi", weights_BxHxTxT, attended_BxTxHxT)


class HeadProbe:
    """The traced forward pass of one architecture, jitted once; parameters (an nnx pure
    dict of Param state, as ParamsReader returns) are an argument, so every checkpoint
    of a model reuses the compiled code (one compilation per token shape)."""

    def __init__(self, mcfg: ModelConfig):
        self.mcfg = mcfg
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(mcfg, 0)))
        self._probe = jax.jit(self._probe_fn)

    def _probe_fn(self, params, tokens_NxT):
        model = nnx.merge(self.graphdef, params)
        t = trace(model, tokens_NxT)
        final_x_NxTx1xD = t["final_x_BxLxD"][:, :, None, :]
        # Copying is reduced per layer inside the jit: the direct logits of every head,
        # (N, T, H, V) per layer, never leave the device.
        copying = [
            copying_per_query(w, direct_logits(model, out, final_x_NxTx1xD), tokens_NxT)
            for w, out in zip(t["weights_BxHxLxL"], t["head_out_BxLxHxD"])
        ]
        logp_NxT1xV = jax.nn.log_softmax(t["logits_BxLxV"][:, :-1], axis=-1)
        loss_NxT1 = -jnp.take_along_axis(logp_NxT1xV, tokens_NxT[:, 1:, None], axis=-1)[..., 0]
        return {
            "weights_LyxNxHxTxT": jnp.stack(t["weights_BxHxLxL"]),
            "copying_LyxNxHxT": jnp.stack(copying),
            "loss_NxT1": loss_NxT1,
        }

    def __call__(self, params, tokens_NxT) -> dict[str, np.ndarray]:
        """numpy arrays for `tokens_NxT` (T <= context):
        - "weights_LyxNxHxTxT": each layer's attention weights (`trace`);
        - "copying_LyxNxHxT": `copying_per_query` of each layer's heads;
        - "loss_NxT1": next-token loss in nats, entry t scoring token t+1 given tokens 0..t.
        """
        tokens_NxT = np.asarray(tokens_NxT, np.int32)
        if tokens_NxT.ndim != 2 or not 2 <= tokens_NxT.shape[1] <= self.mcfg.context:
            raise ValueError(f"tokens of shape {tokens_NxT.shape}: need (N, T) with 2 <= T <= {self.mcfg.context}")
        return {k: np.asarray(v) for k, v in self._probe(params, tokens_NxT).items()}
