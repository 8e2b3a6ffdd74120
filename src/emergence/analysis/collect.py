"""Collect a study's outputs into tidy tables.

- `results`: one row per model x checkpoint x task x prompt x shots x labels x metric:
  model, size, budget, seed, params, nonembedding_params, tokens, step, flops, loss, bpb,
  task, prompt, shots, labels, metric, value, n, chance, and n_layers (optional: tables
  from elsewhere may lack it; the figures then do not mark one-layer models). `loss` is the validation loss
  (nats/token) at that checkpoint, `bpb` the same in bits per byte, `tokens` the tokens
  trained so far and `flops` the training compute so far; `warmup` is true for checkpoints
  taken before the learning rate first reached its peak (see `warmup_end`). Under the WSD schedule the
  budgets of one size and seed share their checkpoints before they branch (the same
  weights): each such checkpoint appears once, under the largest budget that has it.
- `items`: each item's score at each checkpoint, for the metrics that are shares of items
  (`Metric.proportion`): model, step, task, prompt, shots, labels, metric, item, score, read
  from the samples table beside each evaluation table (`<task>.samples.parquet`; an
  evaluation without one adds no rows). The threshold intervals redraw items by these ids.
- `training`: every logged training step of every model (the loss curves).
- `instruct`: the instruction-tuning stage's rows (emergence.instruct.stage) in the results
  table's columns, `loss` being the pretraining loss of the *base* checkpoint each row's
  tuning started from (no rows, only the header, when the stage is off).
- `long_context`: the long-context stage's rows (evaluate/long_context.py) of every probed
  model, with its size, budget and seed (no rows, only the header, when the stage is off).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emergence.errors import InputError
from emergence.evaluate.metrics import METRICS
from emergence.io import read_json, write_table

RESULT_COLUMNS = [
    "model",
    "size",
    "budget",
    "seed",
    "params",
    "nonembedding_params",
    "tokens",
    "step",
    "flops",
    "loss",
    "bpb",
    "task",
    "prompt",
    "shots",
    "labels",
    "metric",
    "value",
    "n",
    "chance",
    "warmup",
]


def _model_info(model_dir: Path) -> dict:
    summary = read_json(model_dir / "model.json", "model summary")
    run = summary["run"]
    return {
        "model": summary["name"],
        "size": run["size_name"],
        "budget": run["tokens"],
        "seed": run["seed"],
        "params": summary["params"],
        "nonembedding_params": summary["nonembedding_params"],
        "n_layers": summary.get("model", {}).get("n_layers"),
        "flops_per_token": summary["flops_per_token"],
        "tokens_per_step": summary["batch_size"] * run["context"],
        # WSD: checkpoints a larger budget of the same trunk also has (none under cosine).
        "shared_steps": summary.get("shared_steps", []),
    }


def training_table(model_dirs: list[Path]) -> pd.DataFrame:
    """Every logged step of every model, with its size, budget and compute so far."""
    frames = []
    for d in map(Path, model_dirs):
        info = _model_info(d)
        log = pd.read_json(d / "train_log.jsonl", lines=True)
        log["flops"] = log["tokens"] * info["flops_per_token"]
        for k in ("model", "size", "budget", "seed", "params", "nonembedding_params"):
            log[k] = info[k]
        frames.append(log)
    return pd.concat(frames, ignore_index=True)


def results_table(model_dirs: list[Path], eval_files: list[Path]) -> pd.DataFrame:
    """Join every evaluation row with its checkpoint's validation loss and its model's size."""
    training = training_table(model_dirs)
    at_ckpt = training.dropna(subset=["val_loss"])[["model", "step", "val_loss", "val_bpb"]]
    at_ckpt = at_ckpt.rename(columns={"val_loss": "loss", "val_bpb": "bpb"})
    info = pd.DataFrame([_model_info(Path(d)) for d in model_dirs])
    frames = []
    for f in eval_files:
        frame = pd.read_parquet(f)
        if not {"metric", "value", "step"} <= set(frame.columns):
            raise InputError(
                f"{f} is not an evaluation metrics table (a samples table?): it lacks metric/value/step columns"
            )
        frames.append(frame)
    evals = pd.concat(frames, ignore_index=True)
    table = (
        evals.drop(columns=["tokens"])
        .merge(info, on="model", how="left")
        .merge(at_ckpt, on=["model", "step"], how="left")
    )
    missing = table[table["loss"].isna()][["model", "step"]].drop_duplicates()
    if len(missing):
        raise InputError(
            f"no validation loss in the training log for {missing.to_dict('records')[:3]} (retrain these models)"
        )
    table = _drop_shared_checkpoints(table)
    table["warmup"] = table["step"] < table["model"].map(warmup_end(training))
    table["tokens"] = table["step"] * table["tokens_per_step"]
    table["flops"] = table["tokens"] * table["flops_per_token"]
    return (
        table[[*RESULT_COLUMNS, "n_layers"]]
        .sort_values(["task", "prompt", "shots", "labels", "metric", "model", "step"])
        .reset_index(drop=True)
    )


ITEM_COLUMNS = ["model", "step", "task", "prompt", "shots", "labels", "metric", "item", "score"]


def items_table(eval_files: list[Path], results: pd.DataFrame) -> pd.DataFrame:
    """Each item's score at each checkpoint of `results` (the checkpoints it kept), for every
    proportion metric of the samples tables beside `eval_files` (see the module docstring)."""
    keys = ["model", "step", "task", "prompt", "shots", "labels", "item"]
    frames = []
    for f in map(Path, eval_files):
        samples = f.with_name(f"{f.stem}.samples.parquet")
        if not samples.is_file():
            continue
        frame = pd.read_parquet(samples)
        metrics = [m for m in frame.columns if m in METRICS and METRICS[m].proportion]
        if not metrics or not set(keys) <= set(frame.columns):
            continue
        long = frame[keys + metrics].melt(id_vars=keys, var_name="metric", value_name="score")
        frames.append(long.dropna(subset=["score"]))
    if not frames:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    kept = results[["model", "step"]].drop_duplicates()
    table = table.merge(kept, on=["model", "step"], how="inner")
    table["item"] = table["item"].astype(str)
    return table[ITEM_COLUMNS].reset_index(drop=True)


def warmup_end(training: pd.DataFrame) -> pd.Series:
    """Per model, the first logged step at which the learning rate reached its peak: the end
    of warm-up (0 for a log without learning rates). Checkpoints before it are not fitted:
    they sit at chance far above the rest of the losses, a plateau that is an artefact of
    starting from random weights, not evidence that an ability is absent at that loss."""
    if "lr" not in training.columns:
        return pd.Series(0, index=training["model"].unique())
    peak = training.groupby("model")["lr"].transform("max")
    return training[training["lr"] >= peak * (1 - 1e-6)].groupby("model")["step"].min()


def _drop_shared_checkpoints(table: pd.DataFrame) -> pd.DataFrame:
    """Keep one copy of each WSD trunk checkpoint: a model's `shared_steps` belong to the
    largest budget that has them (evaluation skips them too; this holds for any table)."""
    shared = [step in steps for step, steps in zip(table["step"], table["shared_steps"])]
    return table[~pd.Series(shared, index=table.index, dtype=bool)]


def read_results(path: Path) -> pd.DataFrame:
    """A results table (results.parquet) written by `collect`; InputError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"results table {path} does not exist: run `emergence collect` first")
    try:
        table = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"results table {path} is not a readable parquet file ({str(e).splitlines()[0]})") from None
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"results table {path} lacks column(s) {', '.join(missing)}")
    return table


