"""Simulated studies with a planted truth, for checking that the threshold analysis calls
what it should emergent, and that its intervals cover the planted onset.

Each study has model sizes that stop training at lower and lower losses, several runs
(seeds) per size, and checkpoints along each run. The expected score against loss is one of
`TRUTHS`: real thresholds (a hinge, a sharp sigmoid, a logistic rise) and smooth curves with
no point where they leave chance (a convex exponential, exact match of a 5- or 10-token
answer whose per-token probability improves smoothly with loss, a wide logistic). Run-to-run
variance enters the way it does across seeds of a real study: each run shifts where its
ability appears along the loss axis (`shift`, sd in nats) and scales its rise (`height`, sd
as a share). Items are either drawn afresh at every checkpoint (binomial noise) or, as in
a real study, `shared_items`: each item has a difficulty u, uniform on (0, 1), the same at
every checkpoint, and a checkpoint whose share of the way above chance is r knows it with
probability `item_rise(r, u)` and guesses otherwise (so a hard item is hard everywhere, and
every item is at chance where the model is). `tools/threshold_coverage.py`
prints the tables of docs/science.md; tests/test_bootstrap.py and tests/test_verdicts.py check them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special

from emergence.analysis.prompts import prompt_table
from emergence.analysis.thresholds import fit_threshold

ONSET = 1.65
CHANCE = 0.25
# Final losses of the five sizes: three end below the onset, two above it.
FINAL_LOSSES = (1.95, 1.8, 1.55, 1.45, 1.35)
# Per-token probability of a smoothly improving answer token: exp(-KAPPA (loss - FLOOR)),
# 0.35 at loss 2.6 and 0.90 at 1.35 (Schaeffer et al. 2023's construction, with the answer's
# per-token loss proportional to the reducible pretraining loss).
KAPPA, FLOOR = 0.768, 1.22
# How sharply an item goes from unknown to known as the rise passes its difficulty (item_rise).
ITEM_SHARPNESS = 2.0


@dataclasses.dataclass(frozen=True)
class Truth:
    """An expected score against loss: `rise(x)` is the share of the way from `chance` to a
    perfect score; `emergent` says whether it has an onset (a point where it leaves chance)."""

    rise: Callable[[np.ndarray], np.ndarray]
    chance: float
    emergent: bool


TRUTHS = {
    "hinge": Truth(lambda x: np.clip(1.6 * (ONSET - x), 0.0, 1.0), CHANCE, True),
    "sigmoid": Truth(lambda x: special.expit(-(x - 1.60) / 0.03), CHANCE, True),
    "logistic": Truth(lambda x: special.expit(-(x - 1.55) / 0.06), CHANCE, True),
    "exponential": Truth(lambda x: np.clip(np.exp(-3 * (x - 1.3)), 0.0, 1.0), CHANCE, False),
    "exact_match_5": Truth(lambda x: np.exp(-KAPPA * (x - FLOOR)) ** 5, 0.0, False),
    "exact_match_10": Truth(lambda x: np.exp(-KAPPA * (x - FLOOR)) ** 10, 0.0, False),
    # Its 10%-90% rise (4.4 w = 1.3 nats) spans all the losses a study reaches.
    "wide_logistic": Truth(lambda x: special.expit(-(x - 1.6) / 0.3), CHANCE, False),
}


def item_rise(rise, difficulty) -> np.ndarray:
    """The chance that a checkpoint whose share of the way above chance is `rise` knows an item
    of `difficulty` u in (0, 1): expit(2 (logit rise - logit u)), a half at rise = u, 0 where
    the rise is 0 (every item at chance where the model is)."""
    r = np.clip(np.asarray(rise, float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return special.expit(ITEM_SHARPNESS * (special.logit(r) - special.logit(difficulty)))


def planted_onset(truth: str, shift: float = 0.0, shared_items: bool = False) -> float:
    """The onset of the population's mean curve (the runs' shifts and, with `shared_items`,
    the items' difficulties averaged out): where its steepest tangent within the losses a study
    reaches meets chance, the same definition as the fits' (curves.landmarks). NaN for a truth
    without an onset."""
    t = TRUTHS[truth]
    if not t.emergent:
        return float("nan")
    x = np.arange(min(FINAL_LOSSES), 2.6, 0.0005)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    mean = sum(w * t.rise(x - shift * z) for z, w in zip(nodes, weights)) / weights.sum()
    if shared_items:
        u = (np.arange(400) + 0.5) / 400
        mean = sum(w * item_rise(t.rise(x - shift * z)[:, None], u[None, :]).mean(1) for z, w in zip(nodes, weights))
        mean = mean / weights.sum()
    slope = -np.gradient(mean, x)
    k = int(np.argmax(slope.round(9)))
    return float(x[k] + mean[k] / slope[k])


def study(
    seed: int,
    *,
    truth: str = "hinge",
    n_runs: int = 3,
    shift: float = 0.03,
    height: float = 0.15,
    n_items: int = 100,
    n_checkpoints: int = 14,
    shared_items: bool = False,
    with_items: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """One simulated study: columns loss, value, n, model (size), run (seed within size); with
    `with_items`, also the item scores (one row per point, one column per item)."""
    rng = np.random.default_rng(seed)
    t = TRUTHS[truth]
    difficulty = rng.random(n_items)
    frames, scores = [], []
    for size, final in enumerate(FINAL_LOSSES):
        for run in range(n_runs):
            d, g = rng.normal(0.0, shift), rng.normal(0.0, height)
            loss = np.geomspace(2.6, final, n_checkpoints) + rng.normal(0.0, 0.01, n_checkpoints)
            correct = _answers(rng, t, loss, d, g, difficulty, shared_items)
            scores.append(correct.astype(float))
            frames.append(
                pd.DataFrame({"loss": loss, "value": correct.mean(1), "n": n_items, "model": size, "run": run})
            )
    df = pd.concat(frames, ignore_index=True)
    return (df, np.concatenate(scores)) if with_items else df


def _answers(rng, t: Truth, loss, run_shift: float, run_scale: float, difficulty, shared_items: bool) -> np.ndarray:
    """Which items (columns) each checkpoint (rows) of one run answers correctly: known, or
    guessed right with probability chance; the run's curve is shifted by `run_shift` nats and
    its rise scaled by 1 + `run_scale`."""
    rise = np.clip((1 + run_scale) * t.rise(loss - run_shift), 0.0, 1.0)[:, None]
    guessed = rng.random((len(loss), len(difficulty))) < t.chance
    if shared_items:  # an item is known as the rise passes its difficulty, else guessed
        return (rng.random((len(loss), len(difficulty))) < item_rise(rise, difficulty[None, :])) | guessed
    # every item drawn afresh at every checkpoint: binomial noise only
    return (rng.random((len(loss), len(difficulty))) < rise) | guessed


FLAT = Truth(lambda x: np.zeros_like(np.asarray(x, float)), CHANCE, False)


def prompt_pair(
    seed: int,
    *,
    prompt: str = "sigmoid",
    baseline: str = "flat",
    n_runs: int = 3,
    shift: float = 0.04,
    n_items: int = 100,
    n_checkpoints: int = 14,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulated task under two prompts, "cot" following truth `prompt` and "standard"
    following `baseline` (names of TRUTHS, or "flat": at chance everywhere), answered by the
    same checkpoints on the same items (each run's shift and each item's difficulty shared by
    both prompts, the answers drawn apart): the rows of a study's results table (acc,
    chance 0.25) and of its items table."""
    rng = np.random.default_rng(seed)
    truths = {"cot": TRUTHS.get(prompt, FLAT), "standard": TRUTHS.get(baseline, FLAT)}
    difficulty = rng.random(n_items)
    points, scores = [], []
    for size, final in enumerate(FINAL_LOSSES):
        for run in range(n_runs):
            d = rng.normal(0.0, shift)
            loss = np.geomspace(2.6, final, n_checkpoints) + rng.normal(0.0, 0.01, n_checkpoints)
            for name, t in truths.items():
                correct = _answers(rng, t, loss, d, 0.0, difficulty, shared_items=True).astype(float)
                points.append(
                    pd.DataFrame(
                        {"prompt": name, "model": f"s{size}-r{run}", "step": np.arange(n_checkpoints), "size": size}
                    ).assign(seed=run, loss=loss, value=correct.mean(1))
                )
                scores.append(correct)
    at = {"task": "sums", "metric": "acc", "shots": 0, "labels": "none"}
    results = pd.concat(points, ignore_index=True).assign(
        **at, n=n_items, chance=CHANCE, warmup=False, bpb=lambda df: df["loss"] / np.log(2)
    )
    keys = results[["task", "metric", "prompt", "shots", "labels", "model", "step"]]
    items = keys.loc[keys.index.repeat(n_items)].reset_index(drop=True)
    items = items.assign(item=np.tile(np.arange(n_items).astype(str), len(keys)), score=np.concatenate(scores).ravel())
    return results, items


