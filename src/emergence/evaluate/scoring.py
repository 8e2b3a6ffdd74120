"""Pure scoring functions for evaluation: multiple-choice metrics, answer extraction, matching.

No JAX here: the evaluator computes log-likelihoods and generations, these functions turn
them into numbers, so they can be tested against values worked out by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

# A number as written in a solution: optional minus, thousands groups or plain digits,
# optional decimals. The minus counts only when it cannot be a subtraction ("5-3" holds
# the numbers 5 and 3, not 5 and -3). Comma groups must have three digits, so a list
# such as "1,2,3" reads as three numbers, not as 123.
_NUMBER = re.compile(r"(?:(?<![\w)])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_WHOLE_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\.?")


def normalise_number(text: str) -> str | None:
    """`text` as a canonical number string ("1,000" -> "1000", "+2.50" -> "2.5", "42." -> "42",
    "-0" -> "0"), or None when `text` (stripped) is not one number."""
    text = text.strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        return None
    text = text.removesuffix(".").replace(",", "")
    sign = "-" if text.startswith("-") else ""
    integer, _, fraction = text.lstrip("+-").partition(".")
    # Canonical digits so that "007", "7" and "7.0" compare equal as strings.
    integer = integer.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    digits = integer + ("." + fraction if fraction else "")
    return digits if digits == "0" else sign + digits


def mc_metrics(logliks: Sequence[float], n_bytes: Sequence[int], label: int) -> dict[str, float]:
    """Scores of one multiple-choice item from each choice's summed natural-log likelihood
    and its length in UTF-8 bytes.

    Returns acc (argmax loglik == label), acc_norm (argmax loglik / bytes == label, as
    lm-evaluation-harness), p_correct (softmax of the logliks at the label), brier (sum over
    choices of (p_j - onehot_j)^2) and margin (correct loglik minus the best other one).
    Ties go to the lowest index. ValueError for fewer than two choices, mismatched lengths,
    a label out of range or a non-positive byte length.
    """
    ll = np.asarray(logliks, dtype=np.float64)
    nb = np.asarray(n_bytes, dtype=np.float64)
    if ll.ndim != 1 or len(ll) < 2:
        raise ValueError(f"need at least two choices, got logliks of shape {ll.shape}")
    if nb.shape != ll.shape:
        raise ValueError(f"{len(ll)} logliks but n_bytes of shape {nb.shape}")
    if not 0 <= label < len(ll):
        raise ValueError(f"label {label} does not index {len(ll)} choices")
    if (nb <= 0).any():
        raise ValueError(f"every choice needs a positive byte length, got {list(n_bytes)}")
    # Subtracting the max keeps exp() from underflowing to 0/0 on long continuations.
    shifted = np.exp(ll - ll.max())
    p = shifted / shifted.sum()
    onehot = np.zeros_like(p)
    onehot[label] = 1.0
    others = np.delete(ll, label)
    return {
        "acc": float(np.argmax(ll) == label),
        "acc_norm": float(np.argmax(ll / nb) == label),
        "p_correct": float(p[label]),
        "brier": float(((p - onehot) ** 2).sum()),
        "margin": float(ll[label] - others.max()),
    }


def extract_number(text: str) -> str | None:
    """The answer of a worked solution, normalised as `normalise_number`: the first number
    after the last "####" if one follows it, else the last number in `text`; None if none."""
    head, marker, tail = text.rpartition("####")
    if marker:
        found = _NUMBER.search(tail)
        if found:
            return normalise_number(found.group())
        text = head
    numbers = _NUMBER.findall(text)
    return normalise_number(numbers[-1]) if numbers else None


def extract_first_line(text: str) -> str:
    """The first line of `text` (a one-line task's generated answer), stripped; "" if empty."""
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to, not including, the earliest occurrence of any non-empty stop string."""
    cut = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop, 0, cut)
            if at != -1:
                cut = at
    return text[:cut]


def exact_match(prediction: str | None, reference: str) -> float:
    """1.0 if `prediction` equals `reference` after stripping whitespace, comparing two
    numbers by their normalised form ("1,000" == "1000.0"); 0.0 otherwise or for None."""
    if prediction is None:
        return 0.0
    pred, ref = prediction.strip(), reference.strip()
    pred_num, ref_num = normalise_number(pred), normalise_number(ref)
    if pred_num is not None and ref_num is not None:
        return float(pred_num == ref_num)
    return float(pred == ref)


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of cost 1) between two
    sequences of comparable elements: token ids or characters."""
    if len(a) < len(b):
        a, b = b, a
    # Two rows of the DP table suffice; the shorter sequence indexes the columns.
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def normalised_edit_distance(a: Sequence, b: Sequence) -> float:
    """edit_distance(a, b) / max(len(a), len(b), 1): 0.0 for equal, 1.0 for nothing shared."""
    return edit_distance(a, b) / max(len(a), len(b), 1)


def aggregate(values: Sequence[float]) -> tuple[float, int]:
    """(mean, count) of per-item values; (nan, 0) when there are none."""
    values = list(values)
    return (math.fsum(values) / len(values) if values else math.nan), len(values)
