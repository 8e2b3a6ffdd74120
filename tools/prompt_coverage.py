"""The paired comparison of two prompts (emergence.analysis.prompts) on simulated tasks with a
planted truth, for the table of docs/science.md, "Prompts compared, paired": a chain-of-thought
prompt with a sharp sigmoid against a standard prompt at chance (the gain's interval should
cover the planted gain), and two prompts with the same sigmoid (a 95% interval should call
them different in about 5% of tasks; it is conservative there, see analysis/prompts.py).

Every task: 5 sizes x 3 runs x 14 checkpoints, 100 items answered under both prompts by the
same checkpoints (simulate.prompt_pair), the verdicts as planted, intervals redrawing runs
then item ids, 200 resamples.

    .venv/bin/python tools/prompt_coverage.py [n_studies]
"""

import sys
import time

from emergence.analysis.simulate import prompt_coverage


def main() -> None:
    n_studies = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    start = time.time()
    table = prompt_coverage(n_studies)
    print(f"Paired gain of prompt over baseline, {n_studies} tasks each ({time.time() - start:.0f} s)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
