"""The study's forecast check: hold out the largest size, forecast it from the others, compare.

For each token budget of the held-out size, the chain (chain.py) fitted on the other
sizes predicts the final checkpoint's loss and every task's score, and the table sets them
beside what the held-out runs reached (their mean over seeds). `covered` asks whether that
mean lies in the prediction interval for the mean of as many new runs (`value_pi`: the law's
uncertainty plus the scatter of runs and items); `covered_given_loss` asks the same of step 2
alone, the curve at the loss the runs actually reached, which tells a miss of the loss law
from a miss of the curve. One step straight from compute (onestep.py), fitted to the same
sizes with the same bootstrap, stands beside it (`one_step*`: its forecast, prediction
interval and whether that covers what the runs reached). `method` is the one `emergence
forecast` would have used for each task, chosen on the smaller sizes alone (choice.py: their
own largest held out), and `chosen*` its forecast: the held-out check of the forecast as the
command makes it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from emergence.analysis import onestep
from emergence.analysis.chain import Chain, fit_chain, law_summary, predict_at
from emergence.analysis.choice import CHAIN, choose, held_out_errors

# The table's columns, in order.
COLUMNS = (
    "task",
    "metric",
    "held_out",
    "params",
    "tokens",
    "runs",
    "verdict",
    "form",
    "loss_predicted",
    "loss_low",
    "loss_high",
    "loss_actual",
    "loss_covered",
    "predicted",
    "ci_low",
    "ci_high",
    "low",
    "high",
    "actual",
    "error",
    "covered",
    "given_loss",
    "given_loss_low",
    "given_loss_high",
    "covered_given_loss",
    "chance",
    "beyond",
    "one_step_predicted",
    "one_step_low",
    "one_step_high",
    "one_step_covered",
    "method",
    "method_reason",
    "chosen_predicted",
    "chosen_low",
    "chosen_high",
    "chosen_covered",
)
# Losses at which each chained curve is drawn.
_GRID = 60


def _ends(prefix: str, interval) -> dict:
    lo, hi = (np.nan, np.nan) if interval is None else interval
    return {f"{prefix}low": lo, f"{prefix}high": hi}


def _inside(x: float, interval) -> bool:
    return interval is not None and bool(interval[0] <= x <= interval[1])


def holdout_forecast(ladder: pd.DataFrame, *, n_boot: int = 200, seed: int = 0, level: float = 0.95):
    """(table, summary) of the forecast of the largest size (by `params`) from the others.

    The table has one row per task x budget of the held-out size (COLUMNS); the summary
    holds the held-out size, the sizes it was forecast from, the law (chain.law_summary)
    and each task's chained curve (score against loss with its interval band, on a grid
    from the held-out runs' loss range to the highest loss fitted). A ladder too small to
    forecast from (fewer than two sizes left, or too few runs for the law or checkpoints for
    a curve) gives a table without rows and a summary whose `note` says why: a study that
    small is not an error."""
    size = ladder["size"] if "size" in ladder.columns else ladder["params"].astype(str)
    largest = ladder["params"].max()
    target = ladder[ladder["params"] == largest]
    train = ladder[ladder["params"] < largest]
    held_out = str(size[target.index[0]])
    empty = pd.DataFrame(columns=list(COLUMNS))
    if train["params"].nunique() < 2:
        left = train["params"].nunique()
        note = f"Holding out the largest size ({held_out}) leaves {left} size(s) to forecast it from; it needs two."
        return empty, {"held_out": held_out, "note": note}
    try:
        chain = fit_chain(train, n_boot=n_boot, seed=seed, level=level)
    except ValueError as e:
        return empty, {"held_out": held_out, "note": f"No forecast of {held_out} from the smaller sizes: {e}."}
    steps = onestep.fit_ladder(train, chain, seed=seed)
    methods = _choices(train, chain, steps, n_boot=n_boot, seed=seed, level=level)
    final = target[target["tokens"] == target.groupby("run")["tokens"].transform("max")]
    metric = train.groupby("task")["metric"].first().to_dict() if "metric" in train.columns else {}
    rows = []
    for D, cell in final.groupby("tokens", sort=True):
        n_runs = cell["run"].nunique()
        actual = cell.groupby("task")[["loss", "value"]].mean()
        chained = predict_at(chain, float(largest), float(D), runs=n_runs, seed=seed)
        at_actual = predict_at(chain, float(largest), float(D), runs=n_runs, loss=actual["loss"].to_dict(), seed=seed)
        direct = onestep.predict_at(chain, steps, float(largest), float(D), runs=n_runs, seed=seed)
        for task, p in chained.items():
            if task not in actual.index:
                continue
            row = {
                "task": task,
                "metric": metric.get(task),
                "held_out": held_out,
                "params": float(largest),
                "tokens": float(D),
                "runs": int(n_runs),
            }
            row |= _compared(p, actual.loc[task], at_actual[task], chain.curves[task].chance)
            row |= _one_step(direct.get(task), row["actual"])
            rows.append(row | _chosen(row, *methods[task]))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    lowest = float(final["loss"].min())
    summary = {
        "held_out": held_out,
        "params": float(largest),
        "forecast_from": sorted({str(s) for s in size[train.index]}),
        "law": law_summary(chain),
        "forms": (forms := _by_form(chain, steps, table)),
        "methods": _methods(table, forms),
        "curves": {task: _band(chain, task, min(lowest, c.losses[0])) for task, c in chain.curves.items()},
    }
    return table, summary


def _compared(p: dict, reached: pd.Series, given: dict, chance: float | None) -> dict:
    """One task's forecast `p` (predict_at) beside what the held-out runs `reached` (their mean
    loss and value), and `given`, the forecast of the curve alone at the loss they reached."""
    return {
        "verdict": p["verdict"],
        "form": p["form"],
        "loss_predicted": p["loss"],
        **_ends("loss_", p["loss_pi"]),
        "loss_actual": float(reached["loss"]),
        "loss_covered": _inside(reached["loss"], p["loss_pi"]),
        "predicted": p["value"],
        **_ends("ci_", p["value_ci"]),
        **_ends("", p["value_pi"]),
        "actual": float(reached["value"]),
        "error": p["value"] - float(reached["value"]),
        "covered": _inside(reached["value"], p["value_pi"]),
        "given_loss": given["value"],
        **_ends("given_loss_", given["value_pi"]),
        "covered_given_loss": _inside(reached["value"], given["value_pi"]),
        "chance": chance,
        "beyond": "; ".join(p["beyond"]),
    }


def _one_step(p: dict | None, actual: float) -> dict:
    """One step's forecast `p` (onestep.predict_at) beside what the held-out runs reached."""
    if p is None:
        return {"one_step_predicted": np.nan, **_ends("one_step_", None), "one_step_covered": False}
    return {
        "one_step_predicted": p["value"],
        **_ends("one_step_", p["value_pi"]),
        "one_step_covered": _inside(actual, p["value_pi"]),
    }


