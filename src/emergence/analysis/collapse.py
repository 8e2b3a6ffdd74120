"""Does model size matter once loss is known? A nested-regression test for one curve.

Du et al. (2024) find that checkpoints of all sizes fall on one curve of performance
against pretraining loss. If so, adding model size and tokens to a smooth function of loss
explains little more variance; against training compute, by contrast, sizes need not
collapse (a small model reaches a given compute at a higher loss than a large one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from emergence.errors import InputError
from emergence.io import read_csv_columns

COLUMNS = ("loss", "value", "params", "tokens", "flops")
# "Size matters little" unless the added terms explain at least this share of the variance...
MIN_DELTA_R2 = 0.05
# ...and do so significantly at this level...
ALPHA = 0.01
# ...and each size is predicted from the other sizes' curve with at least this R^2 (below it,
# one curve does not describe the sizes: they differ, or overlap too little in loss to tell).
MIN_LOSO_R2 = 0.5
# Below this in-sample R^2 of the loss curve, the values are mostly noise around a flat line:
# the test then decides nothing about size (size_matters is None).
MIN_R2_LOSS = 0.5
# A linear spline in the predictor with knots at these quantiles, denser in the tails: an
# ability often appears within the last few checkpoints (a step at one end of the range),
# which a low-order polynomial cannot follow. Small samples use every other knot, so the
# nested F-test keeps its degrees of freedom.
KNOT_QUANTILES = (0.03, 0.06, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.94, 0.97)
MIN_POINTS_PER_KNOT = 8


def _standard(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else v - v.mean()


def _spline(reference: np.ndarray):
    """The basis of a continuous piecewise-linear function, built on `reference` values:
    a function mapping values v to columns 1, z and max(0, z - k), where z is v standardised
    as the reference is and the knots k sit at quantiles of the standardised reference.
    Values beyond the reference's range are held at its edges."""
    mu, sd = reference.mean(), reference.std() or 1.0
    z_ref = (reference - mu) / sd
    quantiles = KNOT_QUANTILES
    while len(quantiles) > 1 and len(quantiles) * MIN_POINTS_PER_KNOT > len(z_ref):
        quantiles = quantiles[::2]
    knots = np.unique(np.quantile(z_ref, quantiles))

    def basis(v: np.ndarray) -> np.ndarray:
        z = np.clip((v - mu) / sd, z_ref.min(), z_ref.max())
        return np.column_stack([np.ones_like(z), z, *(np.maximum(z - k, 0.0) for k in knots)])

    return basis


def _basis(v: np.ndarray) -> np.ndarray:
    return _spline(v)(v)


