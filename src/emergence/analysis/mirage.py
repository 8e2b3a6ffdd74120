"""The mirage check as a verdict (Schaeffer et al. 2023): is a discontinuous metric's jump
the metric's doing?

Exact match and accuracy score an answer all or nothing, so a smooth improvement of the
model's probability for the answer can look like a jump. Every metric that has continuous
twins (`Metric.twins`: the probability of the correct choice, the answer's per-token
log-probability) is judged beside its first twin fitted on the same checkpoints:

- "metric-induced": the metric is emergent and its twin rises smoothly;
- "in both metrics": the twin is emergent too, so the jump is in the model, not the metric;
- "twin undecided": the metric is emergent and its twin is flat or inconclusive;
- "not emergent": the metric itself is not emergent (nothing to explain away).
"""

from __future__ import annotations

import pandas as pd

from emergence.evaluate.metrics import METRICS

CURVE = ["task", "prompt", "shots", "labels", "seed"]


def judge(verdict: str, twin_verdict: str | None) -> str | None:
    """The mirage label of a metric's verdict beside its twin's (None without a twin)."""
    if twin_verdict is None:
        return None
    if verdict != "emergent":
        return "not emergent"
    return {"smooth": "metric-induced", "emergent": "in both metrics"}.get(twin_verdict, "twin undecided")


def with_twins(thresholds: pd.DataFrame) -> pd.DataFrame:
    """`thresholds` with columns twin (the first twin metric fitted on the same curve),
    twin_verdict, twin_onset (its threshold when emergent) and mirage (`judge`); empty for
    metrics without a twin."""
    if thresholds.empty:
        return thresholds.assign(twin=None, twin_verdict=None, twin_onset=None, mirage=None)
    index = {tuple(r[c] for c in CURVE) + (r["metric"],): r for r in thresholds.to_dict("records")}
    rows = []
    for r in thresholds.to_dict("records"):
        twins = METRICS[r["metric"]].twins if r["metric"] in METRICS else ()
        found = next((index[k] for t in twins if (k := tuple(r[c] for c in CURVE) + (t,)) in index), None)
        rows.append(
            {
                "twin": found["metric"] if found else None,
                "twin_verdict": found["verdict"] if found else None,
                "twin_onset": found["threshold"] if found else None,
                "mirage": judge(r["verdict"], found["verdict"] if found else None),
            }
        )
    return pd.concat([thresholds.reset_index(drop=True), pd.DataFrame(rows, dtype=object)], axis=1)
