"""Which method forecasts each task: the two-step chain (chain.py: (N, D) -> loss -> score)
or one step straight from compute (onestep.py: 6ND -> score).

The chain assumes that a task's score depends on the model only through its loss, so that
the law carries the ladder's losses to the target and the curve turns loss into score;
one step assumes only that the score rises with compute. Krajewski et al. (2025) find one
step the better forecaster on some ladders; where the loss is what the score follows (a
wider model and a deeper one at one loss scoring alike), the chain's extra step uses
information one step throws away. Which holds is measured on the ladder, not assumed:

- with at least three sizes, both methods are fitted to all sizes but the largest (the
  chain as forecast.py fits it, its bootstrap deciding the curve's verdict and so its form;
  the forecasts compared are point forecasts) and forecast the final checkpoint of each of its runs, at the
  run's N and D; their absolute errors are paired run by run;
- one step is chosen when its mean absolute error is lower than the chain's by more than
  twice the noise: the larger of the standard error of the mean paired difference and the
  scatter of one held-out score around the chain's curve (at their loss) divided by the
  square root of the number of runs. The second term is what the held-out scores' own noise
  (items and seeds) moves a mean error by; with a single held-out run it is the only
  measure of noise there is, and a difference below it says nothing about the methods;
- otherwise, and when no size can be held out (two sizes, or a fit that fails), the chain:
  it is the method whose steps are checked separately (the law on final losses, the curve's
  form on held-out sizes, extrapolation.py), and its interval's coverage is measured on
  simulated ladders (docs/forecast.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence.analysis import onestep, scaling
from emergence.analysis.chain import Chain, fit_chain, predict_at

CHAIN = "chain"
# Fewest sizes for a held-out check: two to fit from (the law's minimum) and one to hold out.
MIN_SIZES = 3


def held_out_errors(
    ladder: pd.DataFrame, via: str = "loss", *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[dict[str, dict], str]:
    """({task: {"chain": errors, "one step": errors, "noise": sd}}, note): each method fitted
    to all sizes but the largest, its absolute error at each run of the largest (final
    checkpoint), and the sd of one held-out score around the chain's curve; no tasks and a
    note saying why when the check is impossible."""
    params = ladder["params"]
    if params.nunique() < MIN_SIZES:
        return {}, f"{params.nunique()} size(s): a held-out check needs {MIN_SIZES}"
    largest = params.max()
    train, target = ladder[params < largest], ladder[params == largest]
    try:
        chain = fit_chain(train, via, n_boot=n_boot, seed=seed, level=level)
    except ValueError as e:
        return {}, f"the chain cannot be fitted without the largest size: {e}"
    final = target[target["tokens"] == target.groupby("run")["tokens"].transform("max")]
    out = {}
    for task, rows in final.groupby("task", sort=True):
        if task not in chain.curves:
            continue
        curve = chain.curves[task]
        d = train[train["task"] == task]
        try:
            fit = onestep.fit_one_step(
                d["params"], d["tokens"], d["value"], curve.chance, curve.higher_is_better, curve.top, curve.bottom
            )
        except ValueError:
            continue
        rows = rows.groupby("run").agg(
            params=("params", "first"), tokens=("tokens", "first"), value=("value", "mean"), reached=(via, "mean")
        )
        loss = scaling.scaling_predict(chain.law(task)[0], rows["params"].to_numpy(), rows["tokens"].to_numpy())
        actual = rows["value"].to_numpy(float)
        one = curve.to_units(onestep.predict_one_step(fit, rows["params"].to_numpy(), rows["tokens"].to_numpy()))
        unit = abs(float(curve.to_units(1.0) - curve.to_units(0.0)))
        out[task] = {
            CHAIN: np.abs(curve.value(curve.fit, loss) - actual),
            onestep.NAME: np.abs(one - actual),
            "noise": curve.scatter(float(rows["reached"].mean())) * unit,
        }
    return out, ""


def choose(errors: dict | None, note: str = "") -> tuple[str, str]:
    """(method, why) for one task from its held_out_errors entry (the module's rule)."""
    if not errors:
        return CHAIN, f"no held-out check ({note or 'the task could not be fitted without the largest size'})"
    chain, one = errors[CHAIN], errors[onestep.NAME]
    d = one - chain
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else 0.0
    noise = max(se, errors["noise"] / np.sqrt(d.size))
    one_first = f"held-out MAE {one.mean():.3f} vs chain {chain.mean():.3f} (noise {noise:.3f})"
    chain_first = f"held-out MAE {chain.mean():.3f} vs one step {one.mean():.3f} (noise {noise:.3f})"
    if d.mean() < -2 * noise:
        return onestep.NAME, f"one step: {one_first}"
    if d.mean() > 2 * noise:
        return CHAIN, f"chain: {chain_first}"
    return CHAIN, f"chain, the default, within noise: {chain_first}"


def forecast_at(ladder: pd.DataFrame, chain: Chain, N: float, D: float, *, runs: int = 1, seed: int = 0) -> dict:
    """Per task: the forecast at (N, D) of the method chosen for it (`method`, `method_reason`:
    `value`, `value_ci`, `value_pi`), the chain's loss (step 1, `loss*`), and both methods'
    forecasts under `methods` (the chain's with its form and verdict: chain.predict_at; one
    step's: onestep.predict_at). `chain` is fitted to `ladder`, whose held-out check decides."""
    chained = predict_at(chain, N, D, runs=runs, seed=seed)
    direct = onestep.predict_at(chain, onestep.fit_ladder(ladder, chain, seed=seed), N, D, runs=runs, seed=seed)
    errors, note = held_out_errors(ladder, chain.via, n_boot=chain.n_boot, seed=seed, level=chain.level)
    out = {}
    for task, c in chained.items():
        method, why = choose(errors.get(task), note)
        if method == onestep.NAME and task not in direct:
            method, why = CHAIN, f"chain: one step could not be fitted to every size ({why})"
        chosen = c if method == CHAIN else direct[task]
        methods = {CHAIN: {k: v for k, v in c.items() if not k.startswith("loss")}}
        if task in direct:
            methods[onestep.NAME] = direct[task]
        out[task] = {
            "method": method,
            "method_reason": why,
            "value": chosen["value"],
            "value_ci": chosen["value_ci"],
            "value_pi": chosen["value_pi"],
            "loss": c["loss"],
            "loss_ci": c["loss_ci"],
            "loss_pi": c["loss_pi"],
            "methods": methods,
        }
    return out
