"""Deterministic synthetic corpus: eleven text families with a guaranteed held-out item space.

Families (the keys of `SyntheticConfig.mixture`), one line each:
- filler:         `Ba tolen ri mas kovu.`  (pseudo-words with Zipfian frequencies)
- facts:          `Velor lives in Mirad. Velor owns a cat. Velor works as a baker. ...` (all
                  four facts of an entity; entities come in shuffled passes) and
                  `Q: In which city does Velor live? A: Mirad`
- arithmetic:     `478+65=543`, `Q: 478+65=? A: 8+5+0=13, 7+6+1=14, 4+0+1=5. #### 543`,
                  `12+7+30=49`, `Q: 12+7+30=? A: 12+7=19, 19+30=49. #### 49`
- classification: `review: the soup was not tasty -> negative`: the adjective's class (12
                  positive, 12 negative adjectives, 20 subjects), flipped by "not"
- weather:        `weather: the sky over Velor was not sunny -> wet`: the same rule with 4
                  adjectives (sunny, clear: dry; rainy, stormy: wet), a subject per entity
- road:           `road: the road into Velor was not icy -> open`: 8 adjectives (clear, dry,
                  quiet, empty: open; icy, flooded, blocked, jammed: closed), a subject per entity
                  (the three rules are `world.RULES`)
- copying:        `copy: velo rani tusk => velo rani tusk`, `copy: xkqzt => xkqzt`
- xor:            `xor: 1 0 1 1 0 0 1 0 -> 1`: the parity of the bits at 2 positions of an
                  8-bit string, positions fixed per world and never stated (`World.positions`)
- parity:         `parity: 1 0 1 1 0 0 1 0 1 1 -> 0` and, worked,
                  `Q: parity: 1 0 1 1 0 0 1 0 1 1 ? A: 1 1 0 ; 1+1+0=2 #### 0` (the 3 bits read,
                  their sum, its parity): the same at 3 positions of a 10-bit string
- mapping:        `ba -> kotir` (`ba -> kotir`, `mel -> sanu`, `ba -> kotir`, ...): each document
                  draws its own mapping of 4 input words onto 2 label words and states it
                  line after line, so a label is predictable only from the earlier lines of
                  the same document (in-context learning).
- repeats:        `tovu zerin ba kolumi sen drapo` written again and again: a document repeats
                  one span of filler words drawn uniformly, which only a model that copies
                  from its context can predict after its first occurrence (the induction-head
                  signal).

A document is a run of lines of one family, about 300-1500 characters long.

Hold-out. `world.is_heldout` hashes (family, key) with blake2b, so the reserved share of each
family's item space is fixed by the key alone, never by sampling luck. The train and val
generators reject (resample) any line that states a held-out item:
- arithmetic: the key is the sum's operands, e.g. `12+7+30`; a line states every sum
  written in it (a 3-operand worked solution also states `12+7` and `19+30`). Sums of
  single digits are the addition table that every worked column uses, so they are never
  held out unless `max_digits` is 1 (then they are the whole space).
- classification, weather, road: the key is (subject, negation, adjective), per family
  (`the sky over Velor|1|sunny`).
- copying: the key is the copied sequence.
- xor, parity: the key is the bit string (`1011001011`), per family.
- mapping: the key is the document's whole mapping (`mapping_key`); a held-out mapping
  is never a training document's, so an evaluation prompt's mapping is new to the model.
- facts: the key is (entity, attribute). Every fact is stated in training by the
  declarative templates (a model cannot know a fact it never read), but a held-out fact
  is never asked in question form; and the evaluation question templates
  (`EVAL_QUESTIONS`) are a set disjoint from every training template.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import numpy as np

from emergence.config import SyntheticConfig
from emergence.data.world import (
    ATTRIBUTES,
    BIT_RULES,
    RULES,
    TRAIN_QUESTIONS,
    TRAIN_STATEMENTS,
    World,
)
from emergence.errors import ConfigError

FAMILIES = (
    "filler",
    "facts",
    "arithmetic",
    "classification",
    "weather",
    "road",
    "copying",
    "xor",
    "parity",
    "mapping",
    "repeats",
)
SPLIT_STREAMS = {"train": 1, "val": 2}

LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Per-document mappings: inputs are the shortest filler words, labels the next ones
# (ranges of `World.words`, disjoint so an input is never a label).
MAPPING_INPUTS, MAPPING_LABELS = 4, 2
MAPPING_WORDS = 160  # the filler words the mapping family uses (corpus.synthetic.n_words must reach it)
_MAPPING_INPUT_WORDS, _MAPPING_LABEL_WORDS = slice(0, 120), slice(120, MAPPING_WORDS)
_DOC_CHARS = (300, 1500)
# Randomised fair queueing of families: a larger jitter gives a less regular order,
# at the price of character shares that converge more slowly.
_JITTER_CHARS = 4000


# ---- arithmetic ----
def draw_operands(world: World, rng: np.random.Generator, k: int) -> tuple[int, ...]:
    # Draw the length first so that short operands are as common as long ones.
    digits = rng.integers(1, world.cfg.max_digits + 1, size=k)
    lo = np.where(digits == 1, 0, 10 ** (digits - 1))
    return tuple(int(x) for x in lo + (rng.random(k) * (10**digits - lo)).astype(np.int64))


def _columns(a: int, b: int) -> list[tuple[int, int, int, int]]:
    """Right-to-left columns of a+b: (digit of a, digit of b, carry in, column sum)."""
    cols, carry = [], 0
    for i in range(max(len(str(a)), len(str(b)))):
        da, db = a // 10**i % 10, b // 10**i % 10
        cols.append((da, db, carry, da + db + carry))
        carry = (da + db + carry) // 10
    return cols


def arithmetic_forms(operands: tuple[int, ...]) -> dict:
    """Answer-only and worked text of a 2- or 3-operand sum, and every sum the worked text states."""
    expr, total = "+".join(map(str, operands)), sum(operands)
    if len(operands) == 2:
        cols = _columns(*operands)
        steps = ", ".join(f"{da}+{db}+{c}={s}" for da, db, c, s in cols)
        stated = [(da, db, c) for da, db, c, _ in cols]
    else:
        a, b, c = operands
        steps = f"{a}+{b}={a + b}, {a + b}+{c}={total}"
        stated = [(a, b), (a + b, c)]
    return {
        "key": expr,
        "prompt": f"{expr}=",
        "answer": str(total),
        "worked_prompt": f"Q: {expr}=? A:",
        "worked_answer": f" {steps}. #### {total}",
        "stated": [operands, *stated],
    }


def _arithmetic_line(world: World, rng: np.random.Generator) -> str:
    while True:
        k, worked = 2 + int(rng.integers(2)), bool(rng.integers(2))
        ops = draw_operands(world, rng, k)
        f = arithmetic_forms(ops)
        stated = f["stated"] if worked else [ops]
        if not any(world.arithmetic_heldout(s) for s in stated):
            return f["worked_prompt"] + f["worked_answer"] if worked else f["prompt"] + f["answer"]


# ---- two-label rules (classification, weather, road) ----
def label_key(subject: str, negated: bool, adjective: str) -> str:
    """The hold-out key of a label-rule line: `the soup|1|tasty`."""
    return f"{subject}|{int(negated)}|{adjective}"


def label_item(family: str, subject: str, negated: bool, adjective: str) -> dict:
    """The line of `family`'s rule (`RULES`) about `subject` and `adjective`, as prompt and answer."""
    rule = RULES[family]
    label = rule.label(adjective, negated)
    return {
        "key": label_key(subject, negated, adjective),
        "subject": subject,
        "negated": negated,
        "adjective": adjective,
        "prompt": f"{rule.head}: {subject} was {'not ' if negated else ''}{adjective} ->",
        "answer": f" {label}",
        "label": label,
        "choices": [f" {y}" for y in rule.labels],
    }


