"""What one curve shows, before any verdict (thresholds.py weighs it): the curves of
`curves.py` fitted and compared by information criteria (the better threshold model against
the best smooth alternative), the rise of the best, one point's noise, the trend (Spearman's
correlation, the emergence score), the threshold model's landmarks with their bootstrap
intervals (resampled as `bootstrap.py` says) and whether they sit at the edge of the data,
and the level of the checkpoints beyond the onset's interval with its standard error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from emergence.analysis.bootstrap import resamples, rescaling
from emergence.analysis.curves import (
    FITTERS,
    LANDMARKS,
    MIN_SIDE,
    N_PARAMS,
    SMOOTH_MODELS,
    THRESHOLD_MODELS,
    floor,
    information_criteria,
    landmarks,
    normalise,
    predict,
)

# Fewest checkpoints that must lie beyond an estimate (and each end of its interval) on
# either side for it not to be at the edge of the data.
EDGE_POINTS = 5


@dataclasses.dataclass(frozen=True)
class CurvePoints:
    """One curve's points, checked by thresholds.fit_threshold, and how to read their values."""

    loss: np.ndarray  # validation loss of each point (nats/token)
    value: np.ndarray  # performance, in the metric's units
    y: np.ndarray  # the value normalised (curves.normalise): chance 0, best score 1, larger better
    model: np.ndarray | None  # integer code of each point's model (size)
    run: np.ndarray | None  # integer code of each point's training run within its model
    n: np.ndarray | None  # items behind each value (int64; the value is then a proportion)
    chance: float | None
    higher_is_better: bool
    # Per point, each item's score (columns: the same items at every point, NaN where a point
    # lacks one); the value is its row's mean. None: only the counts n are known.
    items: np.ndarray | None = None
    # The level an unbounded metric takes without the ability (normalised: 0 for bounded ones).
    null: float = 0.0


def emergence_score(loss, y) -> float:
    """Schaeffer et al. (2023)'s emergence score along improving models (decreasing loss):
    sign(argmax y - argmin y) (max y - min y) / sqrt(median of squared successive differences).
    The mean replaces a zero median (many tied proportions), and 0 is returned for constant y."""
    y = np.asarray(y, float)[np.argsort(-np.asarray(loss, float), kind="stable")]
    d2 = np.diff(y) ** 2
    scale = np.median(d2) if np.median(d2) > 0 else d2.mean()
    if scale <= 0:
        return 0.0
    return float(np.sign(np.argmax(y) - np.argmin(y)) * np.ptp(y) / np.sqrt(scale))


def _successive_sd(x, y) -> float:
    """One point's noise standard deviation from successive differences along the loss axis.

    Differences of neighbours cancel the (slowly varying) trend; the median of d^2 / 2 is
    rescaled by the chi-square(1) median so it estimates sigma^2 for Gaussian noise."""
    d2 = np.diff(np.asarray(y, float)[np.argsort(x, kind="stable")]) ** 2
    m = np.median(d2) if np.median(d2) > 0 else d2.mean()
    return float(np.sqrt(m / (2 * stats.chi2.ppf(0.5, 1))))


def noise_sd(points: CurvePoints) -> float:
    """One point's noise standard deviation in normalised units: the larger of the
    successive-difference estimate and, with item counts, the binomial one."""
    sd = _successive_sd(points.loss, points.y)
    if points.n is not None:
        # Pooled proportion with one success and one failure added (Laplace): at p = 0 the
        # plain binomial sd is 0, and one lucky item would count as a significant rise.
        m = np.median(points.n)
        p = (points.value.mean() * m + 1) / (m + 2)
        scale = 1.0 if points.chance is None else abs((1.0 if points.higher_is_better else 0.0) - points.chance)
        sd = max(sd, np.sqrt(p * (1 - p) / np.median(points.n)) / scale)
    return float(sd)


def edge(loss: np.ndarray, *values: float) -> str | None:
    """ "low" when one of `values` has fewer than EDGE_POINTS checkpoints at lower loss, "high"
    when it has fewer at higher loss (or is not a number), else None."""
    for v in values:
        if not np.isfinite(v) or (loss > v).sum() < EDGE_POINTS:
            return "high"
        if (loss < v).sum() < EDGE_POINTS:
            return "low"
    return None


def _range(chance: float | None, higher_is_better: bool) -> tuple[float, float]:
    """(top, bottom) of the normalised values: a metric with a chance level is bounded."""
    return (1.0, floor(chance, higher_is_better)) if chance is not None else (np.inf, -np.inf)


