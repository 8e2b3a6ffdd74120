"""A study's configuration as typed, frozen dataclasses.

They mirror `schema.yaml` and carry no defaults of their own: every instance is built by
`StudyConfig.from_dict` from a dict that `validate` has checked and filled from the
schema, so the schema is the one file that holds defaults.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from emergence.config.validate import validate
from emergence.errors import ConfigError
from emergence.io import load_yaml


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    # Characters of training and validation text.
    train_chars: int
    val_chars: int
    # Relative weight (by characters) of each text family.
    mixture: dict[str, float]
    # Filler vocabulary size and the exponent of its Zipf law.
    n_words: int
    zipf_exponent: float
    # Entities whose attributes the corpus states as facts.
    n_entities: int
    # Largest operand length (digits) in arithmetic.
    max_digits: int
    # Share of each family's item space that never appears in training text.
    holdout_fraction: float


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    path: str
    # text: documents separated by blank lines; jsonl/parquet: one document per record.
    format: str
    # JSONL field or parquet column holding the text.
    field: str


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    # "synthetic" (built-in generator) or "files" (the user's corpus).
    source: str
    synthetic: SyntheticConfig
    files: tuple[CorpusFile, ...]
    # Share of the user's documents held out for validation.
    val_fraction: float


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    # Byte-level BPE vocabulary size; 257 = bytes + end-of-text, no merges.
    vocab_size: int
    # A user's tokenizer.json used instead of training one.
    path: str | None


@dataclasses.dataclass(frozen=True)
class ModelSize:
    d_model: int
    n_layers: int
    n_heads: int
    # Hidden width of the MLP as a multiple of d_model.
    mlp_ratio: int


@dataclasses.dataclass(frozen=True)
class ModelsConfig:
    # Training context length in tokens.
    context: int
    sizes: dict[str, ModelSize]
    # Training tokens per run; each budget gets its own LR schedule.
    token_budgets: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    # Sequences per optimizer step.
    batch_size: int
    # Peak learning rate, reached after warmup; the schedule ends at min_lr_ratio * peak.
    learning_rate: float
    min_lr_ratio: float
    # "wsd" (budgets branch off one warmup-stable trunk per size and seed) or "cosine".
    schedule: str
    # WSD: share of each budget's steps spent cooling down.
    cooldown_fraction: float
    warmup_fraction: float
    weight_decay: float
    beta1: float
    beta2: float
    # Global gradient-norm clip.
    grad_clip: float
    # Checkpoints per run: powers of two early, then evenly spaced, always the last step.
    n_checkpoints: int
    # Steps between training-log lines (checkpoint steps are always logged).
    log_every: int
    # Validation tokens scored at each checkpoint.
    val_tokens: int
    # Compute dtype of matmuls and activations: float32, or bfloat16 (mixed precision).
    precision: str
    # Optimizer steps fused into one jitted call (lax.scan) to amortise dispatch.
    steps_per_call: int


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    # What the task is (see the schema's enum); synthetic kinds use held-out generator items.
    kind: str
    # Benchmark file for mmlu / gsm8k; for lm_eval, the folder of the task's YAML and data.
    path: str | None
    # lm_eval: the lm-evaluation-harness task's name (default: the study task's own name).
    lm_eval_task: str | None
    # Items evaluated per setting, and further items used only as demonstrations.
    n_items: int
    demo_pool: int
    # Settings: numbers of demonstrations, prompt styles, demonstration label settings.
    shots: tuple[int, ...]
    prompts: tuple[str, ...]
    labels: tuple[str, ...]
    # Generation caps (tokens) for standard and chain-of-thought prompts.
    max_new_tokens: int
    cot_max_new_tokens: int
    # Seed of item, demonstration and label draws.
    seed: int
    # icl_score: loss at these fractions of the context (late minus early).
    icl_positions: tuple[float, float]
    # Position scaling of the evaluation (model/rope.py) and its factor over the context.
    rope_scaling: str
    rope_factor: float

    @classmethod
    def from_dict(cls, name: str, d: dict) -> TaskSpec:
        return cls(name=name, **{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclasses.dataclass(frozen=True)
class ExtendConfig:
    enabled: bool
    # Position scaling trained with, optimizer steps, peak learning rate, checkpoints saved.
    method: str
    steps: int
    learning_rate: float
    n_checkpoints: int


@dataclasses.dataclass(frozen=True)
class LongContextConfig:
    enabled: bool
    # Scale factor s over the training context, and the position scalings compared.
    factor: float
    methods: tuple[str, ...]
    # Validation windows of s x L tokens (loss by position).
    windows: int
    # Passkey prompts per length, and their lengths as multiples of L.
    passkey_items: int
    passkey_lengths: tuple[float, ...]
    # The multiple-choice task evaluated with many demonstrations, and their numbers.
    many_shot_task: str | None
    many_shot_items: int
    many_shot: tuple[int, ...]
    # Fine-tuning at s x L before probing (train/extend.py).
    extend: ExtendConfig


@dataclasses.dataclass(frozen=True)
class InstructConfig:
    enabled: bool
    # Families tuned on and families evaluated zero-shot (disjoint).
    tune_families: tuple[str, ...]
    heldout_families: tuple[str, ...]
    # Checkpoints tuned per model, and the token budgets whose models are tuned (None: all).
    checkpoints: int
    budgets: tuple[int, ...] | None
    # Each tuning: optimizer steps, windows per step, peak learning rate, checkpoints saved.
    steps: int
    batch_size: int
    learning_rate: float
    n_checkpoints: int
    # Tuning examples in the stream; held-out instructions per family; generation cap.
    tune_examples: int
    n_items: int
    max_new_tokens: int


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    # Bootstrap resamples (threshold intervals, scaling-law standard errors), their seed,
    # and the confidence level of threshold intervals.
    n_boot: int
    seed: int
    level: float
    # What the threshold bootstrap resamples (see thresholds.fit_threshold).
    bootstrap: str


@dataclasses.dataclass(frozen=True)
class PlotsConfig:
    # Seaborn style and context, colour map of model sizes, resolution, file formats.
    style: str
    context: str
    palette: str
    dpi: int
    formats: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class WandbConfig:
    # Log every training run to Weights & Biases (the extra `wandb`).
    enabled: bool
    # W&B project and entity (user or team; None: the account's default).
    project: str
    entity: str | None
    # "online" (live) or "offline" (files in each run's folder, for `wandb sync`).
    mode: str


@dataclasses.dataclass(frozen=True)
class LoggingConfig:
    # Where training runs log as they train besides their files; changes no result.
    wandb: WandbConfig


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    study: str
    seed: int
    corpus: CorpusConfig
    tokenizer: TokenizerConfig
    models: ModelsConfig
    training: TrainingConfig
    tasks: dict[str, TaskSpec]
    long_context: LongContextConfig
    instruct: InstructConfig
    analysis: AnalysisConfig
    plots: PlotsConfig
    logging: LoggingConfig

    @classmethod
    def from_dict(cls, raw: dict | None) -> StudyConfig:
        """Validate `raw` (ConfigError naming the bad key) and build the typed config."""
        return cls.from_validated(validate(raw))

    @classmethod
    def from_validated(cls, cfg: dict) -> StudyConfig:
        """The typed view of a dict that `validate` returned (no second validation)."""
        corpus = cfg["corpus"]
        models = cfg["models"]
        return cls(
            study=cfg["study"],
            seed=cfg["seed"],
            corpus=CorpusConfig(
                source=corpus["source"],
                synthetic=SyntheticConfig(**corpus["synthetic"]),
                files=tuple(CorpusFile(**f) for f in corpus["files"]),
                val_fraction=corpus["val_fraction"],
            ),
            tokenizer=TokenizerConfig(**cfg["tokenizer"]),
            models=ModelsConfig(
                context=models["context"],
                sizes={name: ModelSize(**s) for name, s in models["sizes"].items()},
                token_budgets=tuple(models["token_budgets"]),
                seeds=tuple(models["seeds"]),
            ),
            training=TrainingConfig(**cfg["training"]),
            tasks={name: TaskSpec.from_dict(name, t) for name, t in cfg["tasks"].items()},
            long_context=LongContextConfig(
                **{
                    k: ExtendConfig(**v) if k == "extend" else tuple(v) if isinstance(v, list) else v
                    for k, v in cfg["long_context"].items()
                }
            ),
            instruct=InstructConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["instruct"].items()}),
            analysis=AnalysisConfig(**cfg["analysis"]),
            plots=PlotsConfig(**{**cfg["plots"], "formats": tuple(cfg["plots"]["formats"])}),
            logging=LoggingConfig(wandb=WandbConfig(**cfg["logging"]["wandb"])),
        )


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study's YAML config file (ConfigError naming the file or key)."""
    return StudyConfig.from_dict(load_yaml(Path(path), ConfigError, what="config file"))


@functools.cache
def defaults() -> StudyConfig:
    """The configuration of an empty config file: every value from the schema's defaults."""
    return StudyConfig.from_dict({})


def task_spec(name: str, settings: dict) -> TaskSpec:
    """One task's validated settings (schema defaults for what `settings` leaves out)."""
    return StudyConfig.from_dict({"tasks": {name: settings}}).tasks[name]