def _label_writer(family: str):
    rule = RULES[family]

    def write(world: World, rng: np.random.Generator) -> str:
        subjects, adjectives = rule.subjects_of(world.entities), rule.adjectives
        while True:
            s, n, a = rng.integers(len(subjects)), rng.integers(2), rng.integers(len(adjectives))
            item = label_item(family, subjects[s], bool(n), adjectives[a])
            if not world.heldout(family, item["key"]):
                return item["prompt"] + item["answer"]

    return write


# ---- copying ----
def copy_item(world: World, rng: np.random.Generator, kind: str) -> dict:
    if kind == "words":
        seq = [world.words[i] for i in rng.integers(len(world.words), size=int(rng.integers(3, 9)))]
        text = " ".join(seq)
    else:
        seq = [LETTERS[i] for i in rng.integers(26, size=int(rng.integers(4, 13)))]
        text = "".join(seq)
    return {"key": f"{kind}:{text}", "kind": kind, "sequence": seq, "prompt": f"copy: {text} =>", "answer": f" {text}"}


def _copying_line(world: World, rng: np.random.Generator) -> str:
    while True:
        item = copy_item(world, rng, "words" if rng.integers(2) else "letters")
        if not world.heldout("copying", item["key"]):
            return item["prompt"] + item["answer"]


