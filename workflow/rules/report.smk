# Report stage: one job per figure of the registry (emergence.report.catalog), then the
# published page. Plot options reach only these jobs.


rule figure:
    input:
        figure_tables,
        code=code("figure"),
    output:
        figure_outputs("{figure}"),
    params:
        spec=plots_spec(),
        caption=lambda wildcards: FIGURES[wildcards.figure].caption,
    conda:
        "../../environment.yml"
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "benchmarks/figures/{figure}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence figure --name {wildcards.figure} --spec {params.spec:q} --tables reports/tables"
        " --out-dir reports/figures > {log:q} 2>&1"


rule report:
    input:
        figures=figure_files(),
        tables=multiext(
            "reports/tables/",
            "thresholds.csv",
            "prompts.csv",
            "collapse.csv",
            "scaling.json",
            "size_onsets.csv",
            "results.parquet",
            "forecast.csv",
            "forecast.json",
            "long_context.csv",
            "instruct.parquet",
            "instruct_thresholds.csv",
        ),
        code=code("report"),
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
        " --benchmarks benchmarks --out {output:q} > {log:q} 2>&1"
