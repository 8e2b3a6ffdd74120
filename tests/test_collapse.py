"""The collapse test tells curves that depend on loss alone from ones where size matters."""

import numpy as np
import pandas as pd
import pytest

from emergence.analysis.collapse import MIN_LOSO_R2, collapse_test, collapse_test_file, leave_one_size_out_r2
from emergence.errors import InputError


def checkpoints(seed, performance):
    """Four model sizes x 12 checkpoints from 1e8 to 1e11 tokens, with Chinchilla-like losses:
    at equal compute (6 N D) a small model trained longer has a different loss than a large
    one trained briefly. `performance(loss, params)` gives the noiseless value."""
    rng = np.random.default_rng(seed)
    N, D = (g.ravel() for g in np.meshgrid([1e6, 1e7, 1e8, 1e9], np.geomspace(1e8, 1e11, 12), indexing="ij"))
    loss = 1.7 + 400 / N**0.34 + 410 / D**0.28
    value = performance(loss, N) + rng.normal(0, 0.02, loss.size)
    return pd.DataFrame({"loss": loss, "value": value, "params": N, "tokens": D, "flops": 6 * N * D})


def rise(loss):
    return 0.25 + 0.6 / (1 + np.exp((loss - 4.0) / 0.5))


def test_sizes_collapse_on_loss():
    r = collapse_test(checkpoints(0, lambda loss, N: rise(loss)))
    assert r["r2_loss"] > 0.9 and r["delta_r2"] < 0.05 and not r["size_matters"]
    assert "once loss is known, size matters little." in r["verdict_text"]
    assert r["verdict_text"].startswith(f"Loss explains {r['r2_loss']:.0%} of the variance")
    # At equal compute, sizes reach different losses, so compute alone explains less.
    assert r["r2_compute"] < r["r2_loss"] - 0.05
    assert r["r2_compute_size"] > r["r2_compute"]


def test_size_matters_at_fixed_loss():
    # At equal loss, larger models score lower: a size effect that no function of loss can
    # absorb (a size effect of the same sign as loss's is partly absorbed, as size and loss
    # are correlated across checkpoints).
    r = collapse_test(checkpoints(1, lambda loss, N: rise(loss) - 0.1 * np.log10(N)))
    assert r["delta_r2"] >= 0.05 and r["p_value"] < 1e-6 and r["size_matters"]
    assert "size matters beyond loss." in r["verdict_text"]


def test_constant_value_and_bad_input(tmp_path):
    df = checkpoints(2, lambda loss, N: 0 * loss).assign(value=0.25)
    assert "constant" in collapse_test(df)["verdict_text"]
    with pytest.raises(ValueError, match="'flops'"):
        collapse_test(df.drop(columns="flops"))
    path = tmp_path / "curve.csv"
    df.drop(columns="tokens").to_csv(path, index=False)
    with pytest.raises(InputError, match=r"curve\.csv: missing column 'tokens'"):
        collapse_test_file(path)


def test_each_size_is_predicted_by_the_others_curve_on_loss_not_on_compute():
    df = checkpoints(2, lambda loss, N: rise(loss))
    r = collapse_test(df)
    assert r["r2_loss_loso"] > 0.8  # one curve of loss: the other sizes predict each size
    assert r["r2_compute_loso"] < r["r2_loss_loso"] - 0.1  # not so against compute
    assert f"R² {r['r2_loss_loso']:.0%} against loss" in r["verdict_text"]
    one_size = df[df.params == 1e8]
    assert np.isnan(
        leave_one_size_out_r2(one_size.loss.to_numpy(), one_size.value.to_numpy(), one_size.params.to_numpy())
    )


def test_sizes_that_one_curve_does_not_predict_are_never_called_collapsed():
    # Three sizes, disjoint in loss, each rising along its own stretch from its own level:
    # loss explains most of the variance in-sample, yet each size is badly predicted by the
    # curve of the others (held at their edge values beyond their range).
    rng = np.random.default_rng(3)
    frames = []
    for k, (lo, level) in enumerate(((3.0, 0.6), (2.5, 0.1), (2.0, 0.5))):
        loss = np.linspace(lo + 0.45, lo, 12)
        value = level + 0.3 * (lo + 0.45 - loss) + rng.normal(0, 0.01, 12)
        tokens = np.linspace(1e5, 1e6, 12)
        frames.append(
            pd.DataFrame(
                {"loss": loss, "value": value, "params": 1e5 * 2**k, "tokens": tokens, "flops": 6e5 * 2**k * tokens}
            )
        )
    out = collapse_test(pd.concat(frames, ignore_index=True))
    assert out["r2_loss"] >= 0.5 and out["r2_loss_loso"] < MIN_LOSO_R2 and out["size_matters"]
    assert "matters little" not in out["verdict_text"] and "size" in out["verdict_text"]


def test_noise_around_a_flat_line_decides_nothing_about_size():
    rng = np.random.default_rng(5)
    df = checkpoints(0, lambda loss, N: 0.25 + 0 * loss).assign(value=lambda d: 0.25 + rng.normal(0, 0.02, len(d)))
    out = collapse_test(df)
    assert out["r2_loss"] < 0.5 and out["size_matters"] is None
    assert "cannot tell whether size matters" in out["verdict_text"]
