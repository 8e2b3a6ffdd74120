"""Is there a pretraining loss below which performance rises? One curve at a time (the
curves it compares are in `curves.py`).

A curve is performance (`value`) against validation loss (`loss`, nats/token; lower is a
better model) over every checkpoint of every model size. Three least-squares models of the
chance-normalised performance y(x) are compared by BIC:

- hinge:   y = c for x >= eta, c + s (eta - x) below it (s >= 0): flat, then rising;
- sigmoid: y = c + h / (1 + exp((x - eta) / w)) (h >= 0, w > 0): a smooth step at eta;
- smooth:  y = a + b x: a straight line, no threshold.

The threshold of an emergent curve gets a bootstrap interval that resamples model runs
(clusters), checkpoints within them and, for proportions, the items behind each value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from emergence.analysis.curves import FITTERS, MIN_SIDE, N_PARAMS, information_criteria, normalise, predict
from emergence.errors import InputError
from emergence.io import read_csv_columns

# Share of the points that must lie on the flat side (loss above eta) for "emergent": the
# claim is that models above the threshold lack the ability, so it must rest on many of them.
FLAT_SHARE = 0.25
# BIC difference that Kass & Raftery (1995) call strong evidence.
STRONG_BIC = 6.0
# A rise or offset counts as real beyond this many standard errors of one point.
NOISE_SE = 2.0
# Spearman p-value below which a monotone trend counts as real.
TREND_ALPHA = 0.05


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


def _noise_sd(x, y) -> float:
    """One point's noise standard deviation from successive differences along the loss axis.

    Differences of neighbours cancel the (slowly varying) trend; the median of d^2 / 2 is
    rescaled by the chi-square(1) median so it estimates sigma^2 for Gaussian noise."""
    d2 = np.diff(np.asarray(y, float)[np.argsort(x, kind="stable")]) ** 2
    m = np.median(d2) if np.median(d2) > 0 else d2.mean()
    return float(np.sqrt(m / (2 * stats.chi2.ppf(0.5, 1))))


BOOTSTRAPS = ("auto", "items", "clusters", "points", "clusters+items")


def _bootstrap_eta(kind, loss, value, groups, n, chance, higher_is_better, scheme, n_boot, rng, level):
    """Percentile interval of eta over bootstrap refits of `kind`; NaNs when fewer than half
    of the resamples could be fitted at all.

    Schemes: "items" keeps every point and redraws each proportion as Binomial(n, value) / n
    (the items are the noise); "clusters" resamples runs with replacement, then checkpoints
    within each; "points" resamples checkpoints; "clusters+items" does both.
    """
    clusters = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    etas = []
    for _ in range(n_boot):
        if scheme in ("clusters", "clusters+items"):
            picked = rng.integers(len(clusters), size=len(clusters))
            idx = np.concatenate([rng.choice(clusters[j], size=len(clusters[j])) for j in picked])
        elif scheme == "points":
            idx = rng.integers(loss.size, size=loss.size)
        else:
            idx = np.arange(loss.size)
        x, v = loss[idx], value[idx]
        if scheme in ("items", "clusters+items"):
            v = rng.binomial(n[idx], v) / n[idx]
        if len(np.unique(x)) < 2 * MIN_SIDE + 2:
            continue
        etas.append(FITTERS[kind](x, normalise(v, chance, higher_is_better))["eta"])
    if len(etas) < n_boot / 2:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(etas, [tail, 100 - tail])
    return float(lo), float(hi)


def fit_threshold(
    loss,
    value,
    *,
    model=None,
    n=None,
    chance: float | None = None,
    higher_is_better: bool = True,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    bootstrap: str = "auto",
) -> dict:
    """Estimate whether and where performance starts to rise as loss falls, for one curve.

    Works on y = normalise(value, chance, higher_is_better). `model` labels the run of each
    point; `n` is the number of items behind each value, which must then be a proportion.
    `bootstrap` picks what the interval of eta resamples (see _bootstrap_eta); "auto" is
    "items" when `n` is given, else "clusters" when `model` is, else "points". Resampling
    runs or checkpoints AND redrawing items counts each point's noise twice: on simulated
    curves (tests/test_thresholds.py) "clusters+items" covered a planted eta 40/40 times
    with intervals 3.7x as wide as those of "items", which covered it 39/40 times.

    Noise `sd` is one point's standard deviation in normalised units: the larger of the
    successive-difference estimate and, when `n` is given, the binomial one
    sqrt(p (1 - p) / m) with m the median n and p the pooled value with one success and one
    failure added, (p m + 1) / (m + 2). Verdict rules, in this order:

    - "flat": the rise of the BIC-best model's fit from the highest to the lowest observed
      loss is not positive or is at most 2 sd.
    - "emergent": the better threshold model (hinge or sigmoid, by BIC) beats the line by
      delta_bic = BIC(smooth) - BIC(threshold) >= 6; when a chance level is given its flat
      level c (above eta) is within 2 sd of chance; at least 3 points lie on each side of
      eta, and at least a quarter of all points above it (on the flat side); and the
      bootstrap interval of eta is finite.
    - "smooth": Spearman correlation of y with loss is negative with p < 0.05 and
      delta_bic < 6.
    - "inconclusive": anything else (reason in "reason").

    Returns verdict, reason, threshold (eta of the better threshold model: where the rise
    starts for the hinge, its midpoint for the sigmoid; None unless emergent), ci_low and ci_high
    (None unless emergent), eta_candidate (the best threshold model's eta, always), chance,
    spearman, spearman_p, emergence_score, aic_/bic_ of hinge, sigmoid and smooth,
    delta_bic, best_model, threshold_model, fitted parameters (hinge_c, hinge_s, hinge_eta,
    sigmoid_c, sigmoid_h, sigmoid_eta, sigmoid_w, smooth_a, smooth_b; in normalised units),
    rise, noise_sd, n_points and resolution_warning (proportions of so few items that one
    item, 1 / min n, exceeds a quarter of the observed range of values).
    ValueError for mismatched lengths, non-finite numbers, or proportions outside [0, 1].
    """
    loss, value = np.asarray(loss, float).ravel(), np.asarray(value, float).ravel()
    if loss.shape != value.shape:
        raise ValueError(f"loss has {loss.size} points but value has {value.size}")
    if not (np.isfinite(loss).all() and np.isfinite(value).all()):
        raise ValueError("loss and value must be finite numbers")
    groups = np.zeros(loss.size, int) if model is None else pd.factorize(np.asarray(model).ravel())[0]
    if groups.shape != loss.shape:
        raise ValueError(f"model has {groups.size} labels for {loss.size} points")
    if n is not None:
        n = np.asarray(n, float).ravel()
        if not (np.isfinite(n).all() and (n >= 1).all() and (n == np.round(n)).all()):
            raise ValueError("item counts n must be positive integers")
        if n.size not in (1, loss.size):
            raise ValueError(f"n has {n.size} item counts for {loss.size} points")
        n = np.broadcast_to(n, loss.shape).astype(np.int64)
        if ((value < 0) | (value > 1)).any():
            raise ValueError("with item counts n, every value must be a proportion in [0, 1]")
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {', '.join(BOOTSTRAPS)}, got {bootstrap!r}")
    scheme = (
        bootstrap
        if bootstrap != "auto"
        else ("items" if n is not None else "clusters" if model is not None else "points")
    )
    if "items" in scheme and n is None:
        raise ValueError(f"bootstrap {scheme!r} needs item counts n")
    y = normalise(value, chance, higher_is_better)
    nan = float("nan")
    out = {
        "verdict": "inconclusive",
        "threshold": None,
        "ci_low": None,
        "ci_high": None,
        "chance": chance,
        "bootstrap": scheme,
        "spearman": nan,
        "spearman_p": nan,
        "emergence_score": nan,
        "delta_bic": nan,
        "best_model": None,
        "threshold_model": None,
        "eta_candidate": nan,
        "n_points": int(loss.size),
        "resolution_warning": bool(n is not None and 1 / n.min() > np.ptp(value) / 4),
    }
    if len(np.unique(loss)) < 2 * MIN_SIDE + 2:
        return {**out, "reason": f"too few distinct losses ({len(np.unique(loss))}) to place a threshold"}

    rho, rho_p = stats.spearmanr(y, loss) if np.ptp(y) > 0 else (0.0, 1.0)
    out.update(spearman=float(rho), spearman_p=float(rho_p), emergence_score=emergence_score(loss, y))
    fits = {kind: fitter(loss, y) for kind, fitter in FITTERS.items()}
    for kind, p in fits.items():
        out[f"aic_{kind}"], out[f"bic_{kind}"] = information_criteria(p["rss"], loss.size, N_PARAMS[kind])
        out.update({f"{kind}_{k}": v for k, v in p.items() if k != "rss"})
    thr = min(("hinge", "sigmoid"), key=lambda k: out[f"bic_{k}"])
    best = min(FITTERS, key=lambda k: out[f"bic_{k}"])
    eta = fits[thr]["eta"]
    delta_bic = out["bic_smooth"] - out[f"bic_{thr}"]
    rise = float(np.subtract(*predict(best, fits[best], [loss.min(), loss.max()])))
    sd = _noise_sd(loss, y)
    if n is not None:
        # Pooled proportion with one success and one failure added (Laplace): at p = 0 the
        # plain binomial sd is 0, and one lucky item would count as a significant rise.
        m = np.median(n)
        p = (value.mean() * m + 1) / (m + 2)
        scale = 1.0 if chance is None else abs((1.0 if higher_is_better else 0.0) - chance)
        sd = max(sd, np.sqrt(p * (1 - p) / np.median(n)) / scale)
    out.update(
        delta_bic=float(delta_bic),
        best_model=best,
        threshold_model=thr,
        eta_candidate=eta,
        rise=rise,
        noise_sd=float(sd),
    )

    if rise <= 0:
        return {**out, "verdict": "flat", "reason": f"performance does not rise as loss falls (change {rise:.3g})"}
    if rise <= NOISE_SE * sd:
        return {**out, "verdict": "flat", "reason": f"fitted rise {rise:.3g} is within {NOISE_SE:g} sd ({sd:.3g})"}
    if delta_bic >= STRONG_BIC:
        sides = min((loss < eta).sum(), (loss > eta).sum())
        if chance is not None and abs(fits[thr]["c"]) > NOISE_SE * sd:
            reason = f"threshold model wins but its level above eta ({fits[thr]['c']:.3g}) is not at chance"
        elif sides < MIN_SIDE:
            reason = f"only {sides} points on one side of the threshold"
        elif (loss > eta).sum() < FLAT_SHARE * loss.size:
            reason = (
                f"only {(loss > eta).sum()} of {loss.size} points lie above the threshold: too few "
                "checkpoints lack the ability to call it emergent"
            )
        else:
            ci = _bootstrap_eta(
                thr,
                loss,
                value,
                groups,
                n,
                chance,
                higher_is_better,
                scheme,
                n_boot,
                np.random.default_rng(seed),
                level,
            )
            if np.isfinite(ci).all():
                return {
                    **out,
                    "verdict": "emergent",
                    "threshold": eta,
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "reason": f"{thr} beats a line by delta BIC {delta_bic:.1f}",
                }
            reason = "the bootstrap could not refit the threshold"
        return {**out, "reason": reason}
    if rho < 0 and rho_p < TREND_ALPHA:
        return {**out, "verdict": "smooth", "reason": f"rises with falling loss (Spearman {rho:.2f}), no threshold"}
    return {**out, "reason": "no significant trend and no threshold"}


def _first(df: pd.DataFrame, col: str):
    vals = df[col].dropna() if col in df.columns else ()
    return vals.iloc[0] if len(vals) else None


def fit_threshold_file(path: str | Path, **kw) -> dict:
    """fit_threshold on a CSV with columns loss, value and optional model, n, chance (its
    first non-empty value) and higher_is_better (first non-empty; true/false/1/0, default
    true). Keyword arguments go to fit_threshold. InputError (one line naming the file and
    column) for a missing column, a non-numeric value or values fit_threshold rejects."""
    df = read_csv_columns(path, ("loss", "value"), numeric=("loss", "value", "n", "chance"))
    hib = _first(df, "higher_is_better")
    if hib is not None:
        if str(hib).strip().lower() not in {"true", "false", "1", "0", "1.0", "0.0"}:
            raise InputError(f"{path}: column 'higher_is_better' must be true or false, got {hib!r}")
        hib = str(hib).strip().lower() in {"true", "1", "1.0"}
    n = df["n"].to_numpy() if "n" in df.columns else None
    if n is not None and np.isnan(n).any():
        raise InputError(f"{path}: column 'n' has an empty cell at line {int(np.argmax(np.isnan(n))) + 2}")
    chance = _first(df, "chance")
    try:
        return fit_threshold(
            df["loss"].to_numpy(),
            df["value"].to_numpy(),
            model=df["model"].astype(str).to_numpy() if "model" in df.columns else None,
            n=n,
            chance=None if chance is None else float(chance),
            higher_is_better=True if hib is None else hib,
            **kw,
        )
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
