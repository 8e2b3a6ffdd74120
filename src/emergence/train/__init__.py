"""Training stage: the engine (jitted data-parallel steps), the optimizer and its schedule,
and the loop that trains one model of the grid with exact resume (`loop.train`)."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
# The source files whose change invalidates a run's checkpoints (resume must not mix code
# versions), relative to the package. The train rule lists the same files as its code
# inputs, so Snakemake reruns training exactly when a resumed run would start afresh.
CODE = (
    "model/transformer.py",
    "model/checkpoints.py",
    "data/batches.py",
    "train/optimizer.py",
    "train/engine.py",
    "train/loop.py",
)


def code_files() -> list[Path]:
    return [PACKAGE / f for f in CODE]
