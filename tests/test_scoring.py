import math

import pytest

from emergence.evaluate.scoring import (
    aggregate,
    cut_at_stop,
    edit_distance,
    exact_match,
    extract_first_line,
    extract_number,
    mc_metrics,
    normalise_number,
    normalised_edit_distance,
)

LOGLIKS = [-1.0, -2.0, -3.0, -4.0]
# Per byte: [-1, -2, -0.3, -0.4], so acc_norm prefers choice 2 where acc prefers choice 0.
N_BYTES = [1, 1, 10, 10]


def _softmax_by_hand():
    e = [math.exp(-1), math.exp(-2), math.exp(-3), math.exp(-4)]
    z = sum(e)
    return [x / z for x in e]


def test_mc_metrics_label_0_by_hand():
    p = _softmax_by_hand()
    m = mc_metrics(LOGLIKS, N_BYTES, 0)
    assert m["acc"] == 1.0
    assert m["acc_norm"] == 0.0
    assert m["p_correct"] == pytest.approx(p[0], rel=1e-12)
    assert m["brier"] == pytest.approx((p[0] - 1) ** 2 + p[1] ** 2 + p[2] ** 2 + p[3] ** 2, rel=1e-12)
    assert m["margin"] == pytest.approx(-1 - (-2))
    assert set(m) == {"acc", "acc_norm", "p_correct", "brier", "margin"}
    assert all(type(v) is float for v in m.values())


def test_mc_metrics_label_2_acc_and_acc_norm_disagree():
    p = _softmax_by_hand()
    m = mc_metrics(LOGLIKS, N_BYTES, 2)
    assert m["acc"] == 0.0
    assert m["acc_norm"] == 1.0
    assert m["p_correct"] == pytest.approx(p[2], rel=1e-12)
    assert m["brier"] == pytest.approx(p[0] ** 2 + p[1] ** 2 + (p[2] - 1) ** 2 + p[3] ** 2, rel=1e-12)
    assert m["margin"] == pytest.approx(-3 - (-1))


def test_mc_metrics_stable_for_very_negative_logliks():
    m = mc_metrics([-1000.0, -1001.0], [3, 3], 0)
    assert m["p_correct"] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-12)
    assert m["brier"] == pytest.approx(2 * (1 - 1 / (1 + math.exp(-1))) ** 2, rel=1e-12)


def test_mc_metrics_ties_go_to_the_lowest_index():
    assert mc_metrics([-1.0, -1.0, -5.0], [1, 1, 1], 0)["acc"] == 1.0
    assert mc_metrics([-1.0, -1.0, -5.0], [1, 1, 1], 1)["acc"] == 0.0
    assert mc_metrics([-1.0, -1.0, -5.0], [1, 1, 1], 1)["margin"] == 0.0


@pytest.mark.parametrize(
    "logliks, n_bytes, label",
    [
        ([-1.0], [1], 0),  # one choice is no choice
        ([-1.0, -2.0], [1], 0),  # lengths differ
        ([-1.0, -2.0], [1, 1], 2),  # label out of range
        ([-1.0, -2.0], [1, 0], 0),  # empty continuation
    ],
)
def test_mc_metrics_rejects_bad_input(logliks, n_bytes, label):
    with pytest.raises(ValueError):
        mc_metrics(logliks, n_bytes, label)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She pays 3 * 400 = 1200.\n#### 1,234", "1234"),
        ("the answer is 42.", "42"),
        ("no number here", None),
        ("", None),
        ("It drops to -3 degrees.", "-3"),
        ("5-3 = 2", "2"),
        ("half of 5 is 2.5", "2.5"),
        ("#### 7\nQuestion: what is 9+9?", "7"),  # the number right after the last ####
        ("he had 12 apples ####", "12"),  # nothing after ####: last number before it
        ("counted 1,2,3", "3"),  # not a thousands group
        ("total: 1,000,000 dollars", "1000000"),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,000", "1000"),
        ("-3", "-3"),
        ("2.50", "2.5"),
        ("42.", "42"),
        ("+7", "7"),
        ("007", "7"),
        ("-0", "0"),
        ("3.0", "3"),
        ("abc", None),
        ("1 2", None),
        ("", None),
    ],
)
def test_normalise_number(text, expected):
    assert normalise_number(text) == expected


def test_extract_first_line():
    assert extract_first_line(" 168\nQ: 12+7=? A:") == "168"
    assert extract_first_line("negative\r\nreview: ...") == "negative"
    assert extract_first_line("") == ""


def test_cut_at_stop():
    assert cut_at_stop("42\n\nQuestion: next", ["\n\n", "Question:"]) == "42"
    assert cut_at_stop("abc Question: x\n\n", ["\n\n", "Question:"]) == "abc "
    assert cut_at_stop("no stop", ["\n"]) == "no stop"
    assert cut_at_stop("keep all", []) == "keep all"
    assert cut_at_stop("keep all", [""]) == "keep all"


def test_exact_match():
    assert exact_match(" 168 ", "168") == 1.0
    assert exact_match("Mirad", "Mirad") == 1.0
    assert exact_match("mirad", "Mirad") == 0.0
    assert exact_match("1,000", "1000") == 1.0
    assert exact_match("2.50", "2.5") == 1.0
    assert exact_match("-3", "3") == 0.0
    assert exact_match(None, "3") == 0.0
    assert exact_match("", "3") == 0.0


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("sitting", "kitten") == 3
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance("", "") == 0
    assert edit_distance("", "abc") == 3
    assert edit_distance([5, 6], []) == 2
    assert edit_distance("same", "same") == 0


def test_normalised_edit_distance():
    assert normalised_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalised_edit_distance("", "") == 0.0
    assert normalised_edit_distance("ab", "xy") == 1.0


def test_aggregate():
    assert aggregate([1.0, 0.0, 0.5]) == (0.5, 3)
    mean, n = aggregate([])
    assert math.isnan(mean) and n == 0
