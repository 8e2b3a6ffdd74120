"""Coverage of the planted onset by threshold intervals on simulated studies with run-level
random effects (emergence.analysis.simulate), for the table in docs/science.md.

    .venv/bin/python tools/threshold_coverage.py [n_studies]
"""

import sys

from emergence.analysis.simulate import coverage


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for shift, height in ((0.0, 0.0), (0.03, 0.15), (0.06, 0.15)):
        table = coverage(n, shift=shift, height=height)
        print(f"\nrun shift sd {shift} nats, rise scale sd {height:.0%}, {n} studies")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
