"""The threshold estimator on simulated curves with planted thresholds (and none)."""

import numpy as np
import pytest

from emergence.analysis.curves import fit_hinge, normalise, predict
from emergence.analysis.evidence import emergence_score
from emergence.analysis.thresholds import fit_threshold, fit_threshold_file
from emergence.errors import InputError

ETA = 2.8
CHANCE = 0.25
N_ITEMS = 200


def simulate(seed, shape="hinge", eta=ETA, n_items=N_ITEMS):
    """Five model sizes x 10 checkpoints; smaller models stop at higher loss. Accuracy sits at
    chance above `eta` and rises below it (hinge or sigmoid), or follows a line, or stays at
    chance; observed as Binomial(n_items, p) / n_items."""
    rng = np.random.default_rng(seed)
    loss = np.concatenate([np.linspace(4.0, lo, 10) + rng.normal(0, 0.02, 10) for lo in (2.0, 2.3, 2.6, 2.9, 3.2)])
    model = np.repeat(np.arange(5), 10)
    p = {
        "hinge": CHANCE + 0.75 * np.maximum(eta - loss, 0),
        "sigmoid": CHANCE + 0.6 / (1 + np.exp((loss - eta) / 0.08)),
        "linear": CHANCE + 0.3 * (4.0 - loss),
        "flat": np.full_like(loss, CHANCE),
    }[shape]
    return loss, rng.binomial(n_items, np.clip(p, 0, 1)) / n_items, model


def test_normalise():
    assert np.allclose(normalise([0.25, 1.0, 0.625], 0.25), [0, 1, 0.5])
    assert np.allclose(normalise([0.75, 0.0], 0.75, higher_is_better=False), [0, 1])  # Brier: chance 0.75, best 0
    assert np.allclose(normalise([2.0], None, higher_is_better=False), [-2.0])


def test_hinge_fit_is_exact_on_noiseless_data():
    x = np.linspace(2, 4, 41)
    p = fit_hinge(x, 0.1 + 0.5 * np.maximum(2.83 - x, 0))
    assert p["eta"] == pytest.approx(2.83, abs=1e-9) and p["s"] == pytest.approx(0.5) and p["rss"] < 1e-20


def test_planted_threshold_is_found():
    loss, value, model = simulate(0)
    r = fit_threshold(loss, value, model=model, n=N_ITEMS, chance=CHANCE)
    assert r["verdict"] == "emergent" and r["best_model"] == "hinge"
    assert abs(r["threshold"] - ETA) < 0.1
    assert r["ci_low"] <= ETA <= r["ci_high"]
    assert r["delta_bic"] >= 6 and r["spearman"] < 0 and r["emergence_score"] > 0
    assert not r["resolution_warning"]


def test_planted_sigmoid_threshold_is_found():
    loss, value, model = simulate(1, shape="sigmoid")
    r = fit_threshold(loss, value, model=model, n=N_ITEMS, chance=CHANCE, n_boot=100)
    assert r["verdict"] == "emergent" and r["threshold_model"] == "sigmoid"
    # The threshold is the onset (10% of the rise: eta + w ln 9), the midpoint is eta itself.
    onset, saturation = ETA + 0.08 * np.log(9), ETA - 0.08 * np.log(9)
    assert abs(r["threshold"] - onset) < 0.1 and r["ci_low"] <= onset + 0.05 and r["ci_high"] >= onset - 0.05
    assert abs(r["midpoint"] - ETA) < 0.05 and r["midpoint_low"] <= ETA <= r["midpoint_high"]
    assert abs(r["saturation"] - saturation) < 0.1 and r["saturation_low"] < r["midpoint"] < r["onset_high"]


