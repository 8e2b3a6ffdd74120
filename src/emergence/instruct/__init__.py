"""Instruction-tuning stage: a synthetic instruction dataset split by family (`families`,
`dataset`), tuning of selected checkpoints with the loss on response tokens (`tune`), and the
zero-shot evaluation of tuned and untuned checkpoints on the held-out families (`stage`)."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
# The source whose change invalidates a tuning (besides the trainer's own, train.CODE); the
# instruct rule lists the same as code inputs.
CODE = ("instruct/families.py", "instruct/dataset.py", "instruct/tune.py", "train/extend.py")


def code_files() -> list[Path]:
    return [PACKAGE / f for f in CODE]
