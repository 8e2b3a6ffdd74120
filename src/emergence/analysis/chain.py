"""The forecast's model: parameters N and tokens D -> loss -> task score, chained, with its
bootstrap. The command that drives it is forecast.py.

Step 1, loss from (N, D): the scaling law L = E + A / N^alpha + B / D^beta (scaling.py),
fitted to the final checkpoint of each run only. A checkpoint in the middle of a decaying
schedule (cosine, or WSD before its cool-down) has not had its learning rate annealed: its
loss lies above what a run planned to stop at that many tokens reaches, so it would bend
the law's token term (Hoffmann et al. 2022 fit final losses for the same reason). When the
intermediate loss differs between tasks at one checkpoint (`via` a per-task bits-per-byte),
each task gets its own law.

Step 2, score from loss: over every checkpoint, intermediate ones included: a checkpoint's
score depends on how good the model is, which its loss measures whatever its schedule (the
claim the threshold analysis tests). Its form is checked on held-out sizes
(extrapolation.py): the threshold analysis's verdict on the same points (thresholds.py)
picks the default, an emergent task's better threshold model (hinge or sigmoid: flat at
chance above the onset, rising below), a smooth rise the field's free sigmoid (midpoint
anywhere, anchored at a perfect score at zero loss), a flat or inconclusive task a sigmoid
whose midpoint lies within the data; the other form replaces it only where it forecast the
held-out sizes clearly better.

The chain is score(N, D) = g(L(N, D)). Its intervals come from one bootstrap over runs that
goes through both steps, redrawing the units of resample.py (a size's seed, or a run; within
each size; each drawn loss and score moved away from its cell's mean, the rescaling
bootstrap; then the items behind each score): the law refitted (from the full fit's solution
and the resample's two best grid starts) and each task's curve (the same form). Two percentile intervals of the chained
predictions:

- `*_ci`, for the law: the loss and score that runs at (N, D) reach on average;
- `*_pi`, for what `runs` new runs at (N, D) will show, averaged: each resample's
  prediction plus the scatter of runs around the law (the residual sd of the final losses)
  and of checkpoints around the curve near the forecast loss (the residual sd of the fifth
  of the scores nearest in loss: items and seeds together), each divided by sqrt(runs), the
  score kept within the metric's range.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from emergence.analysis import extrapolation, resample, scaling
from emergence.analysis.curves import MIN_SIDE, N_PARAMS, floor, landmarks, normalise, predict
from emergence.analysis.thresholds import fit_threshold

# Fewest distinct losses a task needs for its curve (the threshold analysis's own minimum).
MIN_LOSSES = 2 * MIN_SIDE + 2
# Share of a curve's points, nearest in loss, whose residuals give the scatter at a loss.
NEAREST = 0.2


@dataclasses.dataclass
class Curve:
    """One task's score against loss: its form, the fit on all points and on each resample."""

    form: str  # "hinge", "sigmoid" or "free sigmoid" (extrapolation.py)
    form_reason: str  # why this form: the held-out errors of the candidates (extrapolation.choose)
    candidates: dict[str, dict]  # every candidate form's fit on all points, the chosen one included
    verdict: str  # the threshold analysis's, on the same points
    reason: str
    chance: float | None
    higher_is_better: bool
    fit: dict
    boots: list[dict | None]
    losses: tuple[float, float]  # lowest and highest loss it was fitted on
    top: float  # the range of the normalised score (see curves.normalise)
    bottom: float
    residuals: tuple[np.ndarray, np.ndarray]  # (loss, score minus fit, normalised) of every point

    def value(self, p: dict | None, loss) -> np.ndarray:
        """The score (in the metric's own units) that fit `p` gives at `loss`."""
        if p is None:
            return np.full(np.shape(loss), np.nan)
        return self.to_units(predict(extrapolation.shape(self.form), p, loss))

    def observed(self, p: dict | None, loss, noise) -> np.ndarray:
        """What a run shows at `loss`: the fit's score plus `noise` (normalised units), in range."""
        if p is None:
            return np.full(np.shape(loss), np.nan)
        return self.to_units(np.clip(predict(extrapolation.shape(self.form), p, loss) + noise, self.bottom, self.top))

    def to_units(self, y) -> np.ndarray:
        """Chance-normalised scores in the metric's own units."""
        if self.chance is None:
            return y if self.higher_is_better else -y
        return self.chance + y * ((1.0 if self.higher_is_better else 0.0) - self.chance)

    def scatter(self, loss: float) -> float:
        """Standard deviation of one checkpoint's score around the curve near `loss` (normalised
        units): the root mean square residual of the share NEAREST of the points closest in loss
        (with a degrees-of-freedom correction). Local, because the
        scatter is not the same everywhere: at chance only items vary, where the score rises a
        run's own onset adds to it."""
        x, r = self.residuals
        if not np.isfinite(loss):
            return float("nan")
        k = max(int(np.ceil(NEAREST * x.size)), MIN_LOSSES)
        near = r[np.argsort(np.abs(x - loss), kind="stable")[:k]]
        n_params = N_PARAMS[extrapolation.shape(self.form)]
        return float(np.sqrt((near**2).mean() * x.size / max(x.size - n_params, 1)))

    def onset(self, p: dict | None) -> float:
        return float(landmarks(extrapolation.shape(self.form), p)["onset"]) if p is not None else float("nan")


