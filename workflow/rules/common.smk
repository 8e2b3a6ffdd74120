# Helpers shared by the rules: the validated config, the model grid, and the JSON
# specs passed to the package as `params` (so Snakemake's params trigger sees exactly
# the settings each job depends on).
import json
import shlex
import sys
from pathlib import Path

import emergence
from emergence.config import MODEL_NAME_PATTERN, TASK_NAME_PATTERN, StudyConfig, model_grid
from emergence.errors import ConfigError
from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

try:
    STUDY = StudyConfig.from_dict(config)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
# Also fill in the schema's defaults in `config` itself, as Snakemake does.
validate(config, schema="../schemas/config.schema.yaml")

RUNS = {run.name: run for run in model_grid(STUDY)}
PACKAGE = Path(emergence.__file__).parent
# Jobs run `$EMERGENCE_PYTHON -m emergence`: the interpreter running Snakemake (so PATH
# does not matter), or with --use-conda the job environment's own python. PYTHONPATH
# makes the package importable there too, as that environment lacks it.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if USE_CONDA else shlex.quote(sys.executable)
# (Braces doubled twice: once for str.format, once for Snakemake's own formatting.)
shell.prefix(
    "export PYTHONPATH={}${{{{PYTHONPATH:+:$PYTHONPATH}}}} EMERGENCE_PYTHON={}; ".format(shlex.quote(str(PACKAGE.parent)), PYTHON)
)


wildcard_constraints:
    model=MODEL_NAME_PATTERN,
    task=TASK_NAME_PATTERN,


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def code(*modules):
    """Package modules that compute a rule's result: Snakemake's code trigger does not see
    inside imported modules, so they are listed as inputs. (Config parsing is not among
    them: the validated settings themselves are each rule's params.)"""
    return [str(PACKAGE / m) for m in modules]


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


FIGURES = ["performance_vs_loss", "performance_vs_compute", "loss_curves", "metric_pairs", "cot_gain", "kshot",
           "label_settings", "icl_score", "scaling_fit"]


def figure_outputs():
    """Every figure as PNG (in the Snakemake report, with its caption) and the other formats."""
    out = [report(f"reports/figures/{name}.png", caption=f"../report/{name}.rst", category="Figures") for name in FIGURES]
    extra = [fmt for fmt in config["plots"]["formats"] if fmt != "png"]
    return out + expand("reports/figures/{name}.{fmt}", name=FIGURES, fmt=extra)


def analysis_spec():
    return as_json({"analysis": config["analysis"]})


def plots_spec():
    return as_json({"plots": config["plots"]})


def study_spec():
    return as_json(config)


def all_outputs():
    return trained_models() + evaluations() + ["reports/index.html"]
