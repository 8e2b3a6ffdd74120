"""The published report: one self-contained HTML page (figures embedded) of a study."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd
import yaml

from emergence.files import atomic_write

FIGURES = [  # (file stem, title, what it shows)
    ("performance_vs_loss", "Performance against pretraining loss",
     "Every checkpoint of every model, coloured by size. If all sizes fall on one curve, loss (not size) predicts the "
     "ability. The red band is the estimated loss threshold with its 95% bootstrap interval, where the analysis found one."),
    ("performance_vs_compute", "The same against training compute",
     "Plotted against FLOPs, sizes need not collapse: a small model reaches a given compute at a higher loss."),
    ("loss_curves", "Loss curves", "Validation loss of every run along training; dots are the evaluated checkpoints."),
    ("metric_pairs", "Discontinuous and continuous metrics",
     "Accuracy or exact match beside the probability of the right answer and its log-likelihood: a jump in the first "
     "with a smooth rise in the second points to the metric, not the model (Schaeffer et al. 2023)."),
    ("cot_gain", "Chain-of-thought minus standard prompting", "Above zero, worked steps in the demonstrations help."),
    ("kshot", "k-shot curves", "Performance against the number of demonstrations, at each model's final checkpoint."),
    ("label_settings", "Demonstration labels", "Gold, random and flipped labels in the demonstrations, against loss."),
    ("icl_score", "In-context learning score",
     "Loss late in the context minus loss early in it (Olsson et al. 2022): more negative means more in-context learning."),
    ("scaling_fit", "Scaling law", "Final validation loss of each run against the fitted L(N, D) = E + A/N^α + B/D^β."),
]


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0, classes="t")


def stage_times(bench_dir: Path) -> pd.DataFrame:
    """Wall-clock seconds per stage, summed over jobs, from Snakemake's benchmark files."""
    rows = []
    for f in sorted(Path(bench_dir).rglob("*.tsv")):
        stage = f.relative_to(bench_dir).parts[0].removesuffix(".tsv")
        rows.append({"stage": stage, "seconds": float(pd.read_csv(f, sep="\t")["s"].iloc[-1])})
    if not rows:
        return pd.DataFrame(columns=["stage", "jobs", "seconds"])
    df = pd.DataFrame(rows)
    return df.groupby("stage", sort=False).agg(jobs=("seconds", "size"), seconds=("seconds", "sum")).reset_index()


def icl_summary(results: pd.DataFrame, n_best: int = 10) -> list[str]:
    """Plain sentences on the in-context-learning settings: the main metric by label setting and
    by number of demonstrations, averaged over the lowest-loss checkpoints that have them all."""
    out = []
    for task, d in results[results["metric"].isin(["acc", "exact_match"]) & (results["prompt"] == "standard")].groupby("task"):
        metric = d["metric"].iloc[0]
        for column, fixed in (("labels", d[d["shots"] == d["shots"].max()]), ("shots", d[d["labels"] == "gold"])):
            if fixed[column].nunique() < 2:
                continue
            wide = fixed.pivot_table(index=["model", "step", "loss"], columns=column, values="value").dropna()
            best = wide.sort_values("loss").head(n_best)
            if best.empty:
                continue
            means = ", ".join(f"{v:.2f} with {k}{' shots' if column == 'shots' else ' labels'}" for k, v in best.mean().items())
            out.append(f"{task}: mean {metric} over the {len(best)} lowest-loss checkpoints (loss ≤ {best.index.get_level_values('loss').max():.2f}): {means}.")
    return out


