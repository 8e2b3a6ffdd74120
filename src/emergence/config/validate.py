"""Validation of a study's configuration: the one place where keys, types, values and defaults are checked.

The JSON schema `schema.yaml` (beside this module; `workflow/schemas/` links to it) is
the single source of allowed keys, types and defaults. `validate` fills the defaults,
turns the first violation into one line that names the key and what is allowed, and then
checks what a schema cannot say (head widths, task settings per kind, budgets that give
too few steps, Weights & Biases switched on but not installed). The Snakefile and every
command call it once; the typed dataclasses in `study.py` are built from its result.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import math
from pathlib import Path

import jsonschema

from emergence.errors import ConfigError
from emergence.io import load_yaml

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@functools.cache
def load_schema() -> dict:
    return load_yaml(SCHEMA_PATH, ConfigError)


def _defaulting_validator():
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def _integers(instance, schema: dict):
    """`instance` with whole floats (8000.0) turned into ints where the schema asks for an
    integer: JSON Schema counts 8000.0 as an integer, Python's range() and names do not."""
    types = schema.get("type")
    if (types == "integer" or (isinstance(types, list) and "integer" in types)) and isinstance(instance, float):
        return int(instance)
    if isinstance(instance, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: _integers(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in instance.items()}
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_integers(v, schema["items"]) for v in instance]
    return instance


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
    schema = load_schema()
    validator = _defaulting_validator()(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(cfg))
    if error is not None:
        raise ConfigError(_one_line(error))
    cfg = _integers(cfg, schema)
    for name, size in cfg["models"]["sizes"].items():
        if size["d_model"] % size["n_heads"]:
            raise ConfigError(
                f"config key 'models.sizes.{name}': d_model {size['d_model']} "
                f"is not divisible by n_heads {size['n_heads']}"
            )
        if (size["d_model"] // size["n_heads"]) % 2:
            raise ConfigError(f"config key 'models.sizes.{name}': head dimension d_model/n_heads must be even (RoPE)")
    _check_budgets(cfg)
    for name, task in cfg["tasks"].items():
        _check_task(name, task)
    _check_long_context(cfg)
    _check_instruct(cfg)
    _check_logging(cfg)
    if cfg["corpus"]["source"] == "files" and not cfg["corpus"]["files"]:
        raise ConfigError("config key 'corpus.files': source is 'files' but no files are listed")
    return cfg


def _check_budgets(cfg: dict) -> None:
    """Each budget must give every checkpoint a step of its own (else warmup never ends)."""
    batch, context = cfg["training"]["batch_size"], cfg["models"]["context"]
    per_step, need = batch * context, cfg["training"]["n_checkpoints"]
    for tokens in cfg["models"]["token_budgets"]:
        if math.ceil(tokens / per_step) < need:
            raise ConfigError(
                f"config key 'models.token_budgets': {tokens} tokens are {math.ceil(tokens / per_step)} step(s) of "
                f"{batch} x {context} tokens; training.n_checkpoints ({need}) needs at least {need * per_step} tokens"
            )
    training = cfg["training"]
    if training["schedule"] == "wsd":
        steps = [math.ceil(t / per_step) for t in cfg["models"]["token_budgets"]]
        fraction = training["warmup_fraction"]
        warmup = max(1, round(fraction * min(steps))) if fraction > 0 else 0
        first = min(steps)
        branch = first - max(1, round(training["cooldown_fraction"] * first))
        if branch < max(1, warmup):
            raise ConfigError(
                f"config key 'training.cooldown_fraction': with schedule wsd the smallest budget ({first} steps) "
                f"would start its cool-down at step {branch}, before its warmup ({warmup} steps) "
                "ends; lower training.warmup_fraction or cooldown_fraction, or use schedule: cosine"
            )


# What each task kind supports: chain-of-thought prompts, label settings, a file.
_COT_KINDS = {"addition", "multistep", "parity", "gsm8k"}
_MC_KINDS = {"fact_choice", "sentiment", "weather", "road", "mapping", "mmlu"}
# Two-choice generated kinds: their choices can be swapped for unrelated labels, and their
# items have an input to show without the format.
_TWO_CHOICE_KINDS = {"sentiment", "weather", "road", "mapping"}
_FILE_KINDS = {"mmlu", "gsm8k"}


def _check_task(name: str, task: dict) -> None:
    where, kind = f"config key 'tasks.{name}'", task["kind"]
    if kind in _FILE_KINDS and not task["path"]:
        raise ConfigError(f"{where}: kind {kind} needs `path`, the benchmark file")
    if kind == "lm_eval" and not task["path"]:
        raise ConfigError(f"{where}: kind lm_eval needs `path`, the folder of the lm-eval task's YAML and data files")
    if task.get("lm_eval_task") and kind != "lm_eval":
        raise ConfigError(f"{where}: `lm_eval_task` is for kind lm_eval")
    if "cot" in task["prompts"] and kind not in _COT_KINDS:
        raise ConfigError(
            f"{where}: prompts 'cot' needs worked solutions; kinds with them: {', '.join(sorted(_COT_KINDS))}"
        )
    odd = set(task["labels"]) - {"gold"}
    if odd and kind not in _MC_KINDS:
        raise ConfigError(f"{where}: labels {sorted(odd)} need a multiple-choice kind: {', '.join(sorted(_MC_KINDS))}")
    if "ood" in odd and kind != "sentiment":
        raise ConfigError(f"{where}: labels 'ood' are defined for kind sentiment only")
    if {"unrelated", "no_format"} & odd and kind not in _TWO_CHOICE_KINDS:
        raise ConfigError(
            f"{where}: labels 'unrelated' and 'no_format' are defined for kinds {', '.join(sorted(_TWO_CHOICE_KINDS))}"
        )


def _check_long_context(cfg: dict) -> None:
    lc, where = cfg["long_context"], "config key 'long_context"
    if not lc["enabled"]:
        return
    if max(lc["passkey_lengths"]) > lc["factor"]:
        raise ConfigError(f"{where}.passkey_lengths': {max(lc['passkey_lengths'])} x L exceeds factor {lc['factor']}")
    task = lc["many_shot_task"]
    if task is not None:
        if task not in cfg["tasks"]:
            raise ConfigError(f"{where}.many_shot_task': {task!r} is not one of the config's tasks")
        if cfg["tasks"][task]["kind"] not in _MC_KINDS - _FILE_KINDS:
            raise ConfigError(
                f"{where}.many_shot_task': task {task!r} is of kind {cfg['tasks'][task]['kind']}; "
                f"many-shot needs one of {', '.join(sorted(_MC_KINDS - _FILE_KINDS))}"
            )


def _check_instruct(cfg: dict) -> None:
    ic, where = cfg["instruct"], "config key 'instruct"
    if not ic["enabled"]:
        return
    both = sorted(set(ic["tune_families"]) & set(ic["heldout_families"]))
    if both:
        raise ConfigError(
            f"{where}.heldout_families': {both} also in tune_families; a held-out family is never tuned on"
        )
    if cfg["corpus"]["source"] != "synthetic":
        raise ConfigError(
            f"{where}.enabled': instruction families draw on the synthetic corpus's world; "
            "set corpus.source: synthetic or instruct.enabled: false"
        )
    unknown = sorted(set(ic["budgets"] or ()) - set(cfg["models"]["token_budgets"]))
    if unknown:
        raise ConfigError(f"{where}.budgets': {unknown} not in models.token_budgets")
    larger = sorted(b for b in cfg["models"]["token_budgets"] if ic["budgets"] and b > min(ic["budgets"]))
    if cfg["training"]["schedule"] == "wsd" and set(larger) - set(ic["budgets"] or ()):
        raise ConfigError(
            f"{where}.budgets': under schedule wsd a budget's early checkpoints are its larger "
            f"budgets' (tuned with them); add {sorted(set(larger) - set(ic['budgets']))}"
        )
    if ic["tune_examples"] < len(ic["tune_families"]):
        raise ConfigError(f"{where}.tune_examples': fewer than one example per tuning family")


def _check_logging(cfg: dict) -> None:
    """W&B is an optional extra: checked where the config is read (the workflow, and each job)."""
    if cfg["logging"]["wandb"]["enabled"] and importlib.util.find_spec("wandb") is None:
        raise ConfigError(
            "config key 'logging.wandb.enabled': Weights & Biases is not installed; "
            "install it with `pip install -e '.[wandb]' -c requirements.lock`, or set enabled: false"
        )
