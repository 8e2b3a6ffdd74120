"""TensorBoard event files of a training run, written while it trains.

Each run (a model, or a WSD trunk) writes `events/` beside its `train_log.jsonl`: at every
checkpoint, the log lines since the previous one (the same numbers as the JSONL log, which
appears only when the run has finished), so `tensorboard --logdir results/models` shows the
curves of every model of the grid as they grow. Written with tensorboardX (no TensorFlow).
"""

from __future__ import annotations

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


class EventLog:
    """The event files of one run under `directory`; lines at steps already written are skipped
    (a resumed run starts after its last checkpoint)."""

    def __init__(self, directory: Path, after_step: int = 0):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(directory), flush_secs=30)
        self.written = after_step

    def write(self, lines: list[dict]) -> None:
        for line in lines:
            if line["step"] <= self.written:
                continue
            for field, tag in TAGS.items():
                if line.get(field) is not None:
                    self.writer.add_scalar(tag, line[field], line["step"])
            self.written = line["step"]
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