@dataclasses.dataclass
class Chain:
    """Both steps fitted, with the bootstrap resamples aligned: resample b of a law and of a
    curve come from the same draw of runs."""

    via: str
    laws: dict[str, tuple[dict, list[dict | None]]]  # per task, or one under "" when shared
    curves: dict[str, Curve]
    points: dict[str, pd.DataFrame]  # the law's points (params, tokens, loss), keyed as laws
    loss_sd: dict[str, float]  # residual sd of each law's final losses (nats)
    n_boot: int
    level: float

    def law(self, task: str) -> tuple[dict, list[dict | None]]:
        return self.laws[task] if task in self.laws else self.laws[""]

    def interval(self, samples) -> list[float] | None:
        """Percentile interval of the finite samples; None when fewer than half the resamples gave one."""
        s = np.asarray(samples, float)
        s = s[np.isfinite(s)]
        if s.size < max(self.n_boot / 2, 2):
            return None
        tail = 100 * (1 - self.level) / 2
        return [float(v) for v in np.percentile(s, [tail, 100 - tail])]


def _per_task(ladder: pd.DataFrame, via: str) -> bool:
    """Whether the intermediate loss differs between tasks at one checkpoint."""
    return bool(ladder.groupby(["run", "tokens"])[via].nunique().max() > 1)


def _final_rows(ladder: pd.DataFrame) -> pd.DataFrame:
    return ladder[ladder["tokens"] == ladder.groupby("run")["tokens"].transform("max")]


def _law_points(ladder: pd.DataFrame, via: str, per_task: bool) -> dict[str, pd.DataFrame]:
    """Per law (task, or "" when shared): one row per run, its N, final D and final loss."""
    final = _final_rows(ladder)
    groups = final.groupby("task") if per_task else [("", final)]
    return {
        key: d.groupby("run", sort=True).agg(params=("params", "first"), tokens=("tokens", "first"), loss=(via, "mean"))
        for key, d in groups
    }


def _fit_law(points: pd.DataFrame, what: str) -> dict:
    try:
        return scaling.fit_scaling(points["params"], points["tokens"], points["loss"], n_boot=0)
    except ValueError as e:
        raise ValueError(f"the loss law of {what} cannot be fitted from the final checkpoints: {e}") from None


def _first(d: pd.DataFrame, col: str):
    vals = d[col].dropna() if col in d.columns else ()
    return vals.iloc[0] if len(vals) else None


def _residual_sd(r, k: int) -> float:
    """Residual standard deviation of a k-parameter fit."""
    r = np.asarray(r, float)
    return float(np.sqrt((r**2).sum() / max(r.size - k, 1)))


