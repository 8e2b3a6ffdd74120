"""The task registry: turns a configured task into concrete evaluation requests.

A request is one item in one setting (prompt style x number of demonstrations x label
setting) with its full prompt text. Demonstrations and label draws are fixed by the
task's seed and the item, so every checkpoint of every model sees the same requests.
The task file (`results/tasks/{task}.json`) holds the requests, chance levels, and how
many items were found verbatim in the training corpus (0 for generated tasks, enforced).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emergence.config import StudyConfig, TaskSpec
from emergence.data.corpus import iter_texts
from emergence.data.synthetic import document_mapping, filler_sentence, mapping_key, mapping_line
from emergence.data.tokenizer import load_tokenizer
from emergence.data.world import World
from emergence.errors import InputError
from emergence.evaluate.items import Item, Request, Task
from emergence.evaluate.kinds import KINDS, Kind
from emergence.evaluate.metrics import HEADS, ICL, LM_EVAL, chance_levels
from emergence.io import write_json


def _pair_demos(item: Item, shots: int, rng: np.random.Generator) -> list[Item]:
    """`shots` lines of the item's own mapping, inputs drawn at random as in a training
    document (so the query's input is among them with probability 1 - (3/4)^shots)."""
    pairs = item.meta["pairs"]
    return [
        Item(
            x,
            mapping_line(x, "").rstrip(),
            y,
            choices=item.choices,
            label=item.choices.index(f" {y}"),
            meta={"text": x},
        )
        for x, y in (pairs[j] for j in rng.integers(len(pairs), size=shots))
    ]


# Demonstration settings that replace the answer choices: (label setting) -> choices by gold
# index. Semantically unrelated labels (Wei et al. 2023) are words the corpus uses often,
# never as a label, so their embeddings are trained: "cat" for the first class, "dog" the second.
CHOICES_OF = {"unrelated": (" cat", " dog")}


def demonstrated_label(labels: str, label: int, n_choices: int) -> int:
    """The choice a demonstration shows for an input whose gold choice is `label`: the other
    (next) one under flipped labels, the gold index otherwise (unrelated labels show the
    gold index of their own choices)."""
    return (label + 1) % n_choices if labels == "flipped" else label


def question(item: Item, prompt: str) -> str:
    return item.meta.get("cot_question", item.question) if prompt == "cot" else item.question


def target(item: Item, prompt: str) -> str:
    """The reference continuation: the correct choice, the answer, or (cot) the worked solution and answer."""
    if prompt == "cot":
        return item.meta["cot_target"]
    if item.choices:
        return item.choices[item.label]
    return item.meta.get("target", " " + item.answer)


def render_demo(item: Item, prompt: str, labels: str, rng: np.random.Generator, world: World | None) -> str:
    """One demonstration line under a label setting (Min et al. 2022; Wei et al. 2023):
    gold, random or flipped labels; unrelated labels (`CHOICES_OF` in place of the choices);
    out-of-distribution inputs (filler sentences) with random labels; labels only; inputs
    only; or the pair without its format (no separator)."""
    if labels == "gold":
        return question(item, prompt) + target(item, prompt)
    n = len(item.choices)
    if labels == "random":
        return item.question + item.choices[rng.integers(n)]
    if labels == "flipped":
        return item.question + item.choices[demonstrated_label(labels, item.label, n)]
    if labels == "unrelated":
        return item.question + CHOICES_OF["unrelated"][item.label]
    if labels == "ood":
        return f"review: {filler_sentence(world, rng).rstrip('.').lower()} ->" + item.choices[rng.integers(n)]
    if labels == "labels_only":
        return item.choices[item.label].strip()
    if labels == "inputs_only":
        return item.question
    if labels == "no_format":
        return item.meta["text"] + item.choices[item.label]
    raise ValueError(labels)


def zero_shot_labels(labels: tuple[str, ...]) -> list[str]:
    """The label settings evaluated without demonstrations: one with the task's own choices
    (every such setting is then the same prompt; gold where configured), and each setting
    with answer choices of its own (unrelated labels)."""
    own = [lab for lab in labels if lab not in CHOICES_OF]
    first = ["gold"] if "gold" in own else own[:1]
    return first + [lab for lab in labels if lab in CHOICES_OF]


def stops(kind: Kind, prompt: str) -> tuple[str, ...]:
    return ("\n\n", "\nQuestion:") if (prompt == "cot" and not kind.synthetic) else ("\n",)


def request_length(r: Request, n_tokens: Callable[[str], int]) -> int:
    """Tokens a request needs in the context: its prompt, and its longest choice or its room
    for new tokens."""
    return n_tokens(r.text) + (max(map(n_tokens, r.choices)) if r.choices else r.max_new)


def build_requests(
    spec: TaskSpec, cfg: StudyConfig, n_tokens: Callable[[str], int], context: int, truncate: bool = False
) -> dict:
    """All requests of a task, and the shots values skipped because a prompt would not fit
    in `context` tokens (n_tokens counts a text's tokens). With `truncate`, nothing is
    skipped: prompts too long are cut from the left when scored (see `request_length`)."""
    kind = KINDS[spec.kind]
    # A task without demonstrations draws no pool for them.
    pool = kind.load(spec, cfg, spec.n_items + (0 if kind.own_demos or not max(spec.shots) else spec.demo_pool))
    items, demos = pool[: spec.n_items], pool[spec.n_items :] or pool
    if not kind.own_demos and len({d.id for d in demos}) - (demos is pool) < max(spec.shots):
        raise InputError(
            f"task {spec.name}: {len(pool)} items are too few to draw {max(spec.shots)} "
            "demonstrations besides each item"
        )
    world = World.build(cfg.corpus.synthetic, cfg.seed) if "ood" in spec.labels else None
    requests, skipped = [], []
    for prompt in spec.prompts:
        max_new = spec.cot_max_new_tokens if prompt == "cot" else spec.max_new_tokens
        for shots in spec.shots:
            for labels in spec.labels if shots else zero_shot_labels(spec.labels):
                batch = []
                for i, item in enumerate(items):
                    rng = np.random.default_rng([spec.seed, i, shots])
                    if kind.own_demos:
                        chosen = _pair_demos(item, shots, rng)
                    else:  # from the separate pool, or (no pool) from the other items
                        others = [d for d in demos if d.id != item.id]
                        size = min(shots, len(others))
                        chosen = [others[j] for j in rng.choice(len(others), size=size, replace=False)]
                    lines = [render_demo(d, prompt, labels, rng, world) for d in chosen]
                    text = "".join(line + "\n" for line in lines) + question(item, prompt)
                    choices = CHOICES_OF.get(labels, item.choices)
                    batch.append(
                        Request(
                            prompt=prompt,
                            shots=shots,
                            labels=labels,
                            item=item.id,
                            text=text,
                            target=choices[item.label] if choices else target(item, prompt),
                            answer=item.answer,
                            choices=choices,
                            label=item.label,
                            max_new=max_new,
                            stops=stops(kind, prompt),
                        )
                    )
                longest = max(request_length(r, n_tokens) for r in batch)
                if longest > context and not truncate:
                    skipped.append({"prompt": prompt, "shots": shots, "labels": labels, "tokens": longest})
                else:
                    requests.extend(batch)
    return {"requests": requests, "skipped": skipped, "items": [dataclasses.asdict(i) for i in items]}


def contamination(items: list[Item], kind: Kind, corpus_text: str) -> int:
    """Items whose question (in either prompt style) or standard answer line occurs verbatim in the corpus.

    A match must not continue a longer number or sum: "3+37=" is not found inside "13+37="
    or "3+3+37=", which are other items. An item with a mapping of its own (own_demos) is
    found when a document of the corpus states that whole mapping."""
    if kind.own_demos:
        stated = {mapping_key(m) for doc in corpus_text.split("\n\n") if (m := document_mapping(doc))}
        return sum(mapping_key(dict(item.meta["pairs"])) in stated for item in items)
    found = 0
    for item in items:
        needles = {question(item, "standard").strip()}
        if "cot_question" in item.meta:
            needles.add(item.meta["cot_question"].strip())
        if item.meta.get("target"):
            needles.add(item.question + item.meta["target"])
        if any(_occurs(n, corpus_text) for n in needles):
            found += 1
    return found


def _occurs(needle: str, text: str) -> bool:
    start = text.find(needle)
    while start != -1:
        before = text[start - 1] if start else ""
        end = start + len(needle)
        after = text[end] if end < len(text) else ""
        if not (needle[0].isdigit() and (before.isdigit() or before == "+")) and not (
            needle[-1].isdigit() and after.isdigit()
        ):
            return True
        start = text.find(needle, start + 1)
    return False


def assemble_task(
    spec: TaskSpec, cfg: StudyConfig, tokenizer, context: int, contamination_of=None, truncate: bool = False
) -> Task:
    """A task's requests under `context`, with its chance levels; `contamination_of(items)`
    counts items found in the training text (none for a standalone benchmark file).
    `truncate`: keep settings whose prompts exceed the context (cut from the left when scored)."""
    kind = KINDS[spec.kind]
    if kind.scoring == ICL:
        return Task(spec.name, spec.kind, kind.scoring, dataclasses.asdict(spec), (), chance_levels(ICL, 0))
    if kind.scoring == HEADS:  # sequences of `context // 2` random tokens, repeated once
        chance = chance_levels(HEADS, context // 2)
        return Task(spec.name, spec.kind, kind.scoring, dataclasses.asdict(spec), (), chance, n_items=spec.n_items)
    built = build_requests(spec, cfg, lambda t: len(tokenizer.encode(t).ids), context, truncate)
    items = [Item(**i) for i in built["items"]]
    found = contamination_of(items) if contamination_of else 0
    if kind.synthetic and found:
        raise InputError(f"task {spec.name}: {found} held-out items occur verbatim in the training corpus")
    n_choices = kind.answers or max((len(i.choices) for i in items), default=0)
    return Task(
        spec.name,
        spec.kind,
        kind.scoring,
        dataclasses.asdict(spec),
        tuple(built["requests"]),
        chance_levels(kind.scoring, n_choices),
        skipped=tuple(built["skipped"]),
        items=tuple(built["items"]),
        contamination=found,
        n_items=len(items),
    )


def lm_eval_task(spec: TaskSpec) -> Task:
    """The task file of an lm-eval task: its chance levels and documents counted from the
    task itself, and the folder's files with their sha256 (emergence.harness.suite)."""
    from emergence.evaluate import lm_eval_tasks as suite

    name = spec.lm_eval_task or spec.name
    described = suite.describe(suite.load_tasks(Path(spec.path), [name])[name], spec.n_items)
    return Task(
        spec.name,
        spec.kind,
        LM_EVAL,
        dataclasses.asdict(spec),
        (),
        described.pop("chance"),
        n_items=described["n_docs"],
        source={"lm_eval_task": name, **described, "files": suite.fingerprint(Path(spec.path))},
    )


def build_task(spec: TaskSpec, cfg: StudyConfig, corpus_dir: Path, tokenizer, context: int) -> Task:
    """The task file's content for the workflow: requests, chance levels, and the
    contamination count against the training corpus (must be 0 for generated items)."""
    corpus = Path(corpus_dir) / "train.jsonl"
    return assemble_task(
        spec,
        cfg,
        tokenizer,
        context,
        lambda items: contamination(items, KINDS[spec.kind], "\n\n".join(iter_texts(corpus))),
    )


def write_task(cfg: StudyConfig, name: str, corpus_dir: Path, tokenizer_path: Path, out: Path) -> Task:
    """Build task `name` of the study (checked against the training corpus) and write its task file."""
    if name not in cfg.tasks:
        raise InputError(f"task {name!r} is not in the config; its tasks: {', '.join(cfg.tasks) or 'none'}")
    spec = cfg.tasks[name]
    if KINDS[spec.kind].scoring == LM_EVAL:  # reads its own folder, not the corpus or the tokenizer
        task = lm_eval_task(spec)
    else:
        context = round(cfg.models.context * spec.rope_factor)  # the context the task is read with
        task = build_task(spec, cfg, corpus_dir, load_tokenizer(tokenizer_path), context)
    write_json(out, task.to_dict())
    return task
