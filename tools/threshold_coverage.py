"""The threshold analysis on simulated studies with a planted truth (emergence.analysis.simulate),
for the tables of docs/science.md, "Verdicts proved on simulations":

1. how often each truth is called emergent: real thresholds (hinge, sharp sigmoid, logistic)
   and smooth curves (convex exponential, 5- and 10-token exact match of a smoothly improving
   token, a wide logistic);
2. how often the onset interval covers the planted onset, at run-to-run shifts of 0.04 and
   0.08 nats (the default study's seeds differ by about 0.08).

Every study: 5 sizes x 3 runs, the same items at every checkpoint, each with its own
difficulty (simulate.study, shared_items), intervals redrawing runs then item ids, 200 resamples.

    .venv/bin/python tools/threshold_coverage.py [n_verdict_studies] [n_coverage_studies]
"""

import sys
import time

import pandas as pd

from emergence.analysis.simulate import TRUTHS, planted_onset, verdicts

FORMAT = {"float_format": lambda v: f"{v:.3f}", "index": False}


def main() -> None:
    n_verdicts = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    n_coverage = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    start = time.time()
    rows = []
    for truth, t in TRUTHS.items():
        r = verdicts(n_verdicts, truth, shift=0.04, height=0.0, shared_items=True, by_item=True).iloc[0]
        rows.append(
            {"truth": truth, "has an onset": t.emergent, "studies": n_verdicts, "called emergent": r["emergent"]}
        )
    print(f"1. Verdicts: 14 checkpoints per run, 100 items, run shift sd 0.04 nats ({time.time() - start:.0f} s)")
    print(pd.DataFrame(rows).to_string(**FORMAT))
    rows = []
    for truth in ("logistic", "hinge"):
        for shift in (0.04, 0.08):
            r = verdicts(
                n_coverage,
                truth,
                shift=shift,
                height=0.0,
                n_items=200,
                n_checkpoints=10,
                shared_items=True,
                by_item=True,
            ).iloc[0]
            rows.append(
                {
                    "truth": truth,
                    "run shift sd": shift,
                    "planted onset": planted_onset(truth, shift, shared_items=True),
                    "studies": n_coverage,
                    "coverage": r["coverage"],
                    "median width": r["median_width"],
                    "median bias": r["median_bias"],
                    "called emergent": r["emergent"],
                }
            )
    print(f"\n2. Coverage of the planted onset: 10 checkpoints per run, 200 items ({time.time() - start:.0f} s)")
    print(pd.DataFrame(rows).to_string(**FORMAT))


if __name__ == "__main__":
    main()