def _fit_curve(d: pd.DataFrame, via: str, n_boot: int, seed: int, level: float, unit) -> Curve:
    """The task's curve on all its points, without resamples yet; `unit` labels
    each point's bootstrap unit (a size's seed, or a run: see resample.units), which the verdict's
    own bootstrap resamples as runs."""
    task = d["task"].iloc[0]
    x, v = d[via].to_numpy(float), d["value"].to_numpy(float)
    if len(np.unique(x)) < MIN_LOSSES:
        raise ValueError(f"task {task!r} has {len(np.unique(x))} distinct losses; its curve needs {MIN_LOSSES}")
    chance = _first(d, "chance")
    chance = None if chance is None else float(chance)
    hib = bool(_first(d, "higher_is_better")) if _first(d, "higher_is_better") is not None else True
    n = d["n"].to_numpy(float) if "n" in d.columns and d["n"].notna().all() else None
    try:
        verdict = fit_threshold(
            x,
            v,
            model=d["params"].to_numpy(),
            run=np.asarray(unit),
            n=n,
            chance=chance,
            higher_is_better=hib,
            n_boot=n_boot,
            seed=seed,
            level=level,
        )
    except ValueError as e:
        raise ValueError(f"task {task!r}: {e}") from None
    # The form the verdict implies first; the other where it forecast held-out sizes clearly
    # better (extrapolation.py). An emergent task: its threshold model. A smooth rise: the free
    # sigmoid. A task that does not rise (flat) or whose rise is not located (inconclusive):
    # the sigmoid within the data, which stays flat where the data are; the free sigmoid's
    # anchor at a perfect score at zero loss would carry it to 1 (on Gadre et al.'s ladder,
    # four such tasks forecast at 0.997-1.0 for a 7B model that reached 0.31-0.55).
    if verdict["verdict"] == "emergent":
        forms = (verdict["threshold_model"], extrapolation.FREE)
    elif verdict["verdict"] == "smooth":
        forms = (extrapolation.FREE, "sigmoid")
    else:
        forms = ("sigmoid", extrapolation.FREE)
    top, bottom = (1.0, floor(chance, hib)) if chance is not None else (np.inf, -np.inf)
    y = normalise(v, chance, hib)
    misses = extrapolation.held_out_misses(x, y, d["params"].to_numpy(), forms, top, bottom)
    form, why = extrapolation.choose(misses, forms)
    fits = {f: extrapolation.fitter(f)(x, y, top, bottom) for f in forms}
    fit = fits[form]
    return Curve(
        form=form,
        form_reason=why,
        candidates=fits,
        verdict=verdict["verdict"],
        reason=verdict["reason"],
        chance=chance,
        higher_is_better=hib,
        fit=fit,
        boots=[],
        losses=(float(x.min()), float(x.max())),
        top=top,
        bottom=bottom,
        residuals=(x, y - predict(extrapolation.shape(form), fit, x)),
    )


def fit_chain(ladder: pd.DataFrame, via: str = "loss", *, n_boot: int = 200, seed: int = 0, level: float = 0.95):
    """Both steps on a ladder (ladder.py's layout) and `n_boot` joint bootstrap resamples.
    ValueError, naming the task, when a law or a curve cannot be fitted."""
    ladder = ladder.reset_index(drop=True)
    per_task = _per_task(ladder, via)
    points = _law_points(ladder, via, per_task)
    laws = {key: (_fit_law(p, f"task {key!r}" if key else "the runs"), []) for key, p in points.items()}
    unit, strata, stratified = resample.units(ladder)
    curves, checkpoints = {}, {}
    for task, d in ladder.groupby("task", sort=True):
        checkpoints[task] = resample.Checkpoints(d, unit, stratified)
        curves[task] = _fit_curve(d, via, n_boot, seed, level, checkpoints[task].of)
    # The law's points by unit: every run of each drawn unit.
    law_rows = {key: resample.by_unit(p.index, unit) for key, p in points.items()}
    rescaled = {key: resample.rescaled(p, stratified) for key, p in points.items()}
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        drawn = resample.draw(strata, rng)
        for key, (law, boots) in laws.items():
            picked = np.concatenate([law_rows[key][u] for u in drawn])
            p = rescaled[key].loc[picked]
            loss = p["centre"] + p["scale"] * (p["loss"] - p["centre"])
            boots.append(scaling.refit(law, p["params"], p["tokens"], loss))
        for task, curve in curves.items():
            idx, v = checkpoints[task].draw(drawn, rng)
            x = curve.residuals[0][idx]
            if len(np.unique(x)) < MIN_LOSSES:
                curve.boots.append(None)
                continue
            y = normalise(v, curve.chance, curve.higher_is_better)
            curve.boots.append(extrapolation.fitter(curve.form)(x, y, curve.top, curve.bottom))
    loss_sd = {
        key: _residual_sd(p["loss"] - scaling.scaling_predict(laws[key][0], p["params"], p["tokens"]), 5)
        for key, p in points.items()
    }
    return Chain(via=via, laws=laws, curves=curves, points=points, loss_sd=loss_sd, n_boot=n_boot, level=level)


