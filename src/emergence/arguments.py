"""The command line's argument types: study configs given as --spec, counts, positive
numbers, and a parser that reports a usage error as one line with exit status 2."""

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


def spec(text: str):
    """The validated, typed study config of a --spec argument."""
    from emergence.config import StudyConfig

    return StudyConfig.from_dict(raw_spec(text))


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


def positive(text: str) -> float:
    """An argparse type: a finite number > 0 (1e9 and 1000000000 alike)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive finite number")
    return value


def cpu_devices(p: argparse.ArgumentParser) -> None:
    """The option of a training command: how many JAX devices the host CPU is split into."""
    help = "data-parallel CPU devices, one per core (default: the cores this process may use)"
    p.add_argument("--cpu-devices", type=count(1), help=help)


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (`emergence evaluate: argument --shots: -1 is below 0`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")
