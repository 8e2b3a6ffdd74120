# Training stage: one job per model of the grid; under the WSD schedule (the default) one
# trunk per (size, seed) first, which each model of that size and seed branches off.
# One core each by default, as evaluation: two jobs side by side keep both cores busier than
# one job on both (one seed's training: 680 s against 722 s, within noise; docs/performance.md).
# A job given more threads (a cluster profile's set-threads, or --set-threads) splits them
# into as many JAX devices and shards each batch over them (data parallel).
# Checkpoints live in results/{models,trunks}/*/checkpoints/ and are deliberately not
# declared as outputs: Snakemake deletes the outputs of a failed job, and a rerun resumes
# from them.


rule trunk:
    input:
        data=multiext("results/data/", "train.npy", "val.npy", "meta.json"),
        code=code("trunk"),
    output:
        "results/trunks/{trunk}/trunk.json",
    params:
        trunk=trunk_spec,
        training=training_spec(),
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/trunks/{trunk}.log",
    benchmark:
        "benchmarks/trunks/{trunk}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence trunk --data results/data --trunk {params.trunk:q}"
        " --training {params.training:q} --logging \"$EMERGENCE_LOGGING\" --out results/trunks/{wildcards.trunk}"
        " --cpu-devices {threads} > {log:q} 2>&1"


rule train:
    input:
        unpack(trunk_input),
        data=multiext("results/data/", "train.npy", "val.npy", "meta.json"),
        code=code("train"),
    output:
        log="results/models/{model}/train_log.jsonl",
        summary="results/models/{model}/model.json",
    params:
        run=run_spec,
        training=training_spec(),
        trunk=trunk_arg,
    threads: 1
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
        " --logging \"$EMERGENCE_LOGGING\" {params.trunk} --out results/models/{wildcards.model} --cpu-devices {threads}"
        " > {log:q} 2>&1"


# Optional (long_context.extend.enabled): a model's final checkpoint fine-tuned at s x its
# context with a position scaling, then probed by the long-context stage beside the model.
rule extend:
    input:
        summary="results/models/{model}/model.json",
        data=multiext("results/data/", "train.npy", "val.npy", "meta.json"),
        code=code("extend"),
    output:
        log="results/extended/{model}/train_log.jsonl",
        summary="results/extended/{model}/model.json",
    params:
        spec=extend_spec(),
    threads: 1
    resources:
        gpus=0,
    conda:
        "../../environment.yml"
    log:
        "logs/extend/{model}.log",
    benchmark:
        "benchmarks/extend/{model}.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence extend --model-dir results/models/{wildcards.model} --spec {params.spec:q}"
        " --data results/data --out results/extended/{wildcards.model} --quiet --cpu-devices {threads} > {log:q} 2>&1"