def _loss(law: dict | None, N: float, D: float) -> float:
    return float(scaling.scaling_predict(law, N, D)) if law is not None else float("nan")


def predict_at(chain: Chain, N: float, D: float, *, runs: int = 1, loss=None, seed: int = 0) -> dict:
    """Per task: the loss and score the chain predicts for runs of N parameters trained on D
    tokens, each with its interval for the law (`*_ci`) and for the average of `runs` new runs
    (`*_pi`), the curve's form and verdict, and `beyond`: where the forecast leaves the data
    (a larger N than any run, a loss below every checkpoint). Given `loss` (per task, or one
    number), step 1 is skipped: the score is predicted at that loss (the curve alone)."""
    rng = np.random.default_rng(seed)
    # One draw of the runs' scatter in loss per law: tasks that share a law share their loss.
    scatter = {key: rng.normal(0.0, sd / np.sqrt(runs), chain.n_boot) for key, sd in chain.loss_sd.items()}
    out = {}
    for task, curve in chain.curves.items():
        key = task if task in chain.laws else ""
        law, boots = chain.law(task)
        if loss is None:
            at = _loss(law, N, D)
            losses = np.array([_loss(b, N, D) for b in boots])
            observed = losses + scatter[key]
        else:
            at = float(loss[task] if isinstance(loss, dict) else loss)
            losses = observed = np.full(len(curve.boots), at)
        values = np.array([float(curve.value(p, x)) for p, x in zip(curve.boots, losses)])
        noise = rng.normal(0.0, curve.scatter(at) / np.sqrt(runs), len(curve.boots))
        shown = np.array([float(curve.observed(p, x, e)) for p, x, e in zip(curve.boots, observed, noise)])
        largest = float(chain.points[key]["params"].max())
        beyond = []
        if N > largest:
            beyond.append(f"N is {N / largest:.3g} times the largest run's")
        if at < curve.losses[0]:
            beyond.append(f"the loss {at:.4g} is below every checkpoint's (lowest {curve.losses[0]:.4g})")
        out[task] = {
            "loss": at,
            "loss_ci": chain.interval(losses) if loss is None else None,
            "loss_pi": chain.interval(observed) if loss is None else None,
            "value": float(curve.value(curve.fit, at)),
            "value_ci": chain.interval(values),
            "value_pi": chain.interval(shown),
            "verdict": curve.verdict,
            "form": curve.form,
            "form_reason": curve.form_reason,
            "beyond": beyond,
        }
    return out


def law_summary(chain: Chain) -> dict:
    """Each law's parameters with bootstrap standard errors and the parameters its points do
    not identify (scaling.undetermined), keyed as Chain.laws."""
    out = {}
    for key, (law, boots) in chain.laws.items():
        names = ("E", "A", "B", "alpha", "beta")
        b = np.array([[p[k] for k in names] for p in boots if p is not None]).reshape(-1, 5)
        se = np.std(b, axis=0, ddof=1) if len(b) >= 2 else np.full(5, np.nan)
        fit = {k: law[k] for k in names} | {f"{k}_se": float(s) for k, s in zip(names, se)}
        pts = chain.points[key]
        out[key or "all"] = fit | {
            "undetermined": scaling.undetermined(fit, b, pts["params"].to_numpy(), pts["tokens"].to_numpy()),
            "n_runs": len(pts),
        }
    return out