LONG_CONTEXT_COLUMNS = [
    "model",
    "size",
    "budget",
    "seed",
    "step",
    "val_loss",
    "context",
    "probe",
    "method",
    "x",
    "metric",
    "value",
    "n",
    "chance",
]


def long_context_table(model_dirs: list[Path], files: list[Path]) -> pd.DataFrame:
    """The long-context stage's tables of the models, joined with each model's size, budget, seed."""
    if not files:
        return pd.DataFrame(columns=LONG_CONTEXT_COLUMNS)
    info = pd.DataFrame([_model_info(Path(d)) for d in model_dirs])[["model", "size", "budget", "seed"]]
    table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).merge(info, on="model", how="left")
    if "chance" not in table.columns:
        table["chance"] = float("nan")
    return table[LONG_CONTEXT_COLUMNS]


def instruct_table(model_dirs: list[Path], files: list[Path]) -> pd.DataFrame:
    """The instruction-tuning stage's tables joined like evaluations: each row with its base
    checkpoint's pretraining loss."""
    if not files:
        return pd.DataFrame(columns=[*RESULT_COLUMNS, "n_layers"])
    return results_table(model_dirs, files)


def collect(
    model_summaries: list[Path],
    eval_files: list[Path],
    out_dir: Path,
    long_context: list[Path] = (),
    instruct: list[Path] = (),
) -> pd.DataFrame:
    """results.{csv,parquet}, items.parquet, training.csv, long_context.csv and
    instruct.{csv,parquet} in `out_dir` from the models' summaries (model.json, beside each
    train_log.jsonl), their evaluation tables (and the samples tables beside them), their
    long-context tables and their instruction-tuning tables."""
    model_dirs = [Path(p).parent for p in model_summaries]
    out = Path(out_dir)
    table = results_table(model_dirs, [Path(p) for p in eval_files])
    write_table(training_table(model_dirs), csv=out / "training.csv")
    write_table(long_context_table(model_dirs, [Path(p) for p in long_context]), csv=out / "long_context.csv")
    tuned = instruct_table(model_dirs, [Path(p) for p in instruct])
    write_table(tuned, csv=out / "instruct.csv", parquet=out / "instruct.parquet")
    write_table(items_table([Path(p) for p in eval_files], table), parquet=out / "items.parquet")
    write_table(table, csv=out / "results.csv", parquet=out / "results.parquet")
    return table
