import dataclasses

import numpy as np
import pytest

from emergence.config import defaults
from emergence.data import batches
from emergence.errors import InputError
from emergence.train.optimizer import (
    branch_step,
    checkpoint_steps,
    lr_schedule,
    total_steps,
    trunk_checkpoint_steps,
    wsd_schedule,
)


def test_schedule_warms_up_peaks_and_decays_to_its_own_budget():
    cfg = dataclasses.replace(defaults().training, learning_rate=1e-2, min_lr_ratio=0.1, warmup_fraction=0.1)
    for steps in (100, 1000):
        lr = lr_schedule(cfg, steps)
        warmup = steps // 10
        assert float(lr(0)) == 0.0
        assert float(lr(warmup)) == pytest.approx(1e-2)
        assert float(lr(steps)) == pytest.approx(1e-3)
        assert float(lr(warmup // 2)) < 1e-2


def test_total_steps_covers_the_budget():
    assert total_steps(1000, 4, 32) == 8  # 7.8 rounded up
    assert total_steps(1, 4, 32) == 1


@pytest.mark.parametrize("steps, n", [(1, 5), (10, 5), (100, 12), (1000, 12), (123457, 20)])
def test_checkpoint_schedule_is_log_spaced_then_even(steps, n):
    ckpts = checkpoint_steps(steps, n)
    assert ckpts == sorted(set(ckpts)) and ckpts[-1] == steps and ckpts[0] >= 1
    assert len(ckpts) <= n
    if steps >= 100:
        assert {1, 2, 4, 8} & set(ckpts) or {16, 32, 64, 128} & set(ckpts)  # early powers of two
        gaps = np.diff(ckpts[-n // 2 :])
        assert gaps.max() - gaps.min() <= 1  # evenly spaced tail


def test_batches_are_a_function_of_seed_and_step():
    tokens = np.arange(1000, dtype=np.uint16)
    a = batches.train_batch(tokens, seed=0, step=5, batch_size=4, context=16)
    assert a.shape == (4, 17) and a.dtype == np.int32
    np.testing.assert_array_equal(a, batches.train_batch(tokens, 0, 5, 4, 16))
    assert not np.array_equal(a, batches.train_batch(tokens, 0, 6, 4, 16))
    assert not np.array_equal(a, batches.train_batch(tokens, 1, 5, 4, 16))
    assert np.all(np.diff(a, axis=1) == 1)  # contiguous windows
    chunk = batches.train_batches(tokens, 0, 4, 3, 4, 16)
    np.testing.assert_array_equal(chunk[1], a)


def test_validation_windows_are_whole_batches_from_the_start():
    tokens = np.arange(1000, dtype=np.uint16)
    w = batches.val_windows(tokens, max_tokens=500, context=16, batch_size=8)
    assert w.shape == (3, 8, 17)  # 31 windows -> 3 whole batches of 8
    assert w[0, 0, 0] == 0 and w[0, 1, 0] == 16
    with pytest.raises(InputError, match="validation split"):
        batches.val_windows(np.arange(10), 100, 16, 8)
    with pytest.raises(InputError, match="training split"):
        batches.train_batch(np.arange(10), 0, 0, 2, 16)


def test_wsd_warms_up_holds_the_peak_then_cools_down_to_its_budget():
    cfg = dataclasses.replace(defaults().training, learning_rate=1e-2, min_lr_ratio=0.1, cooldown_fraction=0.2)
    warmup, steps = 10, 1000
    branch = branch_step(cfg, steps)
    assert branch == 800
    lr, trunk = wsd_schedule(cfg, warmup, branch, steps), wsd_schedule(cfg, warmup)
    assert float(lr(0)) == 0.0 and float(lr(warmup)) == pytest.approx(1e-2)
    for s in (warmup, 400, branch):  # the stable phase is the trunk's
        assert float(lr(s)) == pytest.approx(1e-2) == float(trunk(s))
    cool = [float(lr(s)) for s in range(branch, steps + 1, 20)]
    assert all(a > b for a, b in zip(cool, cool[1:]))
    assert cool[-1] == pytest.approx(1e-3)
    # 1 - sqrt: most of the decay happens early in the cool-down.
    assert float(lr(branch + 50)) < 1e-2 - 0.45 * (1e-2 - 1e-3)
    assert float(trunk(10**6)) == pytest.approx(1e-2)


def test_trunk_saves_every_checkpoint_a_branch_takes_and_each_branch_point():
    cfg = dataclasses.replace(defaults().training, n_checkpoints=12, cooldown_fraction=0.2)
    budgets = [245, 733]
    saved = trunk_checkpoint_steps(cfg, budgets)
    for steps in budgets:
        b = branch_step(cfg, steps)
        assert b in saved and {s for s in checkpoint_steps(steps, 12) if s <= b} <= set(saved)
    assert saved[-1] == branch_step(cfg, 733)
