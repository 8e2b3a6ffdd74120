"""A study's configuration: schema validation and the typed dataclasses that mirror it.

The JSON schema `config.schema.yaml` (beside this module; `workflow/schemas/` links to
it) is the single source of allowed keys, types and defaults. `validate` fills defaults
and turns the first violation into one line that names the key and what is allowed.
The dataclasses give the package typed access; `tests/test_config.py` keeps their
defaults equal to the schema's.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from emergence.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")

# A model's name is `{size}-{tokens}-s{seed}`, e.g. `w64l2-2M-s0`. Snakemake
# constrains the `model` wildcard with this pattern, so only these characters can
# ever reach a shell command.
MODEL_NAME_PATTERN = r"[a-z][a-z0-9]{0,15}-[0-9]+[kMG]?-s[0-9]+"
TASK_NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"
_SUFFIXES = (("G", 10**9), ("M", 10**6), ("k", 10**3))


@functools.cache
def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _defaulting_validator():
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def _one_line(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    message = error.message
    if error.validator == "additionalProperties" and "properties" in error.schema:
        message += f"; allowed keys: {', '.join(error.schema['properties'])}"
    elif error.validator == "contains":
        message = f"{error.instance} must include {error.validator_value.get('const')!r}"
    elif "propertyNames" in error.schema_path:
        message = f"name {error.instance!r} must be lowercase letters and digits (pattern {error.schema['pattern']!r})"
    return f"config key '{where}': {message}"


def validate(raw: dict | None) -> dict:
    """Return a copy of `raw` with schema defaults filled in; raise ConfigError naming the bad key."""
    cfg = copy.deepcopy(raw) if raw is not None else {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"config must be a mapping of keys to values, got {type(cfg).__name__}")
    validator = _defaulting_validator()(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(cfg))
    if error is not None:
        raise ConfigError(_one_line(error))
    for name, size in cfg["models"]["sizes"].items():
        if size["d_model"] % size["n_heads"]:
            raise ConfigError(
                f"config key 'models.sizes.{name}': d_model {size['d_model']} is not divisible by n_heads {size['n_heads']}"
            )
        if (size["d_model"] // size["n_heads"]) % 2:
            raise ConfigError(f"config key 'models.sizes.{name}': head dimension d_model/n_heads must be even (RoPE)")
    for name, task in cfg["tasks"].items():
        _check_task(name, task)
    if cfg["corpus"]["source"] == "files" and not cfg["corpus"]["files"]:
        raise ConfigError("config key 'corpus.files': source is 'files' but no files are listed")
    return cfg


# What each task kind supports: chain-of-thought prompts, label settings, a file.
_COT_KINDS = {"addition", "multistep", "gsm8k"}
_MC_KINDS = {"fact_choice", "sentiment", "mmlu"}
_FILE_KINDS = {"mmlu", "gsm8k"}


def _check_task(name: str, task: dict) -> None:
    where, kind = f"config key 'tasks.{name}'", task["kind"]
    if kind in _FILE_KINDS and not task["path"]:
        raise ConfigError(f"{where}: kind {kind} needs `path`, the benchmark file")
    if "cot" in task["prompts"] and kind not in _COT_KINDS:
        raise ConfigError(f"{where}: prompts 'cot' needs worked solutions; kinds with them: {', '.join(sorted(_COT_KINDS))}")
    odd = set(task["labels"]) - {"gold"}
    if odd and kind not in _MC_KINDS:
        raise ConfigError(f"{where}: labels {sorted(odd)} need a multiple-choice kind: {', '.join(sorted(_MC_KINDS))}")
    if {"ood", "no_format"} & odd and kind != "sentiment":
        raise ConfigError(f"{where}: labels 'ood' and 'no_format' are defined for kind sentiment only")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    # Characters of training and validation text.
    train_chars: int = 2_000_000
    val_chars: int = 100_000
    # Relative weight (by characters) of each text family.
    mixture: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"filler": 0.25, "facts": 0.15, "arithmetic": 0.35, "classification": 0.15, "copying": 0.10}
    )
    # Filler vocabulary size and the exponent of its Zipf law.
    n_words: int = 1000
    zipf_exponent: float = 1.1
    # Entities whose attributes the corpus states as facts.
    n_entities: int = 200
    # Largest operand length (digits) in arithmetic.
    max_digits: int = 3
    # Share of each family's item space that never appears in training text.
    holdout_fraction: float = 0.2


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    path: str
    # text: documents separated by blank lines; jsonl/parquet: one document per record.
    format: str = "text"
    # JSONL field or parquet column holding the text.
    field: str = "text"


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    # "synthetic" (built-in generator) or "files" (the user's corpus).
    source: str = "synthetic"
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)
    files: tuple[CorpusFile, ...] = ()
    # Share of the user's documents held out for validation.
    val_fraction: float = 0.05


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    # Byte-level BPE vocabulary size; 257 = bytes + end-of-text, no merges.
    vocab_size: int = 512
    # A user's tokenizer.json used instead of training one.
    path: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelSize:
    d_model: int
    n_layers: int
    n_heads: int
    # Hidden width of the MLP as a multiple of d_model.
    mlp_ratio: int = 4


@dataclasses.dataclass(frozen=True)
class ModelsConfig:
    # Training context length in tokens.
    context: int = 128
    sizes: dict[str, ModelSize] = dataclasses.field(
        default_factory=lambda: {
            "w32l2": ModelSize(d_model=32, n_layers=2, n_heads=2),
            "w64l2": ModelSize(d_model=64, n_layers=2, n_heads=4),
        }
    )
    # Training tokens per run; each budget gets its own LR schedule.
    token_budgets: tuple[int, ...] = (1_000_000,)
    seeds: tuple[int, ...] = (0,)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    # Sequences per optimizer step.
    batch_size: int = 32
    # Peak learning rate, reached after warmup, then cosine decay to min_lr_ratio * peak.
    learning_rate: float = 0.003
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    # Global gradient-norm clip.
    grad_clip: float = 1.0
    # Checkpoints per run: powers of two early, then evenly spaced, always the last step.
    n_checkpoints: int = 12
    # Steps between training-log lines (checkpoint steps are always logged).
    log_every: int = 50
    # Validation tokens scored at each checkpoint.
    val_tokens: int = 65536
    # Optimizer steps fused into one jitted call (lax.scan) to amortise dispatch.
    steps_per_call: int = 8


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    # What the task is (see the schema's enum); synthetic kinds use held-out generator items.
    kind: str
    # Benchmark file for mmlu / gsm8k.
    path: str | None = None
    # Items evaluated per setting, and further items used only as demonstrations.
    n_items: int = 100
    demo_pool: int = 32
    # Settings: numbers of demonstrations, prompt styles, demonstration label settings.
    shots: tuple[int, ...] = (0,)
    prompts: tuple[str, ...] = ("standard",)
    labels: tuple[str, ...] = ("gold",)
    # Generation caps (tokens) for standard and chain-of-thought prompts.
    max_new_tokens: int = 12
    cot_max_new_tokens: int = 48
    # Seed of item, demonstration and label draws.
    seed: int = 0
    # icl_score: loss at these fractions of the context (late minus early).
    icl_positions: tuple[float, float] = (0.1, 0.9)

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "TaskSpec":
        return cls(name=name, **{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _default_tasks() -> dict[str, TaskSpec]:
    raw = load_schema()["properties"]["tasks"]["default"]
    return {name: TaskSpec.from_dict(name, validate({"tasks": {name: spec}})["tasks"][name]) for name, spec in raw.items()}


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    # Bootstrap resamples (threshold intervals, scaling-law standard errors), their seed,
    # and the confidence level of threshold intervals.
    n_boot: int = 200
    seed: int = 0
    level: float = 0.95
    # What the threshold bootstrap resamples (see thresholds.fit_threshold).
    bootstrap: str = "auto"


@dataclasses.dataclass(frozen=True)
class PlotsConfig:
    # Seaborn style and context, colour map of model sizes, resolution, file formats.
    style: str = "whitegrid"
    context: str = "notebook"
    palette: str = "viridis"
    dpi: int = 130
    formats: tuple[str, ...] = ("png", "svg")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    study: str = "default"
    seed: int = 0
    corpus: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    models: ModelsConfig = dataclasses.field(default_factory=ModelsConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    tasks: dict[str, TaskSpec] = dataclasses.field(default_factory=_default_tasks)
    analysis: AnalysisConfig = dataclasses.field(default_factory=AnalysisConfig)
    plots: PlotsConfig = dataclasses.field(default_factory=PlotsConfig)

    @classmethod
    def from_dict(cls, raw: dict | None) -> "StudyConfig":
        cfg = validate(raw)
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
            analysis=AnalysisConfig(**cfg["analysis"]),
            plots=PlotsConfig(**{**cfg["plots"], "formats": tuple(cfg["plots"]["formats"])}),
        )


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study's YAML config file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}".replace("\n", " ")) from None
    return StudyConfig.from_dict(raw)


def format_tokens(n: int) -> str:
    """Short exact spelling of a token count: 2000000 -> '2M', 1500000 -> '1500k', 1234 -> '1234'."""
    for suffix, scale in _SUFFIXES:
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def parse_tokens(text: str) -> int:
    for suffix, scale in _SUFFIXES:
        if text.endswith(suffix):
            return int(text[:-1]) * scale
    return int(text)


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """One model of the grid: a size trained on a token budget from a seed."""

    name: str
    size_name: str
    size: ModelSize
    context: int
    tokens: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelRun":
        return cls(**{**d, "size": ModelSize(**d["size"])})


def model_name(size_name: str, tokens: int, seed: int) -> str:
    return f"{size_name}-{format_tokens(tokens)}-s{seed}"


def model_grid(cfg: StudyConfig) -> list[ModelRun]:
    """Every model of the study: sizes x token budgets x seeds, in config order."""
    runs = [
        ModelRun(model_name(size_name, tokens, seed), size_name, size, cfg.models.context, tokens, seed)
        for size_name, size in cfg.models.sizes.items()
        for tokens in cfg.models.token_budgets
        for seed in cfg.models.seeds
    ]
    for run in runs:
        assert re.fullmatch(MODEL_NAME_PATTERN, run.name), run.name
    return runs


def find_run(cfg: StudyConfig, name: str) -> ModelRun:
    for run in model_grid(cfg):
        if run.name == name:
            return run
    raise ConfigError(f"model {name!r} is not in the grid; known: {', '.join(r.name for r in model_grid(cfg))}")
