"""The published report: one self-contained HTML page (figures embedded) of a study."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from emergence.analysis.collect import read_results
from emergence.evaluate.metrics import MAIN, METRICS
from emergence.io import atomic_write, read_json
from emergence.report.catalog import FIGURES


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0, classes="t")


# Benchmark files by stage (the first part of their path under benchmarks/), in DAG order.
_STAGES = {"corpus": "corpus", "tokenizer": "tokenizer", "shards": "shards", "trunks": "train (WSD trunks)",
           "train": "train", "evals": "evaluate", "analyze": "analyse", "figures": "figures"}  # fmt: skip


def stage_times(bench_dir: Path) -> pd.DataFrame:
    """Per stage, from Snakemake's benchmark files: jobs, wall-clock and CPU seconds summed
    over jobs, and CPU utilisation (CPU seconds / wall seconds: the cores a job kept busy)."""
    rows = []
    for f in sorted(Path(bench_dir).rglob("*.tsv")):
        stage = f.relative_to(bench_dir).parts[0].removesuffix(".tsv")
        last = pd.read_csv(f, sep="\t").iloc[-1]
        rows.append({"stage": _STAGES.get(stage, stage), "seconds": float(last["s"]), "cpu": float(last["cpu_time"])})
    if not rows:
        return pd.DataFrame(columns=["stage", "jobs", "job seconds", "CPU seconds", "CPU utilisation"])
    order = {name: i for i, name in enumerate(_STAGES.values())}
    df = pd.DataFrame(rows).sort_values("stage", key=lambda c: c.map(order).fillna(len(order)), kind="stable")
    df = df.groupby("stage", sort=False)
    df = df.agg(jobs=("seconds", "size"), wall=("seconds", "sum"), cpu=("cpu", "sum")).reset_index()
    df["CPU utilisation"] = df["cpu"] / df["wall"]
    return df.rename(columns={"wall": "job seconds", "cpu": "CPU seconds"})


def icl_summary(results: pd.DataFrame, n_best: int = 10) -> list[str]:
    """Plain sentences on the in-context-learning settings: the main metric by label setting and
    by number of demonstrations, averaged over the lowest-loss checkpoints that have them all."""
    out = []
    for task, d in results[
        results["metric"].isin([m for m in MAIN if METRICS[m].proportion]) & (results["prompt"] == "standard")
    ].groupby("task"):
        metric = d["metric"].iloc[0]
        for column, fixed in (("labels", d[d["shots"] == d["shots"].max()]), ("shots", d[d["labels"] == "gold"])):
            if fixed[column].nunique() < 2:
                continue
            wide = fixed.pivot_table(index=["model", "step", "loss"], columns=column, values="value").dropna()
            best = wide.sort_values("loss").head(n_best)
            if best.empty:
                continue
            means = ", ".join(
                f"{v:.2f} with {k}{' shots' if column == 'shots' else ' labels'}" for k, v in best.mean().items()
            )
            out.append(
                f"{task}: mean {metric} over the {len(best)} lowest-loss checkpoints "
                f"(loss ≤ {best.index.get_level_values('loss').max():.2f}): {means}."
            )
    return out


def write_report(out: Path, *, config: dict, tables: Path, figures_dir: Path, bench_dir: Path) -> None:
    """Render the published page (templates/index.html.j2) of a study from its tables and figures."""
    tables = Path(tables)
    thresholds = pd.read_csv(tables / "thresholds.csv")
    collapse = pd.read_csv(tables / "collapse.csv")
    scaling = read_json(tables / "scaling.json", "scaling fit").get("fit", {})
    results = read_results(tables / "results.parquet")
    columns = [
        "task",
        "prompt",
        "shots",
        "labels",
        "metric",
        "verdict",
        "threshold",
        "ci_low",
        "ci_high",
        "threshold_bpb",
        "chance",
        "spearman",
        "emergence_score",
        "delta_bic",
    ]
    shown = thresholds[[c for c in columns if c in thresholds]] if len(thresholds) else thresholds
    main = shown[shown["metric"].isin(MAIN)] if len(shown) else shown
    warn = thresholds[thresholds["resolution_warning"] == True] if "resolution_warning" in thresholds else []  # noqa: E712
    fit_text = ""
    if scaling and not scaling.get("note"):
        fit_text = ", ".join(
            f"{k} = {scaling[k]:.3g} ± {scaling.get(k + '_se', float('nan')):.2g}"
            for k in ("E", "A", "alpha", "B", "beta")
        )
    figures = [
        {
            "name": f.name,
            "title": f.title,
            "caption": f.caption,
            "png": base64.b64encode((Path(figures_dir) / f"{f.name}.png").read_bytes()).decode(),
        }
        for f in FIGURES
        if (Path(figures_dir) / f"{f.name}.png").exists()
    ]
    times = stage_times(bench_dir)
    env = jinja2.Environment(loader=jinja2.PackageLoader("emergence.report", "templates"), autoescape=True)
    page = env.get_template("index.html.j2").render(
        study=str(config.get("study", "study")),
        main_table=_table(main),
        all_table=_table(shown),
        resolution_warnings=[f"{r.task}/{r.metric}" for r in warn.itertuples()] if len(warn) else [],
        collapse=list(collapse.itertuples()),
        icl_sentences=icl_summary(results),
        scaling_note=scaling.get("note"),
        scaling_fit=fit_text,
        figures=figures,
        stage_times=_table(times) if len(times) else "",
        config_yaml=yaml.safe_dump(config, sort_keys=False),
    )
    with atomic_write(out) as tmp:
        tmp.write_text(page)
