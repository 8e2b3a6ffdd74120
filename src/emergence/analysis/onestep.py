"""One step: a task's score straight from training compute C = 6 N D, with no loss in between.

Krajewski et al. (2025) report that on some ladders one step forecasts as well as the two-step
chain, or better. The form is step 2's bounded sigmoid (chance-normalised scores, curves.py),
in -log10 C instead of loss, its midpoint anywhere from the data's range to two ranges beyond
it towards more compute, fitted to every checkpoint (C from its tokens so far: unlike a loss
law, a score curve takes intermediate checkpoints, as the chain's step 2 does).

Its intervals come from the chain's bootstrap (resample.py: the same units, strata,
rescaling and items), the sigmoid refitted to each resample: `value_ci`, the percentile
interval of the resamples' scores at C, for the score runs at (N, D) reach on average;
`value_pi`, for the average of `runs` new runs, each resample's score plus the scatter of
checkpoints around the curve near C (the residual sd of the fifth of the checkpoints
nearest in log compute, chain.Curve.scatter) divided by sqrt(runs), kept within the metric's
range. The fitted curve is a chain.Curve whose x is -log10 C where the chain's is a loss,
so that both methods predict, scatter and bound alike. Which of the two a forecast uses is
choice.py's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from emergence.analysis import resample
from emergence.analysis.chain import Chain, Curve
from emergence.analysis.curves import MIN_SIDE, fit_sigmoid_in, normalise, predict

NAME = "one step"
# Widths of the starting grid, as fractions of the observed range of log10 compute.
_WIDTHS = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])
# Fewest distinct computes a resample needs for its sigmoid.
_MIN_COMPUTES = 2 * MIN_SIDE + 2


def _x(params, tokens) -> np.ndarray:
    return -np.log10(6.0 * np.asarray(params, float) * np.asarray(tokens, float))


def _fit(x, y, top: float, bottom: float) -> dict:
    span = float(np.ptp(x)) or 1.0
    etas = np.linspace(x.min() - 2 * span, x.max(), 40)
    return fit_sigmoid_in(x, y, top, bottom, etas, _WIDTHS * span, (1e-3 * span, 5.0 * span))


def fit_one_step(params, tokens, value, chance: float | None, higher_is_better: bool, top: float, bottom: float):
    """The sigmoid in -log10(6 N D) through the chance-normalised `value`s (curves.normalise)."""
    return _fit(_x(params, tokens), normalise(value, chance, higher_is_better), top, bottom)


def predict_one_step(fit: dict, params, tokens) -> np.ndarray:
    """The fit's score (chance-normalised units) at (N, D)."""
    return predict("sigmoid", fit, _x(params, tokens))


def fit_task(d: pd.DataFrame, like: Curve, unit: pd.Series, strata, stratified: bool, n_boot: int, seed: int) -> Curve:
    """One step on one task's checkpoints `d` (a ladder's rows), in the metric's terms of the
    chain's curve `like` (chance, direction, range), and its `n_boot` resamples (resample.py:
    `unit` per run, `strata`, `stratified` from resample.units). ValueError when the sigmoid
    cannot be fitted to all checkpoints; a resample with too few distinct computes gets None."""
    x = _x(d["params"], d["tokens"])
    y = normalise(d["value"].to_numpy(float), like.chance, like.higher_is_better)
    fit = _fit(x, y, like.top, like.bottom)
    checkpoints = resample.Checkpoints(d, unit, stratified)
    rng = np.random.default_rng(seed)
    boots: list[dict | None] = []
    for _ in range(n_boot):
        idx, v = checkpoints.draw(resample.draw(strata, rng), rng)
        if np.unique(x[idx]).size < _MIN_COMPUTES:
            boots.append(None)
            continue
        boots.append(_fit(x[idx], normalise(v, like.chance, like.higher_is_better), like.top, like.bottom))
    return dataclasses.replace(
        like,
        form="sigmoid",
        form_reason="one step: a sigmoid in -log10 6ND",
        candidates={},
        fit=fit,
        boots=boots,
        losses=(float(x.min()), float(x.max())),
        residuals=(x, y - predict("sigmoid", fit, x)),
    )


def fit_ladder(ladder: pd.DataFrame, chain: Chain, *, seed: int = 0) -> dict[str, Curve]:
    """One step for every task of `ladder` that the chain fitted and a sigmoid in compute fits,
    with as many resamples as the chain has."""
    ladder = ladder.reset_index(drop=True)
    unit, strata, stratified = resample.units(ladder)
    out = {}
    for task, d in ladder.groupby("task", sort=True):
        if task not in chain.curves:
            continue
        try:
            out[task] = fit_task(d, chain.curves[task], unit, strata, stratified, chain.n_boot, seed)
        except ValueError:
            continue
    return out


def predict_at(chain: Chain, steps: dict[str, Curve], N: float, D: float, *, runs: int = 1, seed: int = 0) -> dict:
    """Per task of `steps` (fit_ladder): one step's score for runs of N parameters trained on D
    tokens, its interval for the curve (`value_ci`) and for the average of `runs` new runs
    (`value_pi`, chain.interval's level), the compute, and `beyond`: where C exceeds every
    checkpoint's."""
    rng = np.random.default_rng(seed)
    at = float(_x(N, D))
    out = {}
    for task, curve in steps.items():
        values = np.array([float(curve.value(p, at)) for p in curve.boots])
        noise = rng.normal(0.0, curve.scatter(at) / np.sqrt(runs), len(curve.boots))
        shown = np.array([float(curve.observed(p, at, e)) for p, e in zip(curve.boots, noise)])
        most = 10 ** -curve.losses[0]
        beyond = [f"C is {10**-at / most:.3g} times the largest checkpoint's"] if at < curve.losses[0] else []
        out[task] = {
            "value": float(curve.value(curve.fit, at)),
            "value_ci": chain.interval(values),
            "value_pi": chain.interval(shown),
            "compute": 10**-at,
            "beyond": beyond,
        }
    return out
