# Analysis stage: every evaluation and loss log joined into the results table (collect),
# then thresholds (also of the instruction-tuning rows), the collapse test and the scaling
# law (analyze), and the forecast of the
# largest size from the smaller ones (forecast).


rule collect:
    input:
        summaries=trained_models(),
        logs=expand("results/models/{model}/train_log.jsonl", model=RUNS),
        evals=evaluations(),
        samples=[f.removesuffix(".parquet") + ".samples.parquet" for f in evaluations()],
        long_context=long_context_tables(),
        instruct=instruct_tables(),
        code=code("collect"),
    output:
        csv=report("reports/tables/results.csv", caption="../report/results.rst", category="Tables"),
        parquet="reports/tables/results.parquet",
        item_scores="reports/tables/items.parquet",
        training="reports/tables/training.csv",
        long_context="reports/tables/long_context.csv",
        instruct=multiext("reports/tables/instruct.", "csv", "parquet"),
    conda:
        "../../environment.yml"
    log:
        "logs/collect.log",
    shell:
        "$EMERGENCE_PYTHON -m emergence collect --models {input.summaries:q} --evals {input.evals:q}"
        " --long-context {input.long_context:q} --instruct {input.instruct:q} --out-dir reports/tables > {log:q} 2>&1"


rule analyze:
    input:
        results="reports/tables/results.parquet",
        item_scores="reports/tables/items.parquet",
        training="reports/tables/training.csv",
        instruct="reports/tables/instruct.parquet",
        code=code("analyze"),
    output:
        thresholds=report("reports/tables/thresholds.csv", caption="../report/thresholds.rst", category="Tables"),
        instruct="reports/tables/instruct_thresholds.csv",
        prompts="reports/tables/prompts.csv",
        collapse=report("reports/tables/collapse.csv", caption="../report/collapse.rst", category="Tables"),
        scaling="reports/tables/scaling.json",
        size_onsets="reports/tables/size_onsets.csv",
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


rule forecast:
    input:
        results="reports/tables/results.parquet",
        code=code("forecast"),
    output:
        table=report("reports/tables/forecast.csv", caption="../report/forecast.rst", category="Tables"),
        summary="reports/tables/forecast.json",
    params:
        spec=analysis_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/forecast.log",
    benchmark:
        "benchmarks/forecast.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence forecast {input.results:q} --hold-out --spec {params.spec:q}"
        " --out {output.table:q} > {log:q} 2>&1"
