# Training stage: one job per model of the grid. Checkpoints live in
# results/models/{model}/checkpoints/ and are deliberately not declared as outputs:
# Snakemake deletes the outputs of a failed job, and a rerun resumes from them.


rule train:
    input:
        data=multiext("results/data/", "train.npy", "val.npy", "meta.json"),
        code=code(*training_stage.CODE, "data/shards.py"),
    output:
        log="results/models/{model}/train_log.jsonl",
        summary="results/models/{model}/model.json",
    params:
        run=run_spec,
        training=training_spec(),
    threads: workflow.cores
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence train --data results/data --run {params.run:q} --training {params.training:q}"
        " --out results/models/{wildcards.model} > {log:q} 2>&1"
