# Helpers shared by the rules: the validated config, the model grid, and the JSON
# specs passed to the package as `params` (so Snakemake's params trigger sees exactly
# the settings each job depends on).
import json
import shlex
import sys
from pathlib import Path

import emergence
from emergence.config import (
    MODEL_NAME_PATTERN,
    TASK_NAME_PATTERN,
    TRUNK_NAME_PATTERN,
    StudyConfig,
    model_grid,
    trunk_of,
    validate,
)
from emergence.errors import ConfigError
from emergence.io import folder_files, load_yaml
from emergence.report.catalog import BY_NAME as FIGURES
from emergence.sources import rule_code
from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The config is validated once, here, by the package (the JSON schema in
# workflow/schemas/, then the checks a schema cannot make); `config` itself gets the
# schema's defaults filled in, so rule params see every setting.
try:
    # Snakemake's YAML loader keeps the last of two equal keys; the package's rejects them.
    for _path in workflow.configfiles:
        load_yaml(Path(_path), ConfigError, what="config file")
    _validated = validate(config)
    config.clear()
    config.update(_validated)
    STUDY = StudyConfig.from_validated(config)
    RUNS = {run.name: run for run in model_grid(STUDY)}
    TRUNKS = {t.name: t for t in (trunk_of(STUDY, run) for run in RUNS.values())}
except ConfigError as e:
    raise WorkflowError(str(e)) from None

PACKAGE = Path(emergence.__file__).parent
# Jobs run `$EMERGENCE_PYTHON -m emergence`: the interpreter running Snakemake (so PATH
# does not matter), or with --use-conda the job environment's own python. PYTHONPATH
# makes the package importable there too, as that environment lacks it.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if USE_CONDA else shlex.quote(sys.executable)
# Every job shares a persistent JAX compilation cache under results/: evaluation jobs are
# short, and most of a short job is compiling the same shapes another job compiled before
# (same model size, same length buckets). A cached executable is the same program, so
# results do not change.
JAX_CACHE = "JAX_COMPILATION_CACHE_DIR=results/jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1"
# Where training jobs log besides their files (Weights & Biases), their `--logging`: in the
# environment, not in params, as it changes no result. Snakemake's code trigger compares a
# rule's shell command as written, without the prefix, so switching it retrains nothing
# (tests/test_workflow.py).
LOGGING = json.dumps({"study": config["study"], "logging": config["logging"]}, sort_keys=True)
# (Braces doubled twice: once for str.format, once for Snakemake's own formatting.)
shell.prefix(
    "export PYTHONPATH={}${{{{PYTHONPATH:+:$PYTHONPATH}}}} EMERGENCE_PYTHON={} EMERGENCE_LOGGING={} {}; ".format(
        shlex.quote(str(PACKAGE.parent)), PYTHON, shlex.quote(LOGGING).replace("{", "{{").replace("}", "}}"), JAX_CACHE
    )
)


wildcard_constraints:
    model=MODEL_NAME_PATTERN,
    task=TASK_NAME_PATTERN,
    trunk=TRUNK_NAME_PATTERN,
    figure="|".join(FIGURES),


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def code(rule):
    """The package source a rule's results depend on (emergence.sources: its command's modules
    and all they import), listed as input: Snakemake's code trigger does not see inside
    imported modules. (Config parsing is among them, but the validated settings themselves
    are each rule's params.)"""
    return [str(f) for f in rule_code(rule)]


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


def trunk_input(wildcards):
    """Under the WSD schedule a model branches off its size and seed's trunk."""
    if config["training"]["schedule"] != "wsd":
        return {}
    return {"trunk": f"results/trunks/{trunk_of(STUDY, RUNS[wildcards.model]).name}/trunk.json"}


def trunk_arg(wildcards):
    trunk = trunk_input(wildcards)
    return f"--trunk {Path(trunk['trunk']).parent}" if trunk else ""


def trunk_spec(wildcards):
    return as_json(TRUNKS[wildcards.trunk].to_dict())


def training_spec():
    return as_json(config["training"])


def task_spec(wildcards):
    """What a task's requests depend on: its own settings, the corpus generator, the context
    (an lm-eval task: its settings and folder only)."""
    if config["tasks"][wildcards.task]["kind"] == "lm_eval":
        return as_json({"tasks": {wildcards.task: config["tasks"][wildcards.task]}})
    return as_json({
        "seed": config["seed"],
        "corpus": config["corpus"],
        "models": {"context": config["models"]["context"]},
        "tasks": {wildcards.task: config["tasks"][wildcards.task]},
    })


def long_context_spec(wildcards):
    """What the long-context stage depends on: its settings, the seed, and its many-shot task."""
    lc = config["long_context"]
    tasks = {lc["many_shot_task"]: config["tasks"][lc["many_shot_task"]]} if lc["many_shot_task"] else {}
    return as_json({"seed": config["seed"], "corpus": config["corpus"], "long_context": lc, "tasks": tasks})


def extend_spec():
    """What an extension depends on: the training settings, the factor and its own settings."""
    lc = config["long_context"]
    spec = {k: config[k] for k in ("seed", "models", "training")}
    return as_json({**spec, "long_context": {"factor": lc["factor"], "extend": lc["extend"]}})


def extended_input(wildcards):
    """The long-context stage also probes a model's extended version, when extension is on."""
    if not config["long_context"]["extend"]["enabled"]:
        return {}
    return {"extended": f"results/extended/{wildcards.model}/model.json"}


def extended_arg(wildcards):
    return f"--extended results/extended/{wildcards.model}" if extended_input(wildcards) else ""


def long_context_tables():
    """One table per size (its largest budget, first seed), when the stage is on."""
    if not config["long_context"]["enabled"]:
        return []
    first, largest = config["models"]["seeds"][0], max(config["models"]["token_budgets"])
    probed = [m for m, r in RUNS.items() if r.seed == first and r.tokens == largest]
    return expand("results/long_context/{model}.parquet", model=probed)


_INSTRUCTION_DATA = ("tune_families", "heldout_families", "tune_examples", "n_items", "max_new_tokens")


def instruction_data_spec():
    """What the instruction dataset depends on: the seed, the corpus generator, its families and sizes."""
    ic = {k: config["instruct"][k] for k in _INSTRUCTION_DATA}
    return as_json({"seed": config["seed"], "corpus": config["corpus"], "instruct": {**ic, "enabled": True}})


def instruct_spec():
    """What a model's tunings and their evaluation depend on: the training settings and the
    instruct settings (which models are tuned is the job list's business, not a job's)."""
    models = {k: config["models"][k] for k in ("context", "token_budgets")}
    instruct = {**config["instruct"], "budgets": None}
    corpus = {"source": config["corpus"]["source"]}
    return as_json({"corpus": corpus, "models": models, "training": config["training"], "instruct": instruct})


def instruct_tables():
    """One table per tuned model (those of instruct.budgets), when the stage is on."""
    ic = config["instruct"]
    if not ic["enabled"]:
        return []
    budgets = set(ic["budgets"] or config["models"]["token_budgets"])
    return expand("results/instruct/{model}.parquet", model=[m for m, r in RUNS.items() if r.tokens in budgets])


def task_corpus(wildcards):
    """The corpus and tokenizer a generated task is checked against (none for an lm-eval task)."""
    if config["tasks"][wildcards.task]["kind"] == "lm_eval":
        return {}
    return {"corpus": "results/corpus/train.jsonl", "tokenizer": "results/tokenizer/tokenizer.json"}


def task_inputs(wildcards):
    """A task's file, or every file of an lm-eval task's folder (its YAML and data)."""
    path = config["tasks"][wildcards.task].get("path")
    if not path:
        return []
    if Path(path).is_dir():
        return [str(p) for p in folder_files(path)]
    return [path]


def trained_models():
    return expand("results/models/{model}/model.json", model=RUNS)


def evaluations():
    return expand("results/evals/{model}/{task}.parquet", model=RUNS, task=config["tasks"])


def figure_outputs(name):
    """The files of figure `name` (or of the `{figure}` wildcard): the PNG in the Snakemake
    report, captioned from the registry, and the other configured formats."""
    extra = [fmt for fmt in config["plots"]["formats"] if fmt != "png"]
    png = report(f"reports/figures/{name}.png", caption="../report/figure.rst", category="Figures")
    return [png] + [f"reports/figures/{name}.{fmt}" for fmt in extra]


def figure_files():
    """Every file of every figure of the registry."""
    formats = sorted(set(config["plots"]["formats"]) | {"png"})
    return expand("reports/figures/{name}.{fmt}", name=FIGURES, fmt=formats)


def figure_tables(wildcards):
    return [f"reports/tables/{t}" for t in FIGURES[wildcards.figure].tables]


def analysis_spec():
    return as_json({"analysis": config["analysis"]})


def plots_spec():
    return as_json({"plots": config["plots"]})


def study_spec():
    return as_json(config)


def all_outputs():
    return trained_models() + evaluations() + ["reports/index.html"]
