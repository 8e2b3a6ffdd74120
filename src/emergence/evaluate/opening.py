"""Opening a trained model's checkpoint for evaluation: the checkpoint argument, the
tokenizer it was trained with, and the model read as trained or with a position scaling."""

from __future__ import annotations

from pathlib import Path

from emergence.data.tokenizer import load_tokenizer, tokenizer_sha256, vocab_size
from emergence.errors import InputError
from emergence.io import read_json
from emergence.model.inference import Inference, load_model_config, load_params
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


def check_tokenizer(model_dir: Path, tokenizer, tokenizer_path: Path) -> None:
    """InputError unless `tokenizer` is the one the model was trained with (same file, or
    for models that did not record it, at least the same vocabulary size)."""
    summary = read_json(Path(model_dir) / "model.json", "model summary")
    trained_with = summary.get("tokenizer_sha256")
    if trained_with and trained_with != tokenizer_sha256(tokenizer_path):
        raise InputError(
            f"tokenizer file {tokenizer_path} is not the one {summary['name']} was trained with "
            "(another study's?); pass --tokenizer with that study's results/tokenizer/tokenizer.json"
        )
    expected = summary.get("model", {}).get("vocab_size")
    if expected is not None and vocab_size(tokenizer) > expected:
        raise InputError(
            f"tokenizer file {tokenizer_path} has {vocab_size(tokenizer)} tokens but {summary['name']} "
            f"was trained with {expected}; pass the tokenizer of its own study"
        )


def reading(checkpoint: Path, tokenizer: str | Path | None, rope_scaling: str = "none", rope_factor: float = 1.0):
    """(model directory, model config it is read with, tokenizer) of a checkpoint directory
    results/models/M/checkpoints/STEP: the config as trained (an extended model: with its own
    scaling), or with position scaling `rope_scaling` at `rope_factor` times its context. The
    tokenizer defaults to the study's own (results/tokenizer/tokenizer.json beside
    results/models/) and must be the one the model was trained with."""
    model_dir, _ = checkpoint_step(checkpoint)
    mcfg = load_model_config(model_dir)
    if (rope_scaling, rope_factor) != ("none", 1.0):
        mcfg = mcfg.scaled(rope_scaling, rope_factor)
        rope_frequencies(rope_scaling, mcfg.head_dim, mcfg.rope_base, rope_factor, mcfg.rope_original_context)
    tokenizer_path = Path(tokenizer) if tokenizer else model_dir.parent.parent / "tokenizer" / "tokenizer.json"
    tok = load_tokenizer(tokenizer_path)
    check_tokenizer(model_dir, tok, tokenizer_path)
    return model_dir, mcfg, tok


def open_checkpoint(
    checkpoint: Path, tokenizer: str | Path | None, rope_scaling: str = "none", rope_factor: float = 1.0
):
    """(Inference, params, tokenizer) of a checkpoint directory, read as `reading` says."""
    model_dir, mcfg, tok = reading(checkpoint, tokenizer, rope_scaling, rope_factor)
    step = checkpoint_step(checkpoint)[1]
    return Inference(mcfg), load_params(model_dir, step, load_model_config(model_dir)), tok
