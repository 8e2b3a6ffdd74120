"""Induction-head scores: the numpy definitions on hand-built attention patterns, and the
traced forward pass against the model's own."""

import jax
import numpy as np
import pytest
from flax import nnx

from emergence.evaluate import induction
from emergence.model.heads import HeadProbe, direct_logits, trace
from emergence.model.transformer import ModelConfig, init_model

CFG = ModelConfig(vocab_size=32, d_model=16, n_layers=2, n_heads=2, context=16)
HALF = 4
T = 2 * HALF


def causal_uniform(T):
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def shifted(T, offset):
    """Each query i attends only to key i - offset (key 0 where that is negative)."""
    w = np.zeros((T, T))
    w[np.arange(T), np.maximum(np.arange(T) - offset, 0)] = 1.0
    return w


# ---- scores on hand-built arrays ------------------------------------------------------


def test_prefix_matching_on_hand_built_patterns():
    induction_head = shifted(T, HALF - 1)  # i -> i - half + 1
    previous_token = shifted(T, 1)
    heads = np.stack([induction_head, previous_token, causal_uniform(T), 0.3 * induction_head + 0.7 * previous_token])
    assert induction.prefix_matching(heads, HALF) == pytest.approx(
        [1.0, 0.0, induction.uniform_prefix_matching(HALF), 0.3]
    )
    # a leading batch axis is averaged over too
    batch = np.stack([heads[:2], heads[2:]])  # (2, 2, T, T)
    want = [(1.0 + induction.uniform_prefix_matching(HALF)) / 2, 0.3 / 2]
    assert induction.prefix_matching(batch, HALF) == pytest.approx(want)


def test_uniform_prefix_matching_is_the_mean_of_one_over_positions():
    assert induction.uniform_prefix_matching(2) == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert induction.uniform_prefix_matching(HALF) == pytest.approx(np.mean([1 / 5, 1 / 6, 1 / 7, 1 / 8]))


def test_copying_on_hand_built_arrays():
    # half = 1, T = 2, V = 3; tokens (2, 2): the only scored query is i = 1.
    tokens = np.array([2, 2])
    weights = np.zeros((2, 2, 2))  # two heads
    weights[0, 1] = [0.25, 0.75]
    weights[1, 1] = [1.0, 0.0]
    logits = np.zeros((2, 2, 3))
    logits[0, 1] = [0.0, 3.0, 6.0]  # mean 3: token 2 is raised by 3
    logits[1, 1] = [1.0, 1.0, -2.0]  # mean 0: token 2 is lowered by 2
    logits[:, 0] = 99.0  # query 0 is not scored
    assert induction.copying(weights, logits, tokens, 1) == pytest.approx([3.0, -2.0])
    # the definition is positional: with tokens (1, 2), head 0 puts 0.25 on token 1 (logit 3 - 3 = 0)
    # and 0.75 on token 2 (+3); head 1 all on token 1 (1 - 0)
    assert induction.copying(weights, logits, np.array([1, 2]), 1) == pytest.approx([2.25, 1.0])
    # batch axis: the mean over sequences
    got = induction.copying(np.stack([weights, weights]), np.stack([logits, logits]), np.array([[2, 2], [1, 2]]), 1)
    assert got == pytest.approx([(3.0 + 2.25) / 2, (-2.0 + 1.0) / 2])


def test_repeat_losses_pick_targets_of_each_repeat():
    # entry t is the loss of target t + 1; half = 3, T = 6, 5 entries
    # targets 1, 2 | 3 (repeats token 0: not scored), 4, 5: the same positions in each repeat
    loss = np.array([1.0, 2.0, 10.0, 20.0, 30.0])
    assert induction.repeat_losses(loss, 3) == pytest.approx((1.5, 25.0))
    assert induction.repeat_losses(np.stack([loss, loss + 1]), 3) == pytest.approx((2.0, 25.5))


def test_repeated_sequences_repeat_tokens_from_candidates():
    candidates = np.array([3, 7, 11, 19])
    seqs = induction.repeated_sequences(np.random.default_rng(0), candidates, 5, 6)
    assert seqs.shape == (5, 12) and seqs.dtype == np.int32
    assert np.array_equal(seqs[:, :6], seqs[:, 6:])
    assert np.isin(seqs, candidates).all()
    assert len(np.unique(seqs)) > 1


