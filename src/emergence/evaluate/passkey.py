"""Passkey retrieval (Mohtashami and Jaggi 2023; the YaRN paper's test): a number stated
once, at a random depth, inside repeated filler text of a given length; the model is asked
for it at the end. Only a model that can read the whole prompt, the key's position
included, can answer: past its context a cut prompt has lost the key.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
INTRO = "There is a pass key hidden in this text. Find it and remember it.\n"
QUESTION = "What is the pass key? The pass key is"
DIGITS = 5


@dataclasses.dataclass(frozen=True)
class Passkey:
    length: int  # tokens the prompt was built to (it may come out a few tokens shorter)
    key: str
    depth: float  # where in the filler the key sits (0: start, 1: end)
    prompt: list[int]
    answer: list[int]  # the tokens of " <key>"


def passkey_prompts(tokenizer, length: int, n: int, seed: int) -> list[Passkey]:
    """`n` prompts of `length` tokens (or of the fixed text's, if longer), keys and depths
    drawn from `seed` and `length`, so every model and method sees the same prompts. The
    filler is cut at a token to fill the length exactly."""
    rng = np.random.default_rng([seed, length, 11])

    def enc(text: str) -> list[int]:
        return tokenizer.encode(text).ids

    intro, question = enc(INTRO), enc(QUESTION)
    unit = len(enc(FILLER))
    filler = enc(FILLER * (length // max(unit, 1) + 2))
    out = []
    for _ in range(n):
        key = str(rng.integers(10 ** (DIGITS - 1), 10**DIGITS))
        depth = float(rng.uniform())
        stated = enc(f"The pass key is {key}. Remember it. {key} is the pass key.\n")
        room = max(0, length - len(intro) - len(stated) - len(question))
        before = int(round(room * depth))
        prompt = intro + filler[:before] + stated + filler[: room - before] + question
        out.append(Passkey(length, key, depth, prompt, enc(" " + key)))
    return out


def score_passkeys(inf, params, items: list[Passkey]) -> dict[str, list[float]]:
    """Per prompt: `exact_match` (greedy decoding produces the key: each of its tokens is the
    most likely next token given the prompt and the key's tokens before it, one forward pass
    instead of a decoding loop) and `answer_logprob_per_token` (mean log-probability of the
    key's tokens)."""
    scores = inf.continuation_scores(params, [(p.prompt, p.answer) for p in items])
    return {
        "exact_match": [float(top.all()) for _, top in scores],
        "answer_logprob_per_token": [float(logp.mean()) for logp, _ in scores],
    }
