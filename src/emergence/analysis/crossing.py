"""When will a larger run have an ability? The training compute at which the scaling law's
compute-optimal loss falls to an emergent task's onset, and the (N, D) that spends it best.

Compute is C = 6 N D (N the parameters the law was fitted with, D tokens). At each C the
compute-optimal split is Hoffmann et al.'s closed form (scaling.compute_optimal); the loss
it reaches falls with C towards the law's floor E, and the crossing is the C where it meets
the onset (found by root-finding on log C). Each bootstrap resample of the chain (chain.py)
gives its own law and onset, hence its own crossing: the intervals are their percentiles.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from emergence.analysis import scaling
from emergence.analysis.chain import Chain, law_summary


def _crossing_compute(law: dict | None, onset: float) -> float:
    """Training compute C = 6 N D at which the compute-optimal loss reaches `onset`: inf when
    it never does (the onset at or below the law's floor E), NaN when undefined."""
    if law is None or not np.isfinite(onset) or not (law["alpha"] > 0 and law["beta"] > 0):
        return float("nan")

    def gap(log_c: float) -> float:
        N, D = scaling.compute_optimal(law, np.exp(log_c))
        return float(scaling.scaling_predict(law, N, D)) - onset

    lo, hi = 0.0, 230.0  # C from 1 to 1e100 FLOPs
    if gap(hi) > 0:
        return float("inf")
    if gap(lo) <= 0:
        return 1.0
    return float(np.exp(optimize.brentq(gap, lo, hi, xtol=1e-10)))


def crossings(chain: Chain) -> dict:
    """Per emergent task: the onset, the compute C = 6 N D at which the law's compute-optimal
    loss falls to it, and that compute-optimal N and D, each with an interval (resamples whose
    law never reaches their onset count toward `unreachable`, the share of them)."""
    out, laws = {}, law_summary(chain)
    for task, curve in chain.curves.items():
        if curve.verdict != "emergent":
            continue
        law, boots = chain.law(task)
        onset = curve.onset(curve.fit)
        onsets = np.array([curve.onset(p) for p in curve.boots])
        C = _crossing_compute(law, onset)
        Cb = np.array([_crossing_compute(b, o) for b, o in zip(boots, onsets)])
        reach = np.where(np.isfinite(Cb), Cb, np.nan)
        Nb = np.array([scaling.compute_optimal(b, c)[0] if b else np.nan for b, c in zip(boots, reach)], float)
        N, D = scaling.compute_optimal(law, C) if np.isfinite(C) else (np.nan, np.nan)
        unreachable = float(np.mean(np.isinf(Cb)))
        # Resamples that never reach the onset sit at the top of the compute interval.
        Cs = np.where(np.isinf(Cb), np.finfo(float).max, Cb)
        ci = chain.interval(np.where(np.isnan(Cb), np.nan, Cs))
        # What the runs do not tell of the law (scaling.undetermined): the compute-optimal
        # split rests on A, B, alpha and beta, the compute on every parameter.
        undetermined = laws[task if task in chain.laws else "all"]["undetermined"]
        unsplit = sorted(SPLIT & set(undetermined))
        split = {
            "params": float(N) if np.isfinite(N) else None,
            "params_ci": chain.interval(Nb),
            "tokens": float(D) if np.isfinite(D) else None,
            "tokens_ci": chain.interval(reach / (6 * Nb)),
        }
        if unsplit:
            split = dict.fromkeys(split) | {
                "split_note": "no compute-optimal split: the runs do not determine "
                + ", ".join(f"{k} ({undetermined[k]})" for k in unsplit)
            }
        out[task] = {
            "onset": onset,
            "onset_ci": chain.interval(onsets),
            "compute": C if np.isfinite(C) else None,
            "compute_ci": None if ci is None else [v if v < np.finfo(float).max else None for v in ci],
            **split,
            "unreachable": unreachable,
            "law_undetermined": undetermined,
        }
    return out


# The law's parameters the compute-optimal split rests on.
SPLIT = {"A", "B", "alpha", "beta"}