def _choices(train: pd.DataFrame, chain: Chain, steps: dict, **boot) -> dict[str, tuple[str, str]]:
    """Per task of the chain: (method, why), the choice `emergence forecast` makes on the
    sizes the forecast is made from (choice.py: their own largest held out), as it would
    have been made before the held-out size was trained."""
    errors, note = held_out_errors(train, "loss", **boot)
    out = {}
    for task in chain.curves:
        method, why = choose(errors.get(task), note)
        if method == onestep.NAME and task not in steps:
            method, why = CHAIN, f"chain: one step could not be fitted to every size ({why})"
        out[task] = (method, why)
    return out


def _chosen(row: dict, method: str, why: str) -> dict:
    """The chosen method's forecast and prediction interval, from the row's columns of each."""
    prefix = "" if method == CHAIN else "one_step_"
    return {
        "method": method,
        "method_reason": why,
        "chosen_predicted": row[f"{prefix}predicted"],
        "chosen_low": row[f"{prefix}low"],
        "chosen_high": row[f"{prefix}high"],
        "chosen_covered": row[f"{prefix}covered"],
    }


def _by_form(chain: Chain, steps: dict, table: pd.DataFrame) -> dict:
    """Per task: each candidate step-2 form's point forecast at every held-out budget (at the
    law's predicted loss) and its mean absolute error against what the runs reached, beside
    the form the forecast chose: how much the choice mattered on this size; and the same for
    one step straight from compute (onestep.fit_ladder's `steps`, fitted to the smaller sizes'
    checkpoints)."""
    out = {}
    for task, rows in table.groupby("task", sort=True):
        curve = chain.curves[task]
        actual = rows["actual"].to_numpy(float)
        out[task] = {"chosen": curve.form, "reason": curve.form_reason, "forms": {}}
        predicted = {}
        for form, fit in curve.candidates.items():
            drawn = dataclasses.replace(curve, form=form)
            predicted[form] = np.array([float(drawn.value(fit, x)) for x in rows["loss_predicted"]])
        if task in steps:
            y = onestep.predict_one_step(
                steps[task].fit, rows["params"].to_numpy(float), rows["tokens"].to_numpy(float)
            )
            predicted[onestep.NAME] = curve.to_units(y)
        for form, p in predicted.items():
            out[task]["forms"][form] = {"predicted": p.tolist(), "mean_abs_error": float(np.mean(np.abs(p - actual)))}
    return out


