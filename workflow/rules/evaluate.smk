# Evaluation stage: each task's requests are built once (held out from the corpus and
# checked against it), then one job per (model, task) evaluates every checkpoint.


rule task:
    input:
        "results/corpus/train.jsonl",
        task_inputs,
        tokenizer="results/tokenizer/tokenizer.json",
        code=code("evaluate/tasks.py", "evaluate/items.py", "evaluate/metrics.py", "evaluate/benchmark_files.py", "data"),
    output:
        "results/tasks/{task}.json",
    params:
        spec=task_spec,
    conda:
        "../../environment.yml"
    log:
        "logs/tasks/{task}.log",
    shell:
        "$EMERGENCE_PYTHON -m emergence task --spec {params.spec:q} --name {wildcards.task} --corpus results/corpus"
        " --tokenizer {input.tokenizer:q} --out {output:q} > {log:q} 2>&1"


rule evaluate:
    input:
        summary="results/models/{model}/model.json",
        train_log="results/models/{model}/train_log.jsonl",
        task="results/tasks/{task}.json",
        tokenizer="results/tokenizer/tokenizer.json",
        val="results/data/val.npy",
        code=code("evaluate", "model", "data/shards.py", "data/tokenizer.py"),
    output:
        table="results/evals/{model}/{task}.parquet",
        samples="results/evals/{model}/{task}.samples.parquet",
    # One core each: an evaluation job is mostly start-up and small batches, so two
    # at once on two cores finish sooner than one job on both.
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/evals/{model}/{task}.log",
    benchmark:
        "benchmarks/evals/{model}/{task}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence evaluate --model-dir results/models/{wildcards.model} --task {input.task:q}"
        " --tokenizer {input.tokenizer:q} --data results/data --out {output.table:q} --samples {output.samples:q}"
        " > {log:q} 2>&1"
