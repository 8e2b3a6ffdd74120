# Instruction-tuning stage (instruct.enabled; docs/instruct.md): the instruction dataset once
# (tuning families and held-out families, checked against the corpus), then one job per
# model that tunes its selected checkpoints on the tuning families, with the loss on the
# responses only, and evaluates each tuned checkpoint and its untuned base zero-shot on the
# held-out families. Tunings live in results/instruct/{model}/ and are deliberately not
# declared as outputs, so a killed job resumes from them.


rule instruction_data:
    input:
        "results/corpus/train.jsonl",
        tokenizer="results/tokenizer/tokenizer.json",
        code=code("instruction_data"),
    output:
        "results/instruct/data.json",
    params:
        spec=instruction_data_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/instruct/data.log",
    shell:
        "$EMERGENCE_PYTHON -m emergence instruction-data --spec {params.spec:q} --corpus results/corpus"
        " --tokenizer {input.tokenizer:q} --out {output:q}"
        " > {log:q} 2>&1"


rule instruct:
    input:
        summary="results/models/{model}/model.json",
        train_log="results/models/{model}/train_log.jsonl",
        dataset="results/instruct/data.json",
        tokenizer="results/tokenizer/tokenizer.json",
        data=multiext("results/data/", "train.npy", "val.npy", "meta.json"),
        code=code("instruct"),
    output:
        table="results/instruct/{model}.parquet",
        samples="results/instruct/{model}.samples.parquet",
    params:
        spec=instruct_spec(),
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/instruct/{model}.log",
    benchmark:
        "benchmarks/instruct/{model}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence instruct --model-dir results/models/{wildcards.model} --dataset {input.dataset:q}"
        " --spec {params.spec:q} --tokenizer {input.tokenizer:q} --data results/data"
        " --out results/instruct/{wildcards.model} --quiet > {log:q} 2>&1"
