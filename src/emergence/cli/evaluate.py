"""The evaluation stage's subcommands: `task` (a task's held-out requests), `evaluate` (a
model's checkpoints on task files, or one checkpoint on a benchmark file), `lm-eval`
(lm-evaluation-harness tasks on one checkpoint), `long-context`
(reading past the trained context) and `rope` (the frequencies a position scaling uses).
What they run loads JAX, so it is imported only when one of them runs."""

from __future__ import annotations

import sys
from pathlib import Path

from emergence.cli.arguments import count, optional_path, positive, study_config
from emergence.model.rope import METHODS


def cmd_task(args) -> dict:
    from emergence.evaluate.tasks import write_task

    task = write_task(study_config(args.spec), args.name, Path(args.corpus), Path(args.tokenizer), Path(args.out))
    return {
        "task": task.task,
        "contamination": task.contamination,
        "skipped": list(task.skipped),
        "requests": len(task.requests),
    }


def cmd_evaluate(args) -> dict:
    from emergence.evaluate.checkpoint_file import evaluate_checkpoint
    from emergence.evaluate.evaluator import evaluate_model

    if args.checkpoint:
        return evaluate_checkpoint(
            Path(args.checkpoint),
            Path(args.task_file),
            args.format,
            shots=args.shots,
            cot=args.cot,
            max_new_tokens=args.max_new_tokens,
            tokenizer_path=optional_path(args.tokenizer),
            out=Path(args.out),
            samples=optional_path(args.samples),
            rope_scaling=args.rope_scaling,
            rope_factor=args.rope_factor,
        )
    return evaluate_model(
        Path(args.model_dir),
        [Path(t) for t in args.task],
        Path(args.tokenizer),
        Path(args.data),
        Path(args.out_dir),
        progress=lambda step: print(f"evaluated checkpoint {step}", file=sys.stderr, flush=True),
    )


def cmd_lm_eval(args) -> dict:
    from emergence.evaluate.lm_eval_tasks import run_checkpoint

    return run_checkpoint(
        Path(args.checkpoint),
        args.tasks,
        Path(args.include_path),
        Path(args.out),
        shots=args.num_fewshot,
        limit=args.limit,
        tokenizer=optional_path(args.tokenizer),
        rope_scaling=args.rope_scaling,
        rope_factor=args.rope_factor,
    )


def cmd_long_context(args) -> dict:
    from emergence.evaluate.long_context import probe_checkpoint, probe_model

    if args.model_dir:
        cfg = study_config(args.spec)
        return probe_model(Path(args.model_dir), Path(args.data), Path(args.tokenizer), cfg, args.out, args.extended)
    return probe_checkpoint(Path(args.checkpoint), Path(args.data), args.factor, args.methods, args.windows, args.out)


def cmd_rope(args) -> dict:
    from emergence.model.rope import rope_frequencies

    inv_freq, scale = rope_frequencies(
        args.method, args.dim, args.base, args.factor, args.original_context, args.seq_len
    )
    return {"method": args.method, "inv_freq": inv_freq.tolist(), "attention_scale": scale}


def add_commands(sub) -> None:
    """`task`, `evaluate`, `long-context` and `rope` under the command line's subcommands `sub`."""
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
    p.add_argument("--shots", type=count(0), default=0, help="demonstrations drawn from the other items of the file")
    p.add_argument("--cot", action="store_true", help="worked solutions in the demonstrations (gsm8k)")
    p.add_argument("--max-new-tokens", type=count(1), default=48)
    p.add_argument("--tokenizer", help="tokenizer.json (default with --checkpoint: the checkpoint's own study's)")
    p.add_argument("--out-dir", help="with --model-dir: writes <task>.parquet and <task>.samples.parquet per task")
    p.add_argument("--out", help="with --checkpoint: metrics table (.parquet)")
    p.add_argument("--samples", help="with --checkpoint: per-sample table (.parquet)")
    p.add_argument("--rope-scaling", choices=METHODS, default="none", help="with --checkpoint: position scaling")
    p.add_argument("--rope-factor", type=positive, default=1.0, help="with --checkpoint: context x this factor")
    p.set_defaults(
        func=cmd_evaluate,
        needs={"model_dir": ("task", "data", "tokenizer", "out_dir"), "checkpoint": ("task_file", "format", "out")},
    )

    p = sub.add_parser("lm-eval", help="lm-evaluation-harness tasks from a local folder on one checkpoint")
    p.add_argument("--checkpoint", required=True, help="a checkpoint directory, e.g. results/models/M/checkpoints/245")
    p.add_argument("--tasks", nargs="+", required=True, help="lm-eval task names defined in --include-path")
    p.add_argument("--include-path", required=True, help="folder of the tasks' YAML and data files")
    p.add_argument("--out", required=True, help="lm-eval's results JSON (with per-document samples) to write")
    p.add_argument("--num-fewshot", type=count(0), help="demonstrations (default: each task's own)")
    p.add_argument("--limit", type=count(1), help="at most this many documents per task")
    p.add_argument("--tokenizer", help="tokenizer.json (default: the checkpoint's own study's)")
    p.add_argument("--rope-scaling", choices=METHODS, default="none", help="position scaling")
    p.add_argument("--rope-factor", type=positive, default=1.0, help="read at the context x this factor")
    p.set_defaults(func=cmd_lm_eval)

    p = sub.add_parser("long-context", help="reading past the trained context, per position scaling")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--checkpoint", help="loss by position of one checkpoint, e.g. results/models/M/checkpoints/245")
    mode.add_argument("--model-dir", help="the workflow's stage: loss by position, passkey and many-shot (--spec)")
    p.add_argument("--data", required=True, help="token shards directory (val.npy, meta.json)")
    p.add_argument("--factor", type=positive, default=2.0, help="with --checkpoint: read s x the trained context")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="with --checkpoint")
    p.add_argument("--windows", type=count(1), default=32, help="with --checkpoint: validation windows averaged")
    p.add_argument("--spec", help="with --model-dir: the study config (its long_context and tasks)")
    p.add_argument("--tokenizer", help="with --model-dir: tokenizer.json")
    p.add_argument("--extended", help="with --model-dir: the model's extended version (results/extended/M)")
    p.add_argument("--out", help="with --checkpoint: CSV of method, position, loss; with --model-dir: table (.parquet)")
    p.set_defaults(func=cmd_long_context, needs={"model_dir": ("spec", "tokenizer", "out")})

    p = sub.add_parser("rope", help="the rotary inverse frequencies and attention scale a position scaling uses")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--dim", type=count(2), required=True, help="rotary dimension (a head's width)")
    p.add_argument("--base", type=positive, default=10000.0)
    p.add_argument("--factor", type=positive, default=1.0, help="scale factor s (>= 1)")
    p.add_argument("--original-context", type=count(1), required=True, help="context L the model was trained on")
    p.add_argument("--seq-len", type=count(1), help="sequence length n (dynamic_ntk)")
    p.set_defaults(func=cmd_rope)
