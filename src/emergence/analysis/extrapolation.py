"""Step 2 of the forecast (chain.py) for extrapolation: which curve carries a task's score
from the ladder's losses to a lower one.

The threshold analysis's curves (curves.py) are fitted to say where a rise starts: their
midpoint is kept inside the observed losses, so beyond the lowest loss a sigmoid has to
level off where the data end. A ladder of small models often sees only the start of a
task's rise (the published ladders' MMLU), and then that form stops the forecast too early.
The field's step 2 (Bhagia et al. 2024, model ladders) is a sigmoid whose floor, ceiling and
midpoint are all free, the midpoint anywhere, anchored by an ideal point: a perfect score at
zero loss. Which of the two forecasts better is measured, not assumed: each forecasts every
size from the smaller ones (a rolling origin, as forecasts of time series are checked),
scored where that size's checkpoints lie beyond the smaller sizes' losses. The default is
the form the threshold analysis's verdict implies: an emergent task's threshold model (its
smaller sizes sit at chance, where a free sigmoid may put its rise anywhere), the free
sigmoid for a smooth rise, a sigmoid within the data for a flat or inconclusive task; the
other form replaces it only where it forecast the held-out
sizes clearly better (by more than twice the standard error of the paired difference): on a
short ladder the held-out sizes extrapolate little, and their items' noise decides more than
the form does.
"""

from __future__ import annotations

import numpy as np

from emergence.analysis.curves import FITTERS, MIN_SIDE, fit_sigmoid_in, predict

FREE = "free sigmoid"
# The shape each step-2 form draws (a free sigmoid is a sigmoid with other constraints).
SHAPES = {FREE: "sigmoid"}
# Widths of the free sigmoid's starting grid, as fractions of the observed loss range.
_WIDTHS = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])


def shape(form: str) -> str:
    """The curve (curves.predict, curves.landmarks) that a step-2 form draws."""
    return SHAPES.get(form, form)


def fit_free_sigmoid(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares y = c + h / (1 + exp((x - eta) / w)) with its midpoint eta anywhere from
    zero loss to a range above the data, h >= 0, and for a bounded metric bottom <= c and
    c + h <= top (curves.fit_sigmoid_in), fitted with one more point: the best score `top` at
    zero loss (the published method's ideal point; none for a metric without a best score)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.isfinite(top):
        x, y = np.append(x, 0.0), np.append(y, top)
    span = float(np.ptp(x)) or 1.0
    etas = np.linspace(0.0, x.max() + span, 40)
    return fit_sigmoid_in(x, y, top, bottom, etas, _WIDTHS * span, (1e-3 * span, 5.0 * span))


def fitter(form: str):
    """The function that fits step-2 form `form` (curves.FITTERS' signature)."""
    return fit_free_sigmoid if form == FREE else FITTERS[form]


def held_out_misses(x, y, params, forms, top: float, bottom: float) -> dict[str, np.ndarray]:
    """Per form: its absolute errors (normalised units) in forecasting each size from the
    smaller ones (a rolling origin over every size with at least two smaller sizes, whose
    points have 2 MIN_SIDE + 2 distinct losses), at the size's points beyond the smaller
    sizes' lowest loss, where a forecast extrapolates (all of its points when fewer than
    MIN_SIDE lie there). The arrays are aligned point by point; empty when no size can be
    forecast so."""
    x, y, params = (np.asarray(a, float) for a in (x, y, params))
    misses: dict[str, list[np.ndarray]] = {form: [] for form in forms}
    for size in np.unique(params)[2:]:
        below, held = params < size, params == size
        if np.unique(x[below]).size < 2 * MIN_SIDE + 2:
            continue
        beyond = held & (x < x[below].min())
        at = beyond if beyond.sum() >= MIN_SIDE else held
        fits = {}
        for form in forms:
            try:
                fits[form] = fitter(form)(x[below], y[below], top, bottom)
            except ValueError:
                break
        else:
            for form, fit in fits.items():
                misses[form].append(np.abs(predict(shape(form), fit, x[at]) - y[at]))
    return {form: np.concatenate(m) for form, m in misses.items() if m}


def choose(misses: dict[str, np.ndarray], forms) -> tuple[str, str]:
    """(form, why): the first of `forms` (the default), unless another forecast the held-out
    sizes better by more than twice the standard error of the mean paired difference of
    their absolute errors."""
    default = forms[0]
    if default not in misses:
        return default, "no size could be forecast from two or more smaller ones"
    why = f"mean held-out error {misses[default].mean():.3f}"
    for form in forms[1:]:
        d = misses[form] - misses[default]
        se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else np.inf
        if d.mean() < -2 * se:
            paired = f"paired difference {d.mean():+.3f} +- {se:.3f}"
            return form, f"{why} against {misses[form].mean():.3f} for the {form} ({paired})"
        why += f", {misses[form].mean():.3f} for the {form}"
    return default, why
