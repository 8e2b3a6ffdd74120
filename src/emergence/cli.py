"""The `emergence` command: one subcommand per workflow rule, plus fits of published CSVs and benchmarks.

Each subcommand has the name of the rule that calls it (corpus, tokenizer, shards, trunk,
train, task, evaluate, collect, analyze, figure, report); it parses its arguments, calls one
library function and prints a JSON summary. A problem with the user's input ends the
command with one line on stderr naming it, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from emergence import arguments as A
from emergence.context_commands import add_context_commands
from emergence.errors import ConfigError, EmergenceError
from emergence.instruct_commands import add_instruct_commands
from emergence.model.rope import METHODS
from emergence.perf_commands import add_perf_commands


def cmd_corpus(args) -> dict:
    from emergence.data.corpus import build_corpus

    meta = build_corpus(A.spec(args.spec), Path(args.out))
    return {k: meta[k] for k in ("train", "val") if k in meta}


def cmd_tokenizer(args) -> dict:
    from emergence.data.tokenizer import build_tokenizer, vocab_size

    return {"vocab_size": vocab_size(build_tokenizer(A.spec(args.spec).tokenizer, Path(args.corpus), Path(args.out)))}


def cmd_shards(args) -> dict:
    from emergence.data.shards import write_shards

    return write_shards(Path(args.corpus), Path(args.tokenizer), Path(args.out))


def _training(args):
    """The validated training section of a --training argument."""
    return A.spec(json.dumps({"training": json.loads(args.training)})).training


def cmd_train(args) -> dict:
    from emergence.config import ModelRun, find_run, load_config, trunk_of
    from emergence.train.loop import train, train_trunk

    _start_jax(args)

    trunk_dir = Path(args.trunk) if args.trunk else None
    if args.config:
        cfg = load_config(args.config)
        run, tcfg = find_run(cfg, args.model), cfg.training
        if tcfg.schedule == "wsd":  # a model picked by hand: train (or resume) its trunk first
            trunk = trunk_of(cfg, run)
            trunk_dir = trunk_dir or Path("results/trunks") / trunk.name
            if not (trunk_dir / "trunk.json").exists():
                train_trunk(trunk, tcfg, Path(args.data), trunk_dir, progress=not args.quiet)
    else:
        try:
            run = ModelRun.from_dict(json.loads(args.run))
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ConfigError(f"--run: not a model run as the workflow writes it ({e})") from None
        tcfg = _training(args)
    out = Path(args.out) if args.out else Path("results/models") / run.name
    summary = train(run, tcfg, Path(args.data), out, trunk_dir, progress=not args.quiet)
    return {k: summary[k] for k in ("name", "steps", "final_val_loss", "final_val_bpb")}


def cmd_trunk(args) -> dict:
    from emergence.config import Trunk
    from emergence.train.loop import train_trunk

    _start_jax(args)

    try:
        trunk = Trunk.from_dict(json.loads(args.trunk))
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise ConfigError(f"--trunk: not a trunk as the workflow writes it ({e})") from None
    summary = train_trunk(trunk, _training(args), Path(args.data), Path(args.out), progress=not args.quiet)
    return {k: summary[k] for k in ("name", "steps", "warmup_steps", "final_val_loss")}


def cmd_task(args) -> dict:
    from emergence.evaluate.tasks import write_task

    task = write_task(A.spec(args.spec), args.name, Path(args.corpus), Path(args.tokenizer), Path(args.out))
    return {
        "task": task.task,
        "contamination": task.contamination,
        "skipped": list(task.skipped),
        "requests": len(task.requests),
    }


def cmd_evaluate(args) -> dict:
    from emergence.evaluate import checkpoint_file, evaluator

    if args.checkpoint:
        a = args
        return checkpoint_file.evaluate_checkpoint(
            Path(a.checkpoint), Path(a.task_file), a.format, a.shots, a.cot, a.max_new_tokens,
            Path(a.tokenizer) if a.tokenizer else None, Path(a.out), Path(a.samples) if a.samples else None,
            a.rope_scaling, a.rope_factor,
        )  # fmt: skip
    return evaluator.evaluate_model(
        Path(args.model_dir),
        [Path(t) for t in args.task],
        Path(args.tokenizer),
        Path(args.data),
        Path(args.out_dir),
        progress=lambda step: print(f"evaluated checkpoint {step}", file=sys.stderr, flush=True),
    )


def cmd_collect(args) -> dict:
    from emergence.analysis.collect import collect

    table = collect(
        [Path(p) for p in args.models], [Path(p) for p in args.evals], Path(args.out_dir),
        [Path(p) for p in args.long_context], [Path(p) for p in args.instruct],
    )  # fmt: skip
    return {"rows": len(table), "models": len(args.models), "tasks": int(table["task"].nunique())}


def cmd_analyze(args) -> dict:
    from emergence.analysis.analyze import analyze, pooled

    thresholds = analyze(A.spec(args.spec).analysis, Path(args.tables))
    if not len(thresholds):
        return {"thresholds": 0, "emergent": 0}
    shown = ["task", "prompt", "metric", "seed", "verdict", "threshold", "ci_low", "ci_high"]
    print(thresholds[shown].to_string(index=False), file=sys.stderr)
    main = pooled(thresholds)
    return {"thresholds": len(main), "emergent": int((main["verdict"] == "emergent").sum())}


def cmd_figure(args) -> dict:
    from emergence.report.figures import draw

    written = draw(args.name, Path(args.tables), Path(args.out_dir), A.spec(args.spec).plots)
    return {"figure": args.name, "files": [str(p) for p in written]}


def cmd_report(args) -> dict:
    from emergence.config import validate
    from emergence.report.page import write_report

    config = validate(A.raw_spec(args.spec))
    write_report(
        Path(args.out),
        config=config,
        tables=Path(args.tables),
        figures_dir=Path(args.figures),
        bench_dir=Path(args.benchmarks),
    )
    return {"report": args.out}


def cmd_fit_scaling(args) -> dict:
    from emergence.analysis.scaling import fit_scaling_file

    return fit_scaling_file(Path(args.file))


def cmd_compare(args) -> dict:
    from emergence.analysis.replication import agree, compare_thresholds

    table = compare_thresholds(Path(args.a), Path(args.b))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    return {"rows": len(table), "same_verdict": int(table["same_verdict"].sum()), "agree": agree(table)}


def cmd_forecast(args) -> dict:
    from emergence.analysis.forecast import run_forecast

    kw = {k: getattr(args, k) for k in ("params", "tokens", "via", "crossing", "hold_out")}
    out = Path(args.out) if args.out else None
    return run_forecast(Path(args.runs), A.spec(args.spec).analysis, runs=args.runs_at_target, out=out, **kw)


def cmd_fit_threshold(args) -> dict:
    from emergence.analysis.thresholds import fit_threshold_file

    return fit_threshold_file(Path(args.file))


def _start_jax(args) -> None:
    """A training job's devices: its processes, if it has several, else one device per core."""
    from emergence.train.distributed import cpu_devices, initialize

    if initialize(args.num_processes, args.process_id, args.coordinator) == 1:
        cpu_devices(args.cpu_devices)


