"""`emergence forecast`: read a model ladder (ladder.py), fit the chain N, D -> loss -> score
(chain.py) and one step 6ND -> score (onestep.py) and forecast a run with the method the
held-out largest size chooses per task (choice.py), the compute at which each emergent task's onset is reached
(crossing.py), or the largest size held out from the others (holdout.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.chain import fit_chain, law_summary
from emergence.analysis.choice import forecast_at
from emergence.analysis.crossing import crossings
from emergence.analysis.holdout import holdout_forecast
from emergence.analysis.ladder import read_ladder
from emergence.config import AnalysisConfig
from emergence.errors import InputError
from emergence.io import check_output, write_json, write_table


def _plain(obj):
    """JSON-ready: numpy numbers as Python ones, NaN as None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    return None if isinstance(obj, float) and not np.isfinite(obj) else obj


def run_forecast(
    path: Path,
    cfg: AnalysisConfig,
    *,
    params: float | None = None,
    tokens: float | None = None,
    via: str = "loss",
    runs: int = 1,
    crossing: bool = False,
    hold_out: bool = False,
    out: Path | None = None,
) -> dict:
    """`emergence forecast`: read the ladder at `path` (ladder.py) and forecast a run of
    `params` N and `tokens` D, and/or the compute at which each emergent task's onset is
    reached (`crossing`); or, with `hold_out`, forecast the largest size from the others
    (holdout.py) and write the table to `out` (CSV) and its summary beside it (.json).
    Returns the forecast (JSON-ready); `out` gets the same. InputError for bad input."""
    if hold_out and (params or tokens or crossing):
        raise InputError("--hold-out forecasts the ladder's largest size: it takes no --params, --tokens or --crossing")
    if not hold_out and (params is None) != (tokens is None):
        raise InputError("give both --params and --tokens")
    if not (hold_out or crossing or params):
        raise InputError("nothing to forecast: give --params and --tokens, --crossing, or --hold-out")
    if out is not None:
        check_output(out)
    ladder = read_ladder(path, via)
    boot = {"n_boot": cfg.n_boot, "seed": cfg.seed, "level": cfg.level}
    if hold_out:
        return _hold_out(path, ladder, via, boot, out)
    try:
        chain = fit_chain(ladder, via, **boot)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    result = {"via": via, "law": law_summary(chain)}
    if params is not None:
        result |= {"target": {"params": params, "tokens": tokens}, "runs": runs}
        result["tasks"] = forecast_at(ladder, chain, params, tokens, runs=runs, seed=cfg.seed)
    if crossing:
        result["crossing"] = crossings(chain)
    result = _plain(result)
    if out is not None:
        write_json(out, result)
    return result


def _hold_out(path: Path, ladder: pd.DataFrame, via: str, boot: dict, out: Path | None) -> dict:
    """run_forecast with `hold_out`: the table and summary of holdout.py written to `out`
    (CSV, and JSON beside it); returns the counts of rows and of covered values."""
    if via != "loss":
        ladder = ladder.assign(loss=ladder[via])
    try:
        table, summary = holdout_forecast(ladder, **boot)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    summary = _plain({**summary, "via": via, "rows": table.to_dict("records")})
    if out is not None:
        write_table(table, csv=out)
        write_json(out.with_suffix(".json"), summary)
    return {
        "held_out": summary["held_out"],
        "note": summary.get("note"),
        "rows": len(table),
        "covered": int(table["covered"].sum()),
        "loss_covered": int(table["loss_covered"].sum()),
        # Each method over all tasks: mean absolute and relative errors, the chain's coverage.
        "methods": summary.get("methods", {}),
        # Each task's step-2 forms: the mean absolute error of each at the held-out size.
        "forms": {
            task: {"chosen": f["chosen"]} | {k: v["mean_abs_error"] for k, v in f["forms"].items()}
            for task, f in summary.get("forms", {}).items()
        },
    }
