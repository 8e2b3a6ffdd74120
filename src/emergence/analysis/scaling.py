"""The parametric scaling law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022).

Fitted as Hoffmann et al. and Besiroglu et al. (2024) do: minimise the Huber loss
(delta = 1e-3) between log predicted and log observed loss, with
log L_hat = logsumexp(a - alpha log N, b - beta log D, e), A = e^a, B = e^b, E = e^e,
by L-BFGS from a grid of starting points, keeping the best. Standard errors come from a
bootstrap over the (N, D, loss) points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import optimize

from emergence.errors import InputError
from emergence.io import read_csv_columns

HUBER_DELTA = 1e-3
# Hoffmann et al.'s grid of starting points (4,500 of them), in the order (a, b, e, alpha, beta).
_GRID = np.stack(
    np.meshgrid(
        np.arange(0.0, 30.0, 5.0),
        np.arange(0.0, 30.0, 5.0),
        np.arange(-1.0, 1.5, 0.5),
        np.arange(0.0, 2.5, 0.5),
        np.arange(0.0, 2.5, 0.5),
        indexing="ij",
    ),
    -1,
).reshape(-1, 5)
# Wide enough never to bind at a sensible optimum, narrow enough that exp() cannot overflow.
_BOUNDS = [(-30.0, 100.0), (-30.0, 100.0), (-10.0, 10.0), (0.0, 4.0), (0.0, 4.0)]
_NAMES = ("E", "A", "B", "alpha", "beta")
# A parameter is identified when its relative standard error is at most this (E, alpha,
# beta), or its 95% bootstrap interval spans at most a decade (the scales A and B)...
MAX_RSE = 0.5
MAX_DECADES = 1.0
# ...and the law has at least this many distinct sizes (for A, alpha) and budgets (B, beta).
MIN_DISTINCT = 3


def undetermined(fit: dict, boots: np.ndarray, N: np.ndarray, D: np.ndarray) -> dict[str, str]:
    """The parameters of a fit that the data do not identify, each with the reason."""
    out = {}
    for axis, values, params in (("model sizes", N, ("A", "alpha")), ("token budgets", D, ("B", "beta"))):
        if len(np.unique(values)) < MIN_DISTINCT:
            for k in params:
                out[k] = f"only {len(np.unique(values))} {axis} (need {MIN_DISTINCT} or more)"
    # The optimiser's box, in the order of _NAMES: log E, log A, log B, alpha, beta.
    box = dict(zip(_NAMES, (_BOUNDS[2], _BOUNDS[0], _BOUNDS[1], _BOUNDS[3], _BOUNDS[4])))
    for j, k in enumerate(_NAMES):
        if k in out:
            continue
        value = fit[k] if k in ("alpha", "beta") else np.log(fit[k])
        if min(abs(value - box[k][0]), abs(value - box[k][1])) < 1e-4:
            out[k] = f"at the bound of its search range ({fit[k]:.3g})"
        elif len(boots) < 2:
            out[k] = "no bootstrap standard error"
        elif k in ("A", "B"):
            decades = np.ptp(np.log10(np.percentile(boots[:, j], [2.5, 97.5])))
            if not decades <= MAX_DECADES:
                out[k] = f"its 95% interval spans {decades:.1f} decades"
        else:
            rse = fit[f"{k}_se"] / abs(fit[k]) if fit[k] != 0 else np.inf
            if not rse <= MAX_RSE:
                out[k] = f"relative standard error {rse:.0%} (over {MAX_RSE:.0%})"
    return out


def _log_law(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray):
    """log(exp(a - alpha logN) + exp(b - beta logD) + exp(e)) for parameter vectors theta
    (..., 5), shape (..., n), with the three terms' weights exp(term - max) and their sum
    (the softmax's parts, for _objective's gradient). Written out by hand, not with
    scipy's logsumexp: L-BFGS calls it thousands of times a fit, and _starts on 4,500 grid
    points at once."""
    a, b, e, alpha, beta = (v[..., None] for v in np.moveaxis(theta, -1, 0))
    t1, t2 = a - alpha * logN, b - beta * logD
    m = np.maximum(np.maximum(t1, t2), e)
    w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    total = w1 + w2 + w3
    return m + np.log(total), (w1, w2, w3, total)


def _huber(r: np.ndarray) -> np.ndarray:
    return np.where(np.abs(r) <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA))


def _objective(theta, logN, logD, logL):
    """Sum of Huber losses of log-residuals, divided by delta, and its exact gradient.

    Dividing by delta keeps the values near the size of the residuals themselves, so that
    L-BFGS's stopping tolerances mean the same thing on noisy and on noiseless data.
    """
    log_law, (w1, w2, w3, total) = _log_law(theta, logN, logD)
    r = log_law - logL
    dh = np.clip(r, -HUBER_DELTA, HUBER_DELTA) / (HUBER_DELTA * total)  # times the softmax weights below
    g1, g2 = dh * w1, dh * w2
    grad = np.array([g1.sum(), g2.sum(), dh @ w3, -(g1 @ logN), -(g2 @ logD)])
    return _huber(r).sum() / HUBER_DELTA, grad


def _starts(logN, logD, logL, k: int) -> np.ndarray:
    """The k most promising grid starts, at most one per (alpha, beta) pair.

    Running L-BFGS from all 4,500 grid points takes tens of seconds; the objective at every
    grid point takes milliseconds. Keeping the best (a, b, e) for each of the 25 exponent
    pairs keeps the starts spread over the exponents, where the local optima differ."""
    obj = _huber(_log_law(_GRID, logN, logD)[0] - logL).sum(axis=-1)
    order = np.argsort(obj, kind="stable")
    _, first = np.unique(_GRID[order][:, 3:], axis=0, return_index=True)
    return _GRID[order[np.sort(first)[:k]]]


def _minimise(starts, logN, logD, logL) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    for x0 in starts:
        res = optimize.minimize(
            _objective,
            x0,
            args=(logN, logD, logL),
            jac=True,
            method="L-BFGS-B",
            bounds=_BOUNDS,
            options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8},
        )
        if np.isfinite(res.fun) and res.fun < best_f:
            best_x, best_f = res.x, float(res.fun)
    return best_x, best_f


def _as_params(theta: np.ndarray) -> dict:
    a, b, e, alpha, beta = theta
    return {
        "E": float(np.exp(e)),
        "A": float(np.exp(a)),
        "B": float(np.exp(b)),
        "alpha": float(alpha),
        "beta": float(beta),
    }


def fit_scaling(params, tokens, loss, *, n_boot: int = 100, seed: int = 0, n_starts: int = 25) -> dict:
    """Fit L(N, D) = E + A / N^alpha + B / D^beta to runs with `params` N, `tokens` D and
    final `loss`.

    L-BFGS-B runs from `n_starts` grid starts (see _starts: the best start for each of up
    to 25 exponent pairs of Hoffmann et al.'s grid); the lowest objective wins. Each of
    `n_boot` bootstrap resamples of the points is refitted from that solution and the 2
    best grid starts of the resample; the *_se are the standard deviations of the refits.

    Returns E, A, B, alpha, beta, their *_se (NaN when n_boot < 2), huber_loss (the summed
    Huber loss of the log-residuals at the optimum), n_points, n_boot, undetermined (each
    parameter the data do not identify, with the reason: see `undetermined`) and determined
    (whether E, alpha and beta all are).
    ValueError for mismatched lengths, non-finite or non-positive numbers, fewer than 5
    points, or fewer than two distinct values of N or of D (the law is then not identified).
    """
    N, D, L = (np.asarray(v, dtype=np.float64).ravel() for v in (params, tokens, loss))
    if not N.size == D.size == L.size:
        raise ValueError(f"params, tokens and loss have {N.size}, {D.size} and {L.size} values")
    for name, v in (("params", N), ("tokens", D), ("loss", L)):
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f"{name} must be finite and positive")
    if N.size < 5 or len(np.unique(N)) < 2 or len(np.unique(D)) < 2:
        raise ValueError(f"need at least 5 points with two or more distinct params and tokens, got {N.size} points")
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    theta, f = _minimise(_starts(logN, logD, logL, n_starts), logN, logD, logL)
    out = {**_as_params(theta), "huber_loss": f * HUBER_DELTA, "n_points": int(N.size), "n_boot": int(n_boot)}

    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(N.size, size=N.size)
        if len(np.unique(N[idx])) < 2 or len(np.unique(D[idx])) < 2:
            continue  # the law is not identified on this resample
        bN, bD, bL = logN[idx], logD[idx], logL[idx]
        x, _ = _minimise(np.vstack([theta, _starts(bN, bD, bL, 2)]), bN, bD, bL)
        if x is not None:
            p = _as_params(x)
            boots.append([p[k] for k in _NAMES])
    se = np.std(boots, axis=0, ddof=1) if len(boots) >= 2 else np.full(len(_NAMES), np.nan)
    out.update({f"{k}_se": float(s) for k, s in zip(_NAMES, se)})
    out["undetermined"] = undetermined(out, np.array(boots).reshape(-1, len(_NAMES)), N, D)
    out["determined"] = not {"E", "alpha", "beta"} & set(out["undetermined"])
    return out


def _theta(fit: dict) -> np.ndarray:
    """The optimiser's parameter vector (a, b, e, alpha, beta) of a fit's parameters."""
    return np.array([np.log(fit["A"]), np.log(fit["B"]), np.log(fit["E"]), fit["alpha"], fit["beta"]])


def refit(fit: dict, params, tokens, loss, n_starts: int = 2) -> dict | None:
    """The law refitted to other points (a bootstrap resample) from `fit`'s solution and the
    points' own `n_starts` best grid starts (as fit_scaling's bootstrap does; a resample's
    optimum can lie in another basin than the full fit's): E, A, B, alpha, beta, or None
    where the points do not identify it (fewer than two distinct N or D)."""
    N, D, L = (np.asarray(v, dtype=np.float64).ravel() for v in (params, tokens, loss))
    if len(np.unique(N)) < 2 or len(np.unique(D)) < 2:
        return None
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    starts = np.vstack([_theta(fit)[None], _starts(logN, logD, logL, n_starts)]) if n_starts else _theta(fit)[None]
    x, _ = _minimise(starts, logN, logD, logL)
    return None if x is None else _as_params(x)


def compute_optimal(fit: dict, compute) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) that minimise the law's loss at training compute C = 6 N D (Hoffmann et al.'s
    closed form: N = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)));
    NaN where an exponent is not positive."""
    C = np.asarray(compute, dtype=np.float64) / 6.0
    a, b = fit["alpha"], fit["beta"]
    if not (a > 0 and b > 0):
        return np.full_like(C, np.nan), np.full_like(C, np.nan)
    N = (a * fit["A"] / (b * fit["B"])) ** (1 / (a + b)) * C ** (b / (a + b))
    return N, C / N


def scaling_predict(fit: dict, N, D) -> np.ndarray:
    """Loss predicted by a fit_scaling result at parameter counts N and token counts D."""
    N, D = np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)
    return fit["E"] + fit["A"] / N ** fit["alpha"] + fit["B"] / D ** fit["beta"]


def fit_scaling_file(path: str | Path, **kw) -> dict:
    """fit_scaling on a CSV with columns params, tokens, loss (one row per run). Keyword
    arguments go to fit_scaling. InputError, one line naming the file and the column (and the
    first bad row), for a missing column or a non-numeric or non-positive value."""
    cols = ("params", "tokens", "loss")
    df = read_csv_columns(path, cols, numeric=cols, positive=cols)
    try:
        return fit_scaling(df["params"], df["tokens"], df["loss"], **kw)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
