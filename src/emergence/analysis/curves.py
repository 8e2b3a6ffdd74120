"""The three curves a metric can follow against loss, fitted by least squares in
chance-normalised units (see `normalise`):

- hinge:   y = c for x >= eta, c + s (eta - x) below it (s >= 0): flat, then rising;
- sigmoid: y = c + h / (1 + exp((x - eta) / w)) (h >= 0, w > 0): a smooth step at eta;
- smooth:  y = a + b x: a straight line, no threshold.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

# Fewest points a threshold must leave on each side; a "threshold" with fewer would be
# fitting the last two checkpoints of one run, not a property of the curve.
MIN_SIDE = 3
# Sigmoid widths tried before refinement, as fractions of the observed loss range.
_SIGMOID_WIDTHS = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
N_PARAMS = {"hinge": 3, "sigmoid": 4, "smooth": 2}


def normalise(value, chance: float | None, higher_is_better: bool = True) -> np.ndarray:
    """Performance rescaled so that chance is 0, the best possible score is 1 and larger is
    better: (value - chance) / (best - chance), with best = 1 when higher is better (accuracy)
    and 0 when lower is better (Brier score, error rates). Without a chance level the value
    is returned as is, negated when lower is better."""
    v = np.asarray(value, dtype=np.float64)
    if chance is None:
        return v if higher_is_better else -v
    best = 1.0 if higher_is_better else 0.0
    if chance == best:
        raise ValueError(f"chance level {chance} equals the best possible score: nothing to normalise by")
    return (v - chance) / (best - chance)


def _ls_step(F: np.ndarray, y: np.ndarray):
    """Least squares y ~ c + s F[k] for each row k of F, with s >= 0: (c, s, rss) arrays."""
    fbar = F.mean(axis=1, keepdims=True)
    Fc = F - fbar
    var = (Fc**2).sum(axis=1)
    s = np.where(var > 0, Fc @ (y - y.mean()) / np.where(var > 0, var, 1.0), 0.0)
    s = np.maximum(s, 0.0)  # a negative slope is the boundary solution s = 0, c = mean
    c = y.mean() - s * fbar[:, 0]
    rss = ((y[None, :] - c[:, None] - s[:, None] * F) ** 2).sum(axis=1)
    return c, s, rss


def _eta_range(x: np.ndarray) -> tuple[float, float]:
    xs = np.sort(x)
    return float(xs[MIN_SIDE]), float(xs[len(xs) - 1 - MIN_SIDE])


def fit_hinge(x, y) -> dict:
    """Exact least-squares hinge fit (c, s >= 0, eta) with eta in the range that leaves at
    least MIN_SIDE points on each side.

    Exact rather than a local search: between two consecutive data points the set of points
    below eta is fixed, so the model is linear in (c, s * eta, s) there (Hudson 1966); the
    optimum is either such an interior solution or eta at a data point, and all are tried.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = _eta_range(x)
    knots = np.unique(x[(x >= lo) & (x <= hi)])
    c, s, rss = _ls_step(np.maximum(knots[:, None] - x[None, :], 0.0), y)
    best = int(np.argmin(rss))
    out = {"c": c[best], "s": s[best], "eta": knots[best], "rss": rss[best]}
    if len(knots) > 1:
        below = (x[None, :] <= knots[:-1, None]).astype(float)
        X = np.stack([np.ones_like(below), below, -x[None, :] * below], axis=-1)
        beta = np.einsum("kpn,n->kp", np.linalg.pinv(X), y)
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = beta[:, 1] / beta[:, 2]
        ok = (beta[:, 2] > 0) & (eta > knots[:-1]) & (eta < knots[1:])
        if ok.any():
            seg_rss = ((y[None, :] - np.einsum("knp,kp->kn", X, beta)) ** 2).sum(axis=1)
            seg_rss = np.where(ok, seg_rss, np.inf)
            k = int(np.argmin(seg_rss))
            if seg_rss[k] < out["rss"]:
                out = {"c": beta[k, 0], "s": beta[k, 2], "eta": eta[k], "rss": seg_rss[k]}
    return {k: float(v) for k, v in out.items()}


def _sigmoid_shape(x, eta, w):
    return special.expit(-(x - eta) / w)  # 1 / (1 + exp((x - eta) / w)) without overflow


def fit_sigmoid(x, y) -> dict:
    """Least-squares sigmoid fit (c, h >= 0, eta, w > 0), eta in the same range as the hinge's.

    For fixed (eta, w) the model is linear in (c, h), so a grid over (eta, w) solved exactly
    gives the starting point; scipy's bounded least_squares then refines all four."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = _eta_range(x)
    span = float(np.ptp(x))
    etas = np.linspace(lo, hi, 15)
    grid_eta, grid_w = (g.ravel() for g in np.meshgrid(etas, _SIGMOID_WIDTHS * span, indexing="ij"))
    c, h, rss = _ls_step(_sigmoid_shape(x[None, :], grid_eta[:, None], grid_w[:, None]), y)
    k = int(np.argmin(rss))
    start = np.array([c[k], h[k], grid_eta[k], grid_w[k]])
    best = {"c": c[k], "h": h[k], "eta": grid_eta[k], "w": grid_w[k], "rss": rss[k]}
    w_lo, w_hi = 1e-3 * span, 2.0 * span
    start[3] = np.clip(start[3], w_lo * 1.0001, w_hi)
    try:
        res = optimize.least_squares(
            lambda p: p[0] + p[1] * _sigmoid_shape(x, p[2], p[3]) - y,
            start,
            bounds=([-np.inf, 0.0, lo, w_lo], [np.inf, np.inf, hi, w_hi]),
            x_scale="jac",
        )
        if res.success and 2 * res.cost < best["rss"]:
            best = dict(zip(("c", "h", "eta", "w"), res.x), rss=2 * res.cost)
    except ValueError:  # degenerate data (e.g. constant y): the grid solution stands
        pass
    return {k: float(v) for k, v in best.items()}


def fit_smooth(x, y) -> dict:
    """Least-squares straight line y = a + b x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    return {"a": float(a), "b": float(b), "rss": float(((y - a - b * x) ** 2).sum())}


def predict(kind: str, p: dict, x) -> np.ndarray:
    """Fitted normalised performance of model `kind` with parameters `p` at losses `x`."""
    x = np.asarray(x, float)
    if kind == "hinge":
        return p["c"] + p["s"] * np.maximum(p["eta"] - x, 0.0)
    if kind == "sigmoid":
        return p["c"] + p["h"] * _sigmoid_shape(x, p["eta"], p["w"])
    return p["a"] + p["b"] * x


FITTERS = {"hinge": fit_hinge, "sigmoid": fit_sigmoid, "smooth": fit_smooth}


def information_criteria(rss: float, n: int, k: int) -> tuple[float, float]:
    """(AIC, BIC) of a least-squares fit under a Gaussian likelihood: n log(RSS/n) + 2k, + k log n."""
    ll = n * np.log(max(rss, np.finfo(float).tiny) / n)
    return float(ll + 2 * k), float(ll + k * np.log(n))
