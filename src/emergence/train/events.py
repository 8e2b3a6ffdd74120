"""TensorBoard event files of a training run, written while it trains.

Each run (a model, or a WSD trunk) writes `events/` beside its `train_log.jsonl`: at every
checkpoint, the log lines since the previous one (the same numbers as the JSONL log, which
appears only when the run has finished), so `tensorboard --logdir results/models` shows the
curves of every model of the grid as they grow. Written with tensorboardX (no TensorFlow).
Weights & Biases, where the config switches it on, gets the same lines (`wandb_log.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# Train-log field -> TensorBoard tag.
TAGS = {
    "loss": "train/loss",
    "val_loss": "val/loss",
    "val_bpb": "val/bpb",
    "lr": "train/learning_rate",
    "grad_norm": "train/grad_norm",
    "tokens_per_s": "speed/tokens_per_s",
}


def scalars_after(lines: list[dict], step: int) -> Iterator[tuple[int, dict[str, float]]]:
    """Each log line after `step` as (its step, {tag: value}), the fields it has a value for."""
    for line in lines:
        if line["step"] > step:
            yield line["step"], {tag: line[field] for field, tag in TAGS.items() if line.get(field) is not None}


class EventLog:
    """The event files of one run under `directory`; lines at steps already written are skipped
    (a resumed run starts after its last checkpoint)."""

    def __init__(self, directory: Path, after_step: int = 0):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(directory), flush_secs=30)
        self.written = after_step

    def write(self, lines: list[dict]) -> None:
        for step, scalars in scalars_after(lines, self.written):
            for tag, value in scalars.items():
                self.writer.add_scalar(tag, value, step)
            self.written = step
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
