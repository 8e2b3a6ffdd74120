"""The task kinds: how each kind scores, and where its items come from (the synthetic
corpus's held-out items, a benchmark file, or a stage of its own). `tasks` turns a
configured task of a kind into requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from emergence.config import StudyConfig, TaskSpec
from emergence.data.heldout import heldout_items
from emergence.data.world import RULES
from emergence.evaluate.benchmark_files import load_benchmark
from emergence.evaluate.items import Item
from emergence.evaluate.metrics import GENERATION, HEADS, ICL, LM_EVAL, MC


@dataclasses.dataclass(frozen=True)
class Kind:
    scoring: str
    # (spec, study config, number of items) -> items; demonstrations come from the same list.
    load: Callable[[TaskSpec, StudyConfig, int], list[Item]] | None
    # Answers are numbers (extracted from generations as such).
    numeric: bool = False
    # True for generated items that must never occur in the training text.
    synthetic: bool = True
    # Demonstrations are lines of the item's own mapping (meta["pairs"]), not other items.
    own_demos: bool = False
    # Generated answers drawn from a closed set of this many (a bit: 2), whose chance level
    # is then one in that many; 0: an open answer, chance 0.
    answers: int = 0


def _worked_items(raw: list[dict], lead: str = "") -> list[Item]:
    """Items of a family with worked solutions (arithmetic, bit-string rules); `lead` is what
    separates the answer from its prompt in the training text."""
    return [
        Item(
            r["key"],
            r["prompt"],
            r["answer"],
            solution=r["worked_answer"].split(" ####")[0].strip(),
            meta={"target": lead + r["answer"], "cot_question": r["worked_prompt"], "cot_target": r["worked_answer"]},
        )
        for r in raw
    ]


def _arith(n_operands: int) -> Callable:
    def load(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
        raw = heldout_items(cfg.corpus.synthetic, cfg.seed, "arithmetic", 2 * n + 2, rng_seed=spec.seed)
        return _worked_items([r for r in raw if len(r["operands"]) == n_operands][:n])

    return load


def _bits(family: str) -> Callable:
    def load(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
        return _worked_items(heldout_items(cfg.corpus.synthetic, cfg.seed, family, n, rng_seed=spec.seed), lead=" ")

    return load


def _facts(choice: bool) -> Callable:
    def load(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
        raw = heldout_items(cfg.corpus.synthetic, cfg.seed, "facts", n, rng_seed=spec.seed)
        return [
            Item(
                r["key"],
                r["prompt"],
                r["value"],
                choices=tuple(r["choices"]) if choice else (),
                label=r["choices"].index(r["answer"]) if choice else None,
            )
            for r in raw
        ]

    return load


def _two_choice_items(raw: list[dict], meta: Callable[[dict], dict]) -> list[Item]:
    """Items of a generated two-label family (a label rule, mapping), each with `meta(raw item)`."""
    return [
        Item(
            r["key"],
            r["prompt"],
            r["label"],
            choices=tuple(r["choices"]),
            label=r["choices"].index(r["answer"]),
            meta=meta(r),
        )
        for r in raw
    ]


def _label_rule(family: str) -> Callable:
    """Held-out lines of a label-rule family (`RULES`); meta "text" is the line without its
    head and separator (`the soup was not tasty`), the input of `no_format` demonstrations."""
    head = RULES[family].head

    def load(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
        raw = heldout_items(cfg.corpus.synthetic, cfg.seed, family, n, rng_seed=spec.seed)
        return _two_choice_items(raw, lambda r: {"text": r["prompt"].removeprefix(f"{head}: ").removesuffix(" ->")})

    return load


def _mapping(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
    raw = heldout_items(cfg.corpus.synthetic, cfg.seed, "mapping", n, rng_seed=spec.seed)
    return _two_choice_items(raw, lambda r: {"text": r["input"], "pairs": sorted(r["mapping"].items())})


def _copying(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
    raw = heldout_items(cfg.corpus.synthetic, cfg.seed, "copying", n, rng_seed=spec.seed)
    return [Item(r["key"], r["prompt"], r["answer"].strip()) for r in raw]


def _benchmark(fmt: str) -> Callable:
    def load(spec: TaskSpec, cfg: StudyConfig, n: int) -> list[Item]:
        items = load_benchmark(Path(spec.path), fmt)
        if fmt == "gsm8k":
            items = [
                dataclasses.replace(i, meta={**i.meta, "cot_target": f" {i.solution}\n#### {i.answer}"}) for i in items
            ]
        return items[:n]

    return load


KINDS: dict[str, Kind] = {
    "addition": Kind(GENERATION, _arith(2), numeric=True),
    "multistep": Kind(GENERATION, _arith(3), numeric=True),
    "xor": Kind(GENERATION, _bits("xor"), numeric=True, answers=2),
    "parity": Kind(GENERATION, _bits("parity"), numeric=True, answers=2),
    "fact_recall": Kind(GENERATION, _facts(choice=False)),
    "fact_choice": Kind(MC, _facts(choice=True)),
    "sentiment": Kind(MC, _label_rule("classification")),
    # The sentiment rule with fewer adjectives: 4 (weather) and 8 (road) against 24.
    "weather": Kind(MC, _label_rule("weather")),
    "road": Kind(MC, _label_rule("road")),
    "mapping": Kind(MC, _mapping, own_demos=True),
    "copying": Kind(GENERATION, _copying),
    "mmlu": Kind(MC, _benchmark("mmlu"), synthetic=False),
    "gsm8k": Kind(GENERATION, _benchmark("gsm8k"), numeric=True, synthetic=False),
    # Held-out instructions of the instruction-tuning stage (emergence.instruct builds them).
    "instruction": Kind(GENERATION, None),
    "icl_score": Kind(ICL, None),
    "induction_heads": Kind(HEADS, None),
    # Any lm-evaluation-harness task from a local folder (emergence.harness.suite).
    "lm_eval": Kind(LM_EVAL, None, synthetic=False),
}
