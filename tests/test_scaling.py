"""The scaling-law fit recovers the law it was given."""

import numpy as np
import pytest

from emergence.analysis.scaling import fit_scaling, fit_scaling_file, scaling_predict
from emergence.errors import InputError

TRUE = {"E": 1.7, "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28}


def grid():
    N, D = (g.ravel() for g in np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6)))
    return N, D, scaling_predict(TRUE, N, D)


def test_recovers_noiseless_law():
    N, D, L = grid()
    fit = fit_scaling(N, D, L, n_boot=0)
    assert fit["alpha"] == pytest.approx(TRUE["alpha"], abs=0.01)
    assert fit["beta"] == pytest.approx(TRUE["beta"], abs=0.01)
    assert fit["E"] == pytest.approx(TRUE["E"], abs=0.01)
    assert fit["A"] == pytest.approx(TRUE["A"], rel=0.05) and fit["B"] == pytest.approx(TRUE["B"], rel=0.05)
    assert np.allclose(scaling_predict(fit, N, D), L, rtol=1e-6)
    assert fit["n_points"] == 36 and np.isnan(fit["alpha_se"])


def test_noisy_law_has_finite_standard_errors():
    N, D, L = grid()
    rng = np.random.default_rng(0)
    fit = fit_scaling(N, D, L * np.exp(rng.normal(0, 0.01, L.size)), n_boot=20, seed=1)
    assert abs(fit["alpha"] - TRUE["alpha"]) < 0.05 and abs(fit["beta"] - TRUE["beta"]) < 0.05
    assert abs(fit["E"] - TRUE["E"]) < 0.15
    for k in ("E", "A", "B", "alpha", "beta"):
        assert 0 < fit[f"{k}_se"] < np.inf
    assert fit["huber_loss"] > 0
    assert fit["determined"] and fit["undetermined"] == {}


def test_two_budgets_and_noise_leave_parameters_undetermined():
    # Like the default study: five sizes but two token budgets, losses noisy across seeds.
    rng = np.random.default_rng(2)
    N, D, _ = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 8e5, 5), [1e6, 3e6], [0, 1, 2]))
    L = scaling_predict(TRUE, N, D) * np.exp(rng.normal(0, 0.02, N.size))
    fit = fit_scaling(N, D, L, n_boot=20)
    assert not fit["determined"]
    assert fit["undetermined"]["beta"] == "only 2 token budgets (need 3 or more)" and "B" in fit["undetermined"]


def test_rejects_unidentified_input():
    with pytest.raises(ValueError, match="distinct"):
        fit_scaling([1e6] * 6, np.geomspace(1e8, 1e9, 6), np.linspace(3, 2, 6), n_boot=0)
    with pytest.raises(ValueError, match="positive"):
        fit_scaling([1e6, -1, 1e7, 1e8, 1e9], [1e9] * 5, [3, 3, 3, 3, 3], n_boot=0)


def test_file_round_trip_and_errors(tmp_path):
    N, D, L = grid()
    ok = tmp_path / "runs.csv"
    ok.write_text("params,tokens,loss\n" + "".join(f"{n},{d},{loss}\n" for n, d, loss in zip(N, D, L)))
    assert fit_scaling_file(ok, n_boot=0)["alpha"] == pytest.approx(TRUE["alpha"], abs=0.01)

    cases = {
        "nocol.csv": ("params,loss\n1e6,3\n", r"nocol\.csv: missing column 'tokens'"),
        "text.csv": (
            "params,tokens,loss\n1e6,1e9,3\n1e7,lots,2.5\n",
            r"text\.csv: column 'tokens' has non-numeric value 'lots' at line 3",
        ),
        "neg.csv": (
            "params,tokens,loss\n1e6,1e9,3\n1e7,1e9,-2.5\n",
            r"neg\.csv: column 'loss' must be positive, got -2.5 at line 3",
        ),
        "empty.csv": ("params,tokens,loss\n1e6,,3\n", r"empty\.csv: column 'tokens' has an empty cell at line 2"),
    }
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=pattern) as e:
            fit_scaling_file(tmp_path / name, n_boot=0)
        assert "\n" not in str(e.value)
