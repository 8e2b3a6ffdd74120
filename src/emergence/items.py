"""The evaluation item: one question of a task, whatever its source (synthetic or a benchmark file)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Item:
    # Stable identifier within its task (e.g. "12+7+30", or "gsm8k.jsonl:17").
    id: str
    # The question as the model sees it after any demonstrations, e.g. "123+45=" or
    # "Q: Where does Velor live? A:". Continuations (answers, choices) follow it directly.
    question: str
    # Reference answer as text, without leading space: "168", "Mirad", "negative".
    answer: str
    # Multiple choice: each choice as the continuation of `question` (usually with a
    # leading space), and the index of the correct one.
    choices: tuple[str, ...] = ()
    label: int | None = None
    # Worked steps that lead to the answer (chain of thought), if the source has them.
    solution: str | None = None
    # Anything else a task needs (operands, entity, polarity, ...); JSON-serialisable.
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.choices and not (self.label is not None and 0 <= self.label < len(self.choices)):
            raise ValueError(f"item {self.id}: label {self.label} does not index its {len(self.choices)} choices")
