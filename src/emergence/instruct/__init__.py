"""Instruction-tuning stage: a synthetic instruction dataset split by family (`families`,
`dataset`), tuning of selected checkpoints with the loss on response tokens (`tune`), and the
zero-shot evaluation of tuned and untuned checkpoints on the held-out families (`stage`)."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
# The source whose change invalidates a tuning's checkpoints (besides the trainer's own,
# train.CODE; the tuning data is fingerprinted by its tokens). The instruct rule lists it as
# code inputs, beside the evaluation's and stage.py: a rerun for those resumes every tuning.
CODE = ("instruct/tune.py", "train/extend.py")


def code_files() -> list[Path]:
    return [PACKAGE / f for f in CODE]
