"""Verdicts that survive the mirage critique: smooth truths are not called emergent, real
thresholds are, the onset means the same for every threshold model, items are resampled as
they were drawn, and the flat level is tested against chance (or an unbounded metric's null).
Proved on simulated studies with a planted truth (emergence.analysis.simulate)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

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
    called = [_fit(study(s, truth=truth, shift=0.04, height=0.0), truth, seed=s)["verdict"] for s in range(6)]
    assert called.count("emergent") >= 5, called


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
    # Every checkpoint scored on the same 100 items: redrawing item ids keeps an item's
    # effect shared by all checkpoints, so the interval is at least as wide as the binomial
    # one, which treats the items of different checkpoints as independent.
    df, items = study(2, truth="hinge", n_runs=1, shift=0.0, height=0.0, shared_items=True, with_items=True)
    by_id = _fit(df, "hinge", items=items)
    binomial = _fit(df, "hinge")
    assert by_id["bootstrap"] == binomial["bootstrap"] == "items"
    assert by_id["onset"] == binomial["onset"]
    assert by_id["onset_high"] - by_id["onset_low"] >= binomial["onset_high"] - binomial["onset_low"]
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
@pytest.mark.parametrize("shift", [0.04, 0.08])
def test_onset_interval_covers_with_seed_variance(shift):
    # Runs shifted along the loss axis by sd 0.04 and 0.08 nats (the default study's seeds
    # differ by about 0.08); items shared by every checkpoint, redrawn by id.
    table = verdicts(
        N_COVERAGE, "logistic", shift=shift, height=0.0, n_items=200, n_checkpoints=10, shared_items=True, by_item=True
    ).iloc[0]
    assert table["coverage"] * N_COVERAGE >= PASS_AT, table.to_dict()
