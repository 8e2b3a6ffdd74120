"""`emergence evaluate --checkpoint`: one checkpoint on a benchmark file, by the workflow's
code path (evaluator.py), optionally read at a longer context with a position scaling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from emergence.config import defaults, task_spec
from emergence.data.tokenizer import load_tokenizer
from emergence.errors import InputError
from emergence.evaluate.evaluator import check_tokenizer, evaluate, headline
from emergence.evaluate.tasks import assemble_task, request_length
from emergence.io import check_output, write_table
from emergence.model.inference import load_model_config
from emergence.model.rope import rope_frequencies


def checkpoint_step(checkpoint: Path) -> tuple[Path, int]:
    """(model directory, step) of a --checkpoint argument, results/models/M/checkpoints/STEP."""
    checkpoint = Path(checkpoint)
    if not checkpoint.name.isdigit():
        raise InputError(
            f"--checkpoint {checkpoint}: expected a checkpoint directory named by its step, "
            "e.g. results/models/M/checkpoints/245"
        )
    if not checkpoint.is_dir():
        raise InputError(f"--checkpoint {checkpoint}: no such checkpoint directory")
    return checkpoint.parent.parent, int(checkpoint.name)


def evaluate_checkpoint(
    checkpoint: Path,
    task_file: Path,
    fmt: str,
    shots: int,
    cot: bool,
    max_new_tokens: int,
    tokenizer_path: Path | None,
    out: Path,
    samples: Path | None = None,
    rope_scaling: str = "none",
    rope_factor: float = 1.0,
) -> dict:
    """One checkpoint on a benchmark file (MMLU or GSM8K layout), by the workflow's code
    path; writes the metrics (and samples) tables and returns the headline. The tokenizer
    defaults to the one of the checkpoint's own study (results/tokenizer/tokenizer.json
    beside results/models/), and must be the one the model was trained with.

    Every item is scored: a prompt longer than the context (times `rope_factor`, read with
    position scaling `rope_scaling`, model/rope.py) is cut from the left, keeping its end
    and room for the answer, as lm-evaluation-harness does. The headline adds `truncated`
    (how many prompts were cut) and the samples table a `truncated` column."""
    checkpoint = Path(checkpoint)
    out = check_output(out, "--out")
    samples = check_output(samples, "--samples") if samples else None
    model_dir, _ = checkpoint_step(checkpoint)
    mcfg = load_model_config(model_dir)  # as trained (an extended model: with its own scaling)
    if (rope_scaling, rope_factor) != ("none", 1.0):
        mcfg = mcfg.scaled(rope_scaling, rope_factor)
        rope_frequencies(rope_scaling, mcfg.head_dim, mcfg.rope_base, rope_factor, mcfg.rope_original_context)
    context = mcfg.context
    tokenizer_path = (
        Path(tokenizer_path) if tokenizer_path else model_dir.parent.parent / "tokenizer" / "tokenizer.json"
    )
    tokenizer = load_tokenizer(tokenizer_path)
    check_tokenizer(model_dir, tokenizer, tokenizer_path)
    settings = {
        "kind": fmt,
        "path": str(task_file),
        "n_items": 10**9,
        "demo_pool": 0,
        "shots": [shots],
        "prompts": ["cot" if cot else "standard"],
        "max_new_tokens": max_new_tokens,
        "cot_max_new_tokens": max_new_tokens,
    }
    spec = dataclasses.replace(task_spec("file", settings), name=Path(task_file).stem)
    task = assemble_task(spec, defaults(), tokenizer, context, truncate=True)
    n_tokens = lambda text: len(tokenizer.encode(text).ids)  # noqa: E731
    cut = {(r.item, r.prompt, r.shots, r.labels) for r in task.requests if request_length(r, n_tokens) > context}
    rows, sample_rows = evaluate(model_dir, task, tokenizer, steps=[int(checkpoint.name)], mcfg=mcfg)
    keys = zip(sample_rows["item"], sample_rows["prompt"], sample_rows["shots"], sample_rows["labels"])
    sample_rows["truncated"] = [k in cut for k in keys]
    write_table(rows, parquet=out)
    if samples:
        write_table(sample_rows, parquet=samples)
    return {**headline(task, rows), "truncated": len(cut), "context": context}
