"""Evaluation stage: the metric registry, items and requests, the task registry (kinds),
benchmark-file loaders, scoring functions, and the loop over a model's checkpoints."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
# The source whose change invalidates an evaluation (relative to the package; a folder
# means its modules). The evaluate rule lists the same as its code inputs, and a model's
# remembered per-task results (`memo`) are reused only while their hash is unchanged.
CODE = ("evaluate", "model", "data/shards.py", "data/tokenizer.py")


def code_files() -> list[Path]:
    files = []
    for p in map(PACKAGE.joinpath, CODE):
        files += sorted(p.glob("*.py")) if p.is_dir() else [p]
    return files
