"""Deterministic synthetic corpus: five text families with a guaranteed held-out item space.

Families (the keys of `SyntheticConfig.mixture`), one line each:
- filler:         `Ba tolen ri mas kovu.`  (pseudo-words with Zipfian frequencies)
- facts:          `Velor lives in Mirad. Velor owns a cat. Velor works as a baker. ...` (all
                  four facts of an entity; entities come in shuffled passes) and
                  `Q: In which city does Velor live? A: Mirad`
- arithmetic:     `478+65=543`, `Q: 478+65=? A: 8+5+0=13, 7+6+1=14, 4+0+1=5. #### 543`,
                  `12+7+30=49`, `Q: 12+7+30=? A: 12+7=19, 19+30=49. #### 49`
- classification: `review: the soup was not tasty -> negative`
- copying:        `copy: velo rani tusk => velo rani tusk`, `copy: xkqzt => xkqzt`

A document is a run of lines of one family, about 300-1500 characters long.

Hold-out. `is_heldout` hashes (family, key) with blake2b, so the reserved share of each
family's item space is fixed by the key alone, never by sampling luck. The train and val
generators reject (resample) any line that states a held-out item:
- arithmetic: the key is the sum's operands, e.g. `12+7+30`; a line states every sum
  written in it (a 3-operand worked solution also states `12+7` and `19+30`). Sums of
  single digits are the addition table that every worked column uses, so they are never
  held out unless `max_digits` is 1 (then they are the whole space).
- classification: the key is (subject, negation, adjective).
- copying: the key is the copied sequence.
- facts: the key is (entity, attribute). Every fact is stated in training by the
  declarative templates (a model cannot know a fact it never read), but a held-out fact
  is never asked in question form; and the evaluation question templates
  (`EVAL_QUESTIONS`) are a set disjoint from every training template.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Iterator

import numpy as np

from emergence.config import SyntheticConfig
from emergence.errors import ConfigError

FAMILIES = ("filler", "facts", "arithmetic", "classification", "copying")
SPLIT_STREAMS = {"train": 1, "val": 2}

ATTRIBUTE_VALUES = {  # "city" values are pseudo-words drawn per world
    "colour": ["red", "blue", "green", "yellow", "purple", "orange", "white", "black", "grey", "pink"],
    "profession": ["baker", "pilot", "farmer", "doctor", "teacher", "painter", "sailor", "builder", "singer", "tailor"],
    "pet": ["cat", "dog", "parrot", "rabbit", "horse", "goat", "turtle", "hamster"],
}
ATTRIBUTES = ("city", "colour", "profession", "pet")
N_CITIES = 16
TRAIN_STATEMENTS = {
    "city": ["{e} lives in {v}.", "The city of {e} is {v}.", "{e} has a house in {v}."],
    "colour": ["{e} likes the colour {v}.", "The favourite colour of {e} is {v}.", "{e} always wears {v}."],
    "profession": ["{e} works as a {v}.", "The job of {e} is {v}.", "{e} earns a living as a {v}."],
    "pet": ["{e} owns a {v}.", "The pet of {e} is a {v}.", "{e} takes care of a {v}."],
}
TRAIN_QUESTIONS = {
    "city": "Q: In which city does {e} live? A:",
    "colour": "Q: Which colour does {e} like? A:",
    "profession": "Q: What does {e} do for a living? A:",
    "pet": "Q: What pet does {e} have? A:",
}
EVAL_QUESTIONS = {
    "city": ["Q: Where does {e} live? A:", "Q: What is the home town of {e}? A:"],
    "colour": ["Q: What is the favourite colour of {e}? A:", "Q: Which colour is {e} fond of? A:"],
    "profession": ["Q: What is the job of {e}? A:", "Q: What is the profession of {e}? A:"],
    "pet": ["Q: Which animal does {e} keep? A:", "Q: What animal lives with {e}? A:"],
}
SUBJECTS = ["the " + w for w in "soup film hotel book service coffee concert game room bread show staff song trip "
             "cake phone garden lesson car view".split()]  # fmt: skip
POSITIVE = "tasty great lovely excellent pleasant wonderful charming superb delightful good fun friendly".split()
NEGATIVE = "awful bad boring terrible dull horrible rude bland poor dreadful messy noisy".split()
LETTERS = "abcdefghijklmnopqrstuvwxyz"

# Pseudo-words: syllables of onset + vowel, with an optional final coda.
_ONSETS = "b d f g h k l m n p r s t v z br dr gr kr pl st tr".split()
_VOWELS = list("aeiou")
_CODAS = ["", "", "", "n", "r", "l", "s"]
# Real words the templates use; a pseudo-word equal to one would blur the families.
_TEMPLATE_TEXT = [ATTRIBUTE_VALUES, TRAIN_STATEMENTS, TRAIN_QUESTIONS, EVAL_QUESTIONS, SUBJECTS, POSITIVE, NEGATIVE]
_RESERVED = set(re.findall(r"[a-z]+", repr(_TEMPLATE_TEXT).lower()) + "copy review not was".split())
_DOC_CHARS = (300, 1500)
# Randomised fair queueing of families: a larger jitter gives a less regular order,
# at the price of character shares that converge more slowly.
_JITTER_CHARS = 4000


def is_heldout(family: str, key: str, fraction: float) -> bool:
    """True for a stable `fraction` of keys: blake2b of family and key, independent of any seed."""
    digest = hashlib.blake2b(f"{family}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2.0**64


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct pronounceable lowercase pseudo-words, none of them a template word."""
    out: dict[str, None] = {}
    while len(out) < n:
        m = 2 * (n - len(out)) + 64
        n_syll = rng.choice([1, 2, 3], size=m, p=[0.2, 0.5, 0.3])
        onset = rng.integers(len(_ONSETS), size=(m, 3))
        vowel = rng.integers(len(_VOWELS), size=(m, 3))
        coda = rng.integers(len(_CODAS), size=m)
        for i in range(m):
            w = "".join(_ONSETS[onset[i, j]] + _VOWELS[vowel[i, j]] for j in range(n_syll[i])) + _CODAS[coda[i]]
            if w not in _RESERVED:
                out.setdefault(w)
    return list(out)[:n]


