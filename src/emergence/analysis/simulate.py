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

from emergence.analysis.chain import fit_chain, predict_at
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
                df["loss"],
                df["value"],
                model=df["model"],
                run=df["run"],
                n=df["n"],
                chance=CHANCE,
                n_boot=n_boot,
                seed=s,
                level=level,
                bootstrap=scheme,
            )
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


# A planted ladder: the law L(N, D) = E + A / N^alpha + B / D^beta, and a task at chance
# above LADDER_ONSET that rises linearly below it (slope LADDER_SLOPE per nat, up to 1).
LAW = {"E": 1.0, "A": 30.0, "alpha": 0.4, "B": 40.0, "beta": 0.3}
LADDER_SIZES = (1e4, 3e4, 1e5, 3e5, 1e6)
LADDER_BUDGETS = (1e6, 3e6, 1e7)
LADDER_ONSET, LADDER_SLOPE = 1.8, 1.6
# The run a ladder forecasts: three times the largest size, at the largest budget.
TARGET = (3e6, 1e7)


def planted_loss(N, D) -> np.ndarray:
    return LAW["E"] + LAW["A"] / np.asarray(N, float) ** LAW["alpha"] + LAW["B"] / np.asarray(D, float) ** LAW["beta"]


def planted_value(loss) -> np.ndarray:
    """The emergent task's expected accuracy at `loss`."""
    rise = np.clip(LADDER_SLOPE * (LADDER_ONSET - np.asarray(loss, float)), 0.0, 1.0)
    return CHANCE + (1 - CHANCE) * rise


def ladder(
    seed: int, *, sizes=LADDER_SIZES, n_runs: int = 3, loss_sd: float = 0.01, shift: float = 0.02, n_items: int = 200
):
    """One simulated ladder in forecast's layout (ladder.py), task "emergent": every size in `sizes` x
    budget trained from `n_runs` seeds, 8 checkpoints each. A run's losses sit `loss_sd` (nats)
    off the law, all its checkpoints alike; checkpoints before the last are 0.05 nats above
    the law at their tokens (not yet annealed, as under a decaying schedule); its onset is
    shifted by `shift` (sd, nats); accuracy is Binomial(n_items, p) / n_items."""
    rng = np.random.default_rng(seed)
    frames = []
    for N in sizes:
        for D in LADDER_BUDGETS:
            for r in range(n_runs):
                tokens = np.geomspace(D / 30, D, 8)
                loss = planted_loss(N, tokens) + rng.normal(0.0, loss_sd) + np.where(tokens < D, 0.05, 0.0)
                p = planted_value(loss - rng.normal(0.0, shift))
                frames.append(
                    pd.DataFrame(
                        {
                            "run": f"N{N:.0e}-D{D:.0e}-s{r}",
                            "params": N,
                            "tokens": tokens,
                            "task": "emergent",
                            "value": rng.binomial(n_items, p) / n_items,
                            "loss": loss,
                            "chance": CHANCE,
                            "n": n_items,
                            "seed": r,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def forecast_coverage(n_ladders: int, n_boot: int = 200, level: float = 0.95, **kw) -> pd.DataFrame:
    """Per simulated ladder: the forecast at TARGET, whether its intervals for the law (`*_ci`)
    cover the planted loss and accuracy there, and the fitted alpha (planted 0.4)."""
    truth_loss = float(planted_loss(*TARGET))
    truth = float(planted_value(truth_loss))
    rows = []
    for s in range(n_ladders):
        chain = fit_chain(ladder(s, **kw), n_boot=n_boot, seed=s, level=level)
        p = predict_at(chain, *TARGET)["emergent"]
        (llo, lhi), (vlo, vhi) = p["loss_ci"], p["value_ci"]
        rows.append(
            {
                "loss": p["loss"],
                "loss_covered": llo <= truth_loss <= lhi,
                "value": p["value"],
                "value_covered": vlo <= truth <= vhi,
                "value_width": vhi - vlo,
                "verdict": p["verdict"],
                "alpha": chain.laws[""][0]["alpha"],
            }
        )
    return pd.DataFrame(rows)
