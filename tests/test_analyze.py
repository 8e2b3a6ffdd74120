"""The study's analysis and its page on a simulated multi-seed results table."""

import json

import numpy as np
import pandas as pd
import pytest

from emergence.analysis.analyze import analyze, thresholds_table
from emergence.analysis.collect import RESULT_COLUMNS
from emergence.analysis.forecast import run_forecast
from emergence.analysis.simulate import CHANCE, ONSET, study
from emergence.config import AnalysisConfig, PlotsConfig
from emergence.report.figures import draw
from emergence.report.page import write_report


@pytest.fixture(scope="module")
def results():
    """Five sizes x three seeds of a sentiment-like task with a planted onset, plus two
    warm-up checkpoints per run at chance and high loss."""
    df = study(7)
    warm = df.groupby(["model", "run"]).head(2).assign(loss=lambda d: d["loss"] + 3.5, value=CHANCE)
    df = pd.concat([df.assign(warmup=False), warm.assign(warmup=True)], ignore_index=True)
    params = 1e4 * 4.0 ** df["model"]
    out = pd.DataFrame(
        {
            "model": [f"s{m}-3M-s{r}" for m, r in zip(df["model"], df["run"])],
            "size": [f"s{m}" for m in df["model"]],
            "budget": 3_000_000,
            "seed": df["run"],
            "params": params * 1.2,
            "nonembedding_params": params,
            "tokens": np.exp(-df["loss"]) * 1e7,
            "step": df.groupby(["model", "run"]).cumcount() + 1,
            "loss": df["loss"],
            "bpb": df["loss"] * 0.9,
            "task": "sentiment",
            "prompt": "standard",
            "shots": 4,
            "labels": "gold",
            "metric": "acc",
            "value": df["value"],
            "n": df["n"],
            "chance": CHANCE,
            "warmup": df["warmup"],
        }
    )
    out["flops"] = 6 * out["nonembedding_params"] * out["tokens"]
    return out[RESULT_COLUMNS]


def test_pooled_and_per_seed_thresholds(results):
    t = thresholds_table(results, n_boot=100, seed=0, level=0.95).set_index("seed")
    assert list(t.index) == ["all", "0", "1", "2"]
    pooled = t.loc["all"]
    assert pooled["verdict"] == "emergent" and pooled["interval"] == "runs and items" and pooled["n_runs"] == 3
    assert pooled["ci_low"] <= ONSET <= pooled["ci_high"]
    assert pooled["n_points"] == (~results["warmup"]).sum()  # warm-up checkpoints are not fitted
    assert pooled["sizes_below"] >= 3 and pooled["at_edge"] == False  # noqa: E712
    assert (t.loc[["0", "1", "2"], "interval"] == "items only").all()


@pytest.mark.slow  # analysis, forecast and page of a simulated study
def test_page_says_what_the_intervals_cover(results, tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    results.to_parquet(tables / "results.parquet")
    training = results.drop_duplicates(["model", "step"]).rename(columns={"loss": "val_loss"})
    training.to_csv(tables / "training.csv", index=False)
    cfg = AnalysisConfig(n_boot=50, seed=0, level=0.95, bootstrap="auto")
    analyze(cfg, tables)
    held = run_forecast(tables / "results.parquet", cfg, hold_out=True, out=tables / "forecast.csv")
    (tmp_path / "figures").mkdir()
    plots = PlotsConfig(style="whitegrid", context="paper", palette="viridis", dpi=40, formats=("png",))
    for name in ("performance_vs_loss", "kshot"):  # k-shot curves: no task has several k here
        draw(name, tables, tmp_path / "figures", plots)
    write_report(
        tmp_path / "index.html",
        config={"study": "sim"},
        tables=tables,
        figures_dir=tmp_path / "figures",
        bench_dir=tmp_path / "bench",
    )
    page = (tmp_path / "index.html").read_text()
    assert "hierarchical bootstrap: the 3 runs (seeds) of each size are resampled" in page
    assert "Each seed alone" in page and "seed 2" in page
    assert "sentiment, acc: emergent. Performance stays at chance above a loss of" in page
    assert "onset" in page and "midpoint" in page and "saturation" in page
    # Every parameter the scaling fit could not determine is named with its reason, without a number.
    fit = json.loads((tables / "scaling.json").read_text())["fit"]
    assert fit["undetermined"]  # this made-up law leaves some parameters undetermined
    for k, why in fit["undetermined"].items():
        assert f"{k} ({why})" in page and f"{k} = " not in page
    # The forecast of the largest size, in words generated from its table.
    assert held["held_out"] == "s4" and "Could the smaller sizes have predicted the largest?" in page
    assert f"for {held['covered']} of {held['rows']} task × budget pairs" in page
    assert "sentiment (emergent across all sizes)" in page
    # Which method the forecast command would have used, chosen without the held-out size.
    assert "Chosen on the smaller sizes alone" in page and f"{held['methods']['chosen']['covered']} of" in page
    # A figure with nothing to draw is named, with its reason, in one line, not shown as an image.
    assert 'alt="performance_vs_loss"' in page and 'alt="kshot"' not in page
    assert 'Not drawn, for want of data in this study: "k-shot curves" (No multiple-choice task' in page
