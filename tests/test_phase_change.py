"""Each size's onsets of the in-context-learning measures, on simulated training runs with a planted onset."""

import numpy as np
import pandas as pd

from emergence.analysis.phase_change import size_onsets
from emergence.report.in_context import icl_positions_sentence, onset_sentences

CHANCE = 0.011


def _runs(onset_tokens: dict[str, float], seeds=(0, 1, 2), noise=0.01, rng_seed=0) -> pd.DataFrame:
    """Prefix-matching rows of sizes whose best head leaves chance at `onset_tokens[size]`
    (a hinge in ln tokens, seed to seed 5% apart), with a loss that falls as a power of tokens,
    and a one-layer size that never leaves chance."""
    rng = np.random.default_rng(rng_seed)
    tokens = np.geomspace(2e5, 8e6, 16)
    rows = []
    for size, t0 in {**onset_tokens, "w64l1": None}.items():
        for seed in seeds:
            for step, t in enumerate(tokens):
                rise = 0.0 if t0 is None else 0.45 * max(0.0, np.log(t / (t0 * (1 + 0.05 * (seed - 1)))))
                rows.append(
                    {
                        "size": size,
                        "n_layers": 1 if t0 is None else 2,
                        "model": f"{size}-s{seed}",
                        "seed": seed,
                        "step": step,
                        "tokens": t,
                        "loss": 1.5 + 40 * t**-0.3 + rng.normal(0, 0.005),
                        "task": "induction",
                        "prompt": "none",
                        "labels": "none",
                        "shots": 0,
                        "metric": "prefix_matching",
                        "value": float(np.clip(CHANCE + rise + rng.normal(0, noise), 0, 1)),
                        "chance": CHANCE,
                        "warmup": step == 0,
                    }
                )
    return pd.DataFrame(rows)


def test_each_size_onset_covers_the_planted_one_in_tokens_and_loss():
    planted = {"w48l2": 1.5e6, "w64l2": 2.5e6}
    full = size_onsets(_runs(planted), n_boot=40)
    table = full
    assert set(table["size"]) == set(planted)  # the one-layer control is not fitted
    alone = table[table["seed"] != "all"]
    assert len(alone) == 6 and (alone["axis"] == "tokens").all()
    for r in alone[alone["size"] == "w48l2"].itertuples():  # each seed's own planted onset
        assert r.verdict == "emergent" and r.onset_low <= 1.5e6 * (1 + 0.05 * (int(r.seed) - 1)) <= r.onset_high
    table = table[table["seed"] == "all"]
    for size, t0 in planted.items():
        by = table[table["size"] == size].set_index("axis")
        assert (by["verdict"] == "emergent").all(), by[["verdict", "reason"]]
        tok = by.loc["tokens"]
        assert tok.onset_low <= t0 <= tok.onset_high
        assert tok.onset_high / tok.onset_low < 1.6  # the interval says something
        loss = by.loc["loss"]
        assert loss.onset_low <= 1.5 + 40 * t0**-0.3 <= loss.onset_high
        assert by["n_runs"].eq(3).all()
    sentences = onset_sentences(full)
    assert len(sentences) == 2 and "(each seed alone: seed 0 at " in sentences[0]
    assert "w64l2 (2 layers, 3 seeds): the best head's prefix-matching score leaves" in sentences[1]
    assert "M [" in sentences[1] and "and at a loss of" in sentences[1]


def test_a_size_without_a_phase_change_is_not_emergent():
    df = _runs({"w48l2": 1e9})
    table = size_onsets(df, n_boot=30)
    assert not (table["verdict"] == "emergent").any()
    assert all(": inconclusive against tokens" in s or ": flat against tokens" in s for s in onset_sentences(table))


def test_no_induction_rows_give_an_empty_table_with_its_columns():
    df = _runs({"w48l2": 1e6}).assign(metric="acc")
    table = size_onsets(df)
    assert table.empty and "onset_low" in table


def test_the_icl_score_positions_are_stated_in_tokens():
    config = {"models": {"context": 128}, "tasks": {"icl": {"kind": "icl_score", "icl_positions": [0.1, 0.9]}}}
    [sentence] = icl_positions_sentence(config)
    assert "token 115 minus around token 14 of 128-token windows" in sentence


def test_a_study_of_one_token_budget_gets_a_note_not_a_scaling_law():
    # Eight runs of one budget (the ICL study's grid): the law's token term is not identified.
    from emergence.analysis.analyze import scaling_fit

    training = pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(8)],
            "size": [f"s{i // 2}" for i in range(8)],
            "budget": "12M",
            "nonembedding_params": [1e4 * (1 + i // 2) for i in range(8)],
            "tokens": 12e6,
            "step": 100,
            "val_loss": [2.0 - 0.1 * (i // 2) for i in range(8)],
        }
    )
    fit, points = scaling_fit(training, n_boot=10, seed=0)
    assert "not fitted" in fit["note"] and "two or more distinct" in fit["note"]
    assert points["predicted"].isna().all()


def test_the_phase_change_is_ordered_against_the_k_shot_gain_within_each_size():
    # The k-shot gain of a task planted 3x later in tokens than the heads' phase change.
    heads = _runs({"w64l2": 1.0e6})
    heads = heads[heads["size"] == "w64l2"]
    gain = _runs({"w64l2": 3.0e6}, rng_seed=1)
    gain = gain[gain["size"] == "w64l2"]
    gain = gain.assign(task="mapping", prompt="standard", labels="gold", shots=16, metric="kshot_gain", chance=0.0)
    table = size_onsets(pd.concat([heads, gain]), n_boot=40)
    assert set(table["metric"]) == {"prefix_matching", "kshot_gain"}
    pooled = table[table["seed"] == "all"]
    assert (pooled["verdict"] == "emergent").all(), pooled[["metric", "axis", "verdict", "reason"]]
    [sentence] = onset_sentences(table)
    assert "mapping's k-shot gain leaves its chance level at" in sentence
    assert sentence.endswith("in tokens the phase change precedes mapping's k-shot gain.")


def test_the_icl_score_is_not_asked_to_start_at_zero():
    # Any model that reads its context makes later tokens easier (the ICL study's one-layer
    # control sits at -0.36 to -0.47 nats): 0 is a reference line for the ICL score, not the
    # level its checkpoints must sit at before an onset; the k-shot gain's 0 is (no gain).
    from emergence.evaluate.metrics import METRICS

    assert METRICS["icl_score"].levels(0.0) == {"chance": None, "null": None}
    assert METRICS["kshot_gain"].levels(0.0) == {"chance": None, "null": 0.0}
    assert METRICS["acc"].levels(0.25) == {"chance": 0.25, "null": None}
