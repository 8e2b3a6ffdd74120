"""A model ladder's results in the layout that `forecast` reads, from any CSV or from a study.

The layout: one row per (checkpoint, task) with columns `run` (the training run), `params`
(its parameter count N), `tokens` (tokens trained at that checkpoint), `task`, `value` (the
task's score) and an intermediate loss (`loss`, or any other column named by `via`, e.g. a
per-task bits-per-byte). Optional: `chance` (the task's chance level: the score is then
bounded), `n` (items behind a proportion), `seed`, `higher_is_better` (true/false per task,
default true), `warmup` (true for checkpoints taken during learning-rate warm-up: dropped).

A study's own results table (reports/tables/results.parquet or .csv) is read as this layout
by `from_results`: each task x prompt's main metric at its main setting, as the threshold
analysis fits it, with `params` the non-embedding parameters and `run` the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.analyze import fitted_checkpoints, main_metric, main_setting
from emergence.analysis.collect import RESULT_COLUMNS, read_results
from emergence.errors import InputError
from emergence.evaluate.metrics import HEADS, METRICS
from emergence.io import read_csv_columns

REQUIRED = ("run", "params", "tokens", "task", "value")
_TRUE, _FALSE = {"true", "1", "1.0"}, {"false", "0", "0.0"}


def task_label(task: str, prompt: str, prompts: int) -> str:
    """A study task's name in the ladder: the prompt style in brackets when it has several."""
    return f"{task} ({prompt})" if prompts > 1 else task


def from_results(results: pd.DataFrame) -> pd.DataFrame:
    """The ladder layout of a study's results table: checkpoints after warm-up, each task x
    prompt's main metric at its main setting (induction-head scores without one-layer models,
    their control), with size, metric and bpb kept beside the layout's columns."""
    frames = []
    main = main_setting(fitted_checkpoints(results))
    prompts = main.groupby("task")["prompt"].nunique()
    for (task, prompt), d in main.groupby(["task", "prompt"], sort=True):
        metric = METRICS[main_metric(d)]
        if not metric.analysed:
            continue
        d = d[d["metric"] == metric.name]
        if metric.scoring == HEADS and "n_layers" in d:
            d = d[d["n_layers"] != 1]
        frames.append(
            pd.DataFrame(
                {
                    "run": d["model"].astype(str),
                    "size": d["size"].astype(str),
                    "seed": d["seed"].astype(str),
                    "params": d["nonembedding_params"].astype(float),
                    "tokens": d["tokens"].astype(float),
                    "task": task_label(task, prompt, prompts[task]),
                    "metric": metric.name,
                    "value": d["value"].astype(float),
                    "loss": d["loss"].astype(float),
                    "bpb": d["bpb"].astype(float),
                    "chance": d["chance"].astype(float) if metric.bounded else np.nan,
                    "n": d["n"].astype(float) if metric.proportion else np.nan,
                    "higher_is_better": metric.higher_is_better,
                }
            )
        )
    if not frames:
        raise InputError("the results table has no analysed task to forecast")
    return pd.concat(frames, ignore_index=True)


def _is_results(columns) -> bool:
    return "run" not in columns and set(RESULT_COLUMNS) <= set(columns)


def read_ladder(path: str | Path, via: str = "loss") -> pd.DataFrame:
    """A ladder from a CSV in the layout above, or from a study's results table (.parquet or
    .csv), checked: InputError, one line naming the file and the column, for a missing
    column, a bad value, a run with two parameter counts or a bad higher_is_better."""
    path = Path(path)
    if path.suffix == ".parquet":
        df = from_results(read_results(path))
    else:
        try:
            header = pd.read_csv(path, nrows=0).columns if path.is_file() else ()
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            header = ()  # read_csv_columns below names the problem
        if _is_results(header):
            df = from_results(read_csv_columns(path, tuple(RESULT_COLUMNS)))
        else:
            numeric = ("params", "tokens", "value", via, "chance", "n")
            df = read_csv_columns(path, (*REQUIRED, via), numeric=numeric, positive=("params", "tokens", via))
    if via not in df.columns:
        raise InputError(f"{path}: missing column '{via}' (--via) (has: {', '.join(map(str, df.columns))})")
    df = df.copy()
    df["run"], df["task"] = df["run"].astype(str), df["task"].astype(str)
    if "warmup" in df.columns:
        df = df[~df["warmup"].map(lambda v: str(v).strip().lower() in _TRUE)]
    if "higher_is_better" in df.columns:
        text = df["higher_is_better"].map(lambda v: "" if pd.isna(v) else str(v).strip().lower())
        bad = ~text.isin(_TRUE | _FALSE | {""})
        if bad.any():
            raise InputError(f"{path}: column 'higher_is_better' must be true or false, got {text[bad].iloc[0]!r}")
        df["higher_is_better"] = ~text.isin(_FALSE)
    two = df.groupby("run")["params"].nunique()
    if (two > 1).any():
        raise InputError(f"{path}: run {two[two > 1].index[0]!r} has more than one value in column 'params'")
    return df.reset_index(drop=True)
