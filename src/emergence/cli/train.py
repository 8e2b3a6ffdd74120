"""The training stage's subcommands: `trunk` (schedule wsd: the warmup-stable run that a
size's budgets branch off), `train` (one model of the grid) and `extend` (fine-tuning a
model at s x its context). What they run loads JAX, so it is imported only when one runs."""

from __future__ import annotations

from pathlib import Path

from emergence.cli.arguments import (
    add_cpu_devices,
    count,
    model_run,
    optional_path,
    study_config,
    training_config,
    trunk,
)


def start_jax(args) -> None:
    """A training job's devices: its processes, if it has several, else one device per core."""
    from emergence.train.distributed import cpu_devices, initialize

    if initialize(args.num_processes, args.process_id, args.coordinator) == 1:
        cpu_devices(args.cpu_devices)


def wandb_target(text: str):
    """Where a job logs on W&B, from --logging (the study's name and logging section as JSON):
    None where it is off."""
    from emergence.train.wandb_log import WandbTarget

    return WandbTarget.of(study_config(text))


def cmd_train(args) -> dict:
    from emergence.config import load_config
    from emergence.train.grid import MODELS, train_from_grid
    from emergence.train.loop import train

    start_jax(args)
    data, out, trunk_dir = Path(args.data), optional_path(args.out), optional_path(args.trunk)
    progress = not args.quiet
    if args.config:  # a model picked by hand: its trunk first, where the schedule has one
        summary = train_from_grid(load_config(args.config), args.model, data, out, trunk_dir, progress)
    else:  # the workflow's job: every path given
        run, training, wandb = model_run(args.run), training_config(args.training), wandb_target(args.logging)
        summary = train(run, training, data, out or MODELS / run.name, trunk_dir, progress, wandb)
    return {k: summary[k] for k in ("name", "steps", "final_val_loss", "final_val_bpb")}


def cmd_trunk(args) -> dict:
    from emergence.train.loop import train_trunk

    start_jax(args)
    training, wandb = training_config(args.training), wandb_target(args.logging)
    summary = train_trunk(trunk(args.trunk), training, Path(args.data), Path(args.out), not args.quiet, wandb)
    return {k: summary[k] for k in ("name", "steps", "warmup_steps", "final_val_loss")}


def cmd_extend(args) -> dict:
    from emergence.train.distributed import cpu_devices
    from emergence.train.extend import Extension, extend

    cpu_devices(args.cpu_devices)
    cfg = study_config(args.spec)
    factor, how = cfg.long_context.factor, cfg.long_context.extend
    extension = Extension(how.method, factor, how.steps, how.learning_rate, how.n_checkpoints)
    summary = extend(Path(args.model_dir), extension, cfg.training, Path(args.data), Path(args.out), not args.quiet)
    return {k: summary[k] for k in ("name", "steps", "final_val_loss")}


def add_processes(p) -> None:
    """Options of multi-process training (emergence.train.distributed); srun sets them itself."""
    add_cpu_devices(p)
    p.add_argument("--num-processes", type=count(1), help="JAX processes of this job (with the two below)")
    p.add_argument("--process-id", type=count(0), help="this process's index, 0..num-processes-1")
    p.add_argument("--coordinator", help="HOST:PORT of process 0, where the processes meet")


def add_logging(p, where: str = "") -> None:
    """The option that tells a training job where it logs besides its files (Weights & Biases)."""
    help = f"the study config's `study` and `logging` (Weights & Biases) as JSON{where}; what the workflow passes"
    p.add_argument("--logging", default="{}", help=help)


def add_commands(sub) -> None:
    """`train`, `trunk` and `extend` under the command line's subcommands `sub`."""
    p = sub.add_parser("train", help="train one model of the grid (resumes from its latest checkpoint)")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--config", help="a study config file; with --model picks the run from its grid")
    how.add_argument("--run", help="the run as JSON (size, context, tokens, seed): what the workflow passes")
    p.add_argument("--model", help="model name in the grid (with --config)")
    p.add_argument("--training", default="{}", help="training section as JSON (with --run)")
    add_logging(p, " (with --run; --config: the config's own)")
    p.add_argument("--trunk", help="schedule wsd: the trunk's directory (--config: results/trunks/<trunk>)")
    p.add_argument("--out", help="output directory (default results/models/<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_processes(p)
    p.set_defaults(func=cmd_train, needs={"config": ("model",)})

    p = sub.add_parser("trunk", help="schedule wsd: train the warmup-stable trunk that a size's budgets branch off")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    p.add_argument("--trunk", required=True, help="the trunk as JSON (size, context, seed, budgets)")
    p.add_argument("--training", default="{}", help="training section as JSON")
    add_logging(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_processes(p)
    p.set_defaults(func=cmd_trunk)

    p = sub.add_parser("extend", help="fine-tune a model's final checkpoint at s x its context (resumable)")
    p.add_argument("--model-dir", required=True, help="e.g. results/models/M")
    p.add_argument("--spec", required=True, help="study config: its training and long_context (factor, extend)")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    p.add_argument("--out", required=True, help="output directory, e.g. results/extended/M")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cpu_devices(p)
    p.set_defaults(func=cmd_extend)
