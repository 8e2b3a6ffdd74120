"""The curves a metric can follow against loss, fitted by least squares in chance-normalised
units (see `normalise`). Two threshold models, flat at a level and then rising:

- hinge:   y = c for x >= eta, c + s (eta - x) below it (s >= 0); for a bounded metric the
  rise stops at the best possible score (y = 1, a plateau);
- sigmoid: y = c + h / (1 + exp((x - eta) / w)) (h >= 0, w > 0): a smooth step at eta; for a
  bounded metric c + h <= 1;

and the smooth alternatives a threshold must beat, none of which has a flat part:

- line:        y = a + b x;
- exponential: y = a + b exp(-r (x - m)) (r of either sign, m the mean loss): convex or
  concave. Exact match of a k-token answer whose per-token probability improves smoothly is
  one (Schaeffer et al. 2023's mirage: p^k = exp(-k kappa (x - E)));
- power:       y = a + b (x / m)^-r: the same in log loss.

Bounded metrics (those with a chance level) also keep the threshold models' flat level c at
or above their floor (`floor`, e.g. accuracy 0). Where a threshold model rises is summarised
by three `landmarks`, all losses: the onset (where the curve's rise starts: the loss at which
its steepest tangent leaves the flat level, the hinge's knot and the sigmoid's eta + 2 w), the
midpoint (50% of its total rise) and the saturation (90%).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

# Fewest points a threshold must leave on each side; a "threshold" with fewer would be
# fitting the last two checkpoints of one run, not a property of the curve.
MIN_SIDE = 3
# Sigmoid widths tried before refinement, as fractions of the observed loss range.
_SIGMOID_WIDTHS = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
N_PARAMS = {"hinge": 3, "sigmoid": 4, "smooth": 2, "exponential": 3, "power": 3}
THRESHOLD_MODELS = ("hinge", "sigmoid")
# The smooth alternatives ("smooth" is the line: the name the tables have always used).
SMOOTH_MODELS = ("smooth", "exponential", "power")
# The landmarks of a threshold model; the midpoint and saturation are these shares of its
# total rise (the onset is its knot: see `landmarks`).
LANDMARKS = {"onset": None, "midpoint": 0.5, "saturation": 0.9}
# Rates r of the exponential and power curves tried before refinement, in units of 1 / the
# observed range of x (or of log x): from nearly a line to a rise packed into its last tenth.
_RATES = np.array([-20.0, -10.0, -5.0, -2.0, -1.0, -0.3, 0.3, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0])
# Candidate knots and plateau starts of the bounded hinge's coarse grid: this many of each.
_MAX_KNOTS = 25


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


def floor(chance: float | None, higher_is_better: bool = True) -> float:
    """The lowest normalised value a bounded metric can take: a score of 0 (accuracy, exact
    match) when higher is better; -inf otherwise (a Brier score's worst depends on the task)."""
    if chance is None or not higher_is_better:
        return -np.inf
    return float(normalise(0.0, chance))


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


def _fit_free_hinge(x, y) -> dict:
    """Exact least-squares hinge fit (c, s >= 0, eta) with eta in the range that leaves at
    least MIN_SIDE points on each side.

    Exact rather than a local search: between two consecutive data points the set of points
    below eta is fixed, so the model is linear in (c, s * eta, s) there (Hudson 1966); the
    optimum is either such an interior solution or eta at a data point, and all are tried.
    """
    lo, hi = _eta_range(x)
    knots = np.unique(x[(x >= lo) & (x <= hi)])
    c, s, rss = _ls_step(np.maximum(knots[:, None] - x[None, :], 0.0), y)
    best = int(np.argmin(rss))
    out = {"c": c[best], "s": s[best], "eta": knots[best], "rss": rss[best]}
    if len(knots) > 1:
        # Between knots k and k+1 the points below eta are the first j_k in sorted order; the
        # normal equations of the columns (1, below, -x below) come from prefix sums.
        order = np.argsort(x, kind="stable")
        xs, ys = x[order] - x.mean(), y[order]  # centred: better conditioned sums
        shift = x.mean()
        zero = np.zeros(1)
        cx, cy = np.concatenate([zero, np.cumsum(xs)]), np.concatenate([zero, np.cumsum(ys)])
        cxx, cxy = np.concatenate([zero, np.cumsum(xs * xs)]), np.concatenate([zero, np.cumsum(xs * ys)])
        j = np.searchsorted(x[order], knots[:-1], side="right")
        nn = float(x.size)
        XtX = np.empty((j.size, 3, 3))
        XtX[:, 0] = np.stack([np.full(j.size, nn), j, -cx[j]], -1)
        XtX[:, 1] = np.stack([j, j, -cx[j]], -1)
        XtX[:, 2] = np.stack([-cx[j], -cx[j], cxx[j]], -1)
        Xty = np.stack([np.full(j.size, cy[-1]), cy[j], -cxy[j]], -1)
        ok = (j >= 1) & (j < x.size)
        beta = np.zeros((j.size, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            good = ok & (np.abs(np.linalg.det(np.where(ok[:, None, None], XtX, np.eye(3)))) > 1e-12)
            beta[good] = np.linalg.solve(XtX[good], Xty[good][..., None])[..., 0]
            eta = beta[:, 1] / beta[:, 2] + shift  # knot in centred units, shifted back
        seg_rss = (ys**2).sum() - (beta * Xty).sum(1)
        ok = good & (beta[:, 2] > 0) & (eta > knots[:-1]) & (eta < knots[1:])
        if ok.any():
            seg_rss = np.where(ok, seg_rss, np.inf)
            k = int(np.argmin(seg_rss))
            # The winner's residuals directly: the sums above lose digits to cancellation.
            rss_k = float(((y - beta[k, 0] - beta[k, 2] * np.maximum(eta[k] - x, 0.0)) ** 2).sum())
            if rss_k < out["rss"]:
                out = {"c": beta[k, 0], "s": beta[k, 2], "eta": eta[k], "rss": rss_k}
    return out


def _plateau_grid(x, y, E, E2, top, bottom):
    """Best (c, eta, eta2, rss) of the plateau hinge over knot pairs (E, E2), E2 < E."""
    keep = E2 < E
    E, E2 = E[keep], E2[keep]
    g = np.clip((E[:, None] - x[None, :]) / (E - E2)[:, None], 0.0, 1.0)
    u = 1.0 - g
    uu = (u**2).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(uu > 0, (u * (y[None, :] - top * g)).sum(1) / uu, top)
    c = np.clip(c, bottom, top)
    rss = ((y[None, :] - c[:, None] * u - top * g) ** 2).sum(1)
    k = int(np.argmin(rss))
    return c[k], E[k], E2[k], rss[k]


def _fit_plateau_hinge(x, y, top: float, bottom: float) -> dict:
    """Least-squares hinge that rises from c at eta to `top` at eta2 < eta and stays there:
    y = c + (top - c) g(x), g = clip((eta - x) / (eta - eta2), 0, 1). For fixed knots the
    model is linear in c alone, so it is solved exactly on a grid of (eta, eta2): a coarse one
    at _MAX_KNOTS quantiles of the data each, then a fine one around the coarse optimum."""
    lo, hi = _eta_range(x)
    xs = np.unique(x)
    etas = np.unique(np.quantile(xs[(xs >= lo) & (xs <= hi)], np.linspace(0, 1, _MAX_KNOTS)))
    ends = np.unique(np.quantile(xs, np.linspace(0, 1, _MAX_KNOTS)))
    c, e, e2, rss = _plateau_grid(x, y, *(g.ravel() for g in np.meshgrid(etas, ends, indexing="ij")), top, bottom)
    i, j = np.searchsorted(etas, e), np.searchsorted(ends, e2)
    fine_e = np.linspace(etas[max(i - 1, 0)], etas[min(i + 1, len(etas) - 1)], 15)
    fine_e2 = np.linspace(ends[max(j - 1, 0)], ends[min(j + 1, len(ends) - 1)], 15)
    fine = _plateau_grid(x, y, *(g.ravel() for g in np.meshgrid(fine_e, fine_e2, indexing="ij")), top, bottom)
    if fine[3] < rss:
        c, e, e2, rss = fine
    return {"c": c, "s": (top - c) / (e - e2), "eta": e, "rss": rss, "top": top}


def fit_hinge(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares hinge (c, s >= 0, eta), eta leaving at least MIN_SIDE points on each side.

    With a finite `top` (a bounded metric's best score), a fit whose line would pass `top`
    within the observed losses is refitted as a plateau hinge that stops there (key "top" in
    the result); the flat level c is kept within [bottom, top]."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = _fit_free_hinge(x, y)
    if np.isfinite(top) and (out["c"] + out["s"] * max(out["eta"] - x.min(), 0.0) > top or out["c"] > top):
        out = _fit_plateau_hinge(x, y, top, bottom)
    elif np.isfinite(top):
        out["top"] = top
    return {k: float(v) for k, v in out.items()}


def _sigmoid_shape(x, eta, w):
    return special.expit(-(x - eta) / w)  # 1 / (1 + exp((x - eta) / w)) without overflow


def fit_sigmoid(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares sigmoid fit (c, h >= 0, eta, w > 0), eta in the same range as the hinge's,
    and with a finite `top` also bottom <= c and c + h <= top (see `fit_sigmoid_in`)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = _eta_range(x)
    span = float(np.ptp(x))
    return fit_sigmoid_in(x, y, top, bottom, np.linspace(lo, hi, 15), _SIGMOID_WIDTHS * span, (1e-3 * span, 2.0 * span))


def fit_sigmoid_in(x, y, top: float, bottom: float, etas: np.ndarray, widths: np.ndarray, w_range) -> dict:
    """Least-squares sigmoid y = c + h / (1 + exp((x - eta) / w)) with h >= 0, eta between the
    first and last of `etas`, w in `w_range`, and with a finite `top` bottom <= c and
    c + h <= top. For fixed (eta, w) the model is linear in (c, h), so the grid `etas` x
    `widths` solved exactly gives the starting point; scipy's bounded least_squares then
    refines all four, as (c, f, eta, w) with h = f (top - c), f in [0, 1], when bounded."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    bounded = bool(np.isfinite(top))
    lo, hi = float(etas[0]), float(etas[-1])
    grid_eta, grid_w = (g.ravel() for g in np.meshgrid(etas, widths, indexing="ij"))
    c, h, rss = _ls_step(_sigmoid_shape(x[None, :], grid_eta[:, None], grid_w[:, None]), y)
    if bounded:  # the grid's solutions, clipped into the range, and their residuals
        c = np.clip(c, bottom, top)
        h = np.clip(h, 0.0, top - c)
        rss = (
            (y[None, :] - c[:, None] - h[:, None] * _sigmoid_shape(x[None, :], grid_eta[:, None], grid_w[:, None])) ** 2
        ).sum(1)
    k = int(np.argmin(rss))
    best = {"c": c[k], "h": h[k], "eta": grid_eta[k], "w": grid_w[k], "rss": rss[k]}
    w_lo, w_hi = w_range
    w0 = np.clip(grid_w[k], w_lo * 1.0001, w_hi)
    if bounded:
        room = top - c[k]
        start = np.array([c[k], np.clip(h[k] / room, 0.0, 1.0) if room > 0 else 0.0, grid_eta[k], w0])
        box = ([bottom, 0.0, lo, w_lo], [top, 1.0, hi, w_hi])

        def unpack(p):
            return p[0], p[1] * (top - p[0]), p[2], p[3]
    else:
        start, box = np.array([c[k], h[k], grid_eta[k], w0]), ([-np.inf, 0.0, lo, w_lo], [np.inf, np.inf, hi, w_hi])

        def unpack(p):
            return tuple(p)

    def residuals(p):
        c_, h_, eta_, w_ = unpack(p)
        return c_ + h_ * _sigmoid_shape(x, eta_, w_) - y

    try:
        res = optimize.least_squares(residuals, np.clip(start, *box), bounds=box, x_scale="jac")
        if res.success and 2 * res.cost < best["rss"]:
            best = dict(zip(("c", "h", "eta", "w"), unpack(res.x)), rss=2 * res.cost)
    except ValueError:  # degenerate data (e.g. constant y): the grid solution stands
        pass
    if bounded:
        best["top"] = top
    return {k: float(v) for k, v in best.items()}


def fit_smooth(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares straight line y = a + b x; a bounded metric's range (top, bottom) is
    kept with it, so that `predict` draws the line clipped to it."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    out = {"a": float(a), "b": float(b), "rss": float(((y - a - b * x) ** 2).sum())}
    return {**out, **{k: float(v) for k, v in (("top", top), ("bottom", bottom)) if np.isfinite(v)}}


def _exp_shape(t, r, m):
    return np.exp(np.clip(-r * (t - m), -700.0, 700.0))


def _fit_exponential_in(t, y, top: float, bottom: float) -> dict:
    """Least-squares y = a + b exp(-r (t - m)), m the mean of t: for each rate of a grid the
    curve is linear in (a, b), solved exactly; scipy's least_squares then refines all three.
    A rate near zero is the line, so this never fits worse than `fit_smooth`."""
    m, span = float(t.mean()), float(np.ptp(t)) or 1.0
    rates = _RATES / span
    G = _exp_shape(t[None, :], rates[:, None], m)
    Gc = G - G.mean(1, keepdims=True)
    var = (Gc**2).sum(1)
    b = np.where(var > 0, Gc @ (y - y.mean()) / np.where(var > 0, var, 1.0), 0.0)
    a = y.mean() - b * G.mean(1)
    rss = ((y[None, :] - a[:, None] - b[:, None] * G) ** 2).sum(1)
    k = int(np.argmin(rss))
    best = {"a": a[k], "b": b[k], "r": rates[k], "m": m, "rss": rss[k]}
    box = ([-np.inf, -np.inf, -100.0 / span], [np.inf, np.inf, 100.0 / span])
    try:
        res = optimize.least_squares(
            lambda q: q[0] + q[1] * _exp_shape(t, q[2], m) - y, np.clip([a[k], b[k], rates[k]], *box), bounds=box
        )
        if res.success and 2 * res.cost < best["rss"]:
            best = {"a": res.x[0], "b": res.x[1], "r": res.x[2], "m": m, "rss": 2 * res.cost}
    except ValueError:  # degenerate data (e.g. constant y): the grid solution stands
        pass
    out = {k: float(v) for k, v in best.items()}
    return {**out, **{k: float(v) for k, v in (("top", top), ("bottom", bottom)) if np.isfinite(v)}}


def fit_exponential(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares y = a + b exp(-r (x - m)), m the mean loss (a smooth alternative)."""
    return _fit_exponential_in(np.asarray(x, float), np.asarray(y, float), top, bottom)


def fit_power(x, y, top: float = np.inf, bottom: float = -np.inf) -> dict:
    """Least-squares y = a + b exp(-r (log x - m)) = a + b (x / e^m)^-r, m the mean log loss."""
    return _fit_exponential_in(np.log(np.asarray(x, float)), np.asarray(y, float), top, bottom)


def predict(kind: str, p: dict, x) -> np.ndarray:
    """Fitted normalised performance of model `kind` with parameters `p` at losses `x`."""
    x = np.asarray(x, float)
    if kind == "hinge":
        y = p["c"] + p["s"] * np.maximum(p["eta"] - x, 0.0)
    elif kind == "sigmoid":
        y = p["c"] + p["h"] * _sigmoid_shape(x, p["eta"], p["w"])
    elif kind == "exponential":
        y = p["a"] + p["b"] * _exp_shape(x, p["r"], p["m"])
    elif kind == "power":
        y = p["a"] + p["b"] * _exp_shape(np.log(x), p["r"], p["m"])
    else:
        y = p["a"] + p["b"] * x
    return np.clip(y, p.get("bottom", -np.inf), p.get("top", np.inf))


def landmarks(kind: str, p: dict) -> dict:
    """Onset, midpoint and saturation of a hinge or sigmoid fit, all losses.

    The onset is where the rise starts, defined alike for both: the loss at which the
    curve's steepest tangent meets its flat level. For the hinge that is its knot eta; for the
    sigmoid, whose steepest tangent is at eta with slope h / (4 w), it is eta + 2 w (where the
    sigmoid has risen 1 / (1 + e^2) = 11.9% of its rise). The midpoint and saturation are
    where the curve has risen 50% and 90% of its total rise above the flat level: for the
    sigmoid eta and eta - w ln 9; for the hinge, whose total rise is up to the metric's best
    score (`top`), eta - q (top - c) / s, so without one it has no midpoint or saturation."""
    if kind == "sigmoid":
        out = {"onset": p["eta"] + 2 * p["w"]}
        out.update({name: p["eta"] - p["w"] * np.log(q / (1 - q)) for name, q in LANDMARKS.items() if q})
        return {k: float(v) for k, v in out.items()}
    if kind == "hinge":
        top, c, s = p.get("top", np.inf), p["c"], p["s"]
        out = {"onset": p["eta"]}
        for name in ("midpoint", "saturation"):
            q = LANDMARKS[name]
            out[name] = p["eta"] - q * (top - c) / s if np.isfinite(top) and s > 0 and top > c else float("nan")
        return {k: float(v) for k, v in out.items()}
    raise ValueError(f"a {kind} curve has no landmarks")


FITTERS = {
    "hinge": fit_hinge,
    "sigmoid": fit_sigmoid,
    "smooth": fit_smooth,
    "exponential": fit_exponential,
    "power": fit_power,
}


def information_criteria(rss: float, n: int, k: int) -> tuple[float, float]:
    """(AIC, BIC) of a least-squares fit under a Gaussian likelihood: n log(RSS/n) + 2k, + k log n."""
    ll = n * np.log(max(rss, np.finfo(float).tiny) / n)
    return float(ll + 2 * k), float(ll + k * np.log(n))
