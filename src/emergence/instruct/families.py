"""The instruction families: tasks stated as instructions, in a format pretraining never writes.

Every example is `Instruction: <instruction>\\nResponse:` followed by ` <answer>`. The
families, in four groups:
- string edits, on filler words of the world: `copy` (`repeat these words: velo rani tusk`
  -> `velo rani tusk`), `reverse` (`write these words in reverse order: ...` -> `tusk rani
  velo`), `first_word` and `last_word` (`give the last word of: ...` -> `tusk`), `count`
  (`how many words are in: velo rani tusk?` -> `3`);
- arithmetic words: `add` (`add 12 and 7.` -> `19`), `add3` (`add 12, 7 and 30.` -> `49`);
- lookups in the world's facts: `fact` (`name the city where Velor lives.` -> `Mirad`);
- classification with stated labels: `classify` (`is this review positive or negative?
  the soup was not tasty` -> `negative`, the corpus's own labels) and `judge` (`answer good
  or bad: the soup was not tasty` -> `bad`: labels that only the instruction states).

Each family's items fall into two splits by a hash of their key: `tune` and `eval`. For the
families that restate a corpus family (add, add3: arithmetic; fact: facts; classify, judge:
classification) the eval split is that family's held-out item space (`world.is_heldout`:
a held-out sum or review is never in the corpus, a held-out fact is never asked there), and
the tune split the rest; for the string edits it is one half of the word sequences (the same
half for all of them). Families that share a key space (`Family.space`) split it alike. The study
tunes on some families and evaluates on others (`instruct.tune_families`,
`instruct.heldout_families`, disjoint), so an evaluated item is in neither the corpus nor the
tuning data twice over: its family is never tuned on, and its item is of the eval split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from emergence.data.synthetic import draw_operands, label_item
from emergence.data.world import ATTRIBUTES, RULES, TRAIN_QUESTIONS, World, is_heldout

PROMPT = "Instruction: {instruction}\nResponse:"
SPLITS = ("tune", "eval")
FACT_INSTRUCTIONS = {
    "city": "name the city where {e} lives.",
    "colour": "name the favourite colour of {e}.",
    "profession": "name the job of {e}.",
    "pet": "name the pet of {e}.",
}


@dataclasses.dataclass(frozen=True)
class Example:
    family: str
    key: str
    instruction: str
    answer: str

    @property
    def prompt(self) -> str:
        return PROMPT.format(instruction=self.instruction)

    @property
    def response(self) -> str:
        return " " + self.answer


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    group: str
    # (world, rng) -> one example (its split is decided by `split`).
    draw: Callable[[World, np.random.Generator], Example]
    # (world, key) -> the key's split: "eval" or "tune". Families of one key space split it alike.
    split: Callable[[World, str], str]
    # The item space its keys are drawn from (shared: "words", "arithmetic", "facts", "classification").
    space: str
    # The pretraining task kinds that ask for the same ability (few-shot): the report
    # compares their thresholds with this family's.
    related: tuple[str, ...] = ()
    # (world, example) -> the lines in which the corpus would state the example's item
    # (none for string edits: no corpus family states them).
    corpus_forms: Callable[[World, Example], list[str]] = lambda world, ex: []


def _words(world: World, rng: np.random.Generator) -> list[str]:
    return [world.words[i] for i in rng.integers(len(world.words), size=int(rng.integers(3, 7)))]


def _string_family(name: str, instruction: str, answer: Callable[[list[str]], str], related=()) -> Family:
    def draw(world: World, rng: np.random.Generator) -> Example:
        words = _words(world, rng)
        text = " ".join(words)
        return Example(name, text, instruction.format(text=text), answer(words))

    return Family(name, "string edits", draw, _words_split, "words", related)


def _words_split(world: World, key: str) -> str:
    """Half of the word sequences, the same half for every string edit."""
    return "eval" if is_heldout("instruct:words", key, 0.5) else "tune"


def _add(world: World, rng: np.random.Generator) -> Example:
    a, b = draw_operands(world, rng, 2)
    return Example("add", f"{a}+{b}", f"add {a} and {b}.", str(a + b))


def _add3(world: World, rng: np.random.Generator) -> Example:
    a, b, c = draw_operands(world, rng, 3)
    return Example("add3", f"{a}+{b}+{c}", f"add {a}, {b} and {c}.", str(a + b + c))


def _fact(world: World, rng: np.random.Generator) -> Example:
    e, a = world.entities[rng.integers(len(world.entities))], ATTRIBUTES[rng.integers(len(ATTRIBUTES))]
    return Example("fact", f"{e}|{a}", FACT_INSTRUCTIONS[a].format(e=e), world.facts[e, a])


def _review(world: World, rng: np.random.Generator) -> tuple[str, str, str]:
    """(key, text, label) of a review as the corpus's classification family writes them."""
    rule = RULES["classification"]
    subjects, adjectives = rule.subjects_of(world.entities), rule.adjectives
    s, n, a = rng.integers(len(subjects)), rng.integers(2), rng.integers(len(adjectives))
    item = label_item("classification", subjects[s], bool(n), adjectives[a])
    return item["key"], item["prompt"].removeprefix("review: ").removesuffix(" ->"), item["label"]


