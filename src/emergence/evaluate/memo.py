"""Per-task results of a model's evaluation job, remembered by the hash of what they depend on.

The workflow evaluates all tasks of a model in one job (one start-up, one checkpoint
read per step instead of one per task), so Snakemake reruns the whole job when any one
task changes. This keeps the cost where it belongs: each task's two tables are also
hard-linked as `<out_dir>/.memo/<file name>/<key>`, with a key made of the model summary, the task file,
the tokenizer, the validation tokens and the evaluation code; a rerun whose key for a task
is unchanged links the remembered tables back instead of evaluating again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from emergence.sources import rule_code


def key(*inputs: Path) -> str:
    h = hashlib.sha256()
    for path in [*inputs, *rule_code("evaluate")]:
        h.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return h.hexdigest()[:16]


def _memo(out: Path, k: str) -> Path:
    return out.parent / ".memo" / out.name / k


def recall(outputs: list[Path], k: str) -> bool:
    """Link the remembered tables for key `k` to `outputs`; False (nothing linked) if any is missing."""
    if not all(_memo(out, k).exists() for out in outputs):
        return False
    for out in outputs:
        out.unlink(missing_ok=True)
        os.link(_memo(out, k), out)
    return True


def remember(outputs: list[Path], k: str) -> None:
    """Remember freshly written `outputs` under key `k`, forgetting older results of the same files."""
    for out in outputs:
        memo = _memo(out, k)
        memo.parent.mkdir(parents=True, exist_ok=True)
        for old in memo.parent.iterdir():
            old.unlink()
        os.link(out, memo)
