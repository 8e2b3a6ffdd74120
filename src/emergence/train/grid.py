"""Training a model of a study's grid picked by hand, by its name (`emergence train --config
--model`): what the workflow does in two jobs, trunk and branch, in one call.

The workflow's own jobs call `loop.train_trunk` and `loop.train` with every path given; this
module fills in the paths the workflow would use.
"""

from __future__ import annotations

from pathlib import Path

from emergence.config import StudyConfig, find_run, trunk_of
from emergence.train.loop import train, train_trunk
from emergence.train.wandb_log import WandbTarget

# Where the workflow writes each model and each WSD trunk, under the directory it runs in.
MODELS = Path("results/models")
TRUNKS = Path("results/trunks")


def train_from_grid(
    cfg: StudyConfig,
    name: str,
    data_dir: Path,
    out_dir: Path | None = None,
    trunk_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Train the model `name` of `cfg`'s grid into `out_dir` (default results/models/<name>),
    resuming like any run. Under schedule wsd its trunk is trained (or resumed) first into
    `trunk_dir` (default results/trunks/<trunk>), unless it is already complete there.
    Both log to W&B where `cfg` switches it on. Returns the model summary written to model.json."""
    run, training, wandb = find_run(cfg, name), cfg.training, WandbTarget.of(cfg)
    if training.schedule == "wsd":
        trunk = trunk_of(cfg, run)
        trunk_dir = trunk_dir or TRUNKS / trunk.name
        if not (trunk_dir / "trunk.json").exists():
            train_trunk(trunk, training, data_dir, trunk_dir, progress=progress, wandb=wandb)
    return train(run, training, data_dir, out_dir or MODELS / run.name, trunk_dir, progress=progress, wandb=wandb)
