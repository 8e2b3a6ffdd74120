"""Scoring and decoding against direct computation on a tiny random model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from emergence.model.inference import Inference
from emergence.model.transformer import ModelConfig, init_model

CFG = ModelConfig(vocab_size=40, d_model=16, n_layers=2, n_heads=2, context=24)


@pytest.fixture(scope="module")
def setup():
    model = init_model(CFG, 0)
    return model, nnx.to_pure_dict(nnx.state(model, nnx.Param)), Inference(CFG, batch_size=4)


@nnx.jit
def _forward(model, tokens_BxL):
    return model(tokens_BxL)


def full_logits(model, seq: list[int], length: int = 32):
    """Logits (len(seq), V) of one plain forward pass over `seq`, right-padded to `length`: the
    model is causal, so the padding changes nothing before it, and one shape compiles once."""
    assert len(seq) <= length
    return _forward(model, jnp.array([seq + [0] * (length - len(seq))]))[0, : len(seq)]


def hand_logprob(model, ctx, cont):
    """Sum of log p(cont_t | ctx, cont_<t), from one full forward pass."""
    logp = jax.nn.log_softmax(full_logits(model, ctx + cont), axis=-1)
    return sum(float(logp[len(ctx) - 1 + t, tok]) for t, tok in enumerate(cont))


def test_next_token_logprobs_score_every_single_token_continuation_at_once(setup):
    _, params, inf = setup
    rng = np.random.default_rng(1)
    contexts = [rng.integers(0, 40, n).tolist() for n in (1, 5, 17, 24, 30, 9)]  # 30 > the context of 24
    next_lp = inf.next_token_logprobs(params, contexts)
    assert next_lp.shape == (len(contexts), CFG.vocab_size)
    assert np.allclose(np.exp(next_lp).sum(axis=1), 1.0, atol=1e-5)
    pairs = [(ctx, [tok]) for ctx in contexts for tok in (0, 7, 39)]
    want = np.array([float(lp[0]) for lp in inf.continuation_logprobs(params, pairs)]).reshape(len(contexts), 3)
    assert np.allclose(next_lp[:, [0, 7, 39]], want, atol=1e-4)


def test_continuation_logprobs_match_hand_computation(setup):
    model, params, inf = setup
    rng = np.random.default_rng(0)
    pairs = [
        (rng.integers(0, 40, n).tolist(), rng.integers(0, 40, m).tolist())
        for n, m in [(3, 1), (7, 4), (12, 2), (1, 5), (9, 9), (5, 3)]
    ]
    got = inf.continuation_logprobs(params, pairs)  # 6 pairs: two batches, two length buckets
    for (ctx, cont), lp in zip(pairs, got):
        assert lp.shape == (len(cont),)
        assert float(lp.sum()) == pytest.approx(hand_logprob(model, ctx, cont), abs=1e-4)


def test_too_long_context_loses_tokens_from_the_left(setup):
    model, params, inf = setup
    ctx, cont = list(range(1, 31)), [5, 6]
    (lp,) = inf.continuation_logprobs(params, [(ctx, cont)])
    kept = (ctx + cont)[-(CFG.context + 1) :]
    assert float(lp.sum()) == pytest.approx(hand_logprob(model, kept[:-2], cont), abs=1e-4)


def test_cached_decoding_gives_the_same_tokens_as_recomputing(setup):
    model, params, inf = setup
    rng = np.random.default_rng(1)
    prompts = [rng.integers(0, 40, n).tolist() for n in (3, 8, 5, 11, 2)]  # ragged: left padding
    cached = inf.greedy(params, prompts, max_new=6, cached=True)
    uncached = inf.greedy(params, prompts, max_new=6, cached=False)
    np.testing.assert_array_equal(cached, uncached)
    for prompt, row in zip(prompts, cached):  # and the same as a naive loop, one prompt at a time
        seq = list(prompt)
        for _ in range(6):
            seq.append(int(jnp.argmax(full_logits(model, seq)[-1])))
        assert seq[len(prompt) :] == row.tolist()


def test_generation_cap_must_leave_room_for_a_prompt(setup):
    _, params, inf = setup
    with pytest.raises(ValueError, match="leaves no room"):
        inf.greedy(params, [[1, 2]], max_new=CFG.context)


def test_choices_share_their_context_and_score_as_separate_pairs(setup):
    _, params, inf = setup
    rng = np.random.default_rng(2)
    requests = [
        (rng.integers(0, 40, n).tolist(), [rng.integers(0, 40, m).tolist() for m in lengths])
        for n, lengths in [
            (3, (1, 2)),
            (7, (4, 1)),
            (12, (2, 2)),
            (20, (3, 5)),
            (9, (1, 1, 6)),
            (5, (2, 3)),
            (23, (2, 2)),
        ]
    ]  # 6 requests of two choices (two batches of 4), one of three; the last does not fit: scored as pairs
    got = inf.choice_logprobs(params, requests)
    want = iter(inf.continuation_logprobs(params, [(ctx, ch) for ctx, choices in requests for ch in choices]))
    for (_, choices), lps in zip(requests, got):
        assert [lp.shape for lp in lps] == [(len(ch),) for ch in choices]
        for lp in lps:
            np.testing.assert_allclose(lp, next(want), atol=1e-4)
