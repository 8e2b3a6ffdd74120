"""The published report: one self-contained HTML page (figures embedded) of a study.

It opens like a paper's first page: a summary of the thresholds in a few sentences and the
headline figure, then the thresholds table; per-seed tables, every metric and the long
lists of sentences follow, folded (templates/index.html.j2)."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd
import yaml
from PIL import Image  # matplotlib's own image library (a dependency of it)

from emergence.analysis.analyze import pooled
from emergence.analysis.collect import read_results
from emergence.io import atomic_write, read_json
from emergence.report import findings, in_context, instruct, long_context, prompt_pairs, threshold_tables
from emergence.report.catalog import FIGURES, HEADLINE, PLACEHOLDER


def _table(df: pd.DataFrame) -> str:
    """An HTML table, or nothing for a frame without rows (the page then leaves the section out)."""
    if not len(df):
        return ""
    return df.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0, classes="t")


# Benchmark files by stage (the first part of their path under benchmarks/), in DAG order.
_STAGES = {
    "corpus": "corpus",
    "tokenizer": "tokenizer",
    "shards": "shards",
    "trunks": "train (WSD trunks)",
    "train": "train",
    "evals": "evaluate",
    "long_context": "long context",
    "extend": "context extension",
    "instruct": "instruction tuning (tune + evaluate)",
    "analyze": "analyse",
    "forecast": "forecast",
    "figures": "figures",
}

# The thresholds table's columns shown on the page (every metric, every seed).
_THRESHOLD_COLUMNS = (
    "task prompt shots labels metric seed verdict threshold ci_low ci_high midpoint midpoint_low midpoint_high "
    "saturation saturation_low saturation_high at_edge threshold_bpb interval chance spearman emergence_score "
    "delta_bic reason"
).split()

# The forecast table's columns shown on the page.
_FORECAST_COLUMNS = (
    "task tokens verdict form loss_predicted loss_low loss_high loss_actual predicted low high actual error covered "
    "given_loss given_loss_low given_loss_high covered_given_loss "
    "one_step_predicted one_step_low one_step_high one_step_covered method chosen_covered"
).split()


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


def _shown(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df[[c for c in columns if c in df]] if len(df) else df


def _instruct_section(tables: Path, thresholds: pd.DataFrame, config: dict) -> tuple[list, str]:
    """The instruction-tuning sentences and thresholds table (none for tables from before the
    stage existed, or a study without it)."""
    if not (tables / "instruct.parquet").exists():
        return [], ""
    rows = read_results(tables / "instruct.parquet")
    path = tables / "instruct_thresholds.csv"
    inst = pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()
    kinds = {name: t.get("kind") for name, t in (config.get("tasks") or {}).items()}
    shown = _shown(pooled(inst), _THRESHOLD_COLUMNS) if len(inst) else inst
    return instruct.sentences(rows, inst, thresholds, kinds), _table(shown)


def not_drawn(png: Path) -> str | None:
    """The reason a figure had nothing to draw (its placeholder's metadata), else None."""
    with Image.open(png) as image:
        text = image.info.get("Description", "")
    return text.removeprefix(PLACEHOLDER) if text.startswith(PLACEHOLDER) else None


def _figures(figures_dir: Path) -> list[dict]:
    """The registry's figures that were drawn, in its order, each with its PNG embedded, or
    with the reason it had nothing to draw (`not_drawn`) instead."""
    out = []
    for f in FIGURES:
        png = figures_dir / f"{f.name}.png"
        if png.exists():
            reason = not_drawn(png)
            data = None if reason else base64.b64encode(png.read_bytes()).decode()
            out.append({"name": f.name, "title": f.title, "caption": f.caption, "png": data, "not_drawn": reason})
    return out


def _thresholds_section(thresholds: pd.DataFrame, results: pd.DataFrame) -> dict:
    """The summary, the thresholds tables and their sentences (nothing without fits)."""
    if not len(thresholds):
        return {
            "summary": [],
            "main_table": "",
            "seed_table": "",
            "interval_note": "",
            "threshold_sentences": [],
            "resolution_warnings": [],
        }
    warn = pooled(thresholds)
    warn = warn[warn["resolution_warning"] == True] if "resolution_warning" in warn else warn.iloc[:0]  # noqa: E712
    return {
        "summary": findings.summary_sentences(thresholds),
        "main_table": _table(threshold_tables.main_table(thresholds)),
        "seed_table": _table(threshold_tables.seed_table(thresholds)),
        "interval_note": findings.interval_note(thresholds),
        "threshold_sentences": findings.sentences(thresholds, results["size"].nunique()),
        "resolution_warnings": [f"{r.task}/{r.prompt}/{r.metric}" for r in warn.itertuples()],
    }


def _forecast_section(tables: Path, thresholds: pd.DataFrame) -> dict:
    """The forecast in words and its table; nothing for tables from before the forecast stage existed."""
    if not (tables / "forecast.csv").exists():
        return {"forecast_sentences": [], "forecast_table": ""}
    forecast = pd.read_csv(tables / "forecast.csv")
    summary = read_json(tables / "forecast.json", "forecast")
    return {
        "forecast_sentences": findings.forecast_sentences(forecast, summary, thresholds),
        "forecast_table": _table(_shown(forecast, _FORECAST_COLUMNS)),
    }


def _prompts_section(tables: Path) -> dict:
    """Each task's prompts compared, paired (prompts.csv; nothing for tables from before it existed)."""
    path = tables / "prompts.csv"
    table = pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()
    if not len(table):
        return {"prompt_sentences": [], "prompt_table": ""}
    return {"prompt_sentences": prompt_pairs.sentences(table), "prompt_table": _table(prompt_pairs.shown(table))}


def _icl_sentences(thresholds: pd.DataFrame, results: pd.DataFrame, tables: Path, config: dict) -> list[str]:
    onsets = tables / "size_onsets.csv"
    onsets = pd.read_csv(onsets) if onsets.exists() and onsets.stat().st_size > 1 else pd.DataFrame()
    return (
        (in_context.icl_findings(thresholds) if len(thresholds) else [])
        + (in_context.onset_sentences(onsets) if len(onsets) else [])
        + in_context.icl_positions_sentence(config)
        + in_context.control_sentences(results)
        + in_context.ablation_sentences(results)
        + in_context.icl_summary(results)
    )


def write_report(out: Path, *, config: dict, tables: Path, figures_dir: Path, bench_dir: Path) -> None:
    """Render the published page (templates/index.html.j2) of a study from its tables and figures."""
    tables = Path(tables)
    thresholds = pd.read_csv(tables / "thresholds.csv")
    results = read_results(tables / "results.parquet")
    scaling = read_json(tables / "scaling.json", "scaling fit").get("fit", {})
    figures = _figures(Path(figures_dir))
    instruct_sentences, instruct_table = _instruct_section(tables, thresholds, config)
    long_context_table = tables / "long_context.csv"
    env = jinja2.Environment(loader=jinja2.PackageLoader("emergence.report", "templates"), autoescape=True)
    page = env.get_template("index.html.j2").render(
        study=str(config.get("study", "study")),
        headline=next((f for f in figures if f["name"] == HEADLINE and f["png"]), None),
        figures=[f for f in figures if f["name"] != HEADLINE and f["png"]],
        not_drawn=[f for f in figures if not f["png"]],
        drawn={f["name"] for f in figures if f["png"]},
        titles={f.name: f.title for f in FIGURES},
        **_thresholds_section(thresholds, results),
        all_table=_table(_shown(thresholds, _THRESHOLD_COLUMNS)),
        definitions=findings.DEFINITIONS,
        **_prompts_section(tables),
        collapse=list(pd.read_csv(tables / "collapse.csv").itertuples()),
        icl_sentences=_icl_sentences(thresholds, results, tables, config),
        scaling_note=scaling.get("note"),
        scaling_fit=findings.scaling_text(scaling) if scaling and not scaling.get("note") else "",
        **_forecast_section(tables, thresholds),
        long_context_sentences=long_context.sentences(pd.read_csv(long_context_table))
        if long_context_table.exists()
        else [],
        instruct_sentences=instruct_sentences,
        instruct_table=instruct_table,
        stage_times=_table(stage_times(bench_dir)),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
    )
    with atomic_write(out) as tmp:
        tmp.write_text(page)