def planted_gain(prompt: str, baseline: str, loss, shift: float = 0.04) -> np.ndarray:
    """The population's expected accuracy under `prompt` minus under `baseline` at each loss
    (prompt_pair's truths; runs' shifts and items' difficulties averaged out)."""
    x = np.asarray(loss, float)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    u = (np.arange(400) + 0.5) / 400

    def known(t: Truth) -> np.ndarray:
        return sum(w * item_rise(t.rise(x - shift * z)[:, None], u[None, :]).mean(1) for z, w in zip(nodes, weights))

    gain = known(TRUTHS.get(prompt, FLAT)) - known(TRUTHS.get(baseline, FLAT))
    return (1 - CHANCE) * gain / weights.sum()


def planted_verdicts(prompt: str, baseline: str, shift: float = 0.04) -> pd.DataFrame:
    """Pooled thresholds rows for prompt_pair's two prompts as the truth has them: "emergent"
    with the planted onset and an interval of +-0.03 nats around it, or "flat"."""
    rows = []
    for name, truth in (("cot", prompt), ("standard", baseline)):
        onset = planted_onset(truth, shift, shared_items=True) if truth in TRUTHS else float("nan")
        verdict = "emergent" if np.isfinite(onset) else "flat"
        rows.append(
            {"task": "sums", "metric": "acc", "seed": "all", "shots": 0, "prompt": name, "verdict": verdict}
            | {"threshold": onset, "ci_low": onset - 0.03, "ci_high": onset + 0.03}
        )
    return pd.DataFrame(rows)