def _processes(p) -> None:
    """Options of multi-process training (emergence.train.distributed); srun sets them itself."""
    A.cpu_devices(p)
    p.add_argument("--num-processes", type=A.count(1), help="JAX processes of this job (with the two below)")
    p.add_argument("--process-id", type=A.count(0), help="this process's index, 0..num-processes-1")
    p.add_argument("--coordinator", help="HOST:PORT of process 0, where the processes meet")


def build_parser() -> argparse.ArgumentParser:
    parser = A.Parser(prog="emergence", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=A.Parser)

    p = sub.add_parser("corpus", help="build the training and validation corpus")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): seed and corpus sections")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer (or install the user's)")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): tokenizer section")
    p.add_argument("--corpus", required=True, help="corpus directory (train.jsonl)")
    p.add_argument("--out", required=True, help="tokenizer.json to write")
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser("shards", help="tokenize the corpus into memory-mappable .npy shards")
    p.add_argument("--corpus", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_shards)

    p = sub.add_parser("train", help="train one model of the grid (resumes from its latest checkpoint)")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--config", help="a study config file; with --model picks the run from its grid")
    how.add_argument("--run", help="the run as JSON (size, context, tokens, seed): what the workflow passes")
    p.add_argument("--model", help="model name in the grid (with --config)")
    p.add_argument("--training", default="{}", help="training section as JSON (with --run)")
    p.add_argument("--trunk", help="schedule wsd: the trunk's directory (--config: results/trunks/<trunk>)")
    p.add_argument("--out", help="output directory (default results/models/<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _processes(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("trunk", help="schedule wsd: train the warmup-stable trunk that a size's budgets branch off")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    p.add_argument("--trunk", required=True, help="the trunk as JSON (size, context, seed, budgets)")
    p.add_argument("--training", default="{}", help="training section as JSON")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _processes(p)
    p.set_defaults(func=cmd_trunk)

    p = sub.add_parser("task", help="build a task's evaluation requests (held out, checked against the corpus)")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): seed, corpus, models.context, tasks")
    p.add_argument("--name", required=True, help="task name in the config")
    p.add_argument("--corpus", required=True, help="corpus directory (train.jsonl, for the contamination check)")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True, help="task file (JSON) to write")
    p.set_defaults(func=cmd_task)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a model's checkpoints on a task file, or one checkpoint on a "
        "benchmark file (MMLU or GSM8K layout)",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-dir", help="every checkpoint of this trained model (with --task, --data and --out-dir)")
    which.add_argument(
        "--checkpoint",
        help="one checkpoint directory, e.g. results/models/M/checkpoints/245 (with --task-file and --format)",
    )
    p.add_argument("--task", nargs="+", help="task files written by `emergence task` (all evaluated in one pass)")
    p.add_argument("--data", help="token shards directory (val.npy, for the ICL score)")
    p.add_argument("--task-file", help="MMLU-layout CSV/JSONL or GSM8K-layout JSONL")
    p.add_argument("--format", choices=["mmlu", "gsm8k"])
    p.add_argument("--shots", type=A.count(0), default=0, help="demonstrations drawn from the other items of the file")
    p.add_argument("--cot", action="store_true", help="worked solutions in the demonstrations (gsm8k)")
    p.add_argument("--max-new-tokens", type=A.count(1), default=48)
    p.add_argument("--tokenizer", help="tokenizer.json (default with --checkpoint: the checkpoint's own study's)")
    p.add_argument("--out-dir", help="with --model-dir: writes <task>.parquet and <task>.samples.parquet per task")
    p.add_argument("--out", help="with --checkpoint: metrics table (.parquet)")
    p.add_argument("--samples", help="with --checkpoint: per-sample table (.parquet)")
    p.add_argument("--rope-scaling", choices=METHODS, default="none", help="with --checkpoint: position scaling")
    p.add_argument("--rope-factor", type=A.positive, default=1.0, help="with --checkpoint: context x this factor")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("collect", help="join evaluations with validation losses into reports/tables/results.*")
    p.add_argument("--models", nargs="+", required=True, help="model.json files")
    p.add_argument("--evals", nargs="+", required=True, help="evaluation tables (.parquet)")
    p.add_argument("--long-context", nargs="*", default=[], help="long-context stage tables (.parquet)")
    p.add_argument("--instruct", nargs="*", default=[], help="instruction-tuning stage tables (.parquet)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("analyze", help="thresholds, collapse test and scaling law from reports/tables")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): analysis section")
    p.add_argument("--tables", required=True)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("figure", help="draw one figure of the registry from reports/tables")
    p.add_argument("--name", required=True, help="figure name (see emergence.report.catalog)")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): plots section")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("report", help="write the published HTML page of a study")
    p.add_argument("--spec", required=True, help="the study's config (JSON, or @file)")
    p.add_argument("--tables", required=True)
    p.add_argument("--figures", required=True)
    p.add_argument("--benchmarks", default="benchmarks")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("fit-scaling", help="fit L(N, D) = E + A/N^alpha + B/D^beta to a CSV (params, tokens, loss)")
    p.add_argument("file")
    p.set_defaults(func=cmd_fit_scaling)

    p = sub.add_parser(
        "fit-threshold", help="loss threshold of a CSV (loss, value; optional model, run or seed, chance, n)"
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_fit_threshold)

    p = sub.add_parser("forecast", help="forecast a run from smaller ones: (N, D) -> loss -> each task's score")
    p.add_argument("runs", help="CSV (run, params, tokens, task, value, loss; docs/forecast.md) or results.parquet")
    p.add_argument("--params", type=A.positive, help="parameters N of the run to forecast")
    p.add_argument("--tokens", type=A.positive, help="training tokens D of the run to forecast")
    p.add_argument("--via", default="loss", help="the intermediate loss column (default loss; e.g. a per-task bpb)")
    p.add_argument("--runs-at-target", type=A.count(1), default=1, help="prediction intervals for the mean of k runs")
    p.add_argument("--crossing", action="store_true", help="compute and (N, D) at which each emergent onset is reached")
    p.add_argument("--hold-out", action="store_true", help="forecast the largest size from the others; compare")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): analysis section (n_boot, seed, level)")
    p.add_argument("--out", help="also write the JSON here (--hold-out: the table as CSV, a .json beside it)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("compare", help="do two studies agree? two thresholds.csv side by side (verdicts, intervals)")
    p.add_argument("a", help="thresholds.csv of one study")
    p.add_argument("b", help="thresholds.csv of the other")
    p.set_defaults(func=cmd_compare)

    add_context_commands(sub)
    add_instruct_commands(sub)
    add_perf_commands(sub)
    return parser


# Arguments each mode of a subcommand needs beside its mode flag.
_NEEDS = {
    ("train", "config"): ("model",),
    ("evaluate", "model_dir"): ("task", "data", "tokenizer", "out_dir"),
    ("evaluate", "checkpoint"): ("task_file", "format", "out"),
    ("long-context", "model_dir"): ("spec", "tokenizer", "out"),
}


def _quiet_closed_loop(unraisable) -> None:
    """When one read of a restore fails, Orbax closes its asyncio loop while TensorStore's
    other reads still finish on their own threads; each reports "Event loop is closed" as
    an unraisable exception, a traceback on stderr before the one line that names the
    checkpoint. Those are dropped; every other unraisable exception is printed as usual."""
    if not (unraisable.exc_type is RuntimeError and str(unraisable.exc_value) == "Event loop is closed"):
        sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> None:
    sys.unraisablehook = _quiet_closed_loop
    parser = build_parser()
    args = parser.parse_args(argv)
    for (command, mode), needed in _NEEDS.items():
        if args.command == command and getattr(args, mode):
            missing = [n for n in needed if getattr(args, n) is None]
            if missing:
                parser.error(
                    f"{command} --{mode.replace('_', '-')} needs "
                    + ", ".join("--" + n.replace("_", "-") for n in missing)
                )
    try:
        summary = args.func(args)
    except EmergenceError as e:
        sys.stdout.flush()
        # Background threads of Orbax, TensorStore and asyncio print their own tracebacks when
        # a restore fails or the interpreter shuts down: stderr goes to /dev/null before the
        # one line that matters is written, in one write, to a copy of it; os._exit skips the
        # shutdown that would start more of them.
        line = f"error: {e}".splitlines()[0] + "\n"
        err = os.dup(2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        os.write(err, line.encode())
        os._exit(2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
