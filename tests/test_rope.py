"""Rotary position scaling (model/rope.py): the frequencies of each method, and a model that
reads with them decodes the same tokens from its KV cache as by recomputation."""

import json

import jax
import numpy as np
import pytest
from flax import nnx
from helpers import run_cli

from emergence.errors import ConfigError
from emergence.model.inference import Inference
from emergence.model.rope import METHODS, rope_frequencies
from emergence.model.transformer import ModelConfig, init_model

PLAIN = rope_frequencies("none", 16, 10000.0, 1.0, 128)[0]


@pytest.mark.parametrize("method", METHODS)
def test_a_factor_of_one_is_plain_rope(method):
    inv_freq, scale = rope_frequencies(method, 16, 10000.0, 1.0, 128, seq_len=512)
    np.testing.assert_array_equal(inv_freq, PLAIN)
    assert scale == 1.0


def test_dynamic_ntk_is_plain_rope_within_the_original_context():
    for n in (1, 64, 128):
        np.testing.assert_array_equal(rope_frequencies("dynamic_ntk", 16, 10000.0, 4.0, 128, seq_len=n)[0], PLAIN)
    assert not np.allclose(rope_frequencies("dynamic_ntk", 16, 10000.0, 4.0, 128, seq_len=129)[0], PLAIN)


def test_frequencies_and_scale_equal_hand_computed_values():
    # d = 4, base 10^4, s = 2, L = 16: plain [1, 10^-2].
    def freqs(method, **kw):
        return rope_frequencies(method, 4, 10000.0, 2.0, 16, **kw)[0]

    np.testing.assert_allclose(freqs("linear"), [0.5, 0.005])
    np.testing.assert_allclose(freqs("ntk"), [1.0, 40000**-0.5])  # base x 2^(4/2)
    # n = 32: base x ((2 x 32 / 16) - 1)^(4/2) = 9 x 10^4
    np.testing.assert_allclose(freqs("dynamic_ntk", seq_len=32), [1.0, 90000**-0.5])
    # YaRN, d = 16, L = 128, s = 4: correction range [floor(-0.39) -> 0, ceil(2.62) = 3]; the
    # ramp (i - 0) / 3 blends plain (weight 1 - ramp) and plain / 4 (weight ramp).
    inv, scale = rope_frequencies("yarn", 16, 10000.0, 4.0, 128)
    plain = 10000.0 ** -(np.arange(8) / 8)
    ramp = np.clip(np.arange(8) / 3, 0, 1)
    np.testing.assert_allclose(inv, plain * (1 - ramp) + plain / 4 * ramp)
    np.testing.assert_allclose(inv[:3], [1.0, 0.2371708245, 0.05])
    assert scale == pytest.approx(1 + 0.1 * np.log(4))


def test_bad_settings_are_config_errors():
    for args in (("rope2", 16, 1e4, 2.0, 8), ("yarn", 15, 1e4, 2.0, 8), ("ntk", 16, 1e4, 0.5, 8)):
        with pytest.raises(ConfigError):
            rope_frequencies(*args)


def test_the_command_prints_the_models_own_function():
    result = run_cli("rope", "--method", "yarn", "--dim", "16", "--factor", "4", "--original-context", "128")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    inv, scale = rope_frequencies("yarn", 16, 10000.0, 4.0, 128)
    assert out["inv_freq"] == inv.tolist() and out["attention_scale"] == scale
    bad = run_cli("rope", "--method", "ntk", "--dim", "16", "--factor", "0.5", "--original-context", "8")
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr


@pytest.mark.parametrize("method", METHODS)
def test_kv_cached_decoding_equals_recomputation_past_the_trained_context(method):
    cfg = ModelConfig(vocab_size=48, d_model=16, n_layers=2, n_heads=2, context=16).scaled(method, 2.0)
    assert cfg.context == 32 and cfg.rope_original_context == 16
    params = nnx.to_pure_dict(nnx.state(init_model(cfg, 0), nnx.Param))
    rng = np.random.default_rng(0)
    prompts = [rng.integers(1, 48, size=n).tolist() for n in (3, 17, 22)]  # two past the trained 16
    inf = Inference(cfg, batch_size=4)
    cached, recomputed = inf.greedy(params, prompts, 8), inf.greedy(params, prompts, 8, cached=False)
    np.testing.assert_array_equal(cached, recomputed)


def test_scaling_changes_only_what_lies_past_the_trained_context_for_dynamic_ntk():
    cfg = ModelConfig(vocab_size=48, d_model=16, n_layers=1, n_heads=2, context=16)
    model = init_model(cfg, 0)
    tokens = jax.numpy.asarray(np.random.default_rng(1).integers(1, 48, size=(1, 16)))
    plain = model(tokens)
    dynamic = nnx.merge(nnx.graphdef(init_model(cfg.scaled("dynamic_ntk", 2.0), 0)), nnx.state(model))(tokens)
    np.testing.assert_allclose(dynamic, plain, rtol=1e-6)  # 16 tokens: within L, plain RoPE