def prompt_coverage(
    n_studies: int, pairs=(("sigmoid", "flat"), ("sigmoid", "sigmoid")), n_boot: int = 200, level: float = 0.95
) -> pd.DataFrame:
    """Per pair of truths (prompt, baseline): over `n_studies` simulated tasks (prompt_pair,
    the planted verdicts), the share whose paired gain's interval covers the planted gain
    (planted_gain over the checkpoints compared), the share that calls the prompts
    significantly different, and the median gain and interval width."""
    rows = []
    for prompt, baseline in pairs:
        verdicts_given = planted_verdicts(prompt, baseline)
        for s in range(n_studies):
            results, items = prompt_pair(s, prompt=prompt, baseline=baseline)
            r = prompt_table(results, verdicts_given, items, n_boot=n_boot, seed=s, level=level).iloc[0]
            loss = results.loc[results["prompt"] == "cot", "loss"]
            truth = planted_gain(prompt, baseline, loss[loss <= r["loss_below"]]).mean()
            rows.append(
                {"prompt": prompt, "baseline": baseline, "planted gain": truth, "gain": r["gain"]}
                | {"covered": r["gain_low"] <= truth <= r["gain_high"], "differs": bool(r["gain_differs"])}
                | {"width": r["gain_high"] - r["gain_low"]}
            )
    df = pd.DataFrame(rows).groupby(["prompt", "baseline"], sort=False)
    return df.agg(
        studies=("covered", "size"),
        coverage=("covered", "mean"),
        called_different=("differs", "mean"),
        median_planted_gain=("planted gain", "median"),
        median_gain=("gain", "median"),
        median_width=("width", "median"),
    ).reset_index()


def verdicts(
    n_studies: int,
    truth: str = "hinge",
    schemes=("runs",),
    n_boot: int = 200,
    level: float = 0.95,
    by_item: bool = False,
    **kw,
) -> pd.DataFrame:
    """Per bootstrap scheme: over `n_studies` simulated studies of `truth`, the share called
    emergent, the share whose onset interval covers the planted onset (`planted_onset`), the
    median interval width and the median onset minus the planted one. With `by_item` the fits
    get each item's score and redraw item ids (bootstrap.py), else only the counts."""
    planted = planted_onset(truth, kw.get("shift", 0.03), kw.get("shared_items", False))
    rows = []
    for s in range(n_studies):
        df, items = study(s, truth=truth, with_items=True, **kw)
        for scheme in schemes:
            r = fit_threshold(
                df["loss"],
                df["value"],
                model=df["model"],
                run=df["run"],
                n=df["n"],
                items=items if by_item else None,
                chance=TRUTHS[truth].chance,
                n_boot=n_boot,
                seed=s,
                level=level,
                bootstrap=scheme,
            )
            lo, hi = r["onset_low"], r["onset_high"]
            rows.append(
                {
                    "scheme": scheme,
                    "emergent": r["verdict"] == "emergent",
                    "covered": bool(lo <= planted <= hi),
                    "width": hi - lo,
                    "bias": r["onset"] - planted,
                }
            )
    df = pd.DataFrame(rows).groupby("scheme", sort=False)
    return df.agg(
        emergent=("emergent", "mean"),
        coverage=("covered", "mean"),
        median_width=("width", "median"),
        median_bias=("bias", "median"),
    ).reset_index()


def coverage(n_studies: int, schemes=("runs", "items"), n_boot: int = 200, level: float = 0.95, **kw) -> pd.DataFrame:
    """`verdicts` of the planted hinge (the default study of this module) under each scheme."""
    return verdicts(n_studies, "hinge", schemes, n_boot, level, **kw)
