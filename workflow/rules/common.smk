# Helpers shared by the rules: the validated config, the model grid, and the JSON
# specs passed to the package as `params` (so Snakemake's params trigger sees exactly
# the settings each job depends on).
import json
import shlex
from pathlib import Path

import emergence
from emergence.config import MODEL_NAME_PATTERN, TASK_NAME_PATTERN, StudyConfig, model_grid
from emergence.errors import ConfigError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:
    STUDY = StudyConfig.from_dict(config)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
# Also fill in the schema's defaults in `config` itself, as Snakemake does.
validate(config, schema="../schemas/config.schema.yaml")

RUNS = {run.name: run for run in model_grid(STUDY)}
PACKAGE = Path(emergence.__file__).parent
# Jobs run `python -m emergence`; this makes the package importable there too when a
# job runs in its own conda environment (--use-conda), which lacks the package.
# (Braces doubled twice: once for str.format, once for Snakemake's own formatting.)
shell.prefix("export PYTHONPATH={}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ".format(shlex.quote(str(PACKAGE.parent))))


wildcard_constraints:
    model=MODEL_NAME_PATTERN,
    task=TASK_NAME_PATTERN,


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def code(*modules):
    """Package modules a rule's result depends on: Snakemake's code trigger does not
    see inside imported modules, so they are listed as inputs."""
    return [str(PACKAGE / m) for m in ("__init__.py", "config.py", "errors.py", "files.py", *modules)]


def corpus_spec():
    return as_json({"seed": config["seed"], "corpus": config["corpus"]})


def corpus_inputs():
    if config["corpus"]["source"] == "files":
        return [f["path"] for f in config["corpus"]["files"]]
    return []


def tokenizer_spec():
    return as_json({"tokenizer": config["tokenizer"]})


def tokenizer_inputs():
    return [config["tokenizer"]["path"]] if config["tokenizer"]["path"] else []


def run_spec(wildcards):
    return as_json(RUNS[wildcards.model].to_dict())


def training_spec():
    return as_json(config["training"])


def task_spec(wildcards):
    """What a task's requests depend on: its own settings, the corpus generator, the context."""
    return as_json({
        "seed": config["seed"],
        "corpus": config["corpus"],
        "models": {"context": config["models"]["context"]},
        "tasks": {wildcards.task: config["tasks"][wildcards.task]},
    })


def task_inputs(wildcards):
    path = config["tasks"][wildcards.task].get("path")
    return [path] if path else []


def trained_models():
    return expand("results/models/{model}/model.json", model=RUNS)


def evaluations():
    return expand("results/evals/{model}/{task}.parquet", model=RUNS, task=config["tasks"])


def all_outputs():
    return trained_models() + evaluations()
