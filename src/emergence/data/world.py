"""The synthetic world the corpus and the tasks are drawn from: a pseudo-word vocabulary with
Zipfian frequencies, entities and their facts, the templates' words, the label rules of the
two-label families (`RULES`), and the hold-out rule (`is_heldout`: a stable share of each
family's item space, by hash). A pure function of (config, seed); the text families that
write about it are in `synthetic`."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np

from emergence.config import SyntheticConfig

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
SUBJECTS = [
    "the " + w
    for w in "soup film hotel book service coffee concert game room bread show staff song trip "
    "cake phone garden lesson car view".split()
]
POSITIVE = "tasty great lovely excellent pleasant wonderful charming superb delightful good fun friendly".split()
NEGATIVE = "awful bad boring terrible dull horrible rude bland poor dreadful messy noisy".split()


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """A two-label family: lines `{head}: {subject} was [not ]{adjective} -> {label}`, the label
    being the adjective's class (`first` or `second`), flipped by "not"."""

    head: str
    # Fixed subjects, or templates with "{e}" that stand for one subject per entity of the world.
    subjects: tuple[str, ...]
    first: tuple[str, ...]  # adjectives whose label is labels[0]
    second: tuple[str, ...]  # adjectives whose label is labels[1]
    labels: tuple[str, str]

    @property
    def adjectives(self) -> tuple[str, ...]:
        return self.first + self.second

    def subjects_of(self, entities: list[str]) -> list[str]:
        """The subjects in a world with these entities, templates expanded in entity order."""
        out: list[str] = []
        for s in self.subjects:
            out += [s.format(e=e) for e in entities] if "{e}" in s else [s]
        return out

    def label(self, adjective: str, negated: bool) -> str:
        if adjective not in self.adjectives:
            raise KeyError(f"{adjective!r} is not an adjective of the {self.head!r} rule")
        return self.labels[(adjective in self.first) == negated]


# family -> its rule. Fewer adjectives give fewer cases to learn: an experiment on whether
# the number of adjectives moves the loss at which the ability appears.
RULES = {
    "classification": LabelRule("review", tuple(SUBJECTS), tuple(POSITIVE), tuple(NEGATIVE), ("positive", "negative")),
    "weather": LabelRule("weather", ("the sky over {e}",), ("sunny", "clear"), ("rainy", "stormy"), ("dry", "wet")),
    "road": LabelRule(
        "road",
        ("the road into {e}",),
        ("clear", "dry", "quiet", "empty"),
        ("icy", "flooded", "blocked", "jammed"),
        ("open", "closed"),
    ),
}

# Bit-string rules (the `xor` and `parity` families): the answer is the parity of the bits at
# a few positions of a bit string, positions drawn per world (never stated).
# family -> (bits in the string, positions the answer reads)
BIT_RULES = {"xor": (8, 2), "parity": (10, 3)}
# Semantically unrelated labels (Wei et al. 2023) that no generated word may equal.
UNRELATED_LABELS = ("foo", "bar")

# Pseudo-words: syllables of onset + vowel, with an optional final coda.
_ONSETS = "b d f g h k l m n p r s t v z br dr gr kr pl st tr".split()
_VOWELS = list("aeiou")
_CODAS = ["", "", "", "n", "r", "l", "s"]
# Real words the templates use; a pseudo-word equal to one would blur the families.
_TEMPLATE_TEXT = [
    ATTRIBUTE_VALUES,
    TRAIN_STATEMENTS,
    TRAIN_QUESTIONS,
    EVAL_QUESTIONS,
    [dataclasses.astuple(rule) for rule in RULES.values()],
]
_RESERVED = set(
    re.findall(r"[a-z]+", repr(_TEMPLATE_TEXT).lower())
    + "copy review not was xor parity".split()
    + list(UNRELATED_LABELS)
)


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
    positions: dict[str, tuple[int, ...]]  # bit-string family -> the positions its answer reads

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
        positions = {
            f: tuple(sorted(int(i) for i in rng.choice(n, k, replace=False))) for f, (n, k) in BIT_RULES.items()
        }
        return cls(cfg, words, cdf, entities, values, facts, positions)

    # ---- item keys and hold-out ----
    def arithmetic_heldout(self, operands: tuple[int, ...]) -> bool:
        """Whether a sum is a held-out item; sums outside the operand space never are."""
        md = self.cfg.max_digits
        if any(len(str(x)) > md for x in operands) or (md > 1 and all(x < 10 for x in operands)):
            return False
        return is_heldout("arithmetic", "+".join(map(str, operands)), self.cfg.holdout_fraction)

    def heldout(self, family: str, key: str) -> bool:
        return is_heldout(family, key, self.cfg.holdout_fraction)
