"""The forecast, (N, D) -> loss -> score, on simulated ladders with a planted law and curve."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import one_line_error, run_cli

from emergence.analysis import planted_ladder
from emergence.analysis.chain import fit_chain, predict_at
from emergence.analysis.crossing import _crossing_compute, crossings
from emergence.analysis.holdout import holdout_forecast

TRUE_LOSS = float(planted_ladder.planted_loss(*planted_ladder.TARGET))
TRUE_VALUE = float(planted_ladder.planted_value(TRUE_LOSS))


@pytest.fixture(scope="module")
def chain():
    return fit_chain(planted_ladder.ladder(0), n_boot=60, seed=0)


def test_the_planted_law_and_curve_are_recovered(chain):
    law = chain.laws[""][0]
    assert law["alpha"] == pytest.approx(planted_ladder.LAW["alpha"], abs=0.05)
    curve = chain.curves["emergent"]
    assert curve.verdict == "emergent" and curve.form in ("hinge", "sigmoid")
    assert curve.onset(curve.fit) == pytest.approx(planted_ladder.LADDER_ONSET, abs=0.05)
    p = predict_at(chain, *planted_ladder.TARGET)["emergent"]
    assert p["loss"] == pytest.approx(TRUE_LOSS, abs=0.02)
    assert p["value"] == pytest.approx(TRUE_VALUE, abs=0.06)
    assert p["beyond"] and "3 times the largest run's" in p["beyond"][0]


def test_the_law_is_fitted_on_final_checkpoints_only(chain):
    # Intermediate checkpoints sit 0.05 nats above the law (not yet annealed): only the
    # final one of each run may enter it, else the law would be biased upward.
    points = chain.points[""]
    assert len(points) == len(planted_ladder.LADDER_SIZES) * len(planted_ladder.LADDER_BUDGETS) * 3
    assert set(points["tokens"]) == set(planted_ladder.LADDER_BUDGETS)
    residual = points["loss"] - planted_ladder.planted_loss(points["params"], points["tokens"])
    assert abs(residual.mean()) < 0.005


def test_prediction_intervals_contain_the_law_intervals(chain):
    p = predict_at(chain, *planted_ladder.TARGET, runs=1)["emergent"]
    for what in ("loss", "value"):
        (clo, chi), (plo, phi) = p[f"{what}_ci"], p[f"{what}_pi"]
        assert plo < clo and chi < phi
    many = predict_at(chain, *planted_ladder.TARGET, runs=16)["emergent"]
    assert np.ptp(many["value_pi"]) < np.ptp(p["value_pi"])


@pytest.mark.slow  # a coverage count over simulated ladders
def test_intervals_cover_the_planted_law_at_about_the_stated_rate():
    # 95% intervals on 12 ladders: docs/forecast.md has the rate on 100 (tools/forecast_coverage.py).
    table = planted_ladder.forecast_coverage(12, n_boot=60)
    assert table["loss_covered"].sum() >= 9, table
    assert table["chain_covered"].sum() >= 9, table
    assert table["chosen_covered"].sum() >= 9, table


def test_the_crossing_covers_the_planted_compute(chain):
    out = crossings(chain)["emergent"]
    truth = _crossing_compute(planted_ladder.LAW, planted_ladder.LADDER_ONSET)
    lo, hi = out["compute_ci"]
    assert lo <= truth <= hi
    assert out["params"] * out["tokens"] * 6 == pytest.approx(out["compute"], rel=1e-6)
    assert out["law_undetermined"] == {}


def test_a_per_task_loss_gets_a_law_per_task():
    ladder = planted_ladder.ladder(1)
    other = ladder.assign(task="other")
    both = pd.concat([ladder, other], ignore_index=True)
    both["bpb"] = both["loss"] * np.where(both["task"] == "other", 1.3, 1.0)
    assert set(fit_chain(both, "bpb", n_boot=4).laws) == {"emergent", "other"}
    assert set(fit_chain(both, "loss", n_boot=4).laws) == {""}


def test_holding_out_the_largest_size():
    ladder = planted_ladder.ladder(2, sizes=(*planted_ladder.LADDER_SIZES, 3e6))
    table, summary = holdout_forecast(ladder, n_boot=60)
    assert summary["held_out"] == "3000000.0" and len(summary["forecast_from"]) == len(planted_ladder.LADDER_SIZES)
    assert list(table["tokens"]) == list(planted_ladder.LADDER_BUDGETS)
    truth = planted_ladder.planted_loss(3e6, table["tokens"])
    assert (table["loss_predicted"] - truth).abs().max() < 0.02
    assert (table["predicted"] - planted_ladder.planted_value(truth)).abs().max() < 0.05
    band = summary["curves"]["emergent"]
    assert len(band["loss"]) == len(band["low"]) == len(band["high"])
    assert all(lo <= v <= hi for v, lo, hi in zip(band["value"], band["low"], band["high"]))
    small, note = holdout_forecast(planted_ladder.ladder(0, sizes=(1e4, 3e4)), n_boot=4)
    assert small.empty and "leaves 1 size(s)" in note["note"]


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("forecast") / "runs.csv"
    planted_ladder.ladder(3).to_csv(path, index=False)
    return path


def test_the_command_prints_and_writes_the_documented_json(runs_csv, tmp_path):
    out = tmp_path / "forecast.json"
    spec = '{"analysis": {"n_boot": 20}}'  # the chain twice (the held-out check) and one step
    result = run_cli(
        "forecast", runs_csv, "--params", "3e6", "--tokens", "1e7", "--crossing", "--spec", spec, "--out", out
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())
    assert printed["target"] == {"params": 3e6, "tokens": 1e7} and printed["via"] == "loss"
    task = printed["tasks"]["emergent"]
    assert task["loss_ci"][0] < task["loss"] < task["loss_ci"][1]
    assert task["value_ci"][0] < task["value"] < task["value_ci"][1]
    assert printed["crossing"]["emergent"]["compute"] > 0
    # Both methods' forecasts, and which one the task's answer is, with why.
    assert set(task["methods"]) == {"chain", "one step"} and task["method"] in task["methods"]
    assert task["value"] == task["methods"][task["method"]]["value"]
    assert "held-out MAE" in task["method_reason"]
    one = task["methods"]["one step"]
    assert one["value_ci"][0] <= one["value"] <= one["value_ci"][1]
    assert one["compute"] == pytest.approx(6 * 3e6 * 1e7)


def test_the_command_holds_out_the_largest_size(tmp_path):
    path = tmp_path / "runs.csv"
    planted_ladder.ladder(4, sizes=(*planted_ladder.LADDER_SIZES, 3e6)).to_csv(path, index=False)
    spec = '{"analysis": {"n_boot": 20}}'
    result = run_cli("forecast", path, "--hold-out", "--spec", spec, "--out", tmp_path / "f.csv")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["rows"] == 3
    # Each candidate step-2 form's error at the held-out size, beside the one chosen.
    forms = printed["forms"]["emergent"]
    assert forms["chosen"] in forms and {"free sigmoid", "one step"} <= set(forms) and len(forms) == 4
    assert all(0 <= v < 1 for k, v in forms.items() if k != "chosen")
    # Each method over all tasks, the chain with its coverage: how far to trust which.
    methods = printed["methods"]
    assert {"chain", "published step 2", "one step"} <= set(methods)
    assert all(0 <= methods[m]["mean_abs_error"] < 1 for m in ("chain", "published step 2", "one step"))
    assert methods["chain"]["covered"] == printed["covered"]
    assert 0 <= methods["one step"]["covered"] <= printed["rows"]
    table = pd.read_csv(tmp_path / "f.csv")
    assert len(table) == 3 and table["one_step_covered"].sum() == methods["one step"]["covered"]
    assert (table["one_step_low"] <= table["one_step_predicted"]).all()
    # The method the command would have used, chosen on the smaller sizes alone, and its error.
    assert set(table["method"]) <= {"chain", "one step"} and table["method_reason"].str.contains("MAE").all()
    chained = table[table["method"] == "chain"]
    assert (chained["chosen_predicted"] == chained["predicted"]).all()
    assert table["chosen_covered"].sum() == methods["chosen"]["covered"]
    assert json.loads((tmp_path / "f.json").read_text())["held_out"] == "3000000.0"


@pytest.mark.parametrize(
    "change, args, expected",
    [
        (lambda d: d.drop(columns="value"), [], ["missing column 'value'"]),
        (
            lambda d: d.assign(tokens=d["tokens"].astype(object).where(d.index != 3, "many")),
            [],
            ["column 'tokens'", "line 5"],
        ),
        (lambda d: d.assign(params=d["params"].where(d.index != 0, 7.0)), [], ["run 'N1e+04-D1e+06-s0'", "'params'"]),
        (lambda d: d.assign(higher_is_better="maybe"), [], ["higher_is_better", "maybe"]),
        (lambda d: d, ["--via", "bpb"], ["missing column 'bpb'"]),
        (lambda d: d[d["params"] < 3e4], [], ["loss law", "two or more distinct params"]),
        (lambda d: d, ["--hold-out"], ["--hold-out", "no --params"]),
    ],
)
def test_bad_input_is_one_line(tmp_path, change, args, expected):
    path = tmp_path / "runs.csv"
    change(planted_ladder.ladder(5)).to_csv(path, index=False)
    result = run_cli("forecast", path, "--params", "3e6", "--tokens", "1e7", *args, "--out", tmp_path / "o.json")
    one_line_error(result, *expected)
    assert not (tmp_path / "o.json").exists()


def test_nothing_to_forecast_is_one_line(runs_csv):
    one_line_error(run_cli("forecast", runs_csv), "nothing to forecast")
    one_line_error(run_cli("forecast", runs_csv, "--params", "1e6"), "both --params and --tokens")


def test_branches_of_one_trunk_are_redrawn_together():
    # With seeds, the unit is a size's seed: every budget of it (a WSD trunk's branches share
    # its noise) comes with it, and seeds are redrawn within their size.
    from emergence.analysis.resample import units

    ladder = planted_ladder.ladder(0)
    unit, strata, stratified = units(ladder)
    assert stratified and len(strata) == len(planted_ladder.LADDER_SIZES)
    assert all(len(m) == 3 for m in strata)
    assert unit.groupby(unit).size().eq(len(planted_ladder.LADDER_BUDGETS)).all()
    # Without seeds, each run is its own unit, redrawn within its (N, D) cell.
    unit, strata, stratified = units(ladder.drop(columns="seed"))
    assert stratified and len(strata) == len(planted_ladder.LADDER_SIZES) * len(planted_ladder.LADDER_BUDGETS)
    assert unit.nunique() == len(unit)
    # One run per cell and no seeds: one stratum of every run.
    one = ladder[ladder["seed"] == 0].drop(columns="seed")
    unit, strata, stratified = units(one)
    assert not stratified and len(strata) == 1 and len(strata[0]) == unit.nunique()


def test_the_curve_resample_is_rescaled_like_the_law():
    from emergence.analysis.resample import rescaling

    keys = pd.DataFrame({"params": [1, 1, 1, 2], "tokens": [5, 5, 5, 5]})
    centre, scale = rescaling(keys, np.array([0.1, 0.2, 0.3, 0.9]), stratified=True)
    assert centre.tolist() == pytest.approx([0.2, 0.2, 0.2, 0.9])
    assert scale.tolist() == pytest.approx([np.sqrt(1.5)] * 3 + [1.0])
    assert rescaling(keys, np.zeros(4), stratified=False)[1].tolist() == [1.0] * 4


def test_no_compute_optimal_split_where_the_law_is_undetermined():
    # Two budgets cannot determine beta: the crossing's compute stands, its split does not.
    ladder = planted_ladder.ladder(0, sizes=(*planted_ladder.LADDER_SIZES, 3e6))
    two = ladder[ladder.groupby("run")["tokens"].transform("max") > planted_ladder.LADDER_BUDGETS[0]]
    out = crossings(fit_chain(two, n_boot=20, seed=0))["emergent"]
    assert out["params"] is None and out["tokens"] is None and out["params_ci"] is None
    assert "beta (only 2 token budgets" in out["split_note"]


def _normalised_ladder(seed: int, value):
    from emergence.analysis.curves import normalise

    d = planted_ladder.ladder(seed, value=value)
    return d["loss"].to_numpy(), normalise(d["value"].to_numpy(), planted_ladder.CHANCE), d["params"].to_numpy()


def test_a_free_sigmoid_carries_a_rise_the_ladder_only_starts():
    # The planted rise is half done below every loss of the ladder: the threshold analysis's
    # sigmoid (midpoint within the data) levels off where the data end; the free sigmoid,
    # anchored at a perfect score at zero loss, follows the rise far beyond them.
    from emergence.analysis import extrapolation
    from emergence.analysis.curves import fit_sigmoid, floor, normalise, predict

    x, y, _ = _normalised_ladder(0, planted_ladder.late_rise)
    far = 1.2  # 0.23 nats below the ladder's lowest loss
    truth = float(normalise(planted_ladder.late_rise(far), planted_ladder.CHANCE))
    free = extrapolation.fit_free_sigmoid(x, y, 1.0, floor(planted_ladder.CHANCE))
    assert free["eta"] == pytest.approx(planted_ladder.LATE_MIDPOINT, abs=0.05)
    assert float(predict("sigmoid", free, far)) == pytest.approx(truth, abs=0.08)
    inside = fit_sigmoid(x, y, 1.0, floor(planted_ladder.CHANCE))
    assert truth - float(predict("sigmoid", inside, far)) > 0.15


@pytest.mark.parametrize(
    "value, forms, chosen",
    [("late_rise", ("free sigmoid", "sigmoid"), "free sigmoid"), ("planted_value", ("free sigmoid", "hinge"), "hinge")],
)
def test_held_out_sizes_choose_the_form(value, forms, chosen):
    # A rise that continues past the ladder keeps the free sigmoid; for an emergent task the
    # held-out sizes overrule even a free-sigmoid default: fitted on sizes at chance, it
    # forecasts the next size badly.
    from emergence.analysis import extrapolation
    from emergence.analysis.curves import floor

    x, y, params = _normalised_ladder(0, getattr(planted_ladder, value))
    misses = extrapolation.held_out_misses(x, y, params, forms, 1.0, floor(planted_ladder.CHANCE))
    assert set(misses) == set(forms) and len(misses[forms[0]]) == len(misses[forms[1]])
    form, why = extrapolation.choose(misses, forms)
    assert form == chosen and "held-out error" in why


def test_the_chain_forecasts_a_rise_beyond_the_ladder_within_its_interval():
    chain = fit_chain(planted_ladder.ladder(1, value=planted_ladder.late_rise), n_boot=30, seed=1)
    assert chain.curves["emergent"].form == "free sigmoid"
    p = predict_at(chain, *planted_ladder.TARGET)["emergent"]
    truth = float(planted_ladder.late_rise(planted_ladder.planted_loss(*planted_ladder.TARGET)))
    lo, hi = p["value_ci"]
    assert lo <= truth <= hi and p["value"] == pytest.approx(truth, abs=0.04)
    assert "held-out error" in p["form_reason"]


def test_one_step_recovers_a_score_planted_in_compute():
    from emergence.analysis.onestep import fit_one_step, predict_one_step

    # Accuracy (chance 0.25) a sigmoid in log10 compute, midpoint at 1e18 FLOPs, width 0.4
    # decades; a ladder up to 1e18 (half the rise), forecast at 1e19 from it.
    rng = np.random.default_rng(0)
    params = np.repeat([1e6, 3e6, 1e7, 3e7], 8)
    tokens = np.tile(np.geomspace(1e8, 5e9, 8), 4)
    x = np.log10(6 * params * tokens)
    keep = x <= 18.0
    truth = lambda lx: 0.25 + 0.75 / (1 + np.exp(-(lx - 18.0) / 0.4))  # noqa: E731
    value = truth(x[keep]) + rng.normal(0, 0.01, keep.sum())
    fit = fit_one_step(params[keep], tokens[keep], value, 0.25, True, 1.0, 0.0)
    at = predict_one_step(fit, np.array([1e8]), np.array([1e19 / 6e8]))
    assert 0.25 + 0.75 * at[0] == pytest.approx(truth(19.0), abs=0.05)


# A task whose accuracy follows compute C = 6ND, not the loss: midpoint at 10^13.5 FLOPs,
# 0.4 decades wide; the ladder's largest size reaches 10^13.8, the target 10^14.3.
COMPUTE_MIDPOINT, COMPUTE_WIDTH = 13.5, 0.4


def _by_compute(params, tokens):
    from scipy import special

    rise = special.expit((np.log10(6.0 * np.asarray(params) * np.asarray(tokens)) - COMPUTE_MIDPOINT) / COMPUTE_WIDTH)
    return planted_ladder.CHANCE + (1 - planted_ladder.CHANCE) * rise


def test_one_step_is_chosen_where_the_score_follows_compute():
    # At one loss, the sizes' scores differ (a larger N reaches the loss with less compute): the
    # chain's curve in loss blurs them and forecasts the held-out size worse; one step is the
    # planted law, wins the held-out check, and its interval covers the planted score.
    from emergence.analysis.choice import forecast_at

    ladder = planted_ladder.ladder(0)
    rng = np.random.default_rng(0)
    ladder["value"] = rng.binomial(ladder["n"], _by_compute(ladder["params"], ladder["tokens"])) / ladder["n"]
    p = forecast_at(ladder, fit_chain(ladder, n_boot=10, seed=0), *planted_ladder.TARGET)["emergent"]
    truth = float(_by_compute(*planted_ladder.TARGET))
    assert p["method"] == "one step" and p["method_reason"].startswith("one step: held-out MAE")
    assert p["value"] == p["methods"]["one step"]["value"] == pytest.approx(truth, abs=0.03)
    lo, hi = p["value_ci"]
    assert lo <= truth <= hi and p["value_pi"][0] <= lo and hi <= p["value_pi"][1]
    assert p["methods"]["chain"]["value_ci"][1] < truth  # the chain's own interval misses it


def test_the_held_out_check_reports_the_method_the_smaller_sizes_chose():
    # The compute-following score on six sizes: the five smaller ones choose one step (their
    # own largest held out), and the held-out sixth is forecast by it within its interval.
    ladder = planted_ladder.ladder(0, sizes=(*planted_ladder.LADDER_SIZES, 3e6))
    rng = np.random.default_rng(0)
    ladder["value"] = rng.binomial(ladder["n"], _by_compute(ladder["params"], ladder["tokens"])) / ladder["n"]
    table, summary = holdout_forecast(ladder, n_boot=10)
    assert (table["method"] == "one step").all()
    assert (table["chosen_predicted"] == table["one_step_predicted"]).all() and table["chosen_covered"].all()
    chosen, chain = summary["methods"]["chosen"], summary["methods"]["chain"]
    assert chosen["one_step_tasks"] == ["emergent"] and chosen["mean_abs_error"] < chain["mean_abs_error"]


def test_the_chain_is_kept_where_the_score_follows_the_loss():
    from emergence.analysis.choice import forecast_at

    ladder = planted_ladder.ladder(0)
    p = forecast_at(ladder, fit_chain(ladder, n_boot=10, seed=0), *planted_ladder.TARGET)["emergent"]
    assert p["method"] == "chain" and "held-out MAE" in p["method_reason"]
    assert p["value"] == pytest.approx(TRUE_VALUE, abs=0.06)
    assert p["loss"] == pytest.approx(TRUE_LOSS, abs=0.02)


def test_no_held_out_check_keeps_the_chain():
    from emergence.analysis.choice import choose, held_out_errors

    errors, note = held_out_errors(planted_ladder.ladder(0, sizes=(1e4, 3e4)), n_boot=4)
    assert errors == {} and "needs 3" in note
    assert choose(None, note) == ("chain", f"no held-out check ({note})")
    # A difference inside the held-out scores' noise keeps the default.
    close = {"chain": np.array([0.05, 0.06]), "one step": np.array([0.04, 0.05]), "noise": 0.03}
    assert choose(close)[0] == "chain" and "within noise" in choose(close)[1]
    clear = {"chain": np.array([0.15, 0.16]), "one step": np.array([0.04, 0.05]), "noise": 0.03}
    assert choose(clear) == ("one step", "one step: held-out MAE 0.045 vs chain 0.155 (noise 0.021)")
