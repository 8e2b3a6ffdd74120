"""Coverage of the forecast's intervals on simulated ladders with a planted law and curve
(emergence.analysis.simulate), for the table in docs/science.md.

    .venv/bin/python tools/forecast_coverage.py [n_ladders [n_held_out]]    # 100, 40 by default

First: the law intervals (*_ci) at the target run against the planted loss and accuracy.
Then: the largest of six sizes held out, its prediction intervals (*_pi, for the mean of
its three runs) against what those runs reached, per token budget.
"""

import sys

import pandas as pd

from emergence.analysis import simulate
from emergence.analysis.holdout import holdout_forecast


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    law = simulate.forecast_coverage(n, n_boot=200)
    print(f"law intervals at N = {simulate.TARGET[0]:g}, D = {simulate.TARGET[1]:g}, {n} ladders (95% nominal)")
    print(law[["loss_covered", "value_covered", "value_width"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"forecast sd across ladders: loss {law['loss'].std():.4f}, accuracy {law['value'].std():.4f}")
    rows = []
    for s in range(min(n, 40) if len(sys.argv) < 3 else int(sys.argv[2])):
        table, _ = holdout_forecast(simulate.ladder(s, sizes=(*simulate.LADDER_SIZES, 3e6)), n_boot=200, seed=s)
        rows.append(table)
    held = pd.concat(rows)
    print(f"\nheld-out size {3e6:g}, prediction intervals for the mean of 3 runs, {len(rows)} ladders x 3 budgets")
    print(held.groupby("tokens")[["loss_covered", "covered"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