def _classify(world: World, rng: np.random.Generator) -> Example:
    key, text, label = _review(world, rng)
    return Example("classify", key, f"is this review positive or negative? {text}", label)


def _judge(world: World, rng: np.random.Generator) -> Example:
    key, text, label = _review(world, rng)
    return Example("judge", key, f"answer good or bad: {text}", {"positive": "good", "negative": "bad"}[label])


def _sum_lines(world: World, ex: Example) -> list[str]:
    return [f"{ex.key}={ex.answer}", f"Q: {ex.key}=? A:"]


def _review_lines(world: World, ex: Example) -> list[str]:
    subject, negated, adjective = ex.key.split("|")
    return [label_item("classification", subject, negated == "1", adjective)["prompt"]]


def _fact_lines(world: World, ex: Example) -> list[str]:
    entity, attribute = ex.key.split("|")
    return [TRAIN_QUESTIONS[attribute].format(e=entity)]


def _corpus_split(family: str) -> Callable[[World, str], str]:
    """The split of a family that restates corpus family `family`: its held-out items are `eval`."""

    def split(world: World, key: str) -> str:
        if family == "arithmetic":
            return "eval" if world.arithmetic_heldout(tuple(int(x) for x in key.split("+"))) else "tune"
        return "eval" if world.heldout(family, key) else "tune"

    return split


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        _string_family("copy", "repeat these words: {text}", " ".join, related=("copying",)),
        _string_family("reverse", "write these words in reverse order: {text}", lambda w: " ".join(w[::-1])),
        _string_family("first_word", "give the first word of: {text}", lambda w: w[0]),
        _string_family("last_word", "give the last word of: {text}", lambda w: w[-1]),
        _string_family("count", "how many words are in: {text}?", lambda w: str(len(w))),
        Family("add", "arithmetic words", _add, _corpus_split("arithmetic"), "arithmetic", ("addition",), _sum_lines),
        Family(
            "add3", "arithmetic words", _add3, _corpus_split("arithmetic"), "arithmetic", ("multistep",), _sum_lines
        ),
        Family(
            "fact",
            "lookups in the world's facts",
            _fact,
            _corpus_split("facts"),
            "facts",
            ("fact_choice", "fact_recall"),
            _fact_lines,
        ),
        Family(
            "classify",
            "classification with stated labels",
            _classify,
            _corpus_split("classification"),
            "classification",
            ("sentiment",),
            _review_lines,
        ),
        Family(
            "judge",
            "classification with stated labels",
            _judge,
            _corpus_split("classification"),
            "classification",
            ("sentiment",),
            _review_lines,
        ),
    )
}


def draw_examples(
    world: World, family: str, split: str, n: int, rng: np.random.Generator, distinct: bool = False
) -> list[Example]:
    """`n` examples of `family` from `split` ("tune" or "eval"); with `distinct`, no key twice
    (ValueError when the split has fewer than `n` keys)."""
    fam, out, seen = FAMILIES[family], [], set()
    for _ in range(1000 * n + 10_000):
        if len(out) == n:
            break
        ex = fam.draw(world, rng)
        if fam.split(world, ex.key) != split or (distinct and ex.key in seen):
            continue
        seen.add(ex.key)
        out.append(ex)
    if len(out) == n:
        return out
    raise ValueError(f"instruction family {family!r}: found {len(out)} {split} items, {n} requested")
