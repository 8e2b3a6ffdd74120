"""The forecast's bootstrap over runs: its units, their strata, and the redrawing of one
task's checkpoints, shared by every method that forecasts from a ladder (the chain,
chain.py, and one step, onestep.py), so that their intervals resample alike.

The unit is a seed of a size (with a `seed` column: every run of that size and seed
together, so that the branches of one WSD trunk, which share its noise, move together),
else a run; units are redrawn within each size when some size has several of them (within
each (N, final D) cell, for runs without seeds), across all of them otherwise. Drawing m
units with replacement gives their mean a variance (m - 1) / m times the true one, so each
drawn value is moved away from its cell's mean by sqrt(m / (m - 1)) (the rescaling
bootstrap, Rao and Wu 1988). Then, for proportions, the items behind each score are
redrawn, Binomial(n, value) / n.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rescaling(keys: pd.DataFrame, values: np.ndarray, stratified: bool) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) per row: the mean of `values` over the row's cell (its rows with equal
    `keys`) and the factor sqrt(m / (m - 1)) for a cell of m >= 2 rows (1 otherwise, or
    unstratified).

    Drawing m runs with replacement within a cell gives their mean a variance (m - 1) / m
    times the true one, a third too small for three seeds; moving each drawn value away from
    its cell's mean by `scale` restores it (the rescaling bootstrap, Rao and Wu 1988): the
    interval's coverage on simulated ladders, measured in docs/forecast.md."""
    cell = pd.factorize(pd.Series(list(keys.itertuples(index=False, name=None))))[0]
    size = pd.Series(cell).map(pd.Series(cell).value_counts()).to_numpy()
    scale = np.where(stratified & (size >= 2), np.sqrt(size / np.maximum(size - 1, 1)), 1.0)
    centre = pd.Series(np.asarray(values, float)).groupby(cell).transform("mean").to_numpy()
    return centre, scale


def rescaled(points: pd.DataFrame, stratified: bool) -> pd.DataFrame:
    """A law's points with, per run, its (N, D) cell's mean loss (`centre`) and factor (`scale`)."""
    centre, scale = rescaling(points[["params", "tokens"]], points["loss"].to_numpy(), stratified)
    return points.assign(centre=centre, scale=scale)


def by_unit(runs: pd.Index, unit: pd.Series) -> dict[str, np.ndarray]:
    """The runs of `runs` belonging to each unit (an empty array for a unit without any)."""
    of = runs.map(unit)
    return {u: runs[of == u].to_numpy() for u in unit.unique()}


def units(ladder: pd.DataFrame) -> tuple[pd.Series, list[np.ndarray], bool]:
    """(unit of each run, strata, stratified): the bootstrap's unit per run, indexed by run
    (its size and seed where the ladder has seeds, else the run itself), and the units grouped
    into the strata they are redrawn within (by size with seeds, by (N, final D) cell
    without), or, when no stratum has two units, one stratum of all of them (unstratified)."""
    runs = ladder.groupby("run", sort=True).agg(params=("params", "first"), tokens=("tokens", "max"))
    seeded = "seed" in ladder.columns and ladder["seed"].notna().all()
    if seeded:
        seeds = ladder.groupby("run", sort=True)["seed"].first().astype(str)
        unit = runs["params"].astype(str) + "|" + seeds
        stratum = runs["params"]
    else:
        unit = pd.Series(runs.index, index=runs.index)
        stratum = pd.Series(list(zip(runs["params"], runs["tokens"])), index=runs.index)
    table = pd.DataFrame({"unit": unit, "stratum": stratum.astype(str)}).drop_duplicates("unit")
    strata = [g["unit"].to_numpy() for _, g in table.groupby("stratum", sort=True)]
    if max(len(m) for m in strata) < 2:
        return unit, [table["unit"].to_numpy()], False
    return unit, strata, True


def draw(strata: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One resample of the units: each stratum's units drawn with replacement, as many as it has."""
    return np.concatenate([m[rng.integers(len(m), size=len(m))] for m in strata])


class Checkpoints:
    """One task's checkpoints (rows of a ladder), ready to be redrawn by unit."""

    def __init__(self, d: pd.DataFrame, unit: pd.Series, stratified: bool):
        of = d["run"].map(unit).to_numpy()
        self.of = of  # each checkpoint's unit
        # Each unit's row positions within the task's checkpoints.
        self.rows = {u: np.flatnonzero(of == u) for u in pd.unique(of)}
        self.value = d["value"].to_numpy(float)
        self.n = d["n"].to_numpy(np.int64) if "n" in d.columns and d["n"].notna().all() else None
        # A checkpoint's cell: its N and tokens (a checkpoint of a size).
        self.centre, self.scale = rescaling(d[["params", "tokens"]], self.value, stratified)

    def draw(self, drawn: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) of one resample: every checkpoint of each drawn unit, its score moved
        away from its cell's mean (rescaling) and, for proportions, its items redrawn."""
        idx = np.concatenate([self.rows[u] for u in drawn if u in self.rows] or [np.zeros(0, int)])
        c = self.centre[idx]
        v = c + self.scale[idx] * (self.value[idx] - c)
        if self.n is not None:
            n = self.n[idx]
            v = rng.binomial(n, np.clip(v, 0.0, 1.0)) / n
        return idx, v