def _methods(table: pd.DataFrame, forms: dict) -> dict:
    """Each way of forecasting the held-out size, over all its tasks x budgets: the chain, one
    step from compute and the method chosen per task (each with its intervals' coverage; the
    tasks where one step was chosen), the published step 2
    (the free sigmoid for every task, on the same law): the mean absolute error, and the mean
    relative error over the rows more than 0.05 above chance (near chance a relative error
    means nothing). How far to trust a forecast on this ladder, method by method."""
    if table.empty:
        return {}
    actual = table["actual"].to_numpy(float)
    above = actual > table["chance"].fillna(0.0).to_numpy(float) + 0.05
    picks = {"chain": table["predicted"].to_numpy(float), "chosen": table["chosen_predicted"].to_numpy(float)}
    for name, form in (("published step 2", "free sigmoid"), ("one step", "one step")):
        by_task = {t: np.asarray(f["forms"][form]["predicted"]) for t, f in forms.items() if form in f["forms"]}
        if set(by_task) == set(table["task"]):
            # The table lists each task's budgets in the order _by_form predicted them.
            order = table.groupby("task", sort=False).cumcount().to_numpy()
            picks[name] = np.array([by_task[t][i] for t, i in zip(table["task"], order)])
    out = {}
    for name, predicted in picks.items():
        err = np.abs(predicted - actual)
        rel = err[above] / np.abs(actual[above])
        out[name] = {
            "mean_abs_error": float(err.mean()),
            "mean_rel_error_above_chance": float(rel.mean()) if rel.size else None,
        }
    out["chain"]["covered"] = int(table["covered"].sum())
    out["chosen"]["covered"] = int(table["chosen_covered"].astype(bool).sum())
    out["chosen"]["one_step_tasks"] = sorted(set(table.loc[table["method"] == onestep.NAME, "task"]))
    if "one step" in out:
        out["one step"]["covered"] = int(table["one_step_covered"].astype(bool).sum())
    out["rows_above_chance"] = int(above.sum())
    return out


def _band(chain: Chain, task: str, low: float) -> dict:
    """The task's fitted curve with its interval band (for the law) on a grid of losses."""
    curve = chain.curves[task]
    xs = np.linspace(low, curve.losses[1], _GRID)
    boots = np.array([curve.value(p, xs) for p in curve.boots]).reshape(-1, xs.size)
    ok = np.isfinite(boots).all(axis=1)
    tail = 100 * (1 - chain.level) / 2
    lo, hi = np.percentile(boots[ok], [tail, 100 - tail], axis=0) if ok.sum() >= 2 else (xs * np.nan, xs * np.nan)
    return {
        "form": curve.form,
        "form_reason": curve.form_reason,
        "verdict": curve.verdict,
        "fitted_losses": list(curve.losses),
        "loss": xs.tolist(),
        "value": curve.value(curve.fit, xs).tolist(),
        "low": np.asarray(lo).tolist(),
        "high": np.asarray(hi).tolist(),
    }
