"""Simulated studies with a planted onset, for checking that threshold intervals cover it.

Each study has model sizes that stop training at lower and lower losses, several runs
(seeds) per size, and checkpoints along each run. Accuracy sits at chance above the
planted onset and rises linearly below it up to 1 (a bounded hinge). Run-to-run variance
enters the way it does across seeds of a real study: each run shifts where its ability
appears along the loss axis (`shift`, sd in nats) and scales its rise (`height`, sd as a
share); items add binomial noise. `tools/threshold_coverage.py` prints the coverage table
of docs/science.md; tests/test_bootstrap.py checks it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence.analysis.thresholds import fit_threshold

ONSET = 1.65
CHANCE = 0.25
# Final losses of the five sizes: three end below the onset, two above it.
FINAL_LOSSES = (1.95, 1.8, 1.55, 1.45, 1.35)


def study(
    seed: int,
    *,
    n_runs: int = 3,
    shift: float = 0.03,
    height: float = 0.15,
    n_items: int = 100,
    n_checkpoints: int = 14,
    slope: float = 1.6,
) -> pd.DataFrame:
    """One simulated study: columns loss, value, n, model (size), run (seed within size)."""
    rng = np.random.default_rng(seed)
    frames = []
    for size, final in enumerate(FINAL_LOSSES):
        for run in range(n_runs):
            d, g = rng.normal(0.0, shift), rng.normal(0.0, height)
            loss = np.geomspace(2.6, final, n_checkpoints) + rng.normal(0.0, 0.01, n_checkpoints)
            rise = np.clip(slope * (1 + g) * np.maximum(ONSET + d - loss, 0.0), 0.0, 1.0)
            p = CHANCE + (1 - CHANCE) * rise
            frames.append(
                pd.DataFrame(
                    {"loss": loss, "value": rng.binomial(n_items, p) / n_items, "n": n_items, "model": size, "run": run}
                )
            )
    return pd.concat(frames, ignore_index=True)


def coverage(n_studies: int, schemes=("runs", "items"), n_boot: int = 200, level: float = 0.95, **kw) -> pd.DataFrame:
    """Per bootstrap scheme: the share of `n_studies` simulated studies whose onset interval
    covers the planted onset, the median interval width, and the share called emergent."""
    rows = []
    for s in range(n_studies):
        df = study(s, **kw)
        for scheme in schemes:
            r = fit_threshold(
                df["loss"], df["value"], model=df["model"], run=df["run"], n=df["n"], chance=CHANCE,
                n_boot=n_boot, seed=s, level=level, bootstrap=scheme,
            )  # fmt: skip
            lo, hi = r["onset_low"], r["onset_high"]
            rows.append(
                {
                    "scheme": scheme,
                    "covered": bool(lo <= ONSET <= hi),
                    "width": hi - lo,
                    "emergent": r["verdict"] == "emergent",
                }
            )
    df = pd.DataFrame(rows).groupby("scheme", sort=False)
    return df.agg(
        coverage=("covered", "mean"), median_width=("width", "median"), emergent=("emergent", "mean")
    ).reset_index()
