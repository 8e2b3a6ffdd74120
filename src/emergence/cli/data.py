"""The data stage's subcommands: `corpus` (training and validation text), `tokenizer` (a
byte-level BPE, or the user's) and `shards` (the corpus as memory-mappable token arrays)."""

from __future__ import annotations

from pathlib import Path

from emergence.cli.arguments import study_config


def cmd_corpus(args) -> dict:
    from emergence.data.corpus import build_corpus

    meta = build_corpus(study_config(args.spec), Path(args.out))
    return {k: meta[k] for k in ("train", "val") if k in meta}


def cmd_tokenizer(args) -> dict:
    from emergence.data.tokenizer import build_tokenizer, vocab_size

    tokenizer = build_tokenizer(study_config(args.spec).tokenizer, Path(args.corpus), Path(args.out))
    return {"vocab_size": vocab_size(tokenizer)}


def cmd_shards(args) -> dict:
    from emergence.data.shards import write_shards

    return write_shards(Path(args.corpus), Path(args.tokenizer), Path(args.out))


def add_commands(sub) -> None:
    """`corpus`, `tokenizer` and `shards` under the command line's subcommands `sub`."""
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
