"""Helpers shared by the test modules (fixtures live in conftest.py): the smoke study's paths
and stage settings, the command line and Snakemake as a user runs them, and small readers."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from emergence.config import ModelRun, ModelSize

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"
SMOKE_CONFIG = yaml.safe_load(SMOKE.read_text())
# What a study's working copy needs of the repository.
WORKFLOW_FILES = ("Snakefile", "environment.yml", "workflow", "config", "profiles")
# Wall-clock speeds: the only fields that differ between identical training runs.
TIMING_FIELDS = ("tokens_per_s", "flops_per_s")

# The label-rule families with few adjectives, as specified (not read from the code): family ->
# (subject before the entity, adjective -> its label when not negated); "not" gives the other label.
LABEL_RULES = {
    "weather": ("the sky over", {"sunny": "dry", "clear": "dry", "rainy": "wet", "stormy": "wet"}),
    "road": (
        "the road into",
        {"clear": "open", "dry": "open", "quiet": "open", "empty": "open"}
        | {"icy": "closed", "flooded": "closed", "blocked": "closed", "jammed": "closed"},
    ),
}


def rule_label(family: str, adjective: str, negated: bool) -> str:
    """The label a line of `family` about `adjective` must have."""
    labels = LABEL_RULES[family][1]
    plain = labels[adjective]
    return next(y for y in sorted(set(labels.values())) if y != plain) if negated else plain


# The long-context stage with context extension (off in the smoke study), small enough for tests.
LONG_CONTEXT = {
    "enabled": True,
    "factor": 2,
    "methods": ["none", "yarn"],
    "windows": 2,
    "passkey_items": 4,
    "passkey_lengths": [1, 2],
    "many_shot_task": "mapping",
    "many_shot": [0, 4, 16],
    "extend": {"enabled": True, "method": "yarn", "steps": 4, "n_checkpoints": 2, "learning_rate": 0.001},
}
# The instruction-tuning stage (off in the smoke study), small enough for tests.
INSTRUCT = {
    "enabled": True,
    "checkpoints": 2,
    "steps": 6,
    "batch_size": 4,
    "n_checkpoints": 2,
    "tune_examples": 200,
    "n_items": 6,
    "max_new_tokens": 10,
}

GSM8K = [
    {
        "question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "answer": "He has 3 + 4 = <<3+4=7>>7 apples.\n#### 7",
    },
    {"question": "A box holds 12 eggs. How many eggs are in 2 boxes?", "answer": "2 * 12 = <<2*12=24>>24\n#### 24"},
    {"question": "Sam had 10 coins and lost 3. How many are left?", "answer": "10 - 3 = <<10-3=7>>7\n#### 7"},
]


def smoke_with(**sections) -> dict:
    """The smoke study's config with whole sections replaced."""
    return {**SMOKE_CONFIG, **sections}


def long_context_spec(**extend) -> str:
    """The smoke study with LONG_CONTEXT (its extension's settings replaced by `extend`), as --spec JSON."""
    return json.dumps(smoke_with(long_context={**LONG_CONTEXT, "extend": {**LONG_CONTEXT["extend"], **extend}}))


def instruct_spec(**changes) -> str:
    """The smoke study with INSTRUCT (updated by `changes`), as --spec JSON."""
    return json.dumps(smoke_with(instruct={**INSTRUCT, **changes}))


def tiny_run(tokens=8192, seed=0, d_model=16) -> ModelRun:
    """A one-layer model of the smoke data, context 32: the tests' reference run."""
    return ModelRun(f"t{d_model}-{tokens}-s{seed}", f"t{d_model}", ModelSize(d_model, 1, 2, 4), 32, tokens, seed)


def read_log(path: Path, drop=TIMING_FIELDS) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]


