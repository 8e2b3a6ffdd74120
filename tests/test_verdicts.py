"""Verdicts that survive the mirage critique: smooth truths are not called emergent, real
thresholds are, the onset means the same for every threshold model, items are resampled as
they were drawn, and the flat level is tested against chance (or an unbounded metric's null).
Proved on simulated studies with a planted truth (emergence.analysis.simulate)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emergence.analysis.bootstrap import resamples
from emergence.analysis.curves import fit_sigmoid, landmarks
from emergence.analysis.mirage import judge, with_twins
from emergence.analysis.simulate import TRUTHS, planted_onset, study, verdicts
from emergence.analysis.thresholds import fit_threshold


def _fit(df, truth, items=None, **kw):
    return fit_threshold(
        df["loss"],
        df["value"],
        model=df["model"],
        run=df["run"],
        n=df["n"],
        items=items,
        chance=TRUTHS[truth].chance,
        n_boot=100,
        **kw,
    )


@pytest.mark.parametrize("truth", ["exponential", "exact_match_5", "wide_logistic"])
def test_smooth_truths_are_not_emergent(truth):
    # A convex rise, exact match of a smoothly improving token, a rise spanning every loss:
    # none leaves chance at a point, and a line is not the only smooth curve they are held to.
    called = [_fit(study(s, truth=truth, shift=0.04, height=0.0), truth, seed=s)["verdict"] for s in range(6)]
    assert called.count("emergent") == 0, called


@pytest.mark.parametrize("truth", ["hinge", "sigmoid"])
def test_real_thresholds_are_emergent(truth):
    # The same items at every checkpoint, redrawn by id. The hinge's third size ends only 0.1
    # nats below its onset, so intervals honest to the runs' spread leave it short of three
    # sizes below in some studies (tools/threshold_coverage.py: 82% of 50 emergent).
    called = []
    for s in range(8):
        df, items = study(s, truth=truth, shift=0.04, height=0.0, shared_items=True, with_items=True)
        called.append(_fit(df, truth, items=items, seed=s)["verdict"])
    assert called.count("emergent") >= 6, called


def test_hinge_and_sigmoid_give_the_same_onset():
    # The onset is where the steepest tangent leaves the flat level, for either model: on a
    # noiseless sharp sigmoid the sigmoid's is the planted one, and on simulated studies of it
    # the two models' onsets differ by less than the interval's width: which model wins does
    # not move the threshold by more than the data locate it.
    x = np.linspace(1.35, 2.6, 200)
    sigmoid = landmarks("sigmoid", fit_sigmoid(x, TRUTHS["sigmoid"].rise(x), top=1.0, bottom=-1 / 3))["onset"]
    assert sigmoid == pytest.approx(planted_onset("sigmoid"), abs=1e-3)
    for s in range(3):
        r = _fit(study(s, truth="sigmoid", shift=0.04, height=0.0), "sigmoid", seed=s)
        onsets = {"hinge": r["hinge_eta"], "sigmoid": r["sigmoid_eta"] + 2 * r["sigmoid_w"]}
        assert r["onset"] == onsets[r["threshold_model"]]
        assert abs(onsets["hinge"] - onsets["sigmoid"]) < r["onset_high"] - r["onset_low"], (onsets, r)
        assert r["onset_low"] <= r["onset"] <= r["onset_high"]


def test_items_are_redrawn_by_id():
    # One draw of item ids per resample, every checkpoint recomputed from it: two checkpoints
    # scored alike on every item stay alike in every resample (the binomial redraw, which treats
    # their items as independent, separates them), and each value is a mean over drawn items.
    scores = np.array([[1, 0, 1, 1, 0, 0, 1, 0], [1, 0, 1, 1, 0, 0, 1, 0], [1, 1, 1, 1, 0, 1, 1, 1]], float)
    value, n = scores.mean(1), np.full(3, 8)
    rng = np.random.default_rng(0)
    by_id = [v for _, v in resamples("items", 3, None, None, n, value, 200, rng, scores)]
    assert all(v[0] == v[1] for v in by_id) and len({v[0] for v in by_id}) > 3
    assert all(np.isclose(v * 8, np.round(v * 8)).all() for v in by_id)
    binomial = [v for _, v in resamples("items", 3, None, None, n, value, 200, rng)]
    assert sum(v[0] != v[1] for v in binomial) > 100
    # A simulated study's fit takes them the same way; item scores must match the values.
    df, items = study(2, truth="hinge", n_runs=1, shift=0.0, height=0.0, shared_items=True, with_items=True)
    r = _fit(df, "hinge", items=items)
    assert r["bootstrap"] == "items" and r["verdict"] == "emergent"
    with pytest.raises(ValueError, match="average to its value"):
        _fit(df.assign(value=df["value"] * 0.9), "hinge", items=items)


def test_flat_level_is_tested_against_its_own_standard_error():
    # A hinge whose flat part sits 0.06 above chance (a quarter of the way to the best score
    # is 0.19 here): more than 5% of the rise plus 2 standard errors of the level.
    df = study(1, truth="hinge", shift=0.0, height=0.0, n_items=400)
    shifted = df.assign(value=np.clip(df["value"] + 0.06, 0, 1))
    r = _fit(shifted, "hinge")
    assert r["verdict"] != "emergent" and "off chance" in r["reason"]
    assert r["flat_level"] > 2 * r["flat_level_se"]
    assert _fit(df, "hinge")["verdict"] == "emergent"


def test_unbounded_metric_is_held_to_its_null_level():
    # A gain (null level 0) that is flat at +0.1 and then rises is not emergent from its null;
    # at 0 it is. Without a null the rule cannot be applied and is skipped.
    df = study(2, truth="hinge", shift=0.0, height=0.0, n_items=400)
    gain = df["value"] - 0.25
    kw = dict(model=df["model"], run=df["run"], n_boot=100)
    assert fit_threshold(df["loss"], gain, null=0.0, **kw)["verdict"] == "emergent"
    off = fit_threshold(df["loss"], gain + 0.1, null=0.0, **kw)
    assert off["verdict"] != "emergent" and "off chance" in off["reason"] and off["null"] == 0.0
    assert fit_threshold(df["loss"], gain + 0.1, **kw)["verdict"] == "emergent"


def test_mirage_is_a_verdict():
    # Schaeffer et al.'s construction: the per-token log-probability of a 5-token answer is a
    # line in loss; exact match (its fifth power) looks like a jump. The twin says why.
    assert judge("emergent", "smooth") == "metric-induced"
    assert judge("emergent", "emergent") == "in both metrics"
    assert judge("emergent", "flat") == "twin undecided"
    assert judge("smooth", "smooth") == "not emergent" and judge("emergent", None) is None
    rows = pd.DataFrame(
        [
            {
                "task": "t",
                "prompt": "standard",
                "shots": 0,
                "labels": "none",
                "seed": "all",
                "metric": m,
                "verdict": v,
                "threshold": th,
            }
            for m, v, th in (("exact_match", "emergent", 1.7), ("answer_logprob_per_token", "smooth", None))
        ]
    )
    out = with_twins(rows).set_index("metric")
    assert out.loc["exact_match", "twin"] == "answer_logprob_per_token"
    assert out.loc["exact_match", "mirage"] == "metric-induced"
    assert out.loc["answer_logprob_per_token", "mirage"] is None


def test_mirage_on_a_simulated_study():
    # Per-token probability exp(-kappa (loss - E)) on every checkpoint; its log is a line.
    df = study(4, truth="exact_match_5", shift=0.0, height=0.0, n_items=400)
    from emergence.analysis.simulate import FLOOR, KAPPA

    per_token = -KAPPA * (df["loss"] - FLOOR) + np.random.default_rng(0).normal(0, 0.01, len(df))
    twin = fit_threshold(df["loss"], per_token, model=df["model"], run=df["run"], n_boot=50)
    assert twin["verdict"] == "smooth"
    main = _fit(df, "exact_match_5")
    assert main["verdict"] != "emergent" and main["smooth_alternative"] in ("exponential", "power")


# 50 studies, passing at 45 or more covered: a test that fails when the true coverage is 80%
# (it would pass with probability under 5%) and passes when it is 95% (with 96%).
N_COVERAGE, PASS_AT = 50, 45


def test_the_coverage_test_can_fail():
    assert stats.binom.sf(PASS_AT - 1, N_COVERAGE, 0.80) < 0.05
    assert stats.binom.sf(PASS_AT - 1, N_COVERAGE, 0.95) > 0.9


@pytest.mark.slow  # a coverage count over simulated studies
def test_onset_interval_covers_with_seed_variance():
    # Runs shifted along the loss axis by sd 0.04 nats; items shared by every checkpoint,
    # redrawn by id. (At 0.08, about the default study's seeds, 100 studies cover 90%:
    # tools/threshold_coverage.py and docs/science.md; too close to the bar for 50 to test.)
    table = verdicts(
        N_COVERAGE,
        "logistic",
        n_boot=100,
        shift=0.04,
        height=0.0,
        n_items=200,
        n_checkpoints=10,
        shared_items=True,
        by_item=True,
    ).iloc[0]
    assert table["coverage"] * N_COVERAGE >= PASS_AT, table.to_dict()


def test_csv_with_a_null_column_and_a_width_of_its_own(tmp_path):
    # `emergence fit-threshold` reads an unbounded metric's null level from the CSV and takes
    # the width rule's nats on the command line.
    import json

    from helpers import run_cli

    df = study(2, truth="hinge", shift=0.0, height=0.0, n_items=400)
    gain = df[["loss", "model", "run"]].assign(value=df["value"] - 0.25 + 0.1, null=0.0)
    gain.to_csv(tmp_path / "gain.csv", index=False)
    out = run_cli("fit-threshold", tmp_path / "gain.csv")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["null"] == 0.0 and r["verdict"] != "emergent" and "off chance" in r["reason"]
    bad = run_cli("fit-threshold", tmp_path / "gain.csv", "--max-width", "-1")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
