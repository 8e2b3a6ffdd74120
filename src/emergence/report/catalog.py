"""The figure registry: every figure of a study declared once, as data.

The workflow's figure jobs and their outputs, the captions of `snakemake --report`, the
published page and the tests all read `FIGURES`. The registry names each figure; the code
that draws it (`figures.DRAWERS`, matched by name) imports the registry, never the reverse,
so reading it, as the Snakefile does, imports neither matplotlib nor the analysis.
"""

from __future__ import annotations

import dataclasses

# A figure with nothing to draw is saved as its reason, which its PNG's metadata
# (`Description`) states after this prefix: the page lists it in a line instead of showing
# an image of a sentence.
PLACEHOLDER = "not drawn: "

# Tables (in reports/tables) that figures read.
RESULTS, TRAINING, THRESHOLDS, SCALING = "results.parquet", "training.csv", "thresholds.csv", "scaling.json"
FORECAST = ("forecast.csv", "forecast.json")
LONG_CONTEXT = "long_context.csv"
INSTRUCT = ("instruct.parquet", "instruct_thresholds.csv")
SIZE_ONSETS = "size_onsets.csv"


@dataclasses.dataclass(frozen=True)
class Figure:
    # File stem under reports/figures/ and its key in figures.DRAWERS.
    name: str
    # Heading on the published page.
    title: str
    # What the figure shows and how to read it (page and `snakemake --report`).
    caption: str
    # The tables it is drawn from: its job's inputs.
    tables: tuple[str, ...]


