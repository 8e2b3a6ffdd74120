import json

import pytest

from emergence.errors import InputError
from emergence.evaluate.benchmark_files import load_benchmark, load_gsm8k, load_mmlu

# Original MMLU layout: no header, a quoted comma and a newline inside quoted fields.
MMLU_CSV = (
    '"Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.",0,1,2,3,B\n'
    '"Which of these, if any, is a prime?\nPick one.",4,"6, or 8",9,11,D\n'
    "What is 2+2?,3,4,5,22,B\n"
)
GSM8K_RECORDS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "A house costs $1,200 per month to rent. How much does a year cost?",
        "answer": "A year has 12 months.\nSo it costs 1,200 * 12 = <<1200*12=14400>>14,400 dollars.\n#### 14,400",
    },
]


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def jsonl(records):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_mmlu_csv_original_layout(tmp_path):
    items = load_mmlu(write(tmp_path, "abstract_algebra_test.csv", MMLU_CSV))
    assert [i.id for i in items] == [
        "abstract_algebra_test.csv:1",
        "abstract_algebra_test.csv:2",
        "abstract_algebra_test.csv:4",
    ]
    first = items[0]
    assert first.question == "Question: Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nAnswer:"
    assert first.choices == (" 0", " 1", " 2", " 3")
    assert first.label == 1 and first.answer == "1"
    second = items[1]
    assert second.question == "Question: Which of these, if any, is a prime?\nPick one.\nAnswer:"
    assert second.choices == (" 4", " 6, or 8", " 9", " 11")
    assert second.label == 3 and second.answer == "11"
    assert items[2].answer == "4"


def test_mmlu_csv_with_header(tmp_path):
    items = load_mmlu(write(tmp_path, "h.csv", "question,A,B,C,D,answer\nWhat is 2+2?,3,4,5,22,B\n"))
    assert len(items) == 1
    assert items[0].id == "h.csv:2" and items[0].label == 1 and items[0].answer == "4"


def test_mmlu_jsonl_with_choices_and_int_or_letter_answer(tmp_path):
    path = write(
        tmp_path,
        "m.jsonl",
        jsonl(
            [
                {"question": "What is 2+2?", "choices": ["3", "4", "5", "22"], "answer": 1},
                {"question": "Colour of the sky?", "choices": ["red", "blue", "green", "black"], "answer": "B"},
            ]
        ),
    )
    items = load_mmlu(path)
    assert [(i.id, i.label, i.answer) for i in items] == [("m.jsonl:1", 1, "4"), ("m.jsonl:2", 1, "blue")]
    assert items[1].choices == (" red", " blue", " green", " black")
    assert items[1].question == "Question: Colour of the sky?\nAnswer:"


def test_mmlu_jsonl_with_letter_fields(tmp_path):
    path = write(
        tmp_path,
        "m.jsonl",
        "\n" + jsonl([{"question": "What is 2+2?", "A": "3", "B": "4", "C": "5", "D": "22", "answer": "D"}]),
    )
    (item,) = load_mmlu(path)
    assert item.id == "m.jsonl:2" and item.label == 3 and item.answer == "22"
    assert item.choices == (" 3", " 4", " 5", " 22")


def test_load_gsm8k(tmp_path):
    items = load_gsm8k(write(tmp_path, "gsm8k_test.jsonl", jsonl(GSM8K_RECORDS)))
    assert [i.id for i in items] == ["gsm8k_test.jsonl:1", "gsm8k_test.jsonl:2"]
    assert items[0].question.startswith("Question: Natalia sold clips") and items[0].question.endswith("May?\nAnswer:")
    assert items[0].answer == "72"
    assert items[0].solution == (
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May."
    )
    assert items[1].answer == "14400"
    assert items[1].solution == "A year has 12 months.\nSo it costs 1,200 * 12 = 14,400 dollars."
    assert items[0].choices == () and items[0].label is None


def test_gsm8k_keeps_minus_and_decimals(tmp_path):
    items = load_gsm8k(
        write(
            tmp_path,
            "g.jsonl",
            jsonl(
                [
                    {"question": "q1", "answer": "It fell.\n#### -3"},
                    {"question": "q2", "answer": "Halve it.\n#### 2.5"},
                    {"question": "q3", "answer": "#### 7"},
                ]
            ),
        )
    )
    assert [(i.answer, i.solution) for i in items] == [("-3", "It fell."), ("2.5", "Halve it."), ("7", None)]


def test_load_benchmark_dispatches(tmp_path):
    assert load_benchmark(write(tmp_path, "a.csv", MMLU_CSV), "mmlu")[2].answer == "4"
    assert load_benchmark(write(tmp_path, "g.jsonl", jsonl(GSM8K_RECORDS)), "gsm8k")[0].answer == "72"
    with pytest.raises(InputError, match=r"unknown benchmark format 'hellaswag'.*gsm8k, mmlu"):
        load_benchmark(tmp_path / "a.csv", "hellaswag")


def error_message(loader, path):
    with pytest.raises(InputError) as e:
        loader(path)
    message = str(e.value)
    assert str(path) in message and "\n" not in message
    return message


