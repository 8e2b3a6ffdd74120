"""Chain of thought against standard prompting, paired (analysis/prompts.py), on simulated
tasks with a planted truth: two prompts answered by the same checkpoints on the same items."""

import numpy as np
import pandas as pd
import pytest

from emergence.analysis.analyze import thresholds_table
from emergence.analysis.prompts import prompt_table
from emergence.analysis.simulate import planted_verdicts, prompt_coverage, prompt_pair
from emergence.report import prompt_pairs

SHIFT = 0.04


def paired(study: int, cot: str, standard: str, verdicts: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    results, items = prompt_pair(study, prompt=cot, baseline=standard, shift=SHIFT)
    row = prompt_table(results, verdicts, items, n_boot=200, seed=study, level=0.95).iloc[0]
    return row, results[results["prompt"] == "cot"]


@pytest.mark.slow  # fits the thresholds of both prompts, every seed
def test_chain_of_thought_that_emerges_where_standard_is_flat_is_found_with_its_gain():
    results, items = prompt_pair(3, prompt="sigmoid", baseline="flat", shift=SHIFT)
    thresholds = thresholds_table(results, 100, 0, 0.95, "auto", items)
    row = prompt_table(results, thresholds, items, n_boot=200, seed=0, level=0.95).iloc[0]
    assert (row["verdict"], row["baseline_verdict"]) == ("emergent", "flat")
    assert row["finding"] == "emergent with cot, flat with standard; cot better"
    assert row["region"] == "below the onset interval of cot"
    assert row["gain_low"] > 0.3  # planted: about 0.6 below the onset
    assert row["interval"] == "runs and items"


@pytest.mark.slow  # coverage and false-positive counts over simulated studies
def test_the_paired_gain_covers_the_planted_gain_and_rarely_calls_equal_prompts_different():
    # 100 studies each. Coverage: at a true 95% this fails with probability 0.1%; at 80% it
    # passes with probability 2.5%. Called different when both prompts have the same truth: at
    # a true 5% this fails with probability 1.1%; at 15% it passes with probability 10%.
    table = prompt_coverage(100).set_index(["prompt", "baseline"])
    assert table.loc[("sigmoid", "flat"), "coverage"] >= 0.88, table
    assert table.loc[("sigmoid", "flat"), "called_different"] == 1.0, table
    assert table.loc[("sigmoid", "sigmoid"), "called_different"] <= 0.10, table


def test_the_region_and_the_finding_follow_the_verdicts():
    row, cot = paired(0, "flat", "flat", planted_verdicts("flat", "flat"))
    assert row["region"] == "lowest quarter of the losses"
    assert row["n_points"] == pytest.approx(0.25 * len(cot), abs=1)
    assert row["finding"] == "flat with cot, flat with standard; no significant difference"
    assert row["onset_difference"] is None or np.isnan(row["onset_difference"])
    both = planted_verdicts("sigmoid", "sigmoid")
    both.loc[both["prompt"] == "cot", ["threshold", "ci_low", "ci_high"]] = (1.8, 1.77, 1.83)
    both.loc[both["prompt"] == "standard", ["threshold", "ci_low", "ci_high"]] = (1.6, 1.57, 1.63)
    row, _ = paired(0, "sigmoid", "sigmoid", both)
    assert row["region"] == "below the onset interval of cot"  # the earlier onset, at the higher loss
    assert row["onset_difference"] == pytest.approx(0.2)
    assert row["finding"] == "emergent with both, cot at a higher loss"


def test_tasks_without_a_standard_prompt_are_not_compared():
    results, items = prompt_pair(0, prompt="sigmoid", baseline="flat")
    verdicts = planted_verdicts("sigmoid", "flat").replace({"standard": "other"})
    assert prompt_table(results, verdicts, items, n_boot=50, seed=0, level=0.95).empty


def test_the_report_states_each_pair_in_words_with_the_tables_numbers():
    results, items = prompt_pair(1, prompt="sigmoid", baseline="flat", shift=SHIFT)
    table = prompt_table(results, planted_verdicts("sigmoid", "flat"), items, n_boot=100, seed=0, level=0.95)
    (sentence,) = prompt_pairs.sentences(table)
    r = table.iloc[0]
    assert sentence.startswith("sums, accuracy: emergent with chain of thought, flat with standard prompting.")
    assert f"a paired gain on the same items of {r.gain:+.3f} [{r.gain_low:+.3f}, {r.gain_high:+.3f}]" in sentence
    assert "below the onset interval of chain of thought" in sentence and sentence.endswith("prompts): cot better.")
    shown = prompt_pairs.shown(table).iloc[0]
    assert shown["finding"] == "emergent with cot, flat with standard; cot better"
    assert shown["onset difference [95% CI]"] == "–"


def test_verdicts_without_an_onset_as_analyze_holds_them_in_memory():
    # analyze passes its thresholds table before any CSV round trip: None, not NaN, where no onset.
    verdicts = planted_verdicts("sigmoid", "flat").astype(object)
    verdicts.loc[verdicts["prompt"] == "standard", ["threshold", "ci_low", "ci_high"]] = None
    row, _ = paired(0, "sigmoid", "flat", verdicts)
    assert row["onset_difference"] is None and row["finding"] == "emergent with cot, flat with standard; cot better"
