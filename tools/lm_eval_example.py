"""Writes config/lm_eval_tasks/sums.jsonl, the data of the example lm-evaluation-harness tasks
(docs/lm_eval.md): two-operand sums held out from the default study's corpus generator, each
with its answer and, for the multiple-choice task, four choices (the answer, one more, one
less, ten more) in an order drawn from the item. Run from the repository root."""

import json
from pathlib import Path

import numpy as np

from emergence.config import load_config
from emergence.data.heldout import heldout_items

N_ITEMS = 60
OUT = Path("config/lm_eval_tasks/sums.jsonl")


def main() -> None:
    cfg = load_config("config/config.yaml")
    raw = heldout_items(cfg.corpus.synthetic, cfg.seed, "arithmetic", 2 * N_ITEMS + 2, rng_seed=0)
    rows = []
    for r in [r for r in raw if len(r["operands"]) == 2][:N_ITEMS]:
        answer = int(r["answer"])
        choices = [answer, answer + 1, answer - 1, answer + 10]
        order = np.random.default_rng(sum(r["operands"]) * 1000 + r["operands"][0]).permutation(4)
        shuffled = [str(choices[i]) for i in order]
        label = int(np.argmin(order))  # where the answer (choices[0]) went
        rows.append({"question": r["prompt"], "answer": r["answer"], "choices": shuffled, "label": label})
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} items to {OUT}")


if __name__ == "__main__":
    main()