@dataclasses.dataclass(frozen=True, eq=False)
class World:
    """Everything the generators draw from; a pure function of (cfg, seed)."""

    cfg: SyntheticConfig
    words: list[str]  # filler vocabulary in rank order (shorter words are more frequent)
    word_cdf: np.ndarray  # cumulative Zipf probabilities of `words`
    entities: list[str]
    values: dict[str, list[str]]  # attribute -> its closed set of values
    facts: dict[tuple[str, str], str]  # (entity, attribute) -> value
    polarity: dict[str, bool]  # adjective -> True if positive

    @classmethod
    def build(cls, cfg: SyntheticConfig, seed: int) -> World:
        rng = np.random.default_rng([seed, 0])
        pool = _pseudo_words(rng, cfg.n_words + cfg.n_entities + N_CITIES)
        words = sorted(pool[: cfg.n_words], key=len)
        entities = [w.capitalize() for w in pool[cfg.n_words : cfg.n_words + cfg.n_entities]]
        values = {"city": [w.capitalize() for w in pool[cfg.n_words + cfg.n_entities :]], **ATTRIBUTE_VALUES}
        facts = {(e, a): values[a][rng.integers(len(values[a]))] for e in entities for a in ATTRIBUTES}
        weights = 1.0 / np.arange(1, cfg.n_words + 1) ** cfg.zipf_exponent
        cdf = np.cumsum(weights) / weights.sum()
        polarity = {**{a: True for a in POSITIVE}, **{a: False for a in NEGATIVE}}
        return cls(cfg, words, cdf, entities, values, facts, polarity)

    # ---- item keys and hold-out ----
    def arithmetic_heldout(self, operands: tuple[int, ...]) -> bool:
        """Whether a sum is a held-out item; sums outside the operand space never are."""
        md = self.cfg.max_digits
        if any(len(str(x)) > md for x in operands) or (md > 1 and all(x < 10 for x in operands)):
            return False
        return is_heldout("arithmetic", "+".join(map(str, operands)), self.cfg.holdout_fraction)

    def heldout(self, family: str, key: str) -> bool:
        return is_heldout(family, key, self.cfg.holdout_fraction)


# ---- arithmetic ----
def _operands(world: World, rng: np.random.Generator, k: int) -> tuple[int, ...]:
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
        "key": expr, "prompt": f"{expr}=", "answer": str(total),
        "worked_prompt": f"Q: {expr}=? A:", "worked_answer": f" {steps}. #### {total}",
        "stated": [operands, *stated],
    }  # fmt: skip


def _arithmetic_line(world: World, rng: np.random.Generator) -> str:
    while True:
        k, worked = 2 + int(rng.integers(2)), bool(rng.integers(2))
        ops = _operands(world, rng, k)
        f = arithmetic_forms(ops)
        stated = f["stated"] if worked else [ops]
        if not any(world.arithmetic_heldout(s) for s in stated):
            return f["worked_prompt"] + f["worked_answer"] if worked else f["prompt"] + f["answer"]


# ---- classification ----
def classification_item(subject: str, negated: bool, adjective: str, world: World) -> dict:
    label = "positive" if world.polarity[adjective] != negated else "negative"
    prompt = f"review: {subject} was {'not ' if negated else ''}{adjective} ->"
    return {"key": f"{subject}|{int(negated)}|{adjective}", "subject": subject, "negated": negated,
            "adjective": adjective, "prompt": prompt, "answer": f" {label}", "label": label,
            "choices": [" positive", " negative"]}  # fmt: skip


def _classification_line(world: World, rng: np.random.Generator) -> str:
    adjectives = POSITIVE + NEGATIVE
    while True:
        s, n, a = rng.integers(len(SUBJECTS)), rng.integers(2), rng.integers(len(adjectives))
        item = classification_item(SUBJECTS[s], bool(n), adjectives[a], world)
        if not world.heldout("classification", item["key"]):
            return item["prompt"] + item["answer"]


