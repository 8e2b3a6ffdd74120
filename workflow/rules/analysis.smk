# Analysis stage: results table -> thresholds, collapse test, scaling law -> figures ->
# the published report. Plot options reach only the figures and report jobs.


rule results:
    input:
        summaries=trained_models(),
        logs=expand("results/models/{model}/train_log.jsonl", model=RUNS),
        evals=evaluations(),
        code=code("results.py"),
    output:
        csv=report("reports/tables/results.csv", caption="../report/results.rst", category="Tables"),
        parquet="reports/tables/results.parquet",
        training="reports/tables/training.csv",
    conda:
        "../../environment.yml"
    log:
        "logs/results.log",
    shell:
        "$EMERGENCE_PYTHON -m emergence collect --models {input.summaries:q} --evals {input.evals:q}"
        " --out-dir reports/tables > {log:q} 2>&1"


rule analyze:
    input:
        results="reports/tables/results.parquet",
        training="reports/tables/training.csv",
        code=code("analysis.py", "thresholds.py", "collapse.py", "scaling.py"),
    output:
        thresholds=report("reports/tables/thresholds.csv", caption="../report/thresholds.rst", category="Tables"),
        collapse=report("reports/tables/collapse.csv", caption="../report/collapse.rst", category="Tables"),
        scaling="reports/tables/scaling.json",
    params:
        spec=analysis_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/analyze.log",
    benchmark:
        "benchmarks/analyze.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence analyze --spec {params.spec:q} --tables reports/tables > {log:q} 2>&1"


rule figures:
    input:
        results="reports/tables/results.parquet",
        training="reports/tables/training.csv",
        thresholds="reports/tables/thresholds.csv",
        scaling="reports/tables/scaling.json",
        code=code("figures.py", "plots.py", "analysis.py", "thresholds.py", "scaling.py"),
    output:
        figure_outputs(),
    params:
        spec=plots_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/figures.log",
    benchmark:
        "benchmarks/figures.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence figures --spec {params.spec:q} --tables reports/tables"
        " --out-dir reports/figures > {log:q} 2>&1"


rule report:
    input:
        figures=figure_outputs(),
        tables=multiext("reports/tables/", "thresholds.csv", "collapse.csv", "scaling.json", "results.parquet"),
        corpus="results/corpus/meta.json",
        code=code("report.py"),
    output:
        "reports/index.html",
    params:
        spec=study_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/report.log",
    shell:
        "$EMERGENCE_PYTHON -m emergence report --spec {params.spec:q} --tables reports/tables --figures reports/figures"
        " --benchmarks benchmarks --corpus-meta {input.corpus:q} --out {output:q} > {log:q} 2>&1"
