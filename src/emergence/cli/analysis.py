"""The analysis stage's subcommands: `collect` (evaluations joined with validation losses),
`analyze` (thresholds, collapse test and scaling law), `forecast` (a run from smaller ones),
and fits and comparisons of published CSVs: `fit-threshold`, `fit-scaling`, `compare`, and
`import-lm-eval` (lm-evaluation-harness results of a model family as a ladder CSV)."""

from __future__ import annotations

import sys
from pathlib import Path

from emergence.cli.arguments import count, optional_path, positive, probability, study_config


def cmd_collect(args) -> dict:
    from emergence.analysis.collect import collect

    table = collect(
        [Path(p) for p in args.models],
        [Path(p) for p in args.evals],
        Path(args.out_dir),
        [Path(p) for p in args.long_context],
        [Path(p) for p in args.instruct],
    )
    return {"rows": len(table), "models": len(args.models), "tasks": int(table["task"].nunique())}


def cmd_analyze(args) -> dict:
    from emergence.analysis.analyze import analyze, pooled

    thresholds = analyze(study_config(args.spec).analysis, Path(args.tables))
    if not len(thresholds):
        return {"thresholds": 0, "emergent": 0}
    shown = ["task", "prompt", "metric", "seed", "verdict", "threshold", "ci_low", "ci_high"]
    print(thresholds[shown].to_string(index=False), file=sys.stderr)
    main = pooled(thresholds)
    return {"thresholds": len(main), "emergent": int((main["verdict"] == "emergent").sum())}


def cmd_forecast(args) -> dict:
    from emergence.analysis.forecast import run_forecast

    return run_forecast(
        Path(args.runs),
        study_config(args.spec).analysis,
        params=args.params,
        tokens=args.tokens,
        via=args.via,
        runs=args.runs_at_target,
        crossing=args.crossing,
        hold_out=args.hold_out,
        out=optional_path(args.out),
    )


def cmd_fit_threshold(args) -> dict:
    from emergence.analysis.thresholds import fit_threshold_file

    return fit_threshold_file(Path(args.file), **({"max_width": args.max_width} if args.max_width else {}))


def cmd_fit_scaling(args) -> dict:
    from emergence.analysis.scaling import fit_scaling_file

    return fit_scaling_file(Path(args.file))


def cmd_compare(args) -> dict:
    from emergence.analysis.replication import agree, compare_thresholds

    table = compare_thresholds(Path(args.a), Path(args.b), args.level)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    differ = int((table["differ"].dropna() == True).sum())  # noqa: E712
    return {
        "rows": len(table),
        "same_verdict": int(table["same_verdict"].sum()),
        "differ": differ,
        "agree": agree(table),
    }


def cmd_import_lm_eval(args) -> dict:
    from emergence.analysis.lm_eval_results import import_results
    from emergence.io import check_output, write_table

    out = check_output(args.out, "--out")
    table = import_results([Path(p) for p in args.results], Path(args.models), args.metric)
    write_table(table, csv=out)
    return {"rows": len(table), "checkpoints": int(table["model"].nunique()), "tasks": int(table["task"].nunique())}


def add_commands(sub) -> None:
    """`collect`, `analyze`, `forecast`, `fit-threshold`, `fit-scaling` and `compare` under the
    command line's subcommands `sub`."""
    p = sub.add_parser("collect", help="join evaluations with validation losses into reports/tables/results.*")
    p.add_argument("--models", nargs="+", required=True, help="model.json files")
    p.add_argument("--evals", nargs="+", required=True, help="evaluation tables (.parquet)")
    p.add_argument("--long-context", nargs="*", default=[], help="long-context stage tables (.parquet)")
    p.add_argument("--instruct", nargs="*", default=[], help="instruction-tuning stage tables (.parquet)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("analyze", help="thresholds, collapse test and scaling law from reports/tables")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): analysis section")
    p.add_argument("--tables", required=True)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("import-lm-eval", help="lm-eval results files of a model family -> a ladder CSV for forecast")
    p.add_argument("results", nargs="+", help="lm-eval results JSON files, one per checkpoint")
    p.add_argument("--models", required=True, help="CSV: model (as the results name it), params, tokens[, run]")
    p.add_argument("--metric", default="acc", help="the task metric to import (default acc)")
    p.add_argument("--out", required=True, help="ladder CSV to write")
    p.set_defaults(func=cmd_import_lm_eval)

    p = sub.add_parser(
        "forecast",
        help="forecast a run from smaller ones: (N, D) -> loss -> score, or 6ND -> score, per task the better held out",
    )
    p.add_argument("runs", help="CSV (run, params, tokens, task, value, loss; docs/forecast.md) or results.parquet")
    p.add_argument("--params", type=positive, help="parameters N of the run to forecast")
    p.add_argument("--tokens", type=positive, help="training tokens D of the run to forecast")
    p.add_argument("--via", default="loss", help="the intermediate loss column (default loss; e.g. a per-task bpb)")
    p.add_argument("--runs-at-target", type=count(1), default=1, help="prediction intervals for the mean of k runs")
    p.add_argument("--crossing", action="store_true", help="compute and (N, D) at which each emergent onset is reached")
    p.add_argument(
        "--hold-out", action="store_true", help="forecast the largest size from the others: each method's error"
    )
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): analysis section (n_boot, seed, level)")
    p.add_argument("--out", help="also write the JSON here (--hold-out: the table as CSV, a .json beside it)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser(
        "fit-threshold", help="loss threshold of a CSV (loss, value; optional model, run or seed, chance, null, n)"
    )
    p.add_argument("file")
    p.add_argument(
        "--max-width",
        type=positive,
        help="widest onset interval (nats) that locates an onset (default: the analysis's own)",
    )
    p.set_defaults(func=cmd_fit_threshold)

    p = sub.add_parser("fit-scaling", help="fit L(N, D) = E + A/N^alpha + B/D^beta to a CSV (params, tokens, loss)")
    p.add_argument("file")
    p.set_defaults(func=cmd_fit_scaling)

    p = sub.add_parser(
        "compare", help="do two studies agree? same verdicts, and no significant difference of emergent onsets"
    )
    p.add_argument("a", help="thresholds.csv of one study")
    p.add_argument("b", help="thresholds.csv of the other")
    p.add_argument("--level", type=probability, default=0.95, help="level of both tables' intervals (default 0.95)")
    p.set_defaults(func=cmd_compare)
