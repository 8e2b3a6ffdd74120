"""The model grid: sizes x token budgets x seeds, and the names that encode a run's place in it."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from emergence.config.study import ModelSize, StudyConfig
from emergence.errors import ConfigError

# A model's name is `{size}-{tokens}-s{seed}`, e.g. `w64l2-2M-s0`. Snakemake
# constrains the `model` wildcard with this pattern, so only these characters can
# ever reach a shell command.
MODEL_NAME_PATTERN = r"[a-z][a-z0-9]{0,15}-[0-9]+[kMG]?-s[0-9]+"
# A WSD trunk (one per size and seed, shared by its budgets) is `{size}-s{seed}`.
TRUNK_NAME_PATTERN = r"[a-z][a-z0-9]{0,15}-s[0-9]+"
TASK_NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"
_SUFFIXES = (("G", 10**9), ("M", 10**6), ("k", 10**3))


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
    def from_dict(cls, d: dict[str, Any]) -> ModelRun:
        return cls(**{**d, "size": ModelSize(**d["size"])})


@dataclasses.dataclass(frozen=True)
class Trunk:
    """WSD: the warmup-stable run of one size and seed that every budget branches off."""

    name: str
    size_name: str
    size: ModelSize
    context: int
    seed: int
    # Every token budget of the grid: the trunk saves what each branch needs.
    budgets: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trunk:
        return cls(**{**d, "size": ModelSize(**d["size"]), "budgets": tuple(d["budgets"])})


def trunk_name(size_name: str, seed: int) -> str:
    return f"{size_name}-s{seed}"


def trunk_of(cfg: StudyConfig, run: ModelRun) -> Trunk:
    """The trunk that `run` branches off under the WSD schedule."""
    name = trunk_name(run.size_name, run.seed)
    return Trunk(name, run.size_name, run.size, run.context, run.seed, tuple(sorted(cfg.models.token_budgets)))


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
        if not re.fullmatch(MODEL_NAME_PATTERN, run.name):
            raise ConfigError(f"config key 'models': model name {run.name!r} does not match {MODEL_NAME_PATTERN!r}")
    return runs


def find_run(cfg: StudyConfig, name: str) -> ModelRun:
    for run in model_grid(cfg):
        if run.name == name:
            return run
    raise ConfigError(f"model {name!r} is not in the grid; known: {', '.join(r.name for r in model_grid(cfg))}")