def run_cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    """`python -m emergence ARGS` in a fresh process, as the workflow runs it."""
    return subprocess.run(
        [sys.executable, "-m", "emergence", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


def train_command(run: ModelRun, training, data, out, *extra) -> list:
    """`emergence train` with its arguments as a workflow job passes them (JSON of the run and
    of the training settings), quiet."""
    settings = ["--run", json.dumps(run.to_dict()), "--training", json.dumps(dataclasses.asdict(training))]
    return ["train", "--data", data, "--out", out, "--quiet", *settings, *extra]


def one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    """The command failed with exit status 2 and one line on stderr holding each of `expected`."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(e in lines[0] for e in expected), lines[0]


def evaluate_file(checkpoint, path, fmt, out, tokenizer, *extra) -> subprocess.CompletedProcess:
    """`emergence evaluate` of one checkpoint on a benchmark file, as a user runs it."""
    args = ["--checkpoint", checkpoint, "--task-file", path, "--format", fmt, "--out", out, "--tokenizer", tokenizer]
    return run_cli("evaluate", *args, *extra)


def copy_workflow(work: Path) -> Path:
    """A scratch copy of what a study needs of the repository, at `work`."""
    work.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)  # follows symlinks
    return work


def snakemake(workdir: Path, *args: str, change: dict | None = None, env=None, timeout=600):
    """Snakemake on the smoke config in `workdir`, with sections of the config replaced by `change`.
    A changed config gets a file of its own, removed afterwards: the pytest-xdist workers dry-run
    their changes in the one shared smoke study at the same time."""
    config = "config/smoke.yaml"
    if change:
        config = f"config/changed-{uuid.uuid4().hex}.yaml"
        (workdir / config).write_text(yaml.safe_dump(smoke_with(**change)))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    try:
        return subprocess.run(
            [sys.executable, "-m", "snakemake", *args, "--configfile", config],  # (it takes several files)
            cwd=workdir,
            env=env or {**os.environ, "PATH": path},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        if change:
            (workdir / config).unlink(missing_ok=True)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's job table."""
    jobs, in_table = {}, False
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
        elif in_table and parts and parts[0] == "total":
            break
    return jobs


def study_tables(study: Path) -> dict:
    """A finished study's tables (without the wall-clock columns), by file name."""
    import pandas as pd

    tables = study / "reports" / "tables"
    out = {name: pd.read_csv(tables / name) for name in ("results.csv", "thresholds.csv", "collapse.csv")}
    out["training.csv"] = pd.read_csv(tables / "training.csv").drop(columns=list(TIMING_FIELDS))
    return out


def offline_wandb_env(folder: Path) -> dict[str, str]:
    """Environment variables for W&B offline and quiet, with every file of its own under `folder`
    (no network, no account)."""
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}
    return env | {
        var: str(folder / var.lower()) for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR")
    }


def read_wandb(run_dir: Path) -> tuple[dict, dict[int, dict[str, float]]]:
    """The run record (its id, name, group, config) and the history ({step: {key: value}}) of an
    offline W&B run's transaction log, `run-<id>.wandb`: a ':W&B' header, then LevelDB's log
    format (32 KiB blocks of chunks: CRC, length, type; a record may span chunks) holding
    wandb's Record protobufs."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    at, chunk, run, history = 7, b"", {}, {}
    while at + 7 <= len(data):
        left = 32768 - at % 32768
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        if left < 7 or kind == 0:  # the zeros that pad a block's end
            at += left
            continue
        chunk, at = chunk + data[at + 7 : at + 7 + length], at + 7 + length
        if kind in (1, 4):  # a whole record, or its last chunk
            record = wandb_internal_pb2.Record.FromString(chunk)
            chunk = b""
            if record.HasField("run"):
                r = record.run
                config = {u.key: json.loads(u.value_json) for u in r.config.update}
                run = {"id": r.run_id, "name": r.display_name, "group": r.run_group, "config": config}
            elif record.HasField("history"):
                # A key is `key`, or the path `nested_key` (one element for a flat key).
                items = {i.key or ".".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                history[record.history.step.num] = {k: v for k, v in items.items() if not k.startswith("_")}
    return run, history
