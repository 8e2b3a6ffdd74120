"""Is there a pretraining loss below which performance rises? One curve at a time: the
verdict and the rules that give it (the curves it compares are in `curves.py`, what it
measures on them in `evidence.py`, what the intervals resample in `bootstrap.py`).

A curve is performance (`value`) against validation loss (`loss`, nats/token; lower is a
better model) over every checkpoint of every model size. Least-squares models of the
chance-normalised performance y(x) are compared by BIC: two threshold models (a hinge and a
sigmoid: flat, then rising) against three smooth alternatives (a line, an exponential and a
power in loss: convex or concave, never flat). "Emergent" needs the better threshold model
to beat every smooth alternative, the checkpoints beyond the onset's interval to sit at
chance (or at an unbounded metric's null level), and an onset that the data locate.

The threshold of an emergent curve is always its onset (where the threshold model's steepest
tangent leaves its flat level: the hinge's knot, the sigmoid's eta + 2 w), reported with the
midpoint (50% of the rise) and the saturation (90%), each with a bootstrap interval. An onset
with fewer than EDGE_POINTS checkpoints beyond it or beyond either end of its interval is at
the edge of the data: never a finding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.bootstrap import COVERS, choose, labels
from emergence.analysis.curves import LANDMARKS, MIN_SIDE, normalise
from emergence.analysis.evidence import (
    EDGE_POINTS,
    CurvePoints,
    compare_models,
    edge,
    flat_level,
    landmark_intervals,
)
from emergence.errors import InputError
from emergence.io import read_csv_columns

# Share of the points that must lie on the flat side (loss above the onset) for "emergent":
# the claim is that models above the threshold lack the ability, so it must rest on many of them.
FLAT_SHARE = 0.25
# BIC difference that Kass & Raftery (1995) call strong evidence.
STRONG_BIC = 6.0
# A rise counts as real beyond this many standard deviations of one point; a flat level is
# off chance beyond this many of its own standard errors.
NOISE_SE = 2.0
# The checkpoints above an onset's interval are at chance when their level is within this
# share of the fitted rise of chance (or of the null level), or within NOISE_SE of its own
# standard errors of it: a sigmoid is never exactly at chance, and 1% of its rise is chance in all but name.
FLAT_MARGIN = 0.02
# Least share of the bootstrap resamples (runs and items) on which the threshold model must
# still beat every smooth alternative: checkpoints of one run are not independent points, so
# one fit's BIC overstates the evidence (exact match of a 10-token answer is preferred as a
# threshold in 68-77% of resamples where its BIC says so; real hinges in 76-100%, most above 85%).
MIN_SUPPORT = 0.8
# Spearman p-value below which a monotone trend counts as real.
TREND_ALPHA = 0.05
# Widest onset interval (nats) that still locates an onset: the sizes of a study differ in
# final loss by tenths of a nat, and an interval wider than this cannot tell which sizes
# pass the threshold. (Losses in nats per token: a study of a much larger vocabulary, whose
# losses differ more, may pass max_width to fit_threshold.)
MAX_CI_WIDTH = 0.2
# Fewest model sizes with checkpoints on each side of an emergent onset's interval (or all
# sizes, when there are fewer): a loss threshold that sizes share cannot rest on one or two.
MIN_SIZES = 3

EDGE_REASONS = {
    "low": "onset at the low-loss edge of the data (fewer than {k} checkpoints below it or its interval): "
    "train longer or larger",
    "high": "onset at the high-loss edge of the data (fewer than {k} checkpoints above it or its interval): "
    "evaluate earlier checkpoints or smaller models",
}


def fit_threshold(
    loss,
    value,
    *,
    model=None,
    run=None,
    n=None,
    items=None,
    chance: float | None = None,
    null: float | None = None,
    higher_is_better: bool = True,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    bootstrap: str = "auto",
    max_width: float = MAX_CI_WIDTH,
) -> dict:
    """Estimate whether and where performance starts to rise as loss falls, for one curve.

    Works on y = normalise(value, chance, higher_is_better); a given chance level makes the
    metric bounded (fits stay within [its floor, 1]) and is the level it sits at without the
    ability; `null` is that level for an unbounded metric (e.g. 0 for a gain), in its units.
    `model` labels the model (size) of each point and `run` its training run within that
    model (a seed); `n` is the number of items behind each value, which must then be a
    proportion; `items` (points x items, NaN where a point lacks an item) holds each item's
    score at each point, the same item in the same column, so the bootstrap redraws item ids
    (bootstrap.py; `n` then defaults to each row's count). `bootstrap` picks what the intervals
    resample; "auto" resamples runs within each model, then items, when some model has two or
    more runs, else items when they are known, else models and checkpoints.

    Noise `sd` is one point's standard deviation in normalised units: the larger of the
    successive-difference estimate and, when `n` is given, the binomial one
    sqrt(p (1 - p) / m) with m the median n and p the pooled value with one success and one
    failure added, (p m + 1) / (m + 2). Verdict rules, in this order:

    - "flat": the rise of the BIC-best model's fit from the highest to the lowest observed
      loss is not positive or is at most 2 sd.
    - when the better threshold model (hinge or sigmoid, by BIC) beats the best smooth
      alternative (line, exponential or power in loss) by
      delta_bic = BIC(smooth alternative) - BIC(threshold) >= 6:
      - a bootstrap that cannot refit the onset: "inconclusive";
      - the threshold model beating every smooth alternative in fewer than 80% of the
        bootstrap resamples (threshold_support): "smooth" with a significant trend, else
        "inconclusive";
      - an onset at the edge of the data (`evidence.edge`): "inconclusive";
      - the checkpoints above the onset's interval off chance (or off `null`): their level
        (`evidence.flat_level`, the mean over runs) further from it than 2% of the fitted rise
        plus 2 of its standard errors:
        "smooth" if Spearman's correlation of y with loss is negative with p < 0.05
        (performance rises from a level that is not chance: no onset from chance), else
        "inconclusive"; unbounded metrics without a `null` skip this rule;
      - an onset interval wider than `max_width` nats: "inconclusive";
      - with model labels, fewer than 3 models (sizes; all of them when there are fewer) with
        checkpoints below the onset's interval and above it (sizes_below, sizes_above): "inconclusive";
      - fewer than a quarter of the points above the onset (too few lack the ability): "inconclusive";
      - else "emergent".
    - "smooth": Spearman correlation negative with p < 0.05.
    - "inconclusive": anything else (reason in "reason").

    Returns verdict, reason, threshold, ci_low and ci_high (the onset and its interval; None
    unless emergent), onset, midpoint and saturation of the better threshold model with their
    intervals (*_low, *_high; NaN where no bootstrap ran), at_edge, midpoint_at_edge and
    saturation_at_edge (each by `evidence.edge`; None where no bootstrap ran), threshold_support
    (the share of resamples whose refit still prefers the threshold model), flat_level and
    flat_level_se (normalised offset from chance of the checkpoints above the onset's
    interval; NaN where not reached), bootstrap (the scheme) and interval (what it covers),
    chance, null, spearman, spearman_p, emergence_score, aic_/bic_ of hinge, sigmoid, smooth
    (the line), exponential and power, delta_bic, smooth_alternative, best_model,
    threshold_model, fitted parameters (hinge_c, hinge_s, hinge_eta, sigmoid_c, sigmoid_h,
    sigmoid_eta, sigmoid_w, smooth_a, smooth_b, exponential_a/b/r/m, power_a/b/r/m, and *_top
    for bounded metrics; in normalised units), rise, noise_sd, n_points, n_runs, sizes_below
    and sizes_above (models with checkpoints below and above the interval of an onset that
    got that far) and resolution_warning (proportions of so few items that one item,
    1 / min n, exceeds a quarter of the observed range of values).
    ValueError for mismatched lengths, non-finite numbers, or proportions outside [0, 1].
    """
    loss, value, model, run, n, items = _checked(loss, value, model, run, n, items)
    scheme = choose(bootstrap, model, run, n)
    y = normalise(value, chance, higher_is_better)
    base = 0.0 if chance is not None or null is None else float(normalise(null, None, higher_is_better))
    points = CurvePoints(
        loss, value, y, model, run, n, chance=chance, higher_is_better=higher_is_better, items=items, null=base
    )
    out = _unfitted(points, scheme)
    out["null"] = null if chance is None else chance
    if len(np.unique(loss)) < 2 * MIN_SIDE + 2:
        return {**out, "reason": f"too few distinct losses ({len(np.unique(loss))}) to place a threshold"}
    out.update(compare_models(points))
    decided = _verdict_without_onset(out)
    if decided is not None:
        return decided
    rng = np.random.default_rng(seed)
    out.update(landmark_intervals(points, out, scheme, n_boot, level, rng))
    return _verdict_on_onset(points, out, max_width, tested=chance is not None or null is not None)


def _checked(loss, value, model, run, n, items) -> tuple:
    """(loss, value, model, run, n, items): loss and value as flat float arrays, the labels as
    integer codes (bootstrap.labels), the item counts as int64 (each row's count of `items`
    when only those are given), the item scores as a float matrix, one row per point.
    ValueError for mismatched lengths, non-finite numbers, bad item counts, item scores whose
    row means are not the values, or proportions outside [0, 1]."""
    loss, value = np.asarray(loss, float).ravel(), np.asarray(value, float).ravel()
    if loss.shape != value.shape:
        raise ValueError(f"loss has {loss.size} points but value has {value.size}")
    if not (np.isfinite(loss).all() and np.isfinite(value).all()):
        raise ValueError("loss and value must be finite numbers")
    model, run = labels(model, loss.size, "model"), labels(run, loss.size, "run")
    if items is not None:
        items = np.asarray(items, float)
        if items.ndim != 2 or items.shape[0] != loss.size:
            raise ValueError(f"items must have one row per point ({loss.size}), got shape {items.shape}")
        counts = np.isfinite(items).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.nansum(items, 1) / counts
        if (counts == 0).any() or not np.allclose(means, value, atol=1e-9):
            raise ValueError("each point's item scores must average to its value")
        n = counts if n is None else n
    if n is not None:
        n = np.asarray(n, float).ravel()
        if not (np.isfinite(n).all() and (n >= 1).all() and (n == np.round(n)).all()):
            raise ValueError("item counts n must be positive integers")
        if n.size not in (1, loss.size):
            raise ValueError(f"n has {n.size} item counts for {loss.size} points")
        n = np.broadcast_to(n, loss.shape).astype(np.int64)
        if ((value < 0) | (value > 1)).any():
            raise ValueError("with item counts n, every value must be a proportion in [0, 1]")
    return loss, value, model, run, n, items


def _unfitted(points: CurvePoints, scheme: str) -> dict:
    """The result before any fit: inconclusive, every estimate NaN or None, and what the
    points and the bootstrap `scheme` already tell."""
    nan = float("nan")
    return {
        "verdict": "inconclusive",
        "threshold": None,
        "ci_low": None,
        "ci_high": None,
        **{f"{k}{end}": nan for k in LANDMARKS for end in ("", "_low", "_high")},
        "at_edge": None,
        "midpoint_at_edge": None,
        "saturation_at_edge": None,
        "flat_level": nan,
        "flat_level_se": nan,
        "threshold_support": nan,
        "chance": points.chance,
        "bootstrap": scheme,
        "interval": COVERS[scheme],
        "spearman": nan,
        "spearman_p": nan,
        "emergence_score": nan,
        "delta_bic": nan,
        "smooth_alternative": None,
        "best_model": None,
        "threshold_model": None,
        "eta_candidate": nan,
        "n_points": int(points.loss.size),
        "n_runs": int(len(np.unique(points.run))) if points.run is not None else 1,
        "sizes_below": None,
        "sizes_above": None,
        "resolution_warning": bool(points.n is not None and 1 / points.n.min() > np.ptp(points.value) / 4),
    }


def _verdict_without_onset(out: dict) -> dict | None:
    """The rules that need no interval for the onset, in order, on the compared fits in `out`
    (evidence.compare_models): the result when one of them decides ("flat", "smooth", or
    "inconclusive" with its reason), None when the onset's interval must decide."""
    rise, sd, rho = out["rise"], out["noise_sd"], out["spearman"]
    trend = rho < 0 and out["spearman_p"] < TREND_ALPHA
    if rise <= 0:
        return {**out, "verdict": "flat", "reason": f"performance does not rise as loss falls (change {rise:.3g})"}
    if rise <= NOISE_SE * sd:
        return {**out, "verdict": "flat", "reason": f"fitted rise {rise:.3g} is within {NOISE_SE:g} sd ({sd:.3g})"}
    if out["delta_bic"] < STRONG_BIC:
        if trend:
            return {
                **out,
                "verdict": "smooth",
                "reason": f"rises with falling loss (Spearman {rho:.2f}); no threshold beats a smooth "
                f"{out['smooth_alternative'].replace('smooth', 'line')} (delta BIC {out['delta_bic']:.1f})",
            }
        return {**out, "reason": "no significant trend and no threshold"}
    return None


def _verdict_on_onset(points: CurvePoints, out: dict, max_width: float, tested: bool) -> dict:
    """The rules on the onset and its interval, in order: not refitted by the bootstrap, at
    the edge of the data, a level above the interval off chance (when `tested`: a chance or
    null level is known), too wide, too few sizes beyond either end, too few points above it:
    "smooth" or "inconclusive" with the reason; else "emergent". Fills at_edge, flat_level,
    flat_level_se, sizes_below and sizes_above of `out` as far as it gets."""
    loss, onset, lo, hi = points.loss, out["onset"], out["onset_low"], out["onset_high"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return {**out, "reason": "the bootstrap could not refit the threshold"}
    trend = out["spearman"] < 0 and out["spearman_p"] < TREND_ALPHA
    if out["threshold_support"] < MIN_SUPPORT:
        why = (
            f"the {out['threshold_model']} beats every smooth curve in only {out['threshold_support']:.0%} of the "
            f"resamples of runs and items (need {MIN_SUPPORT:.0%}): no threshold that survives the run-to-run variance"
        )
        return {**out, "verdict": "smooth" if trend else "inconclusive", "reason": why}
    side = edge(loss, onset, lo, hi)
    out["at_edge"] = side is not None
    if side:
        return {**out, "reason": EDGE_REASONS[side].format(k=EDGE_POINTS)}
    out["flat_level"], out["flat_level_se"] = flat_level(points, hi)
    level, se = out["flat_level"], out["flat_level_se"]
    if tested and abs(level) > FLAT_MARGIN * out["rise"] + NOISE_SE * se:
        where = (
            f"the checkpoints above the onset's interval sit {level:+.3g} ({level / se:+.1f} standard errors) "
            "off chance, in units of the way to the best score"
        )
        if trend:
            return {**out, "verdict": "smooth", "reason": f"rises with falling loss from a level off chance: {where}"}
        return {**out, "reason": f"threshold model wins but {where}"}
    if hi - lo > max_width:
        return {
            **out,
            "reason": f"where the rise starts is not determined: the onset's interval [{lo:.3g}, {hi:.3g}] is "
            f"{hi - lo:.2f} nats wide (at most {max_width:g})",
        }
    if points.model is not None:
        sizes = pd.DataFrame({"m": points.model, "x": loss}).groupby("m")["x"]
        # Counted beyond the interval's ends, not the estimate: the verdict must not hinge on
        # where in its interval the onset happens to land.
        out.update(sizes_below=int((sizes.min() < lo).sum()), sizes_above=int((sizes.max() > hi).sum()))
        need = min(MIN_SIZES, sizes.ngroups)
        if min(out["sizes_below"], out["sizes_above"]) < need:
            return {
                **out,
                "reason": f"only {out['sizes_below']} of {sizes.ngroups} sizes reach below the onset's interval and "
                f"{out['sizes_above']} lie above it (need {need} on each side): too few sizes to show a loss "
                "threshold that sizes share; train larger or longer",
            }
    if (loss > onset).sum() < FLAT_SHARE * loss.size:
        return {
            **out,
            "reason": f"only {(loss > onset).sum()} of {loss.size} points lie above the onset: too few "
            "checkpoints lack the ability to call it emergent",
        }
    alt = out["smooth_alternative"].replace("smooth", "line")
    return {
        **out,
        "verdict": "emergent",
        "threshold": onset,
        "ci_low": lo,
        "ci_high": hi,
        "reason": f"{out['threshold_model']} beats the best smooth curve ({alt}) by delta BIC {out['delta_bic']:.1f}",
    }


def _first(df: pd.DataFrame, col: str):
    vals = df[col].dropna() if col in df.columns else ()
    return vals.iloc[0] if len(vals) else None


def _runs(df: pd.DataFrame, path) -> np.ndarray | None:
    """The run label of each row: column run, else seed; None without either."""
    for col in ("run", "seed"):
        if col in df.columns:
            if df[col].isna().any():
                raise InputError(
                    f"{path}: column {col!r} has an empty cell at line {int(np.argmax(df[col].isna())) + 2}"
                )
            return df[col].astype(str).to_numpy()
    return None


def fit_threshold_file(path: str | Path, **kw) -> dict:
    """fit_threshold on a CSV with columns loss, value and optional model (the model size of
    each row), run or seed (its training run within that model: intervals then resample runs,
    see bootstrap.py), n, chance (its first non-empty value; a bounded metric), null (first
    non-empty: the level of an unbounded metric without the ability) and higher_is_better (first
    non-empty; true/false/1/0, default true). Keyword arguments go to fit_threshold.
    InputError (one line naming the file and column) for a missing column, a non-numeric
    value or values fit_threshold rejects."""
    df = read_csv_columns(path, ("loss", "value"), numeric=("loss", "value", "n", "chance", "null"))
    hib = _first(df, "higher_is_better")
    if hib is not None:
        if str(hib).strip().lower() not in {"true", "false", "1", "0", "1.0", "0.0"}:
            raise InputError(f"{path}: column 'higher_is_better' must be true or false, got {hib!r}")
        hib = str(hib).strip().lower() in {"true", "1", "1.0"}
    n = df["n"].to_numpy() if "n" in df.columns else None
    if n is not None and np.isnan(n).any():
        raise InputError(f"{path}: column 'n' has an empty cell at line {int(np.argmax(np.isnan(n))) + 2}")
    chance, null = _first(df, "chance"), _first(df, "null")
    try:
        return fit_threshold(
            df["loss"].to_numpy(),
            df["value"].to_numpy(),
            model=df["model"].astype(str).to_numpy() if "model" in df.columns else None,
            run=_runs(df, path),
            n=n,
            chance=None if chance is None else float(chance),
            null=None if null is None else float(null),
            higher_is_better=True if hib is None else hib,
            **kw,
        )
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