FIGURES: tuple[Figure, ...] = (
    Figure(
        "performance_vs_loss",
        "Performance against pretraining loss",
        "Performance of every checkpoint of every model against its validation loss (nats/token, log scale; "
        "lower loss, i.e. better models, to the right), coloured by model size. If all sizes fall on one curve, "
        "loss (not size) predicts the ability. The dotted line is chance; the black curve is the best-fitting "
        "model of all seeds pooled, kept within the metric's range; the red line and band are the onset (the "
        "threshold) and its 95% interval where the verdict is emergent, and the red triangles along the top the "
        "onset of each seed fitted alone (their spread is the run-to-run variance). Hollow grey points are "
        "checkpoints taken during learning-rate warm-up, which no fit uses.",
        (RESULTS, THRESHOLDS),
    ),
    Figure(
        "performance_vs_compute",
        "The same against training compute",
        "The same performance against training compute (FLOPs, log scale): sizes need not fall on one curve "
        "here, since a model's loss at a given compute depends on its size.",
        (RESULTS,),
    ),
    Figure(
        "loss_curves",
        "Loss curves",
        "Validation loss (nats/token) against training tokens (log scale) for every run; each token budget has "
        "its own learning-rate schedule. Dots are the evaluated checkpoints.",
        (TRAINING,),
    ),
    Figure(
        "metric_pairs",
        "Discontinuous and continuous metrics",
        "Each task's discontinuous metric (accuracy, exact match) beside its continuous twins (probability of "
        "the correct choice, Brier score, log-likelihood of the answer, token edit distance), against loss: a "
        "jump in the first with a smooth rise in the second points to the metric, not the model (the mirage "
        "check of Schaeffer et al. 2023).",
        (RESULTS,),
    ),
    Figure(
        "cot_gain",
        "Chain-of-thought minus standard prompting",
        "Chain-of-thought minus standard prompting (exact match on the final answer) for each checkpoint, "
        "against loss: above zero the worked steps help.",
        (RESULTS,),
    ),
    Figure(
        "kshot",
        "k-shot curves",
        "Accuracy against the number of demonstrations k (gold labels), every checkpoint after warm-up grouped "
        "into four bands of pretraining loss with as many checkpoints each (mean and 95% interval over the band). "
        "A task whose mapping is chosen per prompt (mapping) is at chance at k = 0 by construction: only reading "
        "the demonstrations lifts it. The dotted line is chance.",
        (RESULTS,),
    ),
    Figure(
        "label_settings",
        "Demonstration labels",
        "Accuracy with the most demonstrations under each demonstration setting against loss (mean over the "
        "checkpoints in each of eight loss bins): gold, random and flipped labels, semantically unrelated labels "
        "(cat/dog, also the answer choices), and Min et al.'s ablations. Accuracy below chance with flipped "
        "labels means the model follows the demonstrations over its prior (Wei et al. 2023); above chance with "
        "unrelated labels means it learns the mapping from the demonstrations alone.",
        (RESULTS,),
    ),
    Figure(
        "ablations",
        "What the demonstrations carry",
        "The k-shot gain (accuracy with the most demonstrations minus without any, on the same items) of each "
        "demonstration setting, per band of pretraining loss: gold labels; random labels; out-of-distribution "
        "inputs (ood); labels only; inputs only; pairs without the separator (no_format) (Min et al. 2022). "
        "A setting's bar against the gold bar is the share of the gain that survives without that ingredient.",
        (RESULTS,),
    ),
    Figure(
        "induction_heads",
        "Induction heads",
        "On sequences of random common tokens repeated once: the best head's prefix-matching score (its mean "
        "attention from a token of the second repeat to the token after that token's first occurrence), that "
        "head's copying score (how much its output raises the logit of the tokens it attends to) and the loss on "
        "the first repeat minus the second, against training tokens (left) and loss (right), one line per run. "
        "One-layer models (dashed) cannot form induction heads, which need a head of an earlier layer: they are "
        "the negative control. The dotted line is a head attending uniformly.",
        (RESULTS,),
    ),
    Figure(
        "icl_by_size",
        "In-context learning, size by size, against tokens",
        "Each size's in-context-learning measures against training tokens (log scale), one line per run: the best "
        "head's prefix-matching score (sizes of two or more layers), each task's k-shot gain (accuracy with the "
        "most demonstrations minus none, gold labels) and the ICL score (lower: more in-context learning). Where "
        "a size's own fit against tokens is emergent, a vertical line in its colour marks the onset and a band "
        "its 95% interval (reports/tables/size_onsets.csv): a phase change shows as the same band in every row. "
        "The dotted line is chance (uniform attention) or no gain.",
        (RESULTS, SIZE_ONSETS),
    ),
    Figure(
        "icl_score",
        "In-context learning score",
        "In-context-learning score (Olsson et al. 2022): mean loss late in the context minus mean loss early in "
        "it, on validation documents longer than the context (every window starts at a document's start), "
        "against the checkpoint's loss. More negative: more in-context learning.",
        (RESULTS,),
    ),
    Figure(
        "scaling_fit",
        "Scaling law",
        "Final validation loss of each run against the fitted scaling law L(N, D) = E + A/N^α + B/D^β (Huber "
        "loss on log-loss, L-BFGS from a grid of starts; N non-embedding parameters, D training tokens).",
        (SCALING,),
    ),
    Figure(
        "forecast",
        "Forecasting the largest size",
        "The largest size held out and forecast from the smaller ones: its loss from the scaling law fitted to "
        "their final checkpoints, each task's score from its curve against loss fitted to all their checkpoints "
        "(the form the threshold analysis's verdict implies: its threshold model for an emergent task, the "
        "published free sigmoid for a smooth rise, a sigmoid within the data for a flat one; the other where it "
        "forecast held-out sizes clearly better), chained, with 95% "
        "prediction intervals from a bootstrap over runs through both steps. First panel: forecast against what "
        "the held-out runs reached, one point per task and token budget, green where the interval covers it. "
        "Other panels, per task: the curve and its band (grey points: the smaller sizes' checkpoints), the "
        "forecast (black diamond, intervals in loss and score) and the held-out size's final checkpoint (red "
        "star) and all its checkpoints (red dots). A star left of every grey point is a loss the smaller sizes "
        "never reached: there the curve is extrapolated.",
        (RESULTS, *FORECAST),
    ),
    Figure(
        "position_loss",
        "Reading past the trained context",
        "Validation loss at each position of windows several times the trained context L (dashed line) long, "
        "each size's final checkpoint (largest budget, first seed) read without retraining under each position "
        "scaling: plain RoPE, position interpolation (linear), NTK-aware, dynamic NTK and YaRN (a running mean "
        "over L/16 positions). A method that "
        "holds keeps the loss past L near the loss before it; plain RoPE's rises where positions were never "
        "trained.",
        (LONG_CONTEXT,),
    ),
    Figure(
        "passkey",
        "Passkey retrieval",
        "Share of prompts from which the model retrieves a five-digit pass key stated once, at a random depth, in "
        "filler text, against the prompt's length (log scale; the dashed line is the trained context L), per "
        "position scaling; 'cut to L' reads only the prompt's last L tokens.",
        (LONG_CONTEXT,),
    ),
    Figure(
        "many_shot",
        "Many-shot in-context learning",
        "Accuracy against the number of demonstrations (gold labels), more than fit in the trained context, per "
        "position scaling and per band of the probed models' final pretraining loss (mean and 95% interval over "
        "the models of the band); 'cut to L' keeps only the prompt's last L tokens. The dotted line is chance.",
        (LONG_CONTEXT,),
    ),
    Figure(
        "instruct",
        "Instruction following on held-out families",
        "Exact match on instructions of families no tuning example used, zero-shot, against the pretraining loss "
        "of the base checkpoint (nats/token, log scale; lower to the right), coloured by model size: 'tuned' is "
        "the checkpoint after instruction tuning on the other families (loss on the responses only), 'base' the "
        "same checkpoint untuned (the control, same prompts). Lines and bands as in the first figure: the best "
        "fit, and the onset with its 95% interval where the verdict is emergent.",
        INSTRUCT,
    ),
    Figure(
        "instruct_gain",
        "What instruction tuning adds",
        "Tuning gain (per item, tuned minus base exact match, averaged) on each held-out family against the base "
        "checkpoint's pretraining loss; the dotted line is no gain. A gain that appears only below some loss is "
        "a threshold for benefiting from instruction tuning.",
        INSTRUCT,
    ),
)
BY_NAME: dict[str, Figure] = {f.name: f for f in FIGURES}
# The figure the published page opens with.
HEADLINE = "performance_vs_loss"
