"""`emergence evaluate --checkpoint`: one checkpoint on a benchmark file, by the workflow's
code path (evaluator.py), optionally read at a longer context with a position scaling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from emergence.config import defaults, task_spec
from emergence.evaluate.evaluator import evaluate, headline
from emergence.evaluate.opening import reading
from emergence.evaluate.tasks import assemble_task, request_length
from emergence.io import check_output, write_table


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
    model_dir, mcfg, tokenizer = reading(checkpoint, tokenizer_path, rope_scaling, rope_factor)
    context = mcfg.context
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
