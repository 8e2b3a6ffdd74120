"""The `emergence` command: one subcommand per workflow stage, plus benchmarks.

Snakemake rules call these subcommands; each is usable on its own. A problem with the
user's input ends the command with one line on stderr naming it, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emergence.errors import EmergenceError


def _spec(text: str) -> dict:
    """A JSON object given inline, or as @path to a JSON or YAML file."""
    if text.startswith("@"):
        import yaml

        return yaml.safe_load(Path(text[1:]).read_text())
    return json.loads(text)


def cmd_corpus(args) -> None:
    from emergence.config import StudyConfig
    from emergence.corpus import build_corpus

    meta = build_corpus(StudyConfig.from_dict(_spec(args.spec)), Path(args.out))
    print(json.dumps({k: meta[k] for k in ("train", "val") if k in meta}))


def cmd_tokenizer(args) -> None:
    from emergence.config import StudyConfig
    from emergence.tokenizer import install_user_tokenizer, train_tokenizer

    cfg = StudyConfig.from_dict(_spec(args.spec)).tokenizer
    if cfg.path:
        install_user_tokenizer(Path(cfg.path), Path(args.out))
    else:
        train_tokenizer(Path(args.corpus) / "train.jsonl", cfg.vocab_size, Path(args.out))


def cmd_shards(args) -> None:
    from emergence.shards import write_shards

    print(json.dumps(write_shards(Path(args.corpus), Path(args.tokenizer), Path(args.out))))


def cmd_train(args) -> None:
    from emergence.config import ModelRun, StudyConfig, find_run
    from emergence.train import train

    if args.config:
        from emergence.config import load_config

        cfg = load_config(args.config)
        run, tcfg = find_run(cfg, args.model), cfg.training
    else:
        run = ModelRun.from_dict(_spec(args.run))
        tcfg = StudyConfig.from_dict({"training": _spec(args.training)}).training
    out = Path(args.out) if args.out else Path("results/models") / run.name
    summary = train(run, tcfg, Path(args.data), out, progress=not args.quiet)
    print(json.dumps({k: summary[k] for k in ("name", "steps", "final_val_loss", "final_val_bpb")}))


def cmd_task(args) -> None:
    from emergence.config import StudyConfig
    from emergence.files import write_json
    from emergence.tasks import build_task
    from emergence.tokenizer import load_tokenizer

    cfg = StudyConfig.from_dict(_spec(args.spec))
    task = build_task(cfg.tasks[args.name], cfg, Path(args.corpus), load_tokenizer(Path(args.tokenizer)), cfg.models.context)
    write_json(Path(args.out), task)
    print(json.dumps({k: task[k] for k in ("task", "contamination", "skipped")} | {"requests": len(task["requests"])}))


def cmd_evaluate(args) -> None:
    from emergence.evaluate import evaluate, headline, write_table
    from emergence.tokenizer import load_tokenizer

    task = json.loads(Path(args.task).read_text())
    rows, samples = evaluate(Path(args.model_dir), task, load_tokenizer(Path(args.tokenizer)), data_dir=Path(args.data),
                             progress=lambda step: print(f"evaluated checkpoint {step}", file=sys.stderr, flush=True))
    write_table(samples, Path(args.samples))
    write_table(rows, Path(args.out))
    print(json.dumps(headline(task, rows)))


def cmd_eval(args) -> None:
    from emergence.config import StudyConfig, TaskSpec
    from emergence.errors import InputError
    from emergence.evaluate import evaluate, headline, write_table
    from emergence.tasks import KINDS, chance, build_requests
    from emergence.tokenizer import load_tokenizer

    ckpt = Path(args.checkpoint)
    if not ckpt.name.isdigit():
        raise InputError(f"--checkpoint {ckpt}: expected a checkpoint directory named by its step, e.g. results/models/M/checkpoints/245")
    model_dir = ckpt.parent.parent
    tok = load_tokenizer(Path(args.tokenizer))
    spec = TaskSpec(name=Path(args.task_file).stem, kind=args.format, path=args.task_file, n_items=10**9, demo_pool=0,
                    shots=(args.shots,), prompts=("cot" if args.cot else "standard",), max_new_tokens=args.max_new_tokens,
                    cot_max_new_tokens=args.max_new_tokens)
    context = json.loads((model_dir / "model.json").read_text())["model"]["context"] if (model_dir / "model.json").exists() else 10**9
    built = build_requests(spec, StudyConfig(), lambda t: len(tok.encode(t).ids), context)
    if not built["requests"]:
        raise InputError(f"{args.task_file}: no prompt fits the model's context of {context} tokens with {args.shots} shots")
    n_choices = max((len(i["choices"]) for i in built["items"]), default=0)
    task = {"task": spec.name, "kind": spec.kind, "spec": spec.__dict__, "requests": built["requests"],
            "chance": chance(KINDS[spec.kind], n_choices)}
    rows, samples = evaluate(model_dir, task, tok, steps=[int(ckpt.name)])
    write_table(rows, Path(args.out))
    if args.samples:
        write_table(samples, Path(args.samples))
    print(json.dumps(headline(task, rows)))


def cmd_collect(args) -> None:
    from emergence.results import results_table, training_table, write_tables

    model_dirs = [Path(p).parent for p in args.models]
    out = Path(args.out_dir)
    table = results_table(model_dirs, [Path(p) for p in args.evals])
    write_tables(training_table(model_dirs), out / "training.csv")
    write_tables(table, out / "results.csv", out / "results.parquet")
    print(json.dumps({"rows": len(table), "models": len(model_dirs), "tasks": int(table["task"].nunique())}))


def cmd_analyze(args) -> None:
    import pandas as pd

    from emergence.analysis import collapse_table, scaling_fit, thresholds_table
    from emergence.config import StudyConfig
    from emergence.files import write_json
    from emergence.results import write_tables

    cfg = StudyConfig.from_dict(_spec(args.spec)).analysis
    tables = Path(args.tables)
    results = pd.read_parquet(tables / "results.parquet")
    thresholds = thresholds_table(results, cfg.n_boot, cfg.seed, cfg.level, cfg.bootstrap)
    write_tables(thresholds, tables / "thresholds.csv")
    write_tables(collapse_table(results), tables / "collapse.csv")
    fit, points = scaling_fit(pd.read_csv(tables / "training.csv"), cfg.n_boot, cfg.seed)
    write_json(tables / "scaling.json", {"fit": fit, "points": points.to_dict("records")})
    print(thresholds[["task", "prompt", "metric", "verdict", "threshold", "ci_low", "ci_high"]].to_string(index=False))


def cmd_figures(args) -> None:
    from emergence.config import StudyConfig
    from emergence.plots import make_figures

    written = make_figures(Path(args.tables), Path(args.out_dir), StudyConfig.from_dict(_spec(args.spec)).plots)
    print(json.dumps({"figures": len(written)}))


def cmd_report(args) -> None:
    import pandas as pd

    from emergence.config import validate
    from emergence.report import load_json, write_report

    tables = Path(args.tables)
    write_report(
        Path(args.out), config=validate(_spec(args.spec)), thresholds=pd.read_csv(tables / "thresholds.csv"),
        collapse=pd.read_csv(tables / "collapse.csv"), scaling=load_json(tables / "scaling.json").get("fit", {}),
        figures_dir=Path(args.figures), bench_dir=Path(args.benchmarks), corpus_meta=load_json(Path(args.corpus_meta)),
        results=pd.read_parquet(tables / "results.parquet"),
    )


def cmd_fit_scaling(args) -> None:
    from emergence.scaling import fit_scaling_file

    fit = fit_scaling_file(Path(args.file))
    print(json.dumps({k: v for k, v in fit.items() if not callable(v)}))


def cmd_fit_threshold(args) -> None:
    from emergence.thresholds import fit_threshold_file

    print(json.dumps(fit_threshold_file(Path(args.file))))


def cmd_bench_eval(args) -> None:
    from emergence.bench import bench_eval

    print(json.dumps(bench_eval(args.config, args.size, args.new_tokens, args.batch_size)))


def cmd_bench_train(args) -> None:
    from emergence.bench import bench_train

    print(json.dumps(bench_train(args.config, args.size, args.seconds, args.batch_size, args.steps_per_call)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emergence", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="build the training and validation corpus")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): seed and corpus sections")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer (or install the user's)")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): tokenizer section")
    p.add_argument("--corpus", required=True, help="corpus directory (train.jsonl)")
    p.add_argument("--out", required=True, help="tokenizer.json to write")
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser("shards", help="tokenize the corpus into memory-mappable .npy shards")
    p.add_argument("--corpus", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_shards)

    p = sub.add_parser("train", help="train one model of the grid (resumes from its latest checkpoint)")
    p.add_argument("--data", required=True, help="directory with train.npy, val.npy, meta.json")
    p.add_argument("--config", help="a study config file; with --model picks the run from its grid")
    p.add_argument("--model", help="model name in the grid (with --config)")
    p.add_argument("--run", help="the run as JSON (size, context, tokens, seed): what the workflow passes")
    p.add_argument("--training", default="{}", help="training section as JSON")
    p.add_argument("--out", help="output directory (default results/models/<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("task", help="build a task's evaluation requests (held out, checked against the corpus)")
    p.add_argument("--spec", required=True, help="study config (JSON, or @file): seed, corpus, models.context, tasks")
    p.add_argument("--name", required=True, help="task name in the config")
    p.add_argument("--corpus", required=True, help="corpus directory (train.jsonl, for the contamination check)")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True, help="task file (JSON) to write")
    p.set_defaults(func=cmd_task)

    p = sub.add_parser("evaluate", help="evaluate every checkpoint of a model on a task file")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--task", required=True, help="task file written by `emergence task`")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--data", required=True, help="token shards directory (val.npy, for the ICL score)")
    p.add_argument("--out", required=True, help="metrics table (.parquet)")
    p.add_argument("--samples", required=True, help="per-sample table (.parquet)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("eval", help="evaluate one checkpoint on a benchmark file (MMLU or GSM8K layout)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint directory, e.g. results/models/M/checkpoints/245")
    p.add_argument("--task-file", required=True, help="MMLU-layout CSV/JSONL or GSM8K-layout JSONL")
    p.add_argument("--format", required=True, choices=["mmlu", "gsm8k"])
    p.add_argument("--shots", type=int, default=0, help="demonstrations drawn from the other items of the file")
    p.add_argument("--cot", action="store_true", help="worked solutions in the demonstrations (gsm8k)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--tokenizer", default="results/tokenizer/tokenizer.json")
    p.add_argument("--out", required=True, help="metrics table (.parquet)")
    p.add_argument("--samples", help="also write the per-sample table here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("collect", help="join evaluations with validation losses into reports/tables/results.*")
    p.add_argument("--models", nargs="+", required=True, help="model.json files")
    p.add_argument("--evals", nargs="+", required=True, help="evaluation tables (.parquet)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("analyze", help="thresholds, collapse test and scaling law from reports/tables")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): analysis section")
    p.add_argument("--tables", required=True)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("figures", help="draw every figure from reports/tables")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): plots section")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("report", help="write the published HTML page of a study")
    p.add_argument("--spec", required=True, help="the study's config (JSON, or @file)")
    p.add_argument("--tables", required=True)
    p.add_argument("--figures", required=True)
    p.add_argument("--benchmarks", default="benchmarks")
    p.add_argument("--corpus-meta", default="results/corpus/meta.json")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("fit-scaling", help="fit L(N, D) = E + A/N^alpha + B/D^beta to a CSV (params, tokens, loss)")
    p.add_argument("file")
    p.set_defaults(func=cmd_fit_scaling)

    p = sub.add_parser("fit-threshold", help="loss threshold of a CSV (loss, value; optional model, chance, n)")
    p.add_argument("file")
    p.set_defaults(func=cmd_fit_threshold)

    p = sub.add_parser("bench", help="benchmarks that print figures (last line JSON)")
    bench = p.add_subparsers(dest="what", required=True)
    b = bench.add_parser("train", help="training throughput against this machine's float32 matmul peak")
    b.add_argument("--config", default="config/config.yaml", help="study config whose grid holds the model")
    b.add_argument("--size", help="size name from the config (default: the largest)")
    b.add_argument("--seconds", type=float, default=20.0, help="timed training seconds (after compilation)")
    b.add_argument("--batch-size", type=int, help="override the config's batch size")
    b.add_argument("--steps-per-call", type=int, help="override the config's optimizer steps per jitted call")
    b.set_defaults(func=cmd_bench_train)
    b = bench.add_parser("eval", help="multiple-choice items/s and generation tokens/s with and without the KV cache")
    b.add_argument("--config", default="config/config.yaml")
    b.add_argument("--size", help="size name from the config (default: the largest)")
    b.add_argument("--new-tokens", type=int, default=64)
    b.add_argument("--batch-size", type=int, default=32)
    b.set_defaults(func=cmd_bench_eval)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "train" and not (args.run or (args.config and args.model)):
        sys.exit("emergence train: give --run JSON, or --config FILE with --model NAME")
    try:
        args.func(args)
    except EmergenceError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
