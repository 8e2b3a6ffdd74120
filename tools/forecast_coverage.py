"""Coverage of the forecast's intervals on simulated ladders with a planted law and curve
(emergence.analysis.simulate), for the table in docs/science.md.

    .venv/bin/python tools/forecast_coverage.py [n_ladders [n_held_out [n_boot]]]    # 100, 40, 200 by default

First: the law intervals (*_ci) at ten times the largest size against the planted loss and
accuracy, for the planted emergent task and for a smooth rise that the ladder only starts
(simulate.late_rise): the chain's, one step's, and those of the method the held-out largest
size chose per ladder (what `emergence forecast` prints).
Then: the largest of six sizes held out, its prediction intervals (*_pi, for the mean of
its three runs) against what those runs reached, per token budget.
"""

import sys
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from emergence.analysis import simulate
from emergence.analysis.holdout import holdout_forecast

# Both tasks at ten times the largest size.
TEN = (10 * simulate.LADDER_SIZES[-1], simulate.TARGET[1])
SCENARIOS = [
    ("emergent (planted hinge)", simulate.planted_value, TEN),
    ("late rise (planted sigmoid)", simulate.late_rise, TEN),
]
METHODS = ("chain", "one_step", "chosen")


def _scenario(args) -> str:
    (name, value, target), n, boots = args
    law = simulate.forecast_coverage(n, n_boot=boots, value=value, target=target)
    truth = float(value(simulate.planted_loss(*target)))
    return "\n".join(
        [
            f"{name}: law intervals at N = {target[0]:g}, D = {target[1]:g}, {n} ladders, {boots} resamples"
            f" (95% nominal; planted accuracy {truth:.3f})",
            f"loss covered {law['loss_covered'].mean():.3f}, forecast sd across ladders {law['loss'].std():.4f}",
            pd.DataFrame(
                {
                    m: {
                        "covered": law[f"{m}_covered"].mean(),
                        "mean width": law[f"{m}_width"].mean(),
                        "forecast sd": law[f"{m}_value"].std(),
                        "mean abs error": (law[f"{m}_value"] - truth).abs().mean(),
                    }
                    for m in METHODS
                }
            ).to_string(float_format=lambda v: f"{v:.3f}"),
            f"chosen: {law['method'].value_counts().to_dict()}",
            f"chain's step-2 forms: {law['form'].value_counts().to_dict()}\n",
        ]
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    boots = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    # One process a scenario, two at a time (the machines here have two cores).
    with ProcessPoolExecutor(max_workers=2) as pool:
        for text in pool.map(_scenario, [(sc, n, boots) for sc in SCENARIOS]):
            print(text, flush=True)
    rows = []
    for s in range(min(n, 40) if len(sys.argv) < 3 else int(sys.argv[2])):  # one process
        table, _ = holdout_forecast(simulate.ladder(s, sizes=(*simulate.LADDER_SIZES, 3e6)), n_boot=boots, seed=s)
        rows.append(table)
    if not rows:
        return
    held = pd.concat(rows)
    print(f"\nheld-out size {3e6:g}, prediction intervals for the mean of 3 runs, {len(rows)} ladders x 3 budgets")
    print(held.groupby("tokens")[["loss_covered", "covered"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
