"""A planted model ladder, for checking that `emergence forecast` recovers the law and the
task's curve and that its intervals cover the truth at a larger size.

The ladder: sizes LADDER_SIZES x budgets LADDER_BUDGETS x three seeds, the loss of each run
from the law LAW (each seed's runs off it by one offset at every budget, as the branches of
one trunk are), and a task's score at each checkpoint drawn from its expected value at the
run's loss (`planted_value`: at chance above LADDER_ONSET and rising linearly below it;
`late_rise`: a sigmoid whose rise the ladder only starts). `forecast_coverage` forecasts each
ladder as `emergence forecast` does; `tools/forecast_coverage.py` prints the tables of
docs/forecast.md and tests/test_forecast.py checks them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from emergence.analysis import onestep
from emergence.analysis.chain import fit_chain
from emergence.analysis.choice import CHAIN, forecast_at
from emergence.analysis.simulate import CHANCE

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


# A smooth task whose rise is half done at LATE_MIDPOINT nats (sigmoid width LATE_WIDTH).
LATE_MIDPOINT, LATE_WIDTH = 1.30, 0.15


def late_rise(loss) -> np.ndarray:
    """A task whose accuracy rises smoothly, half way from chance at LATE_MIDPOINT nats: below
    every loss of the ladder, so that the ladder sees only the start of its rise (as small
    ladders see MMLU's)."""
    return CHANCE + (1 - CHANCE) * special.expit((LATE_MIDPOINT - np.asarray(loss, float)) / LATE_WIDTH)


def ladder(
    seed: int,
    *,
    sizes=LADDER_SIZES,
    n_runs: int = 3,
    loss_sd: float = 0.01,
    shift: float = 0.02,
    n_items: int = 200,
    value=planted_value,
):
    """One simulated ladder in forecast's layout (ladder.py), task "emergent": every size in `sizes` x
    budget trained from `n_runs` seeds, 8 checkpoints each. A seed's losses sit `loss_sd` (nats)
    off the law at every budget and checkpoint alike (its budgets share one initialisation and
    data order, or are branches of one WSD trunk); checkpoints before the last are 0.05 nats
    above the law at their tokens (not yet annealed, as under a decaying schedule); a seed's
    onset is shifted by `shift` (sd, nats); accuracy is Binomial(n_items, p) / n_items, p the
    expected accuracy `value` (planted_value, or late_rise) at the shifted loss."""
    rng = np.random.default_rng(seed)
    frames = []
    for N in sizes:
        offsets, shifts = rng.normal(0.0, loss_sd, n_runs), rng.normal(0.0, shift, n_runs)
        for D in LADDER_BUDGETS:
            for r in range(n_runs):
                tokens = np.geomspace(D / 30, D, 8)
                loss = planted_loss(N, tokens) + offsets[r] + np.where(tokens < D, 0.05, 0.0)
                p = value(loss - shifts[r])
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


def forecast_coverage(
    n_ladders: int,
    n_boot: int = 200,
    level: float = 0.95,
    *,
    value=planted_value,
    target=TARGET,
    first: int = 0,
    **kw,
) -> pd.DataFrame:
    """Per simulated ladder (task `value`: planted_value or late_rise): the forecast at
    `target` as `emergence forecast` makes it (choice.forecast_at), whether each method's
    interval for the law (`value_ci`) covers the planted accuracy there (`chain_*`: the
    chain's, with its loss interval against the planted loss; `one_step_*`: one step's;
    `chosen_*`: the method the held-out largest size picked, `method`), the chain's curve
    form and the fitted alpha (planted 0.4). The ladders are those of seeds `first`,
    `first` + 1, ... (one row each, column `seed`)."""
    truth_loss = float(planted_loss(*target))
    truth = float(value(truth_loss))
    rows = []
    for s in range(first, first + n_ladders):
        runs = ladder(s, value=value, **kw)
        chain = fit_chain(runs, n_boot=n_boot, seed=s, level=level)
        p = forecast_at(runs, chain, *target, seed=s)["emergent"]
        llo, lhi = p["loss_ci"]
        row = {"seed": s, "loss": p["loss"], "loss_covered": llo <= truth_loss <= lhi, "method": p["method"]}
        for name, m in (("chain", p["methods"][CHAIN]), ("one_step", p["methods"].get(onestep.NAME)), ("chosen", p)):
            lo, hi = m["value_ci"] if m else (np.nan, np.nan)
            row |= {
                f"{name}_value": m["value"] if m else np.nan,
                f"{name}_covered": lo <= truth <= hi,
                f"{name}_width": hi - lo,
            }
        chained = p["methods"][CHAIN]
        rows.append(row | {"form": chained["form"], "alpha": chain.laws[""][0]["alpha"]})
    return pd.DataFrame(rows)
