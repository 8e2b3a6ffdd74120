"""Coverage of the forecast's intervals on simulated ladders with a planted law and curve
(emergence.analysis.planted_ladder), for the tables in docs/forecast.md ("Coverage on simulated
ladders").

    .venv/bin/python tools/forecast_coverage.py [n_ladders [n_held_out [n_boot [rows.csv]]]]  # 100, 40, 200 by default

First: the law intervals (*_ci) at ten times the largest size against the planted loss and
accuracy, for the planted emergent task and for a smooth rise that the ladder only starts
(planted_ladder.late_rise): the chain's, one step's, and those of the method the held-out largest
size chose per ladder (what `emergence forecast` prints).
Then: the largest of six sizes held out, its prediction intervals (*_pi, for the mean of
its three runs) against what those runs reached, per token budget.
Each ladder is one job on two processes; progress goes to stderr. With rows.csv, every
ladder's row of the first part is written there too (forecasts, coverage, method, form).
"""

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

# One BLAS thread a process: two processes, each with OpenBLAS's own thread per core, spend
# most of their time waiting on each other (the first ladder took 137 s instead of 35).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from emergence.analysis import planted_ladder  # noqa: E402
from emergence.analysis.holdout import holdout_forecast  # noqa: E402

# Both tasks at ten times the largest size.
TEN = (10 * planted_ladder.LADDER_SIZES[-1], planted_ladder.TARGET[1])
SCENARIOS = {
    "emergent (planted hinge)": planted_ladder.planted_value,
    "late rise (planted sigmoid)": planted_ladder.late_rise,
}
METHODS = ("chain", "one_step", "chosen")
HELD_OUT = 3e6


def _law_row(args) -> pd.DataFrame:
    name, seed, boots = args
    return planted_ladder.forecast_coverage(1, n_boot=boots, value=SCENARIOS[name], target=TEN, first=seed).assign(
        scenario=name
    )


def _held_out_rows(args) -> pd.DataFrame:
    seed, boots = args
    table, _ = holdout_forecast(
        planted_ladder.ladder(seed, sizes=(*planted_ladder.LADDER_SIZES, HELD_OUT)), n_boot=boots, seed=seed
    )
    return table


def _summary(name: str, law: pd.DataFrame, boots: int) -> str:
    truth = float(SCENARIOS[name](planted_ladder.planted_loss(*TEN)))
    return "\n".join(
        [
            f"{name}: law intervals at N = {TEN[0]:g}, D = {TEN[1]:g}, {len(law)} ladders, {boots} resamples"
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


def _progress(done: int, total: int, t0: float) -> None:
    print(f"  {done}/{total} ladders, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    n_held = int(sys.argv[2]) if len(sys.argv) > 2 else min(n, 40)
    boots = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    t0 = time.time()
    # One process a ladder, two at a time (the machines here have two cores).
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = [(name, seed, boots) for name in SCENARIOS for seed in range(n)]
        law = []
        for i, row in enumerate(pool.map(_law_row, jobs), 1):
            law.append(row)
            _progress(i, len(jobs), t0)
        if law:
            law = pd.concat(law, ignore_index=True)
            if len(sys.argv) > 4:
                law.to_csv(sys.argv[4], index=False)
            for name, rows in law.groupby("scenario", sort=False):
                print(_summary(name, rows, boots), flush=True)
        held = []
        for i, table in enumerate(pool.map(_held_out_rows, [(s, boots) for s in range(n_held)]), 1):
            held.append(table)
            _progress(i, n_held, t0)
    if not held:
        return
    held = pd.concat(held)
    print(f"\nheld-out size {HELD_OUT:g}, prediction intervals for the mean of 3 runs, {n_held} ladders x 3 budgets")
    print(held.groupby("tokens")[["loss_covered", "covered"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