GOOD_MC = {"question": "q", "choices": ["a", "b", "c", "d"], "answer": "A"}


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"choices": ["a", "b", "c", "d"], "answer": "A"}, r"no field 'question'"),
        (
            {"question": 7, "choices": ["a", "b", "c", "d"], "answer": "A"},
            r"field 'question' is int, expected a string",
        ),
        ({"question": "q", "answer": "A"}, r"no field 'choices'"),
        (
            {"question": "q", "choices": ["a", "b", "c"], "answer": "A"},
            r"field 'choices' is a list of 3, expected a list of 4 strings",
        ),
        ({"question": "q", "choices": "abcd", "answer": "A"}, r"field 'choices' is str, expected a list of 4 strings"),
        (
            {"question": "q", "choices": ["a", "b", "c", 4], "answer": "A"},
            r"field 'choices' .*expected a list of 4 strings",
        ),
        ({"question": "q", "A": "a", "B": "b", "C": "c", "answer": "A"}, r"no field 'D'"),
        ({"question": "q", "choices": ["a", "b", "c", "d"]}, r"no field 'answer'"),
        (
            {"question": "q", "choices": ["a", "b", "c", "d"], "answer": "E"},
            r"field 'answer' is 'E', expected a letter A-D",
        ),
        (
            {"question": "q", "choices": ["a", "b", "c", "d"], "answer": 4},
            r"field 'answer' is 4, expected an index 0-3",
        ),
        ({"question": "q", "choices": ["a", "b", "c", "d"], "answer": True}, r"field 'answer' is bool"),
        ({"question": "q", "choices": ["a", "b", "c", "d"], "answer": None}, r"field 'answer' is NoneType"),
    ],
)
def test_mmlu_jsonl_errors_name_file_line_field(tmp_path, bad, expected):
    path = write(tmp_path, "m.jsonl", jsonl([GOOD_MC, bad]))
    assert "line 2: " in error_message(load_mmlu, path)
    with pytest.raises(InputError, match=expected):
        load_mmlu(path)


def test_mmlu_jsonl_invalid_json_and_non_object(tmp_path):
    path = write(tmp_path, "m.jsonl", jsonl([GOOD_MC, '{"question": "q", "choices": [']))
    assert "line 2: not valid JSON" in error_message(load_mmlu, path)
    path = write(tmp_path, "m.jsonl", jsonl([GOOD_MC, GOOD_MC, "[1, 2]"]))
    assert "line 3: expected a JSON object, got list" in error_message(load_mmlu, path)


@pytest.mark.parametrize(
    "csv_text, expected",
    [
        ('q,a,b,c,d,A\n"x, y",a,b,c,d\n', r"line 2: 5 columns, expected 6 \(question, A, B, C, D, answer\)"),
        ("q,a,b,c,d,A\nq,a,b,c,d,e,A\n", r"line 2: 7 columns, expected 6"),
        ('"multi\nline",a,b,c,d,A\nq,a,b,c,d,Z\n', r"line 3: field 'answer' is 'Z', expected a letter A-D"),
        ("q,a,b,c,d,\n", r"line 1: field 'answer' is '', expected a letter A-D"),
        ('q,a,b,c,d,A\n"open,a,b,c,d,A\nq,a,b,c,d,A\n', r"line 2: 1 columns, expected 6 .*close the quote opened here"),
    ],
)
def test_mmlu_csv_errors_name_file_line_field(tmp_path, csv_text, expected):
    path = write(tmp_path, "m.csv", csv_text)
    error_message(load_mmlu, path)
    with pytest.raises(InputError, match=expected):
        load_mmlu(path)


NO_FINAL = r"line 2: field 'answer' does not end with a line '#### <number>'"


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"answer": "#### 3"}, r"line 2: no field 'question'"),
        ({"question": "q"}, r"line 2: no field 'answer'"),
        ({"question": "q", "answer": 3}, r"line 2: field 'answer' is int, expected a string"),
        ({"question": "q", "answer": "It is 3."}, NO_FINAL),
        ({"question": "q", "answer": "#### 3\nmore text"}, NO_FINAL),
        ({"question": "q", "answer": ""}, NO_FINAL),
        (
            {"question": "q", "answer": "So.\n#### three"},
            r"line 2: field 'answer' ends with '#### three', expected a number",
        ),
        ({"question": "q", "answer": "So.\n####"}, r"line 2: field 'answer' ends with '#### ', expected a number"),
    ],
)
def test_gsm8k_errors_name_file_line_field(tmp_path, bad, expected):
    path = write(tmp_path, "g.jsonl", jsonl([GSM8K_RECORDS[0], bad]))
    error_message(load_gsm8k, path)
    with pytest.raises(InputError, match=expected):
        load_gsm8k(path)


@pytest.mark.parametrize("loader, name", [(load_mmlu, "m.csv"), (load_mmlu, "m.jsonl"), (load_gsm8k, "g.jsonl")])
def test_missing_and_empty_files(tmp_path, loader, name):
    assert "does not exist" in error_message(loader, tmp_path / name)
    assert "is empty" in error_message(loader, write(tmp_path, name, ""))
    assert "is empty" in error_message(loader, write(tmp_path, name, "\n  \n"))


@pytest.mark.parametrize(
    "loader, name, good",
    [
        (load_mmlu, "m.csv", "q,a,b,c,d,A\n"),
        (load_gsm8k, "g.jsonl", json.dumps(GSM8K_RECORDS[0]) + "\n"),
    ],
)
def test_non_utf8_names_file_and_line(tmp_path, loader, name, good):
    path = write(tmp_path, name, good.encode() + b'{"question": "caf\xe9"}\n')
    assert "line 2: not valid UTF-8" in error_message(loader, path)


def test_utf8_bom_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, "m.csv", b"\xef\xbb\xbfquestion,A,B,C,D,answer\r\nq,a,b,c,d,C\r\n")
    (item,) = load_mmlu(path)
    assert item.id == "m.csv:2" and item.answer == "c"
    path = write(tmp_path, "g.jsonl", jsonl(GSM8K_RECORDS).replace("\n", "\r\n").encode())
    assert [i.answer for i in load_gsm8k(path)] == ["72", "14400"]