def test_summary_takes_the_best_prefix_matching_head():
    heads = induction.head_table(
        np.stack([np.stack([causal_uniform(T), shifted(T, HALF - 1)])[None]] * 2),  # (Ly, N, H, T, T)
        np.arange(2 * 2 * T, dtype=float).reshape(2, 1, 2, T),  # copying per query
        HALF,
    )
    assert list(heads[["layer", "head"]].itertuples(index=False, name=None)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert heads["prefix_matching"].tolist() == pytest.approx([induction.uniform_prefix_matching(HALF), 1.0] * 2)
    summary = induction.summarize(heads, np.ones((1, T - 1)), HALF)
    # layer 0 head 1 copying: queries 4..7 of row 8..15 -> 12..15, mean 13.5 (ties go to the first)
    assert summary == pytest.approx(
        {
            "prefix_matching": 1.0,
            "copying": 13.5,
            "repeat_loss_first": 1.0,
            "repeat_loss_second": 1.0,
            "repeat_loss_gain": 0.0,
        }
    )


# ---- the traced forward pass ----------------------------------------------------------


@pytest.fixture(scope="module", params=[2, 1], ids=["2 layers", "1 layer"])
def setup(request):
    cfg = ModelConfig(**{**CFG.__dict__, "n_layers": request.param})
    model = init_model(cfg, 0)
    tokens = induction.repeated_sequences(np.random.default_rng(1), np.arange(cfg.vocab_size), 3, cfg.context // 2)
    return cfg, model, tokens


def test_trace_reproduces_the_models_logits(setup):
    cfg, model, tokens = setup
    t = trace(model, tokens)
    # head outputs summing to each layer's attention output are what the logits go through
    assert np.allclose(t["logits_BxLxV"], model(tokens), atol=1e-5)
    assert len(t["weights_BxHxLxL"]) == len(t["head_out_BxLxHxD"]) == cfg.n_layers
    B, L = tokens.shape
    for w in t["weights_BxHxLxL"]:
        w = np.asarray(w)
        assert w.shape == (B, cfg.n_heads, L, L) and w.dtype == np.float32
        assert np.allclose(w.sum(-1), 1.0, atol=1e-6) and (np.triu(w, k=1) == 0).all()
    assert t["head_out_BxLxHxD"][0].shape == (B, L, cfg.n_heads, cfg.d_model)
    # direct logits of the whole stream through the frozen-RMS norm are the model's logits
    final_x = t["final_x_BxLxD"]
    assert np.allclose(direct_logits(model, final_x, final_x), t["logits_BxLxV"], atol=1e-5)


def test_trace_under_mixed_precision_rounds_as_the_model_does():
    cfg = ModelConfig(**{**CFG.__dict__, "dtype": "bfloat16"})
    model = init_model(cfg, 0)
    tokens = induction.repeated_sequences(np.random.default_rng(2), np.arange(cfg.vocab_size), 3, HALF)
    t = trace(model, tokens)
    assert t["weights_BxHxLxL"][0].dtype == t["head_out_BxLxHxD"][0].dtype == np.float32
    assert np.allclose(t["logits_BxLxV"], model(tokens), atol=1e-2)


def test_direct_logits_of_a_head_are_linear_in_its_output(setup):
    _, model, tokens = setup
    t = trace(model, tokens)
    out, final_x = t["head_out_BxLxHxD"][0], t["final_x_BxLxD"][:, :, None, :]
    both = direct_logits(model, out.sum(axis=2, keepdims=True), final_x)
    assert np.allclose(direct_logits(model, out, final_x).sum(axis=2, keepdims=True), both, atol=1e-5)


def test_probe_matches_trace_and_the_numpy_definitions(setup):
    cfg, model, tokens = setup
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    out = HeadProbe(cfg)(params, tokens)
    N, T_ = tokens.shape
    half = T_ // 2
    assert out["weights_LyxNxHxTxT"].shape == (cfg.n_layers, N, cfg.n_heads, T_, T_)
    assert out["copying_LyxNxHxT"].shape == (cfg.n_layers, N, cfg.n_heads, T_)
    t = trace(model, tokens)
    heads = induction.head_table(out["weights_LyxNxHxTxT"], out["copying_LyxNxHxT"], half)
    for layer in range(cfg.n_layers):
        w = np.asarray(t["weights_BxHxLxL"][layer])
        assert np.allclose(out["weights_LyxNxHxTxT"][layer], w, atol=1e-6)
        dl = direct_logits(model, t["head_out_BxLxHxD"][layer], t["final_x_BxLxD"][:, :, None, :])
        want = induction.copying(w, np.asarray(dl).transpose(0, 2, 1, 3), tokens, half)
        got = heads[heads.layer == layer].sort_values("head")["copying"].to_numpy()
        assert np.allclose(got, want, atol=1e-5)
        assert np.allclose(heads[heads.layer == layer]["prefix_matching"], induction.prefix_matching(w, half))
    logp = jax.nn.log_softmax(np.asarray(model(tokens))[:, :-1], axis=-1)
    want_loss = -np.take_along_axis(np.asarray(logp), tokens[:, 1:, None], axis=-1)[..., 0]
    assert np.allclose(out["loss_NxT1"], want_loss, atol=1e-5)


def test_induction_scores_one_call_per_checkpoint(setup):
    cfg, model, tokens = setup
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    heads, summary = induction.induction_scores(HeadProbe(cfg), params, tokens)
    assert len(heads) == cfg.n_layers * cfg.n_heads
    assert summary["prefix_matching"] == pytest.approx(heads["prefix_matching"].max())
    assert set(summary) == {"prefix_matching", "copying", "repeat_loss_first", "repeat_loss_second", "repeat_loss_gain"}
    # an untrained model: near-uniform attention, no gain from the repeat
    assert summary["prefix_matching"] < 3 * induction.uniform_prefix_matching(tokens.shape[1] // 2)
    with pytest.raises(ValueError, match="repeated"):
        induction.induction_scores(HeadProbe(cfg), params, np.arange(16)[None])