def test_interval_coverage_is_near_nominal():
    """40 simulated studies: the 95% interval covers the planted eta in most, and stays narrow
    enough to mean something (the estimator's own spread here is about 0.02). An interval
    wider than the width rule's 0.2 nats leaves a study inconclusive (1 of these 40)."""
    covered, widths, errors, emergent = 0, [], [], 0
    for seed in range(40):
        loss, value, model = simulate(100 + seed)
        r = fit_threshold(loss, value, model=model, n=N_ITEMS, chance=CHANCE, n_boot=100, seed=seed)
        emergent += r["verdict"] == "emergent"
        covered += r["onset_low"] <= ETA <= r["onset_high"]
        widths.append(r["onset_high"] - r["onset_low"])
        errors.append(r["onset"] - ETA)
    assert emergent >= 36, f"emergent {emergent}/40"
    assert covered >= 34, f"coverage {covered}/40"
    assert np.mean(widths) < 0.25
    assert np.max(np.abs(errors)) < 0.1


def test_cluster_bootstrap_without_item_counts():
    loss, value, model = simulate(2)
    r = fit_threshold(loss, value, model=model, chance=CHANCE, n_boot=100)
    assert r["bootstrap"] == "clusters" and r["verdict"] == "emergent"
    assert r["ci_low"] <= ETA <= r["ci_high"]


def test_linear_curve_has_no_threshold():
    for seed in range(3):
        loss, value, model = simulate(seed, shape="linear")
        r = fit_threshold(loss, value, model=model, n=N_ITEMS, chance=CHANCE)
        assert r["verdict"] == "smooth" and r["threshold"] is None and r["delta_bic"] < 6


def test_chance_curve_is_flat():
    for seed in range(3):
        loss, value, model = simulate(seed, shape="flat")
        r = fit_threshold(loss, value, model=model, n=N_ITEMS, chance=CHANCE)
        assert r["verdict"] == "flat" and r["threshold"] is None


def test_threshold_above_chance_level_is_not_emergent():
    """A kink whose flat part sits well above chance is not "chance until a threshold": it
    rises steadily from a level that is not chance, so it is smooth."""
    loss, value, model = simulate(3)
    r = fit_threshold(loss, np.clip(value + 0.2, 0, 1), model=model, n=N_ITEMS, chance=CHANCE)
    assert r["verdict"] == "smooth" and r["threshold"] is None and "off chance" in r["reason"]


def test_lower_is_better_metric():
    """Brier score: chance (0.75 for four choices) above the threshold, falling below it."""
    rng = np.random.default_rng(4)
    loss, _, model = simulate(4)
    brier = 0.75 - 0.8 * np.maximum(ETA - loss, 0) + rng.normal(0, 0.02, loss.size)
    # The losses span 2 nats here, twice a study's: the width rule is not what this tests.
    r = fit_threshold(loss, brier, model=model, chance=0.75, higher_is_better=False, n_boot=100, max_width=0.5)
    assert r["verdict"] == "emergent" and abs(r["threshold"] - ETA) < 0.1 and r["ci_low"] <= ETA <= r["ci_high"]
    # Without a chance level the curve is unbounded: the same onset, a wider interval.
    free = fit_threshold(loss, -brier, model=model, chance=None, higher_is_better=True, n_boot=50)
    assert free["threshold_model"] == "hinge" and abs(free["onset"] - ETA) < 0.1


def test_resolution_warning_for_few_items():
    loss, value, model = simulate(5, n_items=4)
    assert fit_threshold(loss, value, model=model, n=4, chance=CHANCE, n_boot=20)["resolution_warning"]


def test_emergence_score_sign_and_zero_median():
    loss = np.array([4.0, 3.5, 3.0, 2.5, 2.0])
    assert emergence_score(loss, [0, 0, 0, 1, 1]) > 0  # rises as loss falls; median of d^2 is 0
    assert emergence_score(loss, [1, 1, 0, 0, 0]) < 0
    assert emergence_score(loss, [0.3] * 5) == 0


def test_too_few_points_is_inconclusive():
    r = fit_threshold([3, 2.9, 2.8, 2.7], [0.2, 0.3, 0.4, 0.5])
    assert r["verdict"] == "inconclusive" and "too few" in r["reason"]


