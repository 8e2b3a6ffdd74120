"""The published report: one self-contained HTML page (figures embedded) of a study."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from emergence.analysis.analyze import pooled
from emergence.analysis.collect import read_results
from emergence.evaluate.metrics import MAIN, METRICS
from emergence.io import atomic_write, read_json
from emergence.report import findings, instruct, long_context
from emergence.report.catalog import FIGURES


def _table(df: pd.DataFrame) -> str:
    """An HTML table, or nothing for a frame without rows (the page then leaves the section out)."""
    if not len(df):
        return ""
    return df.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0, classes="t")


# Benchmark files by stage (the first part of their path under benchmarks/), in DAG order.
_STAGES = {"corpus": "corpus", "tokenizer": "tokenizer", "shards": "shards", "trunks": "train (WSD trunks)",
           "train": "train", "evals": "evaluate", "long_context": "long context", "extend": "context extension",
           "instruct": "instruction tuning (tune + evaluate)", "analyze": "analyse", "forecast": "forecast",
           "figures": "figures"}  # fmt: skip


# The forecast table's columns shown on the page.
_FORECAST_COLUMNS = [
    "task", "tokens", "verdict", "form", "loss_predicted", "loss_low", "loss_high", "loss_actual", "predicted",
    "low", "high", "actual", "error", "covered", "given_loss", "given_loss_low", "given_loss_high",
    "covered_given_loss",
]  # fmt: skip


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


def _instruct_section(tables: Path, thresholds: pd.DataFrame, config: dict, columns: list[str]) -> tuple[list, str]:
    """The instruction-tuning sentences and thresholds table (none for tables from before the
    stage existed, or a study without it)."""
    if not (tables / "instruct.parquet").exists():
        return [], ""
    rows = read_results(tables / "instruct.parquet")
    path = tables / "instruct_thresholds.csv"
    inst = pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()
    kinds = {name: t.get("kind") for name, t in (config.get("tasks") or {}).items()}
    shown = pooled(inst)[[c for c in columns if c in inst]] if len(inst) else inst
    return instruct.sentences(rows, inst, thresholds, kinds), _table(shown)


def write_report(out: Path, *, config: dict, tables: Path, figures_dir: Path, bench_dir: Path) -> None:
    """Render the published page (templates/index.html.j2) of a study from its tables and figures."""
    tables = Path(tables)
    thresholds = pd.read_csv(tables / "thresholds.csv")
    collapse = pd.read_csv(tables / "collapse.csv")
    scaling = read_json(tables / "scaling.json", "scaling fit").get("fit", {})
    results = read_results(tables / "results.parquet")
    columns = [
        "task", "prompt", "shots", "labels", "metric", "seed", "verdict", "threshold", "ci_low", "ci_high",
        "midpoint", "midpoint_low", "midpoint_high", "saturation", "saturation_low", "saturation_high", "at_edge",
        "threshold_bpb", "interval", "chance", "spearman", "emergence_score", "delta_bic", "reason",
    ]  # fmt: skip
    shown = thresholds[[c for c in columns if c in thresholds]] if len(thresholds) else thresholds
    warn = pooled(thresholds)
    warn = warn[warn["resolution_warning"] == True] if "resolution_warning" in warn else []  # noqa: E712
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
    instruct_sentences, instruct_table = _instruct_section(tables, thresholds, config, columns)
    # Tables from before the forecast stage existed have no forecast: the page leaves it out.
    has_forecast = (tables / "forecast.csv").exists()
    forecast = pd.read_csv(tables / "forecast.csv") if has_forecast else pd.DataFrame()
    forecast_summary = read_json(tables / "forecast.json", "forecast") if has_forecast else {}
    env = jinja2.Environment(loader=jinja2.PackageLoader("emergence.report", "templates"), autoescape=True)
    page = env.get_template("index.html.j2").render(
        study=str(config.get("study", "study")),
        main_table=_table(findings.main_table(thresholds)) if len(thresholds) else "",
        seed_table=_table(findings.seed_table(thresholds)) if len(thresholds) else "",
        all_table=_table(shown),
        interval_note=findings.interval_note(thresholds) if len(thresholds) else "",
        threshold_sentences=findings.sentences(thresholds, results["size"].nunique()) if len(thresholds) else [],
        definitions=findings.DEFINITIONS,
        resolution_warnings=[f"{r.task}/{r.prompt}/{r.metric}" for r in warn.itertuples()] if len(warn) else [],
        collapse=list(collapse.itertuples()),
        icl_sentences=(findings.icl_findings(thresholds) if len(thresholds) else [])
        + findings.control_sentences(results)
        + findings.ablation_sentences(results)
        + icl_summary(results),
        scaling_note=scaling.get("note"),
        scaling_fit=findings.scaling_text(scaling) if scaling and not scaling.get("note") else "",
        forecast_sentences=findings.forecast_sentences(forecast, forecast_summary, thresholds) if has_forecast else [],
        forecast_table=_table(forecast[[c for c in _FORECAST_COLUMNS if c in forecast]]),
        long_context_sentences=long_context.sentences(pd.read_csv(tables / "long_context.csv"))
        if (tables / "long_context.csv").exists()
        else [],
        instruct_sentences=instruct_sentences,
        instruct_table=instruct_table,
        figures=figures,
        stage_times=_table(times),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
    )
    with atomic_write(out) as tmp:
        tmp.write_text(page)
