"""The long-context subcommands: `rope` (the frequencies a position scaling uses),
`long-context` (reading past the trained context) and `extend` (fine-tuning at s x L), with
their arguments. What they run loads JAX, so it is imported only when one of them runs."""

from __future__ import annotations

from pathlib import Path

from emergence import arguments as A
from emergence.model.rope import METHODS


def cmd_extend(args) -> dict:
    from emergence.train.distributed import cpu_devices
    from emergence.train.extend import Extension, extend

    cpu_devices(args.cpu_devices)
    cfg = A.spec(args.spec)
    lc = cfg.long_context
    x = lc.extend
    ext = Extension(x.method, lc.factor, x.steps, x.learning_rate, x.n_checkpoints)
    summary = extend(Path(args.model_dir), ext, cfg.training, Path(args.data), Path(args.out), not args.quiet)
    return {k: summary[k] for k in ("name", "steps", "final_val_loss")}


def cmd_rope(args) -> dict:
    from emergence.model.rope import rope_frequencies

    a = args
    inv_freq, scale = rope_frequencies(a.method, a.dim, a.base, a.factor, a.original_context, a.seq_len)
    return {"method": args.method, "inv_freq": inv_freq.tolist(), "attention_scale": scale}


def cmd_long_context(args) -> dict:
    from emergence.evaluate.long_context import probe_model, run

    if args.model_dir:
        a = args
        return probe_model(Path(a.model_dir), Path(a.data), Path(a.tokenizer), A.spec(a.spec), a.out, a.extended)
    return run(Path(args.checkpoint), Path(args.data), args.factor, args.methods, args.windows, args.out)


def add_context_commands(sub) -> None:
    """`extend`, `rope` and `long-context` under the command line's subcommands `sub`."""
    p = sub.add_parser("extend", help="fine-tune a model's final checkpoint at s x its context (resumable)")
    p.add_argument("--model-dir", required=True, help="e.g. results/models/M")
    p.add_argument("--spec", required=True, help="study config: its training and long_context (factor, extend)")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    p.add_argument("--out", required=True, help="output directory, e.g. results/extended/M")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    A.cpu_devices(p)
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser("rope", help="the rotary inverse frequencies and attention scale a position scaling uses")
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--dim", type=A.count(2), required=True, help="rotary dimension (a head's width)")
    p.add_argument("--base", type=A.positive, default=10000.0)
    p.add_argument("--factor", type=A.positive, default=1.0, help="scale factor s (>= 1)")
    p.add_argument("--original-context", type=A.count(1), required=True, help="context L the model was trained on")
    p.add_argument("--seq-len", type=A.count(1), help="sequence length n (dynamic_ntk)")
    p.set_defaults(func=cmd_rope)

    p = sub.add_parser("long-context", help="reading past the trained context, per position scaling")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--checkpoint", help="loss by position of one checkpoint, e.g. results/models/M/checkpoints/245")
    mode.add_argument("--model-dir", help="the workflow's stage: loss by position, passkey and many-shot (--spec)")
    p.add_argument("--data", required=True, help="token shards directory (val.npy, meta.json)")
    p.add_argument("--factor", type=A.positive, default=2.0, help="with --checkpoint: read s x the trained context")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="with --checkpoint")
    p.add_argument("--windows", type=A.count(1), default=32, help="with --checkpoint: validation windows averaged")
    p.add_argument("--spec", help="with --model-dir: the study config (its long_context and tasks)")
    p.add_argument("--tokenizer", help="with --model-dir: tokenizer.json")
    p.add_argument("--extended", help="with --model-dir: the model's extended version (results/extended/M)")
    p.add_argument("--out", help="with --checkpoint: CSV of method, position, loss; with --model-dir: table (.parquet)")
    p.set_defaults(func=cmd_long_context)