def write_report(out: Path, *, config: dict, thresholds: pd.DataFrame, collapse: pd.DataFrame, scaling: dict,
                 figures_dir: Path, bench_dir: Path, corpus_meta: dict | None = None,
                 results: pd.DataFrame | None = None) -> None:
    study = html.escape(str(config.get("study", "study")))
    parts = [f"<h1>Loss versus emergence: study <code>{study}</code></h1>",
             "<p>Models of several sizes were pretrained on token budgets of their own; every checkpoint was evaluated "
             "on every task. Below, performance is plotted against <b>validation loss</b>, thresholds are estimated "
             "from the data with bootstrap intervals, and the collapse test asks whether size matters once loss is known.</p>"]
    if corpus_meta and corpus_meta.get("entropy_floor_nats_per_token"):
        parts.append(f"<p>The synthetic corpus's own entropy floor is {corpus_meta['entropy_floor_nats_per_token']:.3f} nats/token: "
                     "no model can go below it.</p>")
    columns = ["task", "prompt", "shots", "labels", "metric", "verdict", "threshold", "ci_low", "ci_high",
               "threshold_bpb", "chance", "spearman", "emergence_score", "delta_bic"]
    shown = thresholds[[c for c in columns if c in thresholds]] if len(thresholds) else thresholds
    main = shown[shown["metric"].isin(["acc", "exact_match", "icl_score"])] if len(shown) else shown
    parts += ["<h2>Thresholds</h2>",
              "<p>Each task's main metric at its main setting (gold labels, most demonstrations): <i>emergent</i> "
              "means a threshold model (hinge or sigmoid in loss) beats a straight line by ΔBIC ≥ 6, performance sits "
              "at chance above the threshold and a quarter of the checkpoints or more lie there; <i>smooth</i> means "
              "performance rises steadily with falling loss; <i>flat</i> means it never leaves chance. Thresholds are "
              "in nats/token of this study's tokenizer (and in bits per byte).</p>", _table(main),
              "<details><summary>Every metric (continuous ones too)</summary>", _table(shown), "</details>"]
    warn = thresholds[thresholds.get("resolution_warning", False) == True] if len(thresholds) else thresholds  # noqa: E712
    if len(warn):
        parts.append("<p><b>Resolution warning:</b> " + ", ".join(f"{r.task}/{r.metric}" for r in warn.itertuples())
                     + " are proportions of too few items to tell a jump from a ramp.</p>")
    parts += ["<h2>Does size matter once loss is known?</h2>"]
    parts.append("<p>Per task: how much of the variance a curve of loss explains, what size and tokens add, and "
                 "the direct test of one curve: each size's checkpoints predicted from the curve fitted to the other "
                 "sizes only, against loss and against training compute.</p><ul>")
    parts += [f"<li><b>{html.escape(r.task)}</b> / {html.escape(r.prompt)} ({html.escape(r.metric)}): {html.escape(r.verdict_text)}</li>"
              for r in collapse.itertuples()]
    parts.append("</ul>")
    if results is not None:
        sentences = icl_summary(results)
        if sentences:
            parts += ["<h2>In-context learning settings</h2>",
                      "<p>If the demonstrations mattered, these numbers would differ (flipped labels below gold, more "
                      "demonstrations above fewer):</p><ul>"]
            parts += [f"<li>{html.escape(t)}</li>" for t in sentences] + ["</ul>"]
    if scaling.get("note"):
        parts += ["<h2>Scaling law</h2>", f"<p>Not fitted: {html.escape(scaling['note'])}.</p>"]
    elif scaling:
        fit = ", ".join(f"{k} = {scaling[k]:.3g} ± {scaling.get(k + '_se', float('nan')):.2g}" for k in ("E", "A", "alpha", "B", "beta"))
        parts += ["<h2>Scaling law</h2>", f"<p>L(N, D) = E + A/N<sup>α</sup> + B/D<sup>β</sup> on the final checkpoint "
                  f"of each run (N: non-embedding parameters, D: tokens): {fit}.</p>"]
    parts.append("<h2>Figures</h2>")
    for stem, title, text in FIGURES:
        png = Path(figures_dir) / f"{stem}.png"
        if png.exists():
            parts += [f"<h3>{title}</h3>", _img(png), f"<p class='cap'>{text}</p>"]
    times = stage_times(bench_dir)
    if len(times):
        parts += ["<h2>Where the time went</h2>", _table(times)]
    parts += ["<h2>Reproduce</h2>",
              "<pre>make study            # or: snakemake  (default profile, this config)\n"
              "snakemake --report reports/report.html</pre>",
              "<h2>Configuration</h2>", f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Study {study}</title><style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
img{{max-width:100%}} table.t{{border-collapse:collapse;font-size:.85em}} table.t td,table.t th{{padding:.2em .6em;border-bottom:1px solid #ddd}}
pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}} .cap{{color:#555}}</style></head><body>
{chr(10).join(parts)}
</body></html>"""
    with atomic_write(out) as tmp:
        tmp.write_text(page)


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}
