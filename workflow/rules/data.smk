# Data stage: corpus -> tokenizer -> token shards.


rule corpus:
    input:
        corpus_inputs(),
        code("corpus"),
    output:
        train="results/corpus/train.jsonl",
        val="results/corpus/val.jsonl",
        meta="results/corpus/meta.json",
    params:
        spec=corpus_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/corpus.log",
    benchmark:
        "benchmarks/corpus.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence corpus --spec {params.spec:q} --out results/corpus > {log:q} 2>&1"


rule tokenizer:
    input:
        "results/corpus/train.jsonl",
        tokenizer_inputs(),
        code("tokenizer"),
    output:
        "results/tokenizer/tokenizer.json",
    params:
        spec=tokenizer_spec(),
    conda:
        "../../environment.yml"
    log:
        "logs/tokenizer.log",
    benchmark:
        "benchmarks/tokenizer.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence tokenizer --spec {params.spec:q} --corpus results/corpus --out {output:q} > {log:q} 2>&1"


rule shards:
    input:
        "results/corpus/train.jsonl",
        "results/corpus/val.jsonl",
        tokenizer="results/tokenizer/tokenizer.json",
        code=code("shards"),
    output:
        train="results/data/train.npy",
        val="results/data/val.npy",
        meta="results/data/meta.json",
    conda:
        "../../environment.yml"
    log:
        "logs/shards.log",
    benchmark:
        "benchmarks/shards.tsv"
    shell:
        "$EMERGENCE_PYTHON -m emergence shards --corpus results/corpus --tokenizer {input.tokenizer:q} --out results/data > {log:q} 2>&1"
