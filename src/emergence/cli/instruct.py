"""The instruction-tuning stage's subcommands: `instruction-data` (the study's
instruction dataset, checked against the corpus) and `instruct` (tune a model's selected checkpoints and
evaluate them and their bases on the held-out families). What they run loads JAX, so it is
imported only when one of them runs."""

from __future__ import annotations

from pathlib import Path

from emergence.cli.arguments import study_config


def cmd_instruction_data(args) -> dict:
    from emergence.instruct.dataset import build_dataset

    return build_dataset(study_config(args.spec), Path(args.corpus), Path(args.tokenizer), Path(args.out))


def cmd_instruct(args) -> dict:
    from emergence.instruct.stage import tune_and_evaluate

    return tune_and_evaluate(
        Path(args.model_dir),
        Path(args.dataset),
        Path(args.tokenizer),
        Path(args.data),
        study_config(args.spec),
        Path(args.out),
        progress=not args.quiet,
    )


def add_commands(sub) -> None:
    """`instruction-data` and `instruct` under the command line's subcommands `sub`."""
    p = sub.add_parser("instruction-data", help="build the instruction dataset (tuning families, held-out families)")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): its seed, corpus and instruct")
    p.add_argument("--corpus", required=True, help="corpus directory (train.jsonl, for the contamination check)")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json (answers must fit instruct.max_new_tokens)")
    p.add_argument("--out", required=True, help="data file (JSON) to write, e.g. results/instruct/data.json")
    p.set_defaults(func=cmd_instruction_data)

    p = sub.add_parser("instruct", help="instruction-tune a model's selected checkpoints and evaluate them (resumable)")
    p.add_argument("--model-dir", required=True, help="e.g. results/models/M")
    p.add_argument("--dataset", required=True, help="data file written by `emergence instruction-data`")
    p.add_argument("--spec", required=True, help="study config: its training and instruct settings")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--data", required=True, help="token shards directory (val.npy, meta.json)")
    p.add_argument("--out", required=True, help="writes <out>.parquet, <out>.samples.parquet; tunings under <out>/")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_instruct)
