"""One step: a task's score straight from training compute C = 6 N D, with no loss in between.

Krajewski et al. (2025) report that on some ladders one step forecasts as well as the two-step
chain, or better. The form is step 2's bounded sigmoid (chance-normalised scores, curves.py),
in -log10 C instead of loss, its midpoint anywhere from the data's range to two ranges beyond
it towards more compute, fitted to every checkpoint (C from its tokens so far). It is a point
forecast without intervals: the hold-out check (holdout.py) sets it beside the chain's on the
held-out size, so that a user sees whether the loss in between helped on their ladder.
"""

from __future__ import annotations

import numpy as np

from emergence.analysis.curves import fit_sigmoid_in, normalise, predict

NAME = "one step"
# Widths of the starting grid, as fractions of the observed range of log10 compute.
_WIDTHS = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])


def _x(params, tokens) -> np.ndarray:
    return -np.log10(6.0 * np.asarray(params, float) * np.asarray(tokens, float))


def fit_one_step(params, tokens, value, chance: float | None, higher_is_better: bool, top: float, bottom: float):
    """The sigmoid in -log10(6 N D) through the chance-normalised `value`s (curves.normalise)."""
    x, y = _x(params, tokens), normalise(value, chance, higher_is_better)
    span = float(np.ptp(x)) or 1.0
    etas = np.linspace(x.min() - 2 * span, x.max(), 40)
    return fit_sigmoid_in(x, y, top, bottom, etas, _WIDTHS * span, (1e-3 * span, 5.0 * span))


def predict_one_step(fit: dict, params, tokens) -> np.ndarray:
    """The fit's score (chance-normalised units) at (N, D)."""
    return predict("sigmoid", fit, _x(params, tokens))