def _fit(X: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """(residual sum of squares, rank of X) of the least-squares fit y ~ X."""
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    return float(((y - X @ beta) ** 2).sum()), int(rank)


def _nested(X0: np.ndarray, extra: list[np.ndarray], y: np.ndarray, tss: float):
    """R^2 of y ~ X0, of y ~ [X0, extra], and the F-test p-value of the extra columns."""
    rss0, rank0 = _fit(X0, y)
    X1 = np.column_stack([X0, *(_standard(e) for e in extra)])
    rss1, rank1 = _fit(X1, y)
    df1, df2 = rank1 - rank0, len(y) - rank1
    if df1 <= 0 or df2 <= 0:
        p = 1.0  # the added columns carry nothing new (e.g. one model size), or no df left
    elif rss1 <= 0:
        p = 0.0 if rss0 > 0 else 1.0
    else:
        p = float(stats.f.sf(max(rss0 - rss1, 0.0) / df1 / (rss1 / df2), df1, df2))
    return 1 - rss0 / tss, 1 - rss1 / tss, p, df1, df2


def _spline_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Fit the spline on the training points and predict at x_test (held at the edge values
    beyond the training range: the curve is only known where data are)."""
    basis = _spline(x_train)
    beta = np.linalg.lstsq(basis(x_train), y_train, rcond=None)[0]
    return basis(x_test) @ beta


def leave_one_size_out_r2(x: np.ndarray, y: np.ndarray, size: np.ndarray) -> float:
    """R^2 of predicting each size's checkpoints from a curve fitted to the other sizes only:
    near the in-sample R^2 when all sizes fall on one curve of x, much lower when they do
    not. NaN with fewer than two sizes."""
    sizes = np.unique(size)
    if len(sizes) < 2:
        return float("nan")
    predicted = np.empty_like(y)
    for s in sizes:
        held = size == s
        predicted[held] = _spline_predict(x[~held], y[~held], x[held])
    return float(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def collapse_test(df: pd.DataFrame) -> dict:
    """Nested least-squares test of whether size and tokens explain performance beyond loss,
    for one task-prompt-metric curve (one row per checkpoint).

    `df` needs columns loss, value, params (parameter count), tokens (tokens trained at the
    checkpoint) and flops (training compute at the checkpoint). Fits, each by least squares:
    value ~ spline(loss) -> r2_loss; + log params + log tokens -> r2_loss_size, with
    delta_r2 their difference and p_value the F-test of the two added terms (df1, df2);
    value ~ spline(log flops) -> r2_compute; + log params -> r2_compute_size.

    Also r2_loss_loso and r2_compute_loso: leave-one-size-out R^2 (each size predicted by the
    curve of the others) against loss and against log flops; the direct test of "all sizes
    fall on one curve".

    size_matters is True when delta_r2 >= 0.05 and p_value < 0.01, or when r2_loss_loso is
    below 0.5 (MIN_LOSO_R2); None (undecided) when r2_loss is below 0.5 (MIN_R2_LOSS);
    verdict_text says which, in sentences generated from these numbers. A constant `value`
    gives NaN R^2s and a sentence saying so.
    ValueError for a missing column, non-finite numbers, non-positive params/tokens/flops,
    or fewer than 8 rows (the nested model has 6 coefficients).
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"missing column '{missing[0]}' (need {', '.join(COLUMNS)})")
    cols = {c: df[c].to_numpy(dtype=np.float64) for c in COLUMNS}
    for c, v in cols.items():
        if not np.isfinite(v).all():
            raise ValueError(f"column '{c}' has non-finite values")
        if c in ("params", "tokens", "flops") and (v <= 0).any():
            raise ValueError(f"column '{c}' must be positive")
    if len(df) < 8:
        raise ValueError(f"need at least 8 checkpoints, got {len(df)}")
    y = cols["value"]
    tss = float(((y - y.mean()) ** 2).sum())
    out = {"n_points": len(df)}
    if tss <= 0:
        nan = float("nan")
        return {
            **out,
            "r2_loss": nan,
            "r2_loss_size": nan,
            "delta_r2": nan,
            "p_value": nan,
            "df1": 0,
            "df2": 0,
            "r2_compute": nan,
            "r2_compute_size": nan,
            "r2_loss_loso": nan,
            "r2_compute_loso": nan,
            "size_matters": False,
            "verdict_text": "Performance is constant across checkpoints: there is nothing to explain.",
        }
    log_n, log_d, log_c = np.log(cols["params"]), np.log(cols["tokens"]), np.log(cols["flops"])
    r2_loss, r2_loss_size, p, df1, df2 = _nested(_basis(cols["loss"]), [log_n, log_d], y, tss)
    r2_compute, r2_compute_size, p_compute, _, _ = _nested(_basis(log_c), [log_n], y, tss)
    delta = r2_loss_size - r2_loss
    added = bool(delta >= MIN_DELTA_R2 and p < ALPHA)
    loso_loss = leave_one_size_out_r2(cols["loss"], y, cols["params"])
    loso_compute = leave_one_size_out_r2(log_c, y, cols["params"])
    apart = bool(np.isfinite(loso_loss) and loso_loss < MIN_LOSO_R2)
    size_matters = None if r2_loss < MIN_R2_LOSS else added or apart
    text = f"Loss explains {r2_loss:.0%} of the variance; size and tokens add {delta:.1%} (p={p:.2g})"
    if np.isfinite(loso_loss):
        text += (
            f". Each size predicted from the other sizes' curve: R² {loso_loss:.0%} against loss, "
            f"{loso_compute:.0%} against compute"
        )
    if size_matters is None:
        text += (
            f": with under {MIN_R2_LOSS:.0%} explained by loss, the values are mostly noise, and the test cannot "
            "tell whether size matters."
        )
    elif added:
        text += ": size matters beyond loss."
    elif apart:
        text += (
            f": below {MIN_LOSO_R2:.0%}, so one curve of loss does not describe every size; size still matters "
            "(or the sizes overlap too little in loss to tell)."
        )
    else:
        text += ": once loss is known, size matters little."
    return {
        **out,
        "r2_loss_loso": loso_loss,
        "r2_compute_loso": loso_compute,
        "r2_loss": r2_loss,
        "r2_loss_size": r2_loss_size,
        "delta_r2": delta,
        "p_value": p,
        "df1": df1,
        "df2": df2,
        "r2_compute": r2_compute,
        "r2_compute_size": r2_compute_size,
        "p_value_compute": p_compute,
        "size_matters": size_matters,
        "verdict_text": text,
    }


def collapse_test_file(path: str | Path) -> dict:
    """collapse_test on a CSV with columns loss, value, params, tokens, flops. InputError,
    one line naming the file and the column (and first bad row), for bad input."""
    df = read_csv_columns(path, COLUMNS, numeric=COLUMNS, positive=("params", "tokens", "flops"))
    try:
        return collapse_test(df)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
