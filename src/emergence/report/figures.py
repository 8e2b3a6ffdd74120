"""Draw each figure of the registry (`catalog.FIGURES`) from a study's tables into reports/figures.

One function per figure, named as the figure and listed in `DRAWERS`: it selects its rows
from the tables and calls the drawing code (`panels.py`, `forecast_panel.py`,
`long_context.py`, `instruct.py`). A figure whose data the study does not have (say, no
chain-of-thought settings) is still written, as a panel that says what is missing, so the
report and the workflow's outputs stay the same for every study.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emergence.analysis.analyze import fitted_checkpoints, main_metric, main_setting
from emergence.analysis.collect import read_results
from emergence.analysis.curves import predict
from emergence.analysis.ladder import from_results
from emergence.analysis.phase_change import COLUMNS as ONSET_COLUMNS
from emergence.analysis.phase_change import MEASURES
from emergence.config import PlotsConfig
from emergence.errors import ConfigError
from emergence.evaluate.metrics import METRICS
from emergence.io import atomic_write, read_csv_columns, read_json
from emergence.report import forecast_panel, long_context, panels, plotting
from emergence.report import instruct as instruct_panels
from emergence.report.catalog import BY_NAME, PLACEHOLDER


@dataclasses.dataclass(frozen=True)
class Tables:
    """A study's tables (reports/tables), each read on first use."""

    directory: Path

    @functools.cached_property
    def results(self) -> pd.DataFrame:
        return read_results(self.directory / "results.parquet")

    @functools.cached_property
    def training(self) -> pd.DataFrame:
        return read_csv_columns(self.directory / "training.csv", ("model", "step", "tokens", "val_loss"))

    def _fits(self, name: str) -> pd.DataFrame | None:
        """A thresholds table, or None where the analysis wrote it empty (no fits)."""
        path = self.directory / name
        return pd.read_csv(path) if path.stat().st_size > 1 else None

    @functools.cached_property
    def thresholds(self) -> pd.DataFrame | None:
        return self._fits("thresholds.csv")

    @functools.cached_property
    def size_onsets(self) -> pd.DataFrame:
        """Each size's onsets of the in-context-learning measures (phase_change.size_onsets)."""
        path = self.directory / "size_onsets.csv"
        return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame(columns=list(ONSET_COLUMNS))

    @functools.cached_property
    def scaling(self) -> dict:
        return read_json(self.directory / "scaling.json", "scaling fit")

    @functools.cached_property
    def long_context(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "long_context.csv")

    @functools.cached_property
    def instruct(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The instruction-tuning rows (instruct.parquet) and their thresholds."""
        return read_results(self.directory / "instruct.parquet"), self._fits("instruct_thresholds.csv")

    @functools.cached_property
    def forecast(self) -> tuple[pd.DataFrame, dict]:
        """The held-out forecast: its table (forecast.csv) and summary (forecast.json)."""
        return pd.read_csv(self.directory / "forecast.csv"), read_json(self.directory / "forecast.json", "forecast")


def _placeholder(text: str):
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    fig.placeholder = text
    return fig


def _curve(row: pd.Series, xs: np.ndarray):
    """The best-fitting model's curve, mapped from chance-normalised units back to the metric's."""
    if not isinstance(row.get("fit"), str) or not isinstance(row.get("best_model"), str):
        return None
    y = predict(row["best_model"], json.loads(row["fit"]), xs)
    chance, higher = row.get("chance"), bool(row.get("higher_is_better", True))
    if chance is None or pd.isna(chance):
        return y if higher else -y
    return chance + y * ((1.0 if higher else 0.0) - chance)


def main_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Each task x prompt's main metric at its main setting, ICL score excluded."""
    main = main_setting(results)
    keep = [d[d.metric == main_metric(d)] for _, d in main.groupby(["task", "prompt"])]
    df = pd.concat(keep) if keep else main
    return df[df.metric != "icl_score"]


NO_MAIN = "No task besides the ICL score was evaluated."


def performance_vs_loss(t: Tables, cfg: PlotsConfig):
    main = main_rows(t.results)
    if not len(main):
        return _placeholder(NO_MAIN)
    return panels.performance_vs_x(
        main, "loss", t.thresholds, _curve, cfg.palette, "Performance against pretraining loss, all model sizes"
    )


def performance_vs_compute(t: Tables, cfg: PlotsConfig):
    main = main_rows(t.results)
    if not len(main):
        return _placeholder(NO_MAIN)
    return panels.performance_vs_x(main, "flops", None, None, cfg.palette, "Performance against training compute")


def loss_curves(t: Tables, cfg: PlotsConfig):
    return panels.loss_curves(t.training, cfg.palette)


def metric_pairs(t: Tables, cfg: PlotsConfig):
    main, std = main_rows(t.results), main_setting(t.results)
    pairs = [
        std[(std.task == task) & (std.prompt == "standard") & std.metric.isin((m, *METRICS[m].twins))]
        for task, m in main[main.prompt == "standard"].groupby("task").metric.first().items()
        if METRICS[m].twins
    ]
    pairs = pd.concat(pairs) if pairs else pd.DataFrame()
    return (
        panels.metric_pairs(pairs, cfg.palette)
        if len(pairs)
        else _placeholder("No accuracy or exact-match metric to pair.")
    )


def cot_gain(t: Tables, cfg: PlotsConfig):
    results = t.results
    gen = results[(results.metric == "exact_match") & (results["labels"] == "gold")]
    both = gen.groupby(["task", "shots"]).prompt.nunique()
    both = both[both == 2].reset_index()
    if not len(both):
        return _placeholder("No task was evaluated with both standard and chain-of-thought prompts at the same shots.")
    shots = both.groupby("task").shots.max()
    return panels.cot_gain(gen[gen.apply(lambda r: shots.get(r.task) == r.shots, axis=1)], cfg.palette)


def kshot(t: Tables, cfg: PlotsConfig):
    results = fitted_checkpoints(t.results)
    gold = results[(results["labels"] == "gold") & (results.prompt == "standard") & (results.metric == "acc")]
    multi = [d for _, d in gold.groupby("task") if d.shots.nunique() > 1]
    return (
        panels.kshot(pd.concat(multi), cfg.palette)
        if multi
        else _placeholder("No multiple-choice task was evaluated at several numbers of demonstrations.")
    )


def label_settings(t: Tables, cfg: PlotsConfig):
    results = fitted_checkpoints(t.results)
    lab = results[(results.prompt == "standard") & (results.metric == "acc") & (results.shots > 0)]
    lab = [d[d.shots == d.shots.max()] for _, d in lab.groupby("task") if d["labels"].nunique() > 1]
    return (
        panels.label_settings(pd.concat(lab))
        if lab
        else _placeholder("No multiple-choice task was evaluated with several label settings.")
    )


def ablations(t: Tables, cfg: PlotsConfig):
    results = fitted_checkpoints(t.results)
    gain = results[(results.prompt == "standard") & (results.metric == "kshot_gain")]
    gain = [d for _, d in gain.groupby("task") if d["labels"].nunique() > 1]
    return (
        panels.ablations(pd.concat(gain), cfg.palette)
        if gain
        else _placeholder("No multiple-choice task was evaluated with and without demonstrations in several settings.")
    )


def induction_heads(t: Tables, cfg: PlotsConfig):
    heads = t.results[t.results.metric.isin(["prefix_matching", "copying", "repeat_loss_gain"])]
    return (
        panels.induction_heads(heads, cfg.palette)
        if len(heads)
        else _placeholder("No induction_heads task in this study.")
    )


def icl_by_size(t: Tables, cfg: PlotsConfig):
    rows = main_setting(fitted_checkpoints(t.results))
    rows = rows[rows["metric"].isin(MEASURES) & rows["prompt"].isin(["standard", "none"])]
    if "n_layers" in rows:
        rows = rows[(rows["metric"] != "prefix_matching") | (rows["n_layers"] >= 2)]
    if rows.empty:
        return _placeholder("No induction-heads, k-shot or ICL-score measure in this study.")
    onsets = t.size_onsets
    pooled = onsets["seed"].astype(str) == "all" if "seed" in onsets else True
    return panels.icl_by_size(rows, onsets[(onsets["axis"] == "tokens") & pooled], cfg.palette)


def icl_score(t: Tables, cfg: PlotsConfig):
    icl = t.results[t.results.metric == "icl_score"]
    return panels.icl_score(icl, cfg.palette) if len(icl) else _placeholder("No icl_score task in this study.")


def scaling_fit(t: Tables, cfg: PlotsConfig):
    points = pd.DataFrame(t.scaling.get("points", []))
    if len(points) and points["predicted"].notna().all():
        return panels.scaling_fit(points)
    return _placeholder(t.scaling.get("fit", {}).get("note", "No scaling-law fit."))


def forecast(t: Tables, cfg: PlotsConfig):
    table, summary = t.forecast
    if summary.get("note") or not len(table):
        return _placeholder(summary.get("note") or "No forecast.")
    return forecast_panel.forecast(table, summary, from_results(t.results))


def _long_context(t: Tables, probe: str, draw):
    table = t.long_context
    if not (table["probe"] == probe).any():
        return _placeholder(long_context.placeholder_text() if not len(table) else f"No {probe} rows.")
    return draw(table)


def position_loss(t: Tables, cfg: PlotsConfig):
    return _long_context(t, "position", long_context.loss_by_position)


def passkey(t: Tables, cfg: PlotsConfig):
    return _long_context(t, "passkey", long_context.passkey)


def many_shot(t: Tables, cfg: PlotsConfig):
    return _long_context(t, "many_shot", long_context.many_shot)


NO_INSTRUCT = "No instruction tuning in this study (instruct.enabled is false)."


def _instruct(t: Tables, cfg: PlotsConfig, metric: str):
    rows, thresholds = t.instruct
    d = fitted_checkpoints(rows)
    d = d[d.metric == metric]
    return instruct_panels.figure(d, thresholds, _curve, cfg.palette, metric) if len(d) else _placeholder(NO_INSTRUCT)


def instruct(t: Tables, cfg: PlotsConfig):
    return _instruct(t, cfg, "exact_match")


def instruct_gain(t: Tables, cfg: PlotsConfig):
    return _instruct(t, cfg, "tuning_gain")


# Each figure of the registry by name: the function that draws it from a study's tables.
DRAWERS: dict[str, Callable[[Tables, PlotsConfig], plt.Figure]] = {
    function.__name__: function
    for function in (
        performance_vs_loss,
        performance_vs_compute,
        loss_curves,
        metric_pairs,
        cot_gain,
        kshot,
        label_settings,
        ablations,
        induction_heads,
        icl_by_size,
        icl_score,
        scaling_fit,
        forecast,
        position_loss,
        passkey,
        many_shot,
        instruct,
        instruct_gain,
    )
}


def draw(name: str, tables: Path, out_dir: Path, cfg: PlotsConfig) -> list[Path]:
    """Draw figure `name` of the registry from `tables`; returns the files written (one per format)."""
    if name not in BY_NAME:
        raise ConfigError(
            f"no figure {name!r} in the registry (emergence.report.catalog); figures: {', '.join(BY_NAME)}"
        )
    plotting.setup(cfg.style, cfg.context)
    fig = DRAWERS[name](Tables(Path(tables)), cfg)
    return save(fig, Path(out_dir), name, list(cfg.formats), cfg.dpi)


def save(fig, out_dir: Path, name: str, formats: list[str], dpi: int) -> list[Path]:
    paths = []
    for fmt in formats:
        path = Path(out_dir) / f"{name}.{fmt}"
        reason = getattr(fig, "placeholder", None)
        metadata = {"Description": PLACEHOLDER + reason} if reason and fmt == "png" else None
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths
