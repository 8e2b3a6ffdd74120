"""The report stage's subcommands: `figure` (one figure of the registry) and `report` (the
study's published HTML page)."""

from __future__ import annotations

from pathlib import Path

from emergence.cli.arguments import raw_spec, study_config


def cmd_figure(args) -> dict:
    from emergence.report.figures import draw

    written = draw(args.name, Path(args.tables), Path(args.out_dir), study_config(args.spec).plots)
    return {"figure": args.name, "files": [str(p) for p in written]}


def cmd_report(args) -> dict:
    from emergence.config import validate
    from emergence.report.page import write_report

    config = validate(raw_spec(args.spec))
    write_report(
        Path(args.out),
        config=config,
        tables=Path(args.tables),
        figures_dir=Path(args.figures),
        bench_dir=Path(args.benchmarks),
    )
    return {"report": args.out}


def add_commands(sub) -> None:
    """`figure` and `report` under the command line's subcommands `sub`."""
    p = sub.add_parser("figure", help="draw one figure of the registry from reports/tables")
    p.add_argument("--name", required=True, help="figure name (see emergence.report.catalog)")
    p.add_argument("--spec", default="{}", help="study config (JSON, or @file): plots section")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("report", help="write the published HTML page of a study")
    p.add_argument("--spec", required=True, help="the study's config (JSON, or @file)")
    p.add_argument("--tables", required=True)
    p.add_argument("--figures", required=True)
    p.add_argument("--benchmarks", default="benchmarks")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
