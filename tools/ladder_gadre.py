"""Builds docs/forecast/gadre_rpj.csv and gadre_rw.csv, the public ladders of docs/forecast.md:
the RedPajama and RefinedWeb ladders of Gadre et al. (2024, "Language models scale reliably
with over-training and on downstream tasks"), as published in github.com/mlfoundations/scaling,
in this project's ladder layout (docs/forecast.md, "Input").

    .venv/bin/python tools/ladder_gadre.py RAW_FOLDER rpj-           # -> gadre_rpj.csv
    .venv/bin/python tools/ladder_gadre.py RAW_FOLDER rw_original-   # -> gadre_rw.csv

RAW_FOLDER holds that repository's files exp_data/models/PREFIX*.json, exp_data/evals/
evaluation_PREFIX*_heavy.json and exp_data/eval_metadata.csv (models at commit 041eb2f1, but
rw_original-open_lm_1b-1.0 at 741b9ef1, which is where the index holds it; evaluations and
metadata at 79adc263), each named by its path with "/" as "__". One row per
(model, task): the model's final checkpoint only (the files have no other), `params` its total
parameters, `tokens` its training tokens, `value` the task's accuracy, `loss` its C4
validation loss (nats/token; Gadre et al. predict downstream error from it), `loss_rpj` its
RedPajama validation loss, `chance` the task's random baseline (eval_metadata.csv, percent /
100). The three runs trained on the original RedPajama copy (another dataset_uuid) are kept:
they are the same data."""

import csv
import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "forecast"
OUT = {"rpj-": "gadre_rpj.csv", "rw_original-": "gadre_rw.csv"}


def val_loss(model: dict, needle: str) -> float:
    return next(r["loss"] for r in model["results"] if needle in r["val_data"][0])


def main(raw: Path, prefix: str) -> None:
    out = DOCS / OUT[prefix]
    baselines = {}
    with open(raw / "exp_data__eval_metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            baselines[row["Eval Task"]] = float(row["Random baseline"]) / 100
    rows = []
    for path in sorted(raw.glob(f"exp_data__models__{prefix}*.json")):
        name = path.name.removeprefix("exp_data__models__").removesuffix(".json")
        model = json.loads(path.read_text())
        evals = json.loads((raw / f"exp_data__evals__evaluation_{name}_heavy.json").read_text())
        h = model["hyperparameters"]
        for task, value in sorted(evals["eval_metrics"]["icl"].items()):
            rows.append(
                {
                    "run": name,
                    "params": h["params"],
                    "tokens": h["tokens"],
                    "task": task,
                    "value": value,
                    "loss": val_loss(model, "c4_val"),
                    "loss_rpj": val_loss(model, "paloma_redpajama"),
                    "chance": baselines.get(task, ""),
                }
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows ({len({r['run'] for r in rows})} models) to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "rpj-")