# ---- bit-string rules ----
def bit_forms(world: World, family: str, bits: str) -> dict:
    """Answer-only and worked text of the `xor` or `parity` rule on `bits` ("1011001011"): the
    worked steps read the bits, then add them with the addition table the arithmetic family
    teaches."""
    read = [int(bits[i]) for i in world.positions[family]]
    text, answer = " ".join(bits), str(sum(read) % 2)
    steps = " ".join(map(str, read)) + " ; " + "+".join(map(str, read)) + f"={sum(read)}"
    return {
        "key": bits,
        "prompt": f"{family}: {text} ->",
        "answer": answer,
        "worked_prompt": f"Q: {family}: {text} ? A:",
        "worked_answer": f" {steps} #### {answer}",
    }


def _bits_writer(family: str, worked_share: float):
    def write(world: World, rng: np.random.Generator) -> str:
        while True:
            bits = "".join(map(str, rng.integers(2, size=BIT_RULES[family][0])))
            if not world.heldout(family, bits):
                f = bit_forms(world, family, bits)
                if rng.random() < worked_share:
                    return f["worked_prompt"] + f["worked_answer"]
                return f"{f['prompt']} {f['answer']}"

    return write


# ---- per-document mappings ----
def mapping_key(mapping: dict[str, str]) -> str:
    """The hold-out key of a mapping: its pairs in input order, `ba:kotir|mel:sanu|...`."""
    return "|".join(f"{x}:{y}" for x, y in sorted(mapping.items()))


