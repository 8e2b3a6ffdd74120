"""Errors the user can act on: each carries one line naming the problem."""


class EmergenceError(Exception):
    """Base class: the CLI prints the message alone (no traceback) and exits 2."""


class ConfigError(EmergenceError):
    """A config key has a wrong name, type or value."""


class InputError(EmergenceError):
    """An input file (corpus, tokenizer, task file, checkpoint) is missing or malformed."""


class TrainingError(EmergenceError):
    """Training cannot go on (e.g. the loss became NaN or Inf)."""