# ---- copying ----
def _copy_item(world: World, rng: np.random.Generator, kind: str) -> dict:
    if kind == "words":
        seq = [world.words[i] for i in rng.integers(len(world.words), size=int(rng.integers(3, 9)))]
        text = " ".join(seq)
    else:
        seq = [LETTERS[i] for i in rng.integers(26, size=int(rng.integers(4, 13)))]
        text = "".join(seq)
    return {"key": f"{kind}:{text}", "kind": kind, "sequence": seq, "prompt": f"copy: {text} =>", "answer": f" {text}"}


def _copying_line(world: World, rng: np.random.Generator) -> str:
    while True:
        item = _copy_item(world, rng, "words" if rng.integers(2) else "letters")
        if not world.heldout("copying", item["key"]):
            return item["prompt"] + item["answer"]


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


_LINE_WRITERS = {
    "filler": _filler_line,
    "arithmetic": _arithmetic_line,
    "classification": _classification_line,
    "copying": _copying_line,
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
        write, target = writers[families[k]], int(rng.integers(*_DOC_CHARS))
        lines, size = [], 0
        while size < target:
            lines.append(write(world, rng))
            size += len(lines[-1]) + 1
        text = "\n".join(lines)
        produced[k] += len(text)
        total += len(text)
        yield families[k], text


def _fact_item(world: World, rng: np.random.Generator, entity: str, attribute: str) -> dict:
    value = world.facts[entity, attribute]
    templates = EVAL_QUESTIONS[attribute]
    others = [v for v in world.values[attribute] if v != value]
    choices = [value, *(others[i] for i in rng.choice(len(others), size=3, replace=False))]
    return {"key": f"{entity}|{attribute}", "entity": entity, "attribute": attribute, "value": value,
            "prompt": templates[rng.integers(len(templates))].format(e=entity), "answer": f" {value}",
            "choices": [f" {choices[i]}" for i in rng.permutation(4)]}  # fmt: skip


def heldout_items(cfg: SyntheticConfig, seed: int, family: str, n: int, rng_seed: int = 0) -> list[dict]:
    """`n` distinct held-out evaluation items of `family`, deterministic in (cfg, seed, rng_seed).

    Every item has "family", "key" (its hold-out key), "prompt" and "answer", where
    prompt + answer is exactly the line the training text would have held. Beyond those:
    - arithmetic: "operands" (list of 2 or 3 ints; items alternate 2 and 3), "result"
      (int), "worked_prompt" `Q: 12+7+30=? A:` and "worked_answer"
      ` 12+7=19, 19+30=49. #### 49`; prompt `12+7+30=`, answer `49` (no space).
    - facts: "entity", "attribute", "value", "choices" (4 strings with a leading space,
      one of them == answer); prompt is an `EVAL_QUESTIONS` template, `Q: Where does
      Velor live? A:`, answer ` Mirad`.
    - classification: "subject", "negated" (bool), "adjective", "label" ("positive" or
      "negative"), "choices" [" positive", " negative"]; prompt
      `review: the soup was not tasty ->`, answer ` negative`.
    - copying: "kind" ("words" or "letters", alternating), "sequence" (list of str);
      prompt `copy: velo rani tusk =>`, answer ` velo rani tusk`.
    Raises ConfigError when the held-out space has fewer than `n` items.
    """
    world = World.build(cfg, seed)
    rng = np.random.default_rng([seed, 3, rng_seed])
    items: dict[str, dict] = {}
    if family in ("facts", "classification"):
        if family == "facts":
            space = [(e, a) for e in world.entities for a in ATTRIBUTES if world.heldout("facts", f"{e}|{a}")]
        else:
            space = [(s, ng, a) for s in SUBJECTS for ng in (False, True) for a in POSITIVE + NEGATIVE
                     if world.heldout("classification", f"{s}|{int(ng)}|{a}")]  # fmt: skip
        if len(space) < n:
            raise ConfigError(
                f"config key 'corpus.synthetic': {len(space)} held-out {family} items exist, {n} requested"
            )
        for i in rng.permutation(len(space))[:n]:
            item = _fact_item(world, rng, *space[i]) if family == "facts" else classification_item(*space[i], world)
            items[item["key"]] = item
    elif family in ("arithmetic", "copying"):
        for _ in range(1000 * n + 10_000):
            if len(items) == n:
                break
            if family == "arithmetic":
                ops = _operands(world, rng, 2 + len(items) % 2)
                if world.arithmetic_heldout(ops):
                    f = arithmetic_forms(ops)
                    item = {k: f[k] for k in ("key", "prompt", "answer", "worked_prompt", "worked_answer")}
                    items.setdefault(f["key"], {**item, "operands": list(ops), "result": sum(ops)})
            else:
                item = _copy_item(world, rng, ("words", "letters")[len(items) % 2])
                if world.heldout("copying", item["key"]):
                    items.setdefault(item["key"], item)
        if len(items) < n:
            raise ConfigError(
                f"config key 'corpus.synthetic': found {len(items)} held-out {family} items, {n} requested"
            )
    else:
        raise ValueError(f"no held-out items for family {family!r}; use arithmetic, facts, classification or copying")
    return [{"family": family, **item} for item in items.values()]