def compare_models(points: CurvePoints) -> dict:
    """The curves fitted and compared, as fields of fit_threshold's result: spearman and
    spearman_p (of y against loss), emergence_score, each curve's aic_, bic_ and fitted
    parameters, threshold_model (hinge or sigmoid, the better by BIC) with its landmarks
    (onset, midpoint, saturation; eta_candidate is the onset), smooth_alternative (the best
    of the line, exponential and power by BIC), best_model (of all five), delta_bic (the
    smooth alternative's BIC minus the threshold model's), rise (the best fit's, from the
    highest to the lowest loss) and noise_sd."""
    loss, y = points.loss, points.y
    top, bottom = _range(points.chance, points.higher_is_better)
    rho, rho_p = stats.spearmanr(y, loss) if np.ptp(y) > 0 else (0.0, 1.0)
    out = {"spearman": float(rho), "spearman_p": float(rho_p), "emergence_score": emergence_score(loss, y)}
    fits = {kind: fitter(loss, y, top, bottom) for kind, fitter in FITTERS.items()}
    for kind, p in fits.items():
        out[f"aic_{kind}"], out[f"bic_{kind}"] = information_criteria(p["rss"], loss.size, N_PARAMS[kind])
        out.update({f"{kind}_{k}": v for k, v in p.items() if k != "rss"})
    thr = min(THRESHOLD_MODELS, key=lambda k: out[f"bic_{k}"])
    alt = min(SMOOTH_MODELS, key=lambda k: out[f"bic_{k}"])
    best = min(FITTERS, key=lambda k: out[f"bic_{k}"])
    marks = landmarks(thr, fits[thr])
    out.update(
        marks,
        delta_bic=float(out[f"bic_{alt}"] - out[f"bic_{thr}"]),
        smooth_alternative=alt,
        best_model=best,
        threshold_model=thr,
        eta_candidate=marks["onset"],
        rise=float(np.subtract(*predict(best, fits[best], [loss.min(), loss.max()]))),
        noise_sd=noise_sd(points),
    )
    return out


def flat_level(points: CurvePoints, above: float) -> tuple[float, float]:
    """(level, standard error) of the normalised values of the checkpoints at losses above
    `above`, as an offset from the null level: the mean over training runs of each run's mean
    there, and its standard error across runs (which includes run-to-run variance), never below
    one point's noise over the square root of the number of points (a single run, or runs that
    happen to agree)."""
    keep = points.loss > above
    y = points.y[keep] - points.null
    if y.size == 0:
        return float("nan"), float("nan")
    if points.run is not None or points.model is not None:
        key = pd.factorize(
            pd.Series(zip(*(np.zeros(points.loss.size, int) if v is None else v for v in (points.model, points.run))))
        )[0][keep]
        means = pd.Series(y).groupby(key).mean().to_numpy()
    else:
        means = y
    se = noise_sd(points) / np.sqrt(y.size)
    if means.size > 1:
        se = max(se, float(means.std(ddof=1) / np.sqrt(means.size)))
    return float(means.mean()), float(se)


def _landmark_samples(points: CurvePoints, scheme: str, n_boot: int, rng) -> tuple[np.ndarray, float]:
    """Landmarks (onset, midpoint, saturation) refitted on `n_boot` resamples, one row each, by
    the threshold model that wins by BIC on that resample (so the intervals include which model
    wins), rows of resamples with too few distinct losses to fit left out; and the share of
    resamples on which that threshold model also beats every smooth alternative by BIC."""
    loss, (top, bottom) = points.loss, _range(points.chance, points.higher_is_better)
    rows, wins = [], 0
    draws = resamples(scheme, loss.size, points.model, points.run, points.n, points.value, n_boot, rng, points.items)
    for idx, v in draws:
        x = loss[idx]
        if len(np.unique(x)) < 2 * MIN_SIDE + 2:
            continue
        y = normalise(v, points.chance, points.higher_is_better)
        fits = {k: FITTERS[k](x, y, top, bottom) for k in FITTERS}
        bic = {k: information_criteria(p["rss"], x.size, N_PARAMS[k])[1] for k, p in fits.items()}
        kind = min(THRESHOLD_MODELS, key=bic.get)
        rows.append(list(landmarks(kind, fits[kind]).values()))
        wins += bic[kind] < min(bic[k] for k in SMOOTH_MODELS)
    return np.array(rows).reshape(-1, len(LANDMARKS)), wins / max(len(rows), 1)


def _percentiles(samples: np.ndarray, n_boot: int, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size < n_boot / 2:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def landmark_intervals(
    points: CurvePoints, marks: dict, scheme: str, n_boot: int, level: float, rng: np.random.Generator
) -> dict:
    """Fields of fit_threshold's result: each landmark's percentile interval at `level`
    (onset_low, onset_high, ...; NaN when fewer than half the `n_boot` resamples of `scheme`
    refit it), over resamples each refitted with the threshold model it prefers and their
    deviations from the estimate in `marks` rescaled (`bootstrap.rescaling`); whether the midpoint and
    saturation are at the edge of the data (midpoint_at_edge, saturation_at_edge; by `edge`);
    and threshold_support: the share of resamples on which the threshold model still beats
    every smooth alternative by BIC (one fit's BIC treats its points as independent; the
    resamples of runs and items show how far the preference survives the correlations
    between them)."""
    boots, support = _landmark_samples(points, scheme, n_boot, rng)
    scale = rescaling(scheme, points.model, points.run)
    out = {"threshold_support": support}
    for j, name in enumerate(LANDMARKS):
        est = marks[name]
        samples = est + scale * (boots[:, j] - est) if np.isfinite(est) else boots[:, j]
        out[f"{name}_low"], out[f"{name}_high"] = _percentiles(samples, n_boot, level)
    for name in ("midpoint", "saturation"):
        if np.isfinite(marks[name]):  # NaN for a hinge without a best score to rise to
            out[f"{name}_at_edge"] = edge(points.loss, marks[name], out[f"{name}_low"], out[f"{name}_high"]) is not None
    return out
