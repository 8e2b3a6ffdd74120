"""lm-evaluation-harness output of external model families, read into the ladder layout that
`forecast` and `fit-threshold` read (`ladder.py`): one row per (checkpoint, task).

Input: lm-eval results JSON files (0.4: metrics keyed `acc,none`; 0.3, as the Pythia suite
published them: `acc`), one per checkpoint, and a CSV naming each checkpoint's parameters and
tokens, since lm-eval does not record them: columns `model` (as the results file names it:
model_args' `pretrained`, with `@revision` when it has one, e.g.
`EleutherAI/pythia-160m-deduped@step113000`), `params`, `tokens`, optional `run` (default:
the name before `@`, so the checkpoints of one model are one run).

Per-document samples, where given (inside the results, as `emergence lm-eval` writes them, or
lm-eval's `samples_<task>_*.jsonl` files), add each multiple-choice task's chance level and its
task loss `bpb` (bits per byte of the correct choice, the intermediate of Bhagia et al. 2024's
two-step forecast).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.errors import InputError
from emergence.io import read_csv_columns


def _read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such lm-eval results file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not an lm-eval results file (invalid JSON: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise InputError(f"{path}: not an lm-eval results file (no 'results' object)")
    return data


def model_name(data: dict, path: Path) -> str:
    """The checkpoint's name: model_args' `pretrained` (or `checkpoint`) and `@revision`."""
    args = (data.get("config") or {}).get("model_args") or ""
    if isinstance(args, str):
        args = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
    name = args.get("pretrained") or args.get("checkpoint")
    if not name:
        raise InputError(f"{path}: config.model_args names no pretrained model or checkpoint")
    return f"{name}@{args['revision']}" if args.get("revision") else str(name)


def _metric(scores: dict, metric: str):
    """A task's metric in either layout ('acc,none' in 0.4, 'acc' in 0.3), or None."""
    if metric in scores:
        return scores[metric]
    keyed = [k for k in scores if k.split(",")[0] == metric and not k.endswith("stderr")]
    return scores[keyed[0]] if keyed else None


def _pairs(sample: dict) -> list[tuple[str, str]]:
    """The (context, continuation) pairs of a sample: a list of pairs in memory, or lm-eval's
    JSONL form {"gen_args_0": {"arg_0": context, "arg_1": continuation}, ...}."""
    args = sample.get("arguments") or []
    if isinstance(args, dict):
        args = [
            (a.get("arg_0"), a.get("arg_1")) for _, a in sorted(args.items(), key=lambda kv: int(kv[0].split("_")[-1]))
        ]
    return [tuple(a) for a in args]


def sample_summary(samples: list[dict]) -> dict:
    """A multiple-choice task's chance level and bits per byte of the correct choice."""
    chance, bpb = [], []
    for s in samples:
        resps = s.get("filtered_resps") or []
        pairs = _pairs(s)
        if len(resps) < 2 or len(pairs) != len(resps):
            return {}
        target = s["target"][0] if isinstance(s["target"], list) else s["target"]
        ll = [float(r[0] if isinstance(r, (list, tuple)) else r) for r in resps]
        correct = pairs[int(target)][1]
        chance.append(1.0 / len(ll))
        bpb.append(-ll[int(target)] / math.log(2) / max(1, len(correct.encode())))
    return {"chance": float(np.mean(chance)), "bpb": float(np.mean(bpb))} if chance else {}


def _jsonl_samples(paths: list[Path]) -> dict[tuple[str, str], list[dict]]:
    """lm-eval's samples_<task>_<date>.jsonl files beside a results file, by (folder, task)."""
    found = {}
    for p in paths:
        task = p.name.removeprefix("samples_").rsplit("_", 1)[0]
        rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        found[str(p.parent), task] = rows
    return found


def import_results(paths: list[Path], models_csv: Path, metric: str = "acc") -> pd.DataFrame:
    """The ladder rows of the results files (each task reporting `metric`), with the
    parameters and tokens of `models_csv`. InputError names a checkpoint the CSV lacks."""
    models = read_csv_columns(models_csv, ("model", "params", "tokens"), numeric=("params", "tokens"))
    models = models.set_index(models["model"].astype(str))
    rows = []
    for path in map(Path, paths):
        data = _read(path)
        name = model_name(data, path)
        if name not in models.index:
            raise InputError(
                f"{models_csv}: no row for model {name!r} (of {path}); column 'model' names each checkpoint"
            )
        info = models.loc[name]
        run = str(info["run"]) if "run" in models.columns and pd.notna(info.get("run")) else name.split("@")[0]
        embedded = data.get("samples") or {}
        beside = _jsonl_samples(sorted(path.parent.glob("samples_*.jsonl")))
        for task, scores in sorted(data["results"].items()):
            value = _metric(scores, metric)
            if value is None or isinstance(value, str):
                continue
            row = {"run": run, "model": name, "params": float(info["params"]), "tokens": float(info["tokens"])}
            row.update(task=task, metric=metric, value=float(value))
            n = ((data.get("n-samples") or {}).get(task) or {}).get("effective")
            if n:
                row["n"] = int(n)
            samples = embedded.get(task) or beside.get((str(path.parent), task)) or []
            row.update(sample_summary(samples))
            rows.append(row)
    if not rows:
        raise InputError(f"no task in {', '.join(map(str, paths))} reports metric {metric!r}")
    return pd.DataFrame(rows)