def draw_mapping(world: World, rng: np.random.Generator) -> dict[str, str]:
    """A document's mapping: MAPPING_INPUTS input words onto MAPPING_LABELS label words, each on as many inputs."""
    if len(world.words) < MAPPING_WORDS:
        raise ConfigError(
            f"config key 'corpus.synthetic.n_words': {len(world.words)} filler words, but the mapping family and "
            f"task draw their inputs and labels from the first {MAPPING_WORDS}; raise it or drop mapping"
        )
    inputs, labels = world.words[_MAPPING_INPUT_WORDS], world.words[_MAPPING_LABEL_WORDS]
    xs = [inputs[i] for i in rng.choice(len(inputs), size=MAPPING_INPUTS, replace=False)]
    ys = [labels[i] for i in rng.choice(len(labels), size=MAPPING_LABELS, replace=False)]
    # Balanced (each label on as many inputs), so guessing the label seen most often is at chance.
    assigned = ys * (MAPPING_INPUTS // MAPPING_LABELS)
    return {x: assigned[i] for x, i in zip(xs, rng.permutation(MAPPING_INPUTS))}


def mapping_line(x: str, y: str) -> str:
    return f"{x} -> {y}"


_MAPPING_LINE = re.compile(r"(\S+) -> (\S+)")


def document_mapping(text: str) -> dict[str, str] | None:
    """The mapping a document states, if every line of it is an `x -> y` line stating one
    label per input (as mapping documents do); None otherwise."""
    mapping: dict[str, str] = {}
    for line in text.split("\n"):
        m = _MAPPING_LINE.fullmatch(line)
        if not m or mapping.setdefault(m[1], m[2]) != m[2]:
            return None
    return mapping or None


def _mapping_writer(world: World, rng: np.random.Generator):
    """The line writer of one mapping document: a fresh mapping that is not held out,
    then each line states it for an input drawn at random."""
    while True:
        mapping = draw_mapping(world, rng)
        if not world.heldout("mapping", mapping_key(mapping)):
            break
    inputs = list(mapping)

    def write(world: World, rng: np.random.Generator) -> str:
        x = inputs[rng.integers(len(inputs))]
        return mapping_line(x, mapping[x])

    return write


# ---- facts and filler ----
def _entity_cycle(world: World, rng: np.random.Generator) -> Iterator[str]:
    # Entities in shuffled passes, so that a corpus of k passes states every fact k times.
    while True:
        yield from (world.entities[i] for i in rng.permutation(len(world.entities)))


def _facts_line(world: World, rng: np.random.Generator, entities: Iterator[str]) -> str:
    """A question about a fact that is not held out, or a biography stating all of an entity's facts."""
    if rng.random() < 0.25:
        while True:
            e, a = world.entities[rng.integers(len(world.entities))], ATTRIBUTES[rng.integers(len(ATTRIBUTES))]
            if not world.heldout("facts", f"{e}|{a}"):
                return TRAIN_QUESTIONS[a].format(e=e) + " " + world.facts[e, a]
    e = next(entities)
    templates = rng.integers(3, size=len(ATTRIBUTES))
    return " ".join(
        TRAIN_STATEMENTS[ATTRIBUTES[a]][templates[a]].format(e=e, v=world.facts[e, ATTRIBUTES[a]])
        for a in rng.permutation(len(ATTRIBUTES))
    )


def filler_sentence(world: World, rng: np.random.Generator) -> str:
    """One filler sentence (also the out-of-distribution input of demonstrations)."""
    return _filler_line(world, rng)


def _filler_line(world: World, rng: np.random.Generator) -> str:
    idx = np.searchsorted(world.word_cdf, rng.random(int(rng.integers(4, 15))), side="right")
    s = " ".join(world.words[min(i, len(world.words) - 1)] for i in idx)
    return s[0].upper() + s[1:] + "."


def _repeats_writer(world: World, rng: np.random.Generator):
    """The line writer of one repeats document: the same span of 6-12 filler words drawn
    uniformly (not by their Zipf frequencies, so no word statistics predict it) every line."""
    line = " ".join(world.words[i] for i in rng.integers(len(world.words), size=int(rng.integers(6, 13))))
    return lambda world, rng: line


# Families whose documents share state between lines: a factory of each document's line writer.
_DOCUMENT_WRITERS = {"mapping": _mapping_writer, "repeats": _repeats_writer}
_LINE_WRITERS = {
    "filler": _filler_line,
    "arithmetic": _arithmetic_line,
    **{family: _label_writer(family) for family in RULES},
    "copying": _copying_line,
    "xor": _bits_writer("xor", worked_share=0.0),
    "parity": _bits_writer("parity", worked_share=0.5),
}


def _mixture(cfg: SyntheticConfig) -> tuple[list[str], np.ndarray]:
    unknown = set(cfg.mixture) - set(FAMILIES)
    if unknown:
        known = ", ".join(FAMILIES)
        raise ConfigError(f"config key 'corpus.synthetic.mixture': unknown families {sorted(unknown)}; known: {known}")
    families = [f for f in FAMILIES if cfg.mixture.get(f, 0) > 0]
    if not families:
        raise ConfigError("config key 'corpus.synthetic.mixture': every weight is zero")
    return families, np.array([cfg.mixture[f] for f in families], dtype=float)


def generate_documents(cfg: SyntheticConfig, seed: int, split: str, n_chars: int) -> Iterator[tuple[str, str]]:
    """Yield (family, document) until at least `n_chars` characters have been yielded.

    Deterministic in (cfg, seed, split); "train" and "val" are independent draws from the
    same distribution, and neither states a held-out item. Each family's share of the
    characters follows the normalised `mixture` weights (zero weight: absent).
    """
    if split not in SPLIT_STREAMS:
        raise ValueError(f"split must be one of {list(SPLIT_STREAMS)}, got {split!r}")
    world = World.build(cfg, seed)
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split]])
    families, weights = _mixture(cfg)
    writers = {**_LINE_WRITERS, "facts": functools.partial(_facts_line, entities=_entity_cycle(world, rng))}
    produced, total = np.zeros(len(families)), 0
    while total < n_chars:
        # The family furthest behind its share goes next, with jitter so the order is random.
        k = int(np.argmin((produced + rng.random(len(families)) * _JITTER_CHARS) / weights))
        family, target = families[k], int(rng.integers(*_DOC_CHARS))
        write = _DOCUMENT_WRITERS[family](world, rng) if family in _DOCUMENT_WRITERS else writers[family]
        lines, size = [], 0
        while size < target:
            lines.append(write(world, rng))
            size += len(lines[-1]) + 1
        text = "\n".join(lines)
        produced[k] += len(text)
        total += len(text)
        yield families[k], text
