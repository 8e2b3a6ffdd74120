"""The command line's argument types: study configs given as --spec, the workflow's JSON of a
run, a trunk or a training section, counts, positive numbers, and a parser that reports a
usage error as one line with exit status 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emergence.errors import ConfigError


def raw_spec(text: str):
    """A study config given inline as JSON, or as @path to a JSON or YAML file."""
    from emergence.io import load_yaml

    if text.startswith("@"):
        return load_yaml(Path(text[1:]), ConfigError, what="--spec file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--spec: not valid JSON ({e.msg} at column {e.colno}); give JSON or @file.yaml") from None


def study_config(text: str):
    """The validated, typed study config of a --spec argument."""
    from emergence.config import StudyConfig

    return StudyConfig.from_dict(raw_spec(text))


def training_config(text: str):
    """The validated training section of a --training argument (JSON of that section)."""
    try:
        section = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--training: not valid JSON ({e.msg} at column {e.colno})") from None
    return study_config(json.dumps({"training": section})).training


def model_run(text: str):
    """The model run of a --run argument, JSON as the workflow writes it."""
    from emergence.config import ModelRun

    try:
        return ModelRun.from_dict(json.loads(text))
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise ConfigError(f"--run: not a model run as the workflow writes it ({e})") from None


def trunk(text: str):
    """The WSD trunk of a --trunk argument, JSON as the workflow writes it."""
    from emergence.config import Trunk

    try:
        return Trunk.from_dict(json.loads(text))
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise ConfigError(f"--trunk: not a trunk as the workflow writes it ({e})") from None


def optional_path(text: str | None) -> Path | None:
    """The path of an optional argument, None where it was not given."""
    return Path(text) if text else None


def count(minimum: int):
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive(text: str) -> float:
    """An argparse type: a finite number > 0 (1e9 and 1000000000 alike)."""
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def probability(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1 (a confidence level)."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def add_cpu_devices(p: argparse.ArgumentParser) -> None:
    """The option of a training command: how many JAX devices the host CPU is split into."""
    help = "data-parallel CPU devices, one per core (default: the cores this process may use)"
    p.add_argument("--cpu-devices", type=count(1), help=help)


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (`emergence evaluate: argument --shots: -1 is below 0`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")
