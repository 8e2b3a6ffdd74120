"""The report's comparison of each task's prompts (analysis/prompts.py's table): one
sentence per pair and the table as the page shows it, the numbers written as in the
thresholds table."""

from __future__ import annotations

import pandas as pd

from emergence.evaluate.metrics import label as metric_label
from emergence.report.threshold_tables import is_number

PROMPT_NAMES = {"cot": "chain of thought", "standard": "standard prompting"}


def prompt_name(prompt: str) -> str:
    return PROMPT_NAMES.get(prompt, f"the {prompt} prompt")


def _signed(v, lo, hi) -> str:
    return f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]" if is_number(lo) and is_number(hi) else f"{v:+.3f}"


def _verdicts(r) -> str:
    p, b = prompt_name(r.prompt), prompt_name(r.baseline)
    if r.verdict == r.baseline_verdict:
        return f"{r.verdict} with {p} and with {b}"
    return f"{r.verdict} with {p}, {r.baseline_verdict} with {b}"


def _onsets(r) -> str:
    """Where both are emergent: the onsets' difference and whether it is significant."""
    if not is_number(r.onset_difference):
        return ""
    earlier = "higher" if r.onset_difference > 0 else "lower"
    if str(r.onset_differs) == "True":  # a bool, numpy's or Python's, or its text read back from the CSV
        how = f"{prompt_name(r.prompt)}'s ability starts at a {earlier} loss"
    else:
        how = "the onsets do not differ significantly"
    diff = _signed(r.onset_difference, r.onset_difference_low, r.onset_difference_high)
    z = f", z = {r.onset_z:.1f}" if is_number(r.onset_z) else ""
    names = f"{prompt_name(r.prompt)} minus onset of {prompt_name(r.baseline)}"
    return f" Onset of {names}: {diff} nats{z}: {how}."


def _gain(r) -> str:
    p, b = prompt_name(r.prompt), prompt_name(r.baseline)
    where = (
        f"below the onset interval of {prompt_name(r.region_prompt)}"
        if isinstance(r.region_prompt, str)
        else "in the lowest quarter of the losses"
    )
    shots = f" ({r.shots} and {r.baseline_shots} demonstrations)" if r.shots != r.baseline_shots else ""
    return (
        f"At the {r.n_points} checkpoints {where} (loss <= {r.loss_below:.3f}), {p} scores {r.prompt_mean:.2f} and "
        f"{b} {r.baseline_mean:.2f}{shots}: a paired gain on the same items of "
        f"{_signed(r.gain, r.gain_low, r.gain_high)} ({r.level:.0%} interval, {r.interval} redrawn once for both "
        f"prompts): {r.compared}."
    )


def sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per task and prompt pair: both verdicts, the paired gain where the ability
    is present, and the onsets' difference where both are emergent."""
    return [f"{r.task}, {metric_label(r.metric)}: {_verdicts(r)}. {_gain(r)}{_onsets(r)}" for r in table.itertuples()]


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the page shows it: one row per pair, values with their intervals."""
    ci = f"[{table['level'].iloc[0]:.0%} CI]" if len(table) else "[CI]"
    return pd.DataFrame(
        [
            {
                "task": r.task,
                "metric": r.metric,
                "prompt vs baseline": f"{r.prompt} vs {r.baseline}",
                "verdicts": f"{r.verdict} / {r.baseline_verdict}",
                "checkpoints compared": f"{r.n_points}, loss <= {r.loss_below:.3f}",
                "scores": f"{r.prompt_mean:.2f} / {r.baseline_mean:.2f}",
                f"paired gain {ci}": _signed(r.gain, r.gain_low, r.gain_high),
                f"onset difference {ci}": _signed(r.onset_difference, r.onset_difference_low, r.onset_difference_high)
                if is_number(r.onset_difference)
                else "–",
                "finding": r.finding,
            }
            for r in table.itertuples()
        ]
    )
