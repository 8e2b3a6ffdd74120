# A loss-versus-emergence scaling study: corpus -> tokenizer -> shards -> train every
# model of the grid -> evaluate every checkpoint on every task -> results table ->
# thresholds, collapse test, scaling law -> figures -> reports/index.html.
# One rule file per stage, named as its package folder under src/emergence/.
# Run `snakemake`: the default profile (profiles/default, loaded automatically) reads
# config/config.yaml; `--configfile other.yaml` replaces it rather than merging into it.
# Edit the config and only the affected stages rerun.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/instruct.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
