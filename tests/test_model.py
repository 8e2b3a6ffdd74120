import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from emergence.model.transformer import ModelConfig, flops_per_token, init_model, param_counts

CFG = ModelConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2, context=12)


def test_logits_shape_and_parameter_count():
    model = init_model(CFG, 0)
    assert model(jnp.zeros((3, 12), jnp.int32)).shape == (3, 12, 50)
    n = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    counts = param_counts(CFG)
    assert n == counts["params"]
    assert counts["params"] - counts["nonembedding_params"] == 2 * 50 * 16


def test_attention_is_causal():
    model = init_model(CFG, 0)
    tokens = jax.random.randint(jax.random.key(0), (1, 12), 0, 50)
    changed = tokens.at[0, 8].set((tokens[0, 8] + 1) % 50)
    a, b = model(tokens), model(changed)
    np.testing.assert_allclose(a[0, :8], b[0, :8], atol=1e-6)
    assert not np.allclose(a[0, 8:], b[0, 8:])


def test_kv_cache_decoding_matches_full_forward():
    model = init_model(CFG, 1)
    tokens = jax.random.randint(jax.random.key(1), (2, 10), 0, 50)
    full = model(tokens)
    S, H, K = 12, CFG.n_heads, CFG.head_dim
    caches = [(jnp.zeros((2, H, S, K)), jnp.zeros((2, H, S, K))) for _ in range(CFG.n_layers)]
    logits, caches = model(tokens[:, :6], caches, 0)  # prefill
    np.testing.assert_allclose(logits, full[:, :6], atol=1e-5)
    for t in range(6, 10):  # one token at a time
        logits, caches = model(tokens[:, t : t + 1], caches, t)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=1e-5)


def test_flops_per_token_is_six_n_plus_attention():
    d, f, v, L, T = 16, 64, 50, 2, 12
    assert flops_per_token(CFG) == 6 * (L * (4 * d * d + 2 * d * f) + d * v) + 12 * L * d * T


def test_same_seed_same_weights():
    a = jax.tree.leaves(nnx.state(init_model(CFG, 3)))
    b = jax.tree.leaves(nnx.state(init_model(CFG, 3)))
    c = jax.tree.leaves(nnx.state(init_model(CFG, 4)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_left_padded_rows_decode_like_unpadded_ones():
    model = init_model(CFG, 2)
    tokens = jax.random.randint(jax.random.key(2), (1, 7), 0, 50)
    full = model(tokens)
    pad = 3  # the same prompt behind 3 pad tokens, positions shifted back to start at 0
    padded = jnp.concatenate([jnp.zeros((1, pad), jnp.int32), tokens], axis=1)
    positions = jnp.maximum(jnp.arange(10) - pad, 0)[None]
    valid = (jnp.arange(10) >= pad)[None]
    np.testing.assert_allclose(model(padded, positions_BxL=positions, valid_BxS=valid)[:, pad:], full, atol=1e-5)
