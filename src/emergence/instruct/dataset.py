"""The instruction dataset of a study: tuning examples of the tuning families, and one
evaluation task per held-out family, checked against the corpus and the tuning data.

Data file contract (`results/instruct/data.json`):
- `tune_families`, `heldout_families`: the configured split (disjoint);
- `tune`: the tuning examples in order, each [family, prompt, response];
- `tasks`: one task file's content (`evaluate.items.Task`, kind `instruction`) per held-out
  family, named `instruct_<family>`: zero-shot requests whose text is the instruction
  prompt and whose answer is the response without its leading space;
- `contamination`: evaluated items that the training corpus states (in any line its generator
  writes for them) and evaluated items whose key a tuning example of the same key space uses
  (both 0, or the build fails).
Everything is a pure function of the study seed and the `instruct` settings.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

import numpy as np

from emergence.config import StudyConfig
from emergence.data.corpus import iter_texts
from emergence.data.tokenizer import load_tokenizer
from emergence.data.world import World
from emergence.errors import ConfigError, InputError
from emergence.evaluate.items import Request, Task
from emergence.evaluate.metrics import GENERATION, chance_levels
from emergence.instruct.families import FAMILIES, PROMPT, Example, draw_examples
from emergence.io import read_json, write_json

PROMPT_STYLE, STOPS = "instruct", ("\n",)


def task_name(family: str) -> str:
    return f"instruct_{family}"


def _family_rng(seed: int, stream: int, family: str) -> np.random.Generator:
    # Keyed by the family's name, so adding a family leaves the others' draws unchanged.
    return np.random.default_rng([seed, stream, zlib.crc32(family.encode())])


def tuning_examples(cfg: StudyConfig) -> list[Example]:
    """`instruct.tune_examples` examples of the tuning families, as many of each (the
    remainder to the first ones), in a shuffled order."""
    ic, world = cfg.instruct, World.build(cfg.corpus.synthetic, cfg.seed)
    n, k = divmod(ic.tune_examples, len(ic.tune_families))
    examples = []
    for i, family in enumerate(ic.tune_families):
        try:
            examples += draw_examples(world, family, "tune", n + (i < k), _family_rng(cfg.seed, 19, family))
        except ValueError as e:
            raise ConfigError(
                f"config key 'corpus.synthetic.holdout_fraction': {e} (too little left to tune on)"
            ) from None
    order = np.random.default_rng([cfg.seed, 20]).permutation(len(examples))
    return [examples[i] for i in order]


def heldout_task(cfg: StudyConfig, family: str) -> Task:
    """The zero-shot evaluation task of held-out `family`: `instruct.n_items` distinct items
    of its eval split."""
    ic, world = cfg.instruct, World.build(cfg.corpus.synthetic, cfg.seed)
    try:
        items = draw_examples(world, family, "eval", ic.n_items, _family_rng(cfg.seed, 23, family), distinct=True)
    except ValueError as e:
        raise ConfigError(f"config key 'instruct.n_items': {e}") from None
    requests = tuple(
        Request(
            PROMPT_STYLE, 0, "none", ex.key, ex.prompt, ex.response, ex.answer, max_new=ic.max_new_tokens, stops=STOPS
        )
        for ex in items
    )
    spec = {"family": family, "n_items": ic.n_items, "max_new_tokens": ic.max_new_tokens, "seed": cfg.seed}
    return Task(
        task_name(family),
        "instruction",
        GENERATION,
        spec,
        requests,
        chance_levels(GENERATION, 0),
        items=tuple(dataclasses.asdict(ex) for ex in items),
        n_items=len(items),
    )


def _stated(form: str, corpus: str) -> bool:
    """`form` occurs in the corpus, not as part of a longer number or sum ("3+37=" is not in "13+37=")."""
    return re.search(rf"(?<![\d+]){re.escape(form)}(?!\d)", corpus) is not None


def contamination(world: World, tasks: list[Task], tune: list[Example], corpus: str) -> dict[str, int]:
    """Evaluated items that the corpus states (in any line its generator writes for them, e.g.
    `12+7=19` or the training question of a fact), and evaluated items whose key a tuning
    example of the same key space uses (whatever the family)."""
    tuned = {(FAMILIES[ex.family].space, ex.key) for ex in tune}
    found = {"corpus": 0, "tuning": 0}
    for task in tasks:
        family = FAMILIES[task.spec["family"]]
        for item in task.items:
            ex = Example(**item)
            found["corpus"] += any(_stated(form, corpus) for form in family.corpus_forms(world, ex))
            found["tuning"] += (family.space, ex.key) in tuned
    return found


def _check_lengths(tasks: list[Task], tokenizer, cap: int) -> None:
    """ConfigError when an evaluated answer needs more tokens than generation may write."""
    longest = max((len(tokenizer.encode(r.target).ids), t.task) for t in tasks for r in t.requests)
    if longest[0] > cap:
        raise ConfigError(
            f"config key 'instruct.max_new_tokens': {cap} tokens, but an answer of {longest[1]} "
            f"needs {longest[0]}; raise it"
        )


def build_dataset(cfg: StudyConfig, corpus_dir: Path, tokenizer_path: Path, out: Path) -> dict:
    """Write the data file (see the module's contract); InputError if an evaluated item
    occurs in the corpus or the tuning data, ConfigError if an answer is longer than
    `instruct.max_new_tokens` tokens. Returns its counts."""
    ic = cfg.instruct
    tune = tuning_examples(cfg)
    tasks = [heldout_task(cfg, f) for f in ic.heldout_families]
    _check_lengths(tasks, load_tokenizer(tokenizer_path), ic.max_new_tokens)
    corpus = "\n\n".join(iter_texts(Path(corpus_dir) / "train.jsonl"))
    found = contamination(World.build(cfg.corpus.synthetic, cfg.seed), tasks, tune, corpus)
    marker = PROMPT.split("{")[0]
    if marker in corpus:
        raise InputError(
            f"{corpus_dir}/train.jsonl contains {marker!r}: the instruction format must be new to the model"
        )
    if any(found.values()):
        raise InputError(f"instruction dataset: evaluated items stated in the corpus or tuned on: {found} (must be 0)")
    write_json(
        out,
        {
            "tune_families": list(ic.tune_families),
            "heldout_families": list(ic.heldout_families),
            "tune": [[ex.family, ex.prompt, ex.response] for ex in tune],
            "tasks": [t.to_dict() for t in tasks],
            "contamination": found,
        },
    )
    return {"tune": len(tune), "tasks": {t.task: t.n_items for t in tasks}, "contamination": found}


def read_dataset(path: Path) -> tuple[list[tuple[str, str, str]], list[Task]]:
    """(tuning examples as (family, prompt, response), held-out tasks) of a data file."""
    data = read_json(path, "instruction dataset")
    try:
        tune = [tuple(t) for t in data["tune"]]
        if not tune or any(len(t) != 3 or not all(isinstance(x, str) for x in t) for t in tune):
            raise ValueError("'tune' must be a non-empty list of [family, prompt, response]")
        return tune, [Task.from_dict(t) for t in data["tasks"]]
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(
            f"{path} is not an instruction dataset written by `emergence instruction-data` ({e})"
        ) from None
