"""What a threshold's interval resamples, and the resampling itself.

A study's checkpoints are not independent points: each belongs to a training run (a model
size trained from one seed), runs of one size differ by their seed (and by the floating-point
order of the machine), and each proportion is a share of a finite set of items, the same
items at every checkpoint (a hard item is hard for every model). Schemes:

- "runs" (hierarchical): within each model size (`model`), draw its runs (`run`) with
  replacement and keep every checkpoint of each drawn run; then the items. This is the scheme
  that includes run-to-run variance, and "auto" picks it whenever some size has two or more runs.
- "items": keep every point, redraw the items.
- "clusters": draw training runs (each `model` x `run` pair; each `model` label without run
  labels) with replacement, then checkpoints within each.
- "points": draw checkpoints with replacement.
- "clusters+items": "clusters", then items (counts each point's noise twice).

The items are redrawn as they were drawn: where each item's score is known at every point
(`items`, from the samples tables), one draw of item ids per replicate, with replacement,
and every point recomputed from it, so that an item's effect is shared by all checkpoints as
it is in the study. Runs and items are then two crossed factors resampled independently
(the run draw cannot see the items' variance, which all runs share). Where only the counts
are known, each proportion is redrawn as Binomial(n, value) / n on its own: that treats the
items of different checkpoints as independent, and is what a CSV of aggregates allows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

BOOTSTRAPS = ("auto", "runs", "items", "clusters", "points", "clusters+items")
# What an interval of each scheme covers, in the words of the tables and the report.
COVERS = {
    "runs": "runs and items",
    "items": "items only",
    "clusters": "model runs and checkpoints",
    "points": "checkpoints only",
    "clusters+items": "model runs, checkpoints and items",
}


def labels(values, size: int, what: str) -> np.ndarray | None:
    """Integer codes of per-point labels (None stays None); ValueError naming `what` on a length mismatch."""
    if values is None:
        return None
    codes = pd.factorize(np.asarray(values).ravel())[0]
    if codes.size != size:
        raise ValueError(f"{what} has {codes.size} labels for {size} points")
    return codes


def choose(bootstrap: str, model, run, n) -> str:
    """The scheme "auto" stands for (see the module's docstring), or `bootstrap` itself once checked."""
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {', '.join(BOOTSTRAPS)}, got {bootstrap!r}")
    if bootstrap == "auto":
        if run is not None and replicated(model, run):
            return "runs"
        return "items" if n is not None else "clusters" if model is not None else "points"
    if bootstrap == "runs" and run is None:
        raise ValueError("bootstrap 'runs' needs run labels (a run or seed column)")
    if "items" in bootstrap and n is None:
        raise ValueError(f"bootstrap {bootstrap!r} needs item counts n")
    return bootstrap


def replicated(model, run) -> bool:
    """Whether some model size has two or more runs."""
    strata = np.zeros(len(run), int) if model is None else model
    return bool(pd.DataFrame({"m": strata, "r": run}).groupby("m")["r"].nunique().max() >= 2)


def resamples(
    scheme: str,
    size: int,
    model,
    run,
    n,
    value: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    items: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`n_boot` resamples as (indices of the points drawn, their values, items redrawn where
    the scheme says: by item id when `items` holds each point's item scores, else binomially)."""
    draw = _drawer(scheme, size, model, run, rng)
    redraw = scheme in ("runs", "items", "clusters+items")
    for _ in range(n_boot):
        idx = draw()
        v = value[idx]
        if redraw and items is not None:
            cols = rng.integers(items.shape[1], size=items.shape[1])
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a point without any drawn item keeps its value
                redrawn = np.nanmean(items[idx][:, cols], axis=1)
            v = np.where(np.isfinite(redrawn), redrawn, v)
        elif redraw and n is not None:
            v = rng.binomial(n[idx], v) / n[idx]
        yield idx, v


def rescaling(scheme: str, model, run) -> float:
    """How much to widen resampled estimates' deviations from the estimate: drawing R runs of
    a size with replacement spreads them by only (R - 1) / R of their variance, which
    sqrt(R / (R - 1)) restores (the rescaling bootstrap of Rao & Wu 1988; R the median number
    of runs per size). 1 for schemes that do not resample runs within sizes."""
    if scheme != "runs" or run is None:
        return 1.0
    strata = np.zeros(len(run), int) if model is None else model
    r = float(pd.DataFrame({"m": strata, "r": run}).groupby("m")["r"].nunique().median())
    return float(np.sqrt(r / (r - 1))) if r >= 2 else 1.0


def _drawer(scheme: str, size: int, model, run, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    if scheme == "runs":
        strata = np.zeros(size, int) if model is None else model
        # Per size, the point indices of each of its runs.
        groups = [
            [np.flatnonzero((strata == m) & (run == r)) for r in np.unique(run[strata == m])] for m in np.unique(strata)
        ]
        return lambda: np.concatenate([g[j] for g in groups for j in rng.integers(len(g), size=len(g))])
    if scheme in ("clusters", "clusters+items"):
        key = pd.factorize(pd.Series(zip(*(np.zeros(size, int) if v is None else v for v in (model, run)))))[0]
        clusters = [np.flatnonzero(key == g) for g in np.unique(key)]

        def draw():
            picked = rng.integers(len(clusters), size=len(clusters))
            return np.concatenate([rng.choice(clusters[j], size=len(clusters[j])) for j in picked])

        return draw
    if scheme == "points":
        return lambda: rng.integers(size, size=size)
    return lambda: np.arange(size)
