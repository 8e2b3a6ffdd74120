"""The metric registry: every metric the evaluation writes, declared once.

Evaluation (which metrics a kind of task produces, their chance levels), analysis (which
way is better, which are proportions of items, which are chance-normalised, which are a
task's headline) and the figures and report (axis labels, the continuous twins shown
beside a discontinuous metric) all read this table; none of them lists metrics itself.
The functions that compute the values are in `scoring.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

# How a kind of task is scored: log-likelihood of each choice, greedy generation, the
# loss along validation documents (Olsson et al.'s in-context-learning score), or the
# attention heads on repeated random tokens (induction heads).
MC, GENERATION, ICL, HEADS = "multiple_choice", "generation", "icl", "heads"
# Instruction tuning (emergence.instruct): what tuning adds to a base checkpoint's generations.
TUNING = "tuning"
# A task of lm-evaluation-harness (emergence.harness): its metrics are the MC or GENERATION
# metrics of the same names, as lm-eval computes them.
LM_EVAL = "lm_eval"


def uniform_prefix_matching(half: int) -> float:
    """The prefix-matching score of a head attending uniformly to every position up to its
    own, on `half` tokens repeated once: the mean over the second repeat of 1 / (i + 1)."""
    return sum(1.0 / (i + 1) for i in range(half, 2 * half)) / half


def _one_in(n_choices: int) -> float:
    return 1.0 / n_choices


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    # The scoring that produces it (MC, GENERATION or ICL).
    scoring: str
    # Axis label, with units and direction where it is not "higher is better".
    label: str
    higher_is_better: bool = True
    # A share of items (0..1): its item count n feeds the item-level bootstrap and the
    # binomial noise floor of the threshold analysis.
    proportion: bool = False
    # Bounded, so the analysis measures it from chance (0) to perfect (1).
    bounded: bool = False
    # The chance level given the number of choices (None: no meaningful chance level).
    chance: Callable[[int], float] | None = None
    # Whether a model without the ability sits at the chance level, so that the threshold
    # analysis may ask the checkpoints before an onset to sit there (an unbounded metric's
    # `null`); False where chance is only a reference line.
    chance_is_null: bool = True
    # The headline metric of its scoring (what a task's verdict and figures use).
    main: bool = False
    # Thresholds are fitted for it (the two halves of the ICL score are not).
    analysed: bool = True
    # The demonstration settings at which it is analysed (default: gold labels, or none).
    analysed_at: tuple[str, ...] = ("gold", "none")
    # Continuous metrics drawn beside this discontinuous one (the mirage check).
    twins: tuple[str, ...] = ()

    def levels(self, chance: float | None) -> dict[str, float | None]:
        """The threshold analysis's reference levels for a task whose chance level is
        `chance`: `chance` for a bounded metric (normalised by it), `null` for an unbounded
        one whose chance is where a model without the ability sits (fit_threshold's words)."""
        return {
            "chance": chance if self.bounded else None,
            "null": None if self.bounded or not self.chance_is_null else chance,
        }


_DECLARED = (
    Metric(
        "acc", MC, "accuracy", proportion=True, bounded=True, chance=_one_in, main=True, twins=("p_correct", "brier")
    ),
    Metric("acc_norm", MC, "accuracy (length-normalised)", proportion=True, bounded=True, chance=_one_in),
    Metric("p_correct", MC, "probability of the correct choice", bounded=True, chance=_one_in),
    Metric(
        "brier",
        MC,
        "Brier score (lower is better)",
        higher_is_better=False,
        bounded=True,
        chance=lambda n: 1.0 - 1.0 / n,
    ),
    Metric("margin", MC, "log-likelihood margin (nats)", chance=lambda n: 0.0),
    # Accuracy with the most demonstrations minus without any (the same items): what the
    # demonstrations add. Written for every label setting; analysed at gold labels.
    Metric("kshot_gain", MC, "k-shot gain (accuracy, most shots minus none)", chance=lambda n: 0.0),
    # Under flipped labels, the share of items answered with the label the demonstrations
    # map the input to (not the gold one): does the model override its prior (Wei et al. 2023)?
    # (Under unrelated labels that is the accuracy itself.)
    Metric(
        "follows_labels",
        MC,
        "answers follow the flipped labels",
        proportion=True,
        bounded=True,
        chance=_one_in,
        analysed_at=("flipped",),
    ),
    Metric(
        "exact_match",
        GENERATION,
        "exact match",
        proportion=True,
        bounded=True,
        # An open answer: 0; one of a closed set of n (a bit): 1 / n.
        chance=lambda n: 1.0 / n if n > 1 else 0.0,
        main=True,
        twins=("answer_logprob_per_token", "edit_distance"),
    ),
    Metric("edit_distance", GENERATION, "token edit distance (normalised, lower is better)", higher_is_better=False),
    Metric("answer_logprob", GENERATION, "log p(answer) (nats)"),
    Metric("answer_logprob_per_token", GENERATION, "log p(answer) per token (nats)"),
    Metric(
        "icl_score",
        ICL,
        "ICL score (nats; lower is better)",
        higher_is_better=False,
        chance=lambda n: 0.0,
        # 0 is no gain from the context, not the level of a model without induction heads:
        # later tokens are easier for any model that reads its context at all (the ICL
        # study's one-layer control stays at -0.3 to -0.4 nats throughout, docs/icl_study.md).
        chance_is_null=False,
        main=True,
    ),
    Metric("loss_early", ICL, "loss early in the context (nats)", higher_is_better=False, analysed=False),
    Metric("loss_late", ICL, "loss late in the context (nats)", higher_is_better=False, analysed=False),
    # Induction heads (Olsson et al. 2022) on random tokens repeated once; per head in the
    # samples table, the best head here. The chance level of a head is uniform attention
    # (its `n` is the repeat's length).
    Metric(
        "prefix_matching",
        HEADS,
        "prefix-matching score (best head)",
        bounded=True,
        chance=uniform_prefix_matching,
        main=True,
    ),
    Metric("copying", HEADS, "copying score of that head (logits)", chance=lambda n: 0.0),
    Metric("repeat_loss_gain", HEADS, "loss on 1st minus 2nd repeat (nats)", chance=lambda n: 0.0),
    # Exact match of the instruction-tuned checkpoint minus its untuned base on the same
    # held-out instructions (per item, then averaged): what tuning adds (emergence.instruct).
    Metric("tuning_gain", TUNING, "instruction-tuning gain (exact match, tuned minus base)", chance=lambda n: 0.0),
    Metric("repeat_loss_first", HEADS, "loss on the 1st repeat (nats)", higher_is_better=False, analysed=False),
    Metric("repeat_loss_second", HEADS, "loss on the 2nd repeat (nats)", higher_is_better=False, analysed=False),
)
METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}
# Headline metrics in order of preference (a task has exactly one of them).
MAIN: tuple[str, ...] = tuple(m.name for m in _DECLARED if m.main)


def produced_by(scoring: str) -> tuple[str, ...]:
    return tuple(m.name for m in _DECLARED if m.scoring == scoring)


def main_metric(scoring: str) -> str:
    return next(m.name for m in _DECLARED if m.scoring == scoring and m.main)


def chance_levels(scoring: str, n_choices: int) -> dict[str, float | None]:
    """Each metric of `scoring` at chance, for items with `n_choices` choices."""
    return {m.name: (m.chance(n_choices) if m.chance else None) for m in _DECLARED if m.scoring == scoring}


def label(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric


def higher_is_better(metric: str) -> bool:
    return METRICS[metric].higher_is_better if metric in METRICS else True
