"""When does an induction head form? A measurement, not a test.

Trains one model of the study's architecture, with the study's training step and optimizer
(AdamW, warm-up then constant peak learning rate, clipping, weight decay), on sequences of
random tokens of which a share repeats a random span (period 16-47) to the end of the
context, the purest copying signal there is. Every `--every` steps it prints the training
loss and, on fixed sequences of random tokens repeated once, the best head's prefix-matching
score and the loss on the first repeat minus the second (as the `induction_heads` task
measures them). The onset is the first step at which the best head's prefix-matching score
passes 0.3.

    .venv/bin/python tools/induction_onset.py --d-model 64 --layers 2 --steps 1500
    .venv/bin/python tools/induction_onset.py --d-model 64 --layers 2 --steps 1500 --repeated-share 0.3

With `--corpus DIR` (a study's `results/data`, as its data stage writes it) it trains on
random windows of that corpus's training tokens instead, and probes with that validation
text's common tokens as the study's `induction_heads` task does: how many tokens a corpus
mixture needs before its phase change, at a resolution of `--every` steps rather than a
study's checkpoints (docs/icl_study.md).

    .venv/bin/python tools/induction_onset.py --corpus studies/icl/results/data --batch 8 --steps 12000 --every 250

It answers how many tokens a size needs before it can copy from its context at all, which
bounds the token budgets a study needs to see the phase change (docs/science.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emergence.config import defaults
from emergence.data.shards import open_tokens
from emergence.evaluate.evaluator import MIN_CANDIDATE_COUNT
from emergence.evaluate.induction import induction_scores, repeated_sequences
from emergence.evaluate.metrics import uniform_prefix_matching
from emergence.model.heads import HeadProbe
from emergence.model.transformer import ModelConfig
from emergence.train.engine import Engine, data_mesh
from emergence.train.optimizer import wsd_schedule

ONSET = 0.3


def batch(rng: np.random.Generator, size: int, length: int, vocab: int, share: float) -> np.ndarray:
    """(size, length) token ids from 1..vocab-1; a `share` of rows repeat a random span to the end."""
    x = rng.integers(1, vocab, size=(size, length))
    for row in np.flatnonzero(rng.random(size) < share):
        period = int(rng.integers(16, 48))
        x[row] = np.resize(rng.integers(1, vocab, size=period), length)
    return x.astype(np.int32)


def windows(rng: np.random.Generator, tokens: np.ndarray, size: int, length: int) -> np.ndarray:
    """(size, length) token ids: windows of the corpus's training tokens at random offsets."""
    starts = rng.integers(0, len(tokens) - length, size=size)
    return np.stack([tokens[a : a + length] for a in starts]).astype(np.int32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--repeated-share", type=float, default=1.0)
    p.add_argument("--learning-rate", type=float, default=defaults().training.learning_rate)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus", help="a study's results/data (train.npy, val.npy, meta.json): train on its tokens")
    args = p.parse_args()
    train, candidates = None, np.arange(1, args.vocab)
    if args.corpus:
        train, val = (open_tokens(f"{args.corpus}/{split}.npy") for split in ("train", "val"))
        args.vocab = int(json.loads(Path(args.corpus, "meta.json").read_text())["vocab_size"])
        counts = np.bincount(np.asarray(val), minlength=args.vocab)
        candidates = np.flatnonzero(counts >= MIN_CANDIDATE_COUNT)

    mcfg = ModelConfig(args.vocab, args.d_model, args.layers, args.heads, args.context)
    tcfg = defaults().training
    tcfg = type(tcfg)(**{**tcfg.__dict__, "batch_size": args.batch, "learning_rate": args.learning_rate})
    warmup = max(1, round(tcfg.warmup_fraction * args.steps))
    engine = Engine(mcfg, tcfg, wsd_schedule(tcfg, warmup), data_mesh(args.batch))
    params, opt_state = engine.init(args.seed)
    probe, rng = HeadProbe(mcfg), np.random.default_rng(args.seed)
    half = args.context // 2
    probe_tokens = repeated_sequences(np.random.default_rng(1), candidates, 32, half)
    source = f"corpus {args.corpus}" if args.corpus else f"repeated share {args.repeated_share}"
    print(f"{mcfg}; batch {args.batch}, {source}, lr {args.learning_rate}")
    print(f"chance prefix matching (uniform attention): {uniform_prefix_matching(half):.3f}")
    print("step  tokens      train_loss  prefix_matching  repeat_loss_gain  seconds")
    start, onset, recent = time.time(), None, [float("nan")]
    for step in range(args.steps + 1):
        if step % args.every == 0:
            _, summary = induction_scores(probe, params, probe_tokens)
            pm, gain, train_loss = summary["prefix_matching"], summary["repeat_loss_gain"], np.mean(recent)
            onset = step if onset is None and pm >= ONSET else onset
            seen = step * args.batch * args.context
            print(f"{step:5d} {seen:10,d} {train_loss:10.3f}  {pm:15.3f}  {gain:16.3f}  {time.time() - start:7.0f}")
            recent = []
        if step == args.steps:
            break
        if train is None:
            tokens = batch(rng, args.batch, args.context + 1, args.vocab, args.repeated_share)
        else:
            tokens = windows(rng, train, args.batch, args.context + 1)
        params, opt_state, losses, _ = engine.run_chunk(params, opt_state, tokens[None])
        recent.append(float(losses[0]))
    when = "none" if onset is None else f"step {onset} ({onset * args.batch * args.context:,} tokens)"
    print(f"onset (best head's prefix matching >= {ONSET}): {when}", flush=True)


if __name__ == "__main__":
    main()