def test_file_round_trip_and_errors(tmp_path):
    loss, value, model = simulate(0)
    ok = tmp_path / "curve.csv"
    lines = ["loss,value,model,n,chance"] + [
        f"{x},{v},m{m},{N_ITEMS},{CHANCE if i == 0 else ''}" for i, (x, v, m) in enumerate(zip(loss, value, model))
    ]
    ok.write_text("\n".join(lines) + "\n")
    r = fit_threshold_file(ok, n_boot=50)
    assert r["verdict"] == "emergent" and r["chance"] == CHANCE and {"threshold", "ci_low", "ci_high"} <= set(r)

    missing = tmp_path / "missing.csv"
    missing.write_text("loss,score\n3.0,0.2\n")
    with pytest.raises(InputError, match=r"missing\.csv.*'value'"):
        fit_threshold_file(missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("loss,value\n3.0,0.2\n2.9,high\n")
    with pytest.raises(InputError, match=r"bad\.csv: column 'value' has non-numeric value 'high' at line 3") as e:
        fit_threshold_file(bad)
    assert "\n" not in str(e.value)
    notprop = tmp_path / "notprop.csv"
    notprop.write_text("loss,value,n\n" + "".join(f"{3 - i / 10},{1 + i},10\n" for i in range(10)))
    with pytest.raises(InputError, match=r"notprop\.csv: .*proportion"):
        fit_threshold_file(notprop)
    with pytest.raises(InputError, match="does not exist"):
        fit_threshold_file(tmp_path / "nope.csv")


def test_one_lucky_item_at_chance_zero_is_not_a_rise():
    # Exact match stays at 0 of 100 items except a single 1/100 at the lowest loss: the
    # binomial noise floor (with one success and one failure added) calls this flat.
    loss = np.linspace(4.0, 1.5, 60)
    value = np.zeros(60)
    value[-1] = 0.01
    out = fit_threshold(loss, value, n=np.full(60, 100), chance=0.0, n_boot=20)
    assert out["verdict"] == "flat" and out["threshold"] is None


def test_a_threshold_with_few_checkpoints_above_it_is_not_emergent():
    # A continuous metric that jumps only between the first few (untrained) checkpoints and
    # the rest, then rises linearly: a hinge fits, but too few points lie above the kink for
    # "models above the threshold lack the ability" to mean anything.
    rng = np.random.default_rng(0)
    loss = np.concatenate([np.full(4, 6.9) + rng.normal(0, 0.02, 4), np.linspace(5.0, 1.5, 56)])
    value = np.where(loss > 6, -7.0, -2.0 - 0.3 * (loss - 1.5)) + rng.normal(0, 0.02, 60)
    out = fit_threshold(loss, value, n_boot=20)
    assert out["verdict"] != "emergent"


def test_onset_at_the_edge_of_the_data_is_not_a_finding():
    # A jump among the last three checkpoints of the largest model only.
    loss, _, model = simulate(5)
    value = np.random.default_rng(5).binomial(1000, CHANCE + 0.6 * (loss < 2.3)) / 1000
    r = fit_threshold(loss, value, model=model, n=1000, chance=CHANCE, n_boot=50)
    assert (loss < 2.3).sum() < 5 and r["delta_bic"] > 6
    assert r["verdict"] == "inconclusive" and r["at_edge"] is True and r["threshold"] is None
    assert "low-loss edge" in r["reason"] and "train longer or larger" in r["reason"]
    # The same curve with the rise well inside the data is a finding, not at the edge.
    loss, value, model = simulate(5, eta=2.8, n_items=1000)
    r = fit_threshold(loss, value, model=model, n=1000, chance=CHANCE, n_boot=50)
    assert r["verdict"] == "emergent" and r["at_edge"] is False


def test_fits_of_a_bounded_metric_stay_within_its_range():
    # Accuracy shoots from chance to 1 and stays there: a free hinge would pass 1.0.
    x = np.linspace(1.0, 3.0, 60)
    y = np.clip(CHANCE + 3.0 * np.maximum(2.5 - x, 0), 0, 1)
    r = fit_threshold(x, y, n=np.full(60, 500), chance=CHANCE, n_boot=20)
    xs = np.linspace(x.min(), x.max(), 500)
    for kind in ("hinge", "sigmoid", "smooth"):
        p = {k.removeprefix(kind + "_"): v for k, v in r.items() if k.startswith(kind + "_") and "ic_" not in k}
        pred = predict(kind, p, xs)
        assert pred.max() <= 1 + 1e-9 and pred.min() >= normalise(0.0, CHANCE) - 1e-9, kind
    assert r["hinge_top"] == 1.0 and abs(r["onset"] - 2.5) < 0.02
    # The hinge's landmarks: knot, then half and 90% of the way to the best score.
    # (normalised slope 3 / 0.75 = 4 per nat).
    assert abs(r["midpoint"] - (2.5 - 0.5 / 4)) < 0.02 and abs(r["saturation"] - (2.5 - 0.9 / 4)) < 0.02


def test_steady_rise_from_below_chance_is_smooth():
    # Multiple choice often starts below chance (a wrong answer the corpus favours) and
    # improves steadily: smooth, not "inconclusive: flat level not at chance".
    loss = np.linspace(4.0, 2.0, 80)
    value = np.clip(0.05 + 0.2 * (4.0 - loss) ** 1.5, 0, 1)
    r = fit_threshold(loss, value, n=np.full(80, 400), chance=CHANCE, n_boot=20)
    assert r["verdict"] == "smooth" and r["threshold"] is None


def test_a_rise_in_only_two_sizes_is_not_a_shared_threshold():
    # Plenty of checkpoints below the onset, but all from the two largest sizes.
    rng = np.random.default_rng(4)
    finals = (3.2, 2.9, 2.6, 1.8, 1.5)
    loss = np.concatenate([np.linspace(4.0, lo, 20) for lo in finals])
    model = np.repeat(np.arange(5), 20)
    value = rng.binomial(400, CHANCE + 0.75 * np.clip(np.maximum(2.2 - loss, 0), 0, 1)) / 400
    r = fit_threshold(loss, value, model=model, n=400, chance=CHANCE, n_boot=50)
    assert r["verdict"] == "inconclusive" and r["sizes_below"] == 2 and r["sizes_above"] == 5
    assert "only 2 of 5 sizes reach below the onset" in r["reason"]
    # Without size labels the same curve is emergent: the rule is about sizes sharing it.
    assert fit_threshold(loss, value, n=400, chance=CHANCE, n_boot=50)["verdict"] == "emergent"


def test_an_onset_with_a_wide_interval_is_not_located():
    # A rise seen through 20 items: a threshold model wins, but its onset's interval is
    # wider than the 0.2 nats that locate an onset.
    rng = np.random.default_rng(0)
    loss = np.concatenate([np.linspace(4.0, lo, 12) for lo in (2.4, 2.2, 2.0, 1.8, 1.6)])
    value = rng.binomial(20, CHANCE + 0.5 * np.maximum(3.0 - loss, 0)) / 20
    r = fit_threshold(loss, value, model=np.repeat(np.arange(5), 12), n=20, chance=CHANCE, n_boot=100)
    assert r["verdict"] == "inconclusive" and r["threshold"] is None and r["delta_bic"] > 6
    assert r["onset_high"] - r["onset_low"] > 0.2
    assert r["reason"].startswith("where the rise starts is not determined")
    # The rule is in nats, and a study of another tokenizer may set its own width.
    wide = fit_threshold(loss, value, model=np.repeat(np.arange(5), 12), n=20, chance=CHANCE, n_boot=100, max_width=0.5)
    assert wide["verdict"] == "emergent"
