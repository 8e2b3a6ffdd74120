# Evaluation stage: each task's requests are built once (held out from the corpus and
# checked against it), then one job per model evaluates every checkpoint on every task
# (one start-up and one read of each checkpoint). When one task changes, the job reruns
# but evaluates only that task: the others' tables are reused (emergence.evaluate.memo).
# With long_context.enabled, one more job per model of the first seed reads its final
# checkpoint past the training context under each position scaling (docs/long_context.md).


rule task:
    input:
        unpack(task_corpus),
        task_inputs,
        code=code("task"),
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
        " --tokenizer results/tokenizer/tokenizer.json --out {output:q} > {log:q} 2>&1"


rule evaluate:
    input:
        summary="results/models/{model}/model.json",
        train_log="results/models/{model}/train_log.jsonl",
        tasks=expand("results/tasks/{task}.json", task=config["tasks"]),
        tokenizer="results/tokenizer/tokenizer.json",
        val="results/data/val.npy",
        code=code("evaluate"),
    output:
        tables=expand("results/evals/{{model}}/{task}.parquet", task=config["tasks"]),
        samples=expand("results/evals/{{model}}/{task}.samples.parquet", task=config["tasks"]),
    # One core each: an evaluation job is mostly small batches, so two at once on two
    # cores finish sooner than one job on both.
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/evals/{model}.log",
    benchmark:
        "benchmarks/evals/{model}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence evaluate --model-dir results/models/{wildcards.model} --task {input.tasks:q}"
        " --tokenizer {input.tokenizer:q} --data results/data --out-dir results/evals/{wildcards.model}"
        " > {log:q} 2>&1"


rule long_context:
    input:
        unpack(extended_input),
        summary="results/models/{model}/model.json",
        tokenizer="results/tokenizer/tokenizer.json",
        val="results/data/val.npy",
        code=code("long_context"),
    output:
        "results/long_context/{model}.parquet",
    params:
        spec=long_context_spec,
        extended=extended_arg,
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/long_context/{model}.log",
    benchmark:
        "benchmarks/long_context/{model}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence long-context --model-dir results/models/{wildcards.model} --data results/data"
        " --spec {params.spec:q} --tokenizer {input.tokenizer:q} --out {output:q}"
        " {params.extended} > {log:q} 2>&1"
