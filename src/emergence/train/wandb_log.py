"""Weights & Biases logging of a training run, where the config switches it on (`logging.wandb`,
off by default).

A training run (a model, or a WSD trunk) is one W&B run, named after it, in a group named after
the study, with the run and the training section as its config. At each checkpoint it gets the
log lines since the previous one, as TensorBoard does (`events.py`: the same tags and numbers).
Its id comes from the study and the run's fingerprint: a run resumed from its checkpoints
continues its W&B run, and a run of another configuration is another. W&B keeps its files in
the run's folder (`wandb/`); offline, they wait there for `wandb sync`.

Logging changes no result: it is not part of the fingerprint, and the workflow passes it to the
jobs outside their params (workflow/rules/common.smk), so switching it retrains nothing. wandb
is an optional extra (`pip install -e '.[wandb]'`), imported only by a run that logs to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from emergence.config import StudyConfig, WandbConfig
from emergence.train.events import scalars_after


@dataclasses.dataclass(frozen=True)
class WandbTarget:
    """Where a study's training runs log on W&B: its `logging.wandb` settings, and its name
    (the runs' group)."""

    settings: WandbConfig
    study: str

    @classmethod
    def of(cls, cfg: StudyConfig) -> WandbTarget | None:
        """The study's W&B logging; None where it is off."""
        return cls(cfg.logging.wandb, cfg.study) if cfg.logging.wandb.enabled else None

    def run_id(self, fingerprint: str) -> str:
        """The W&B run id of the training run with `fingerprint`: every resume of it has the same."""
        return hashlib.sha256(f"{self.study}/{fingerprint}".encode()).hexdigest()[:16]


class WandbLog:
    """The W&B run of one training run (in `directory`, its folder). Lines at steps up to
    `after_step` are skipped: a resumed run logs from its last checkpoint on."""

    def __init__(
        self, target: WandbTarget, name: str, fingerprint: str, config: dict, directory: Path, after_step: int = 0
    ):
        import wandb

        settings = target.settings
        self.run = wandb.init(
            project=settings.project,
            entity=settings.entity,
            name=name,
            group=target.study,
            config=config,
            dir=str(directory),
            mode=settings.mode,
            id=target.run_id(fingerprint),
            resume="allow",
        )
        self.written = after_step

    def write(self, lines: list[dict]) -> None:
        for step, scalars in scalars_after(lines, self.written):
            self.run.log(scalars, step=step)
            self.written = step

    def close(self) -> None:
        self.run.finish()
