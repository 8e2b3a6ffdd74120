"""Loaders for benchmark files a user brings: MMLU-style multiple choice and GSM8K.

Formats (line numbers in ids and errors are 1-based lines of the file):
- mmlu, CSV (`.csv`, or any file not starting with "{"): rows `question,A,B,C,D,answer`
  as in the original MMLU files (no header), or the same with that header row. The answer
  is a letter A-D. Quoted fields may hold commas and newlines.
- mmlu, JSONL (`.jsonl`/`.json`, or a file starting with "{"): one object per line with
  `question`, either `choices` (a list of 4 strings) or `A`,`B`,`C`,`D`, and `answer`
  (a letter A-D or an int 0-3).
- gsm8k, JSONL: `question` and `answer`, whose last line is `#### <number>` and whose lines
  above are the worked solution, with calculator annotations such as `<<48/2=24>>`.

Every fault raises one InputError naming the file, the line, the field and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from emergence.errors import InputError
from emergence.evaluate.items import Item
from emergence.evaluate.scoring import normalise_number
from emergence.io import iter_jsonl, read_utf8, string_field

LETTERS = "ABCD"
MMLU_COLUMNS = ("question", "A", "B", "C", "D", "answer")
# GSM8K's calculator annotations: "48/2 = <<48/2=24>>24" reads "48/2 = 24" without them.
_ANNOTATION = re.compile(r"<<[^<>]*>>")
_FINAL_ANSWER = re.compile(r"####(.*)")


def _letter_index(value: str, where: str) -> int:
    letter = value.strip()
    if len(letter) != 1 or letter not in LETTERS:
        raise InputError(f"{where}: field 'answer' is {value!r}, expected a letter A-D")
    return LETTERS.index(letter)


def _mmlu_item(path: Path, line_no: int, question: str, choices: list[str], label: int) -> Item:
    choices = [c.strip() for c in choices]
    return Item(
        id=f"{path.name}:{line_no}",
        question=f"Question: {question.strip()}\nAnswer:",
        answer=choices[label],
        choices=tuple(" " + c for c in choices),
        label=label,
    )


def _mmlu_jsonl(path: Path, text: str) -> Iterator[Item]:
    for line_no, record in iter_jsonl(path, "mmlu file"):
        where = f"mmlu file {path} line {line_no}"
        question = string_field(record, "question", where)
        if "choices" in record:
            choices = record["choices"]
            if not (isinstance(choices, list) and len(choices) == 4 and all(isinstance(c, str) for c in choices)):
                got = f"a list of {len(choices)}" if isinstance(choices, list) else type(choices).__name__
                raise InputError(f"{where}: field 'choices' is {got}, expected a list of 4 strings")
        elif any(letter in record for letter in LETTERS):
            choices = [string_field(record, letter, where) for letter in LETTERS]
        else:
            raise InputError(
                f"{where}: no field 'choices' (nor 'A', 'B', 'C', 'D'); fields: {', '.join(map(str, record)) or 'none'}"
            )
        if "answer" not in record:
            raise InputError(f"{where}: no field 'answer' (fields: {', '.join(map(str, record))})")
        answer = record["answer"]
        # bool is an int subclass, but `true` is no choice index.
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer <= 3:
                raise InputError(f"{where}: field 'answer' is {answer}, expected an index 0-3 or a letter A-D")
            label = answer
        elif isinstance(answer, str):
            label = _letter_index(answer, where)
        else:
            raise InputError(
                f"{where}: field 'answer' is {type(answer).__name__}, expected a letter A-D or an index 0-3"
            )
        yield _mmlu_item(path, line_no, question, choices, label)


def _mmlu_csv(path: Path, text: str) -> Iterator[Item]:
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0  # the last line of the previous row: a quoted field may span several lines
    first = True
    while True:
        start = end + 1
        where = f"mmlu file {path} line {start}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"{where}: not valid CSV ({e})") from None
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(MMLU_COLUMNS):
            # A quote left open swallows the rest of the file into one field.
            hint = "close the quote opened here" if any("\n" in c for c in row) else "quote fields that hold commas"
            raise InputError(
                f"{where}: {len(row)} columns, expected {len(MMLU_COLUMNS)} ({', '.join(MMLU_COLUMNS)}); {hint}"
            )
        if first and [c.strip().lower() for c in row] == [c.lower() for c in MMLU_COLUMNS]:
            first = False
            continue  # the optional header row
        first = False
        yield _mmlu_item(path, start, row[0], row[1:5], _letter_index(row[5], where))


def _nonempty(items: list[Item], path: Path, kind: str) -> list[Item]:
    if not items:
        raise InputError(f"{kind} file {path} is empty: it holds no records")
    return items


def load_mmlu(path: str | Path) -> list[Item]:
    """The items of an MMLU-layout file (CSV or JSONL, see the module docstring), in file order.

    Each item asks "Question: <question>\\nAnswer:", its choices are the four texts with a
    leading space, its answer the correct text without it. InputError names any fault.
    """
    path = Path(path)
    text = read_utf8(path, "mmlu file")
    is_jsonl = path.suffix.lower() in (".jsonl", ".json") or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith("{")
    )
    return _nonempty(list((_mmlu_jsonl if is_jsonl else _mmlu_csv)(path, text)), path, "mmlu")


def _gsm8k_answer(answer: str, where: str) -> tuple[str, str | None]:
    lines = answer.strip().splitlines()
    final = _FINAL_ANSWER.fullmatch(lines[-1].strip()) if lines else None
    if final is None:
        raise InputError(f"{where}: field 'answer' does not end with a line '#### <number>'")
    number = normalise_number(final.group(1))
    if number is None:
        raise InputError(
            f"{where}: field 'answer' ends with '#### {final.group(1).strip()}', expected a number after ####"
        )
    steps = [_ANNOTATION.sub("", line).rstrip() for line in lines[:-1]]
    solution = "\n".join(steps).strip("\n")
    return number, solution or None


def load_gsm8k(path: str | Path) -> list[Item]:
    """The items of a GSM8K JSONL file, in file order.

    Each item asks "Question: <question>\\nAnswer:"; its answer is the normalised number
    after "####" ("1,000" -> "1000") and its solution the worked lines above it with the
    calculator annotations removed. InputError names any fault.
    """
    path = Path(path)
    items = []
    for line_no, record in iter_jsonl(path, "gsm8k file"):
        where = f"gsm8k file {path} line {line_no}"
        question = string_field(record, "question", where)
        number, solution = _gsm8k_answer(string_field(record, "answer", where), where)
        items.append(
            Item(
                id=f"{path.name}:{line_no}",
                question=f"Question: {question.strip()}\nAnswer:",
                answer=number,
                solution=solution,
            )
        )
    return _nonempty(items, path, "gsm8k")


LOADERS: dict[str, Callable[[Path], list[Item]]] = {"mmlu": load_mmlu, "gsm8k": load_gsm8k}


def load_benchmark(path: str | Path, fmt: str) -> list[Item]:
    """The items of benchmark file `path` in format `fmt` ("mmlu" or "gsm8k")."""
    if fmt not in LOADERS:
        raise InputError(f"unknown benchmark format {fmt!r} for {path}; allowed: {', '.join(sorted(LOADERS))}")
    return LOADERS[fmt](Path(path))
