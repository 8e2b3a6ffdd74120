"""Held-out evaluation items of the synthetic corpus: items the generator never writes
into training or validation text (see `world.is_heldout`), for the task registry."""

from __future__ import annotations

import numpy as np

from emergence.config import SyntheticConfig
from emergence.data.synthetic import (
    arithmetic_forms,
    bit_forms,
    copy_item,
    draw_mapping,
    draw_operands,
    label_item,
    label_key,
    mapping_key,
    mapping_line,
)
from emergence.data.world import ATTRIBUTES, BIT_RULES, EVAL_QUESTIONS, RULES, World
from emergence.errors import ConfigError


def _fact_item(world: World, rng: np.random.Generator, entity: str, attribute: str) -> dict:
    value = world.facts[entity, attribute]
    templates = EVAL_QUESTIONS[attribute]
    others = [v for v in world.values[attribute] if v != value]
    choices = [value, *(others[i] for i in rng.choice(len(others), size=3, replace=False))]
    return {
        "key": f"{entity}|{attribute}",
        "entity": entity,
        "attribute": attribute,
        "value": value,
        "prompt": templates[rng.integers(len(templates))].format(e=entity),
        "answer": f" {value}",
        "choices": [f" {choices[i]}" for i in rng.permutation(4)],
    }


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
    - classification, weather, road: "subject", "negated" (bool), "adjective", "label" (one
      of the rule's two labels), "choices" (both, with a leading space, in `RULES` order);
      classification: prompt `review: the soup was not tasty ->`, answer ` negative`,
      choices [" positive", " negative"]; weather: `weather: the sky over Velor was not
      sunny ->`, ` wet`, [" dry", " wet"]; road: `road: the road into Velor was not icy ->`,
      ` open`, [" open", " closed"].
    - copying: "kind" ("words" or "letters", alternating), "sequence" (list of str);
      prompt `copy: velo rani tusk =>`, answer ` velo rani tusk`.
    - mapping: "mapping" (input word -> label word, a held-out mapping; each item its own),
      "input", "label", "choices" (the mapping's labels with a leading space, sorted);
      prompt `ba ->`, answer ` kotir`. Demonstrations are lines of the item's own mapping.
    - xor, parity: "worked_prompt" `Q: parity: 1 0 1 1 0 0 1 0 1 1 ? A:` and "worked_answer"
      ` 1 1 0 ; 1+1+0=2 #### 0`; prompt `parity: 1 0 1 1 0 0 1 0 1 1 ->`, answer `0` (no space).
    Raises ConfigError when the held-out space has fewer than `n` items.
    """
    world = World.build(cfg, seed)
    rng = np.random.default_rng([seed, 3, rng_seed])
    items: dict[str, dict] = {}
    if family in ("facts", "xor", "parity", *RULES):
        if family in ("xor", "parity"):
            n_bits = BIT_RULES[family][0]
            strings = (format(i, f"0{n_bits}b") for i in range(2**n_bits))
            space = [(bits,) for bits in strings if world.heldout(family, bits)]
        elif family == "facts":
            space = [(e, a) for e in world.entities for a in ATTRIBUTES if world.heldout("facts", f"{e}|{a}")]
        else:
            rule = RULES[family]
            space = [
                (s, ng, a)
                for s in rule.subjects_of(world.entities)
                for ng in (False, True)
                for a in rule.adjectives
                if world.heldout(family, label_key(s, ng, a))
            ]
        if len(space) < n:
            raise ConfigError(
                f"config key 'corpus.synthetic': {len(space)} held-out {family} items exist, {n} requested"
            )
        for i in rng.permutation(len(space))[:n]:
            if family in ("xor", "parity"):
                item = bit_forms(world, family, *space[i])
            elif family == "facts":
                item = _fact_item(world, rng, *space[i])
            else:
                item = label_item(family, *space[i])
            items[item["key"]] = item
    elif family == "mapping":
        for _ in range(1000 * n + 10_000):
            if len(items) == n:
                break
            mapping = draw_mapping(world, rng)
            if world.heldout("mapping", mapping_key(mapping)):
                x = list(mapping)[rng.integers(len(mapping))]
                items.setdefault(
                    mapping_key(mapping),
                    {
                        "key": mapping_key(mapping),
                        "mapping": mapping,
                        "input": x,
                        "label": mapping[x],
                        "choices": [f" {y}" for y in sorted(set(mapping.values()))],
                        "prompt": mapping_line(x, "").rstrip(),
                        "answer": f" {mapping[x]}",
                    },
                )
        if len(items) < n:
            raise ConfigError(f"config key 'corpus.synthetic': found {len(items)} held-out mappings, {n} requested")
    elif family in ("arithmetic", "copying"):
        for _ in range(1000 * n + 10_000):
            if len(items) == n:
                break
            if family == "arithmetic":
                ops = draw_operands(world, rng, 2 + len(items) % 2)
                if world.arithmetic_heldout(ops):
                    f = arithmetic_forms(ops)
                    item = {k: f[k] for k in ("key", "prompt", "answer", "worked_prompt", "worked_answer")}
                    items.setdefault(f["key"], {**item, "operands": list(ops), "result": sum(ops)})
            else:
                item = copy_item(world, rng, ("words", "letters")[len(items) % 2])
                if world.heldout("copying", item["key"]):
                    items.setdefault(item["key"], item)
        if len(items) < n:
            raise ConfigError(
                f"config key 'corpus.synthetic': found {len(items)} held-out {family} items, {n} requested"
            )
    else:
        known = "arithmetic, facts, classification, weather, road, xor, parity, copying or mapping"
        raise ValueError(f"no held-out items for family {family!r}; use {known}")
    return [{"family": family, **item} for item in items.values()]
