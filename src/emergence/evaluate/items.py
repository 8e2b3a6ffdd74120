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


@dataclasses.dataclass(frozen=True)
class Request:
    """One item in one setting, as the model will see it: what travels from task building to scoring."""

    # The setting: prompt style ("standard" or "cot"), number of demonstrations, label setting.
    prompt: str
    shots: int
    labels: str
    # The item's id, and the full prompt (demonstrations, then the question).
    item: str
    text: str
    # The reference continuation (the correct choice, the answer, or the worked solution).
    target: str
    # The reference answer as text, compared with what is extracted from a generation.
    answer: str
    # Multiple choice: the choices as continuations of `text`, and the correct one's index.
    choices: tuple[str, ...] = ()
    label: int | None = None
    # Generation: the cap on new tokens and the strings that end an answer.
    max_new: int = 0
    stops: tuple[str, ...] = ()

    @property
    def setting(self) -> tuple[str, int, str]:
        return self.prompt, self.shots, self.labels

    @classmethod
    def from_dict(cls, d: dict) -> Request:
        return cls(**{**d, "choices": tuple(d.get("choices", ())), "stops": tuple(d.get("stops", ()))})


SETTING = ("prompt", "shots", "labels")


@dataclasses.dataclass(frozen=True)
class Task:
    """A task file's content (`results/tasks/{task}.json`): the requests of every setting,
    the settings skipped because their prompts do not fit the context, the items, each
    metric's chance level, and how many items occur verbatim in the training corpus."""

    task: str
    kind: str
    scoring: str
    spec: dict
    requests: tuple[Request, ...]
    chance: dict[str, float | None]
    skipped: tuple[dict, ...] = ()
    items: tuple[dict, ...] = ()
    contamination: int = 0
    n_items: int = 0
    # What the task was built from beyond the config (an lm-eval task: its folder's files
    # and their sha256), so that the task file changes when they do.
    source: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{
                **{k: v for k, v in d.items() if k in fields},
                "requests": tuple(Request.from_dict(r) for r in d.get("requests", ())),
                "skipped": tuple(d.get("skipped", ())),
                "items": tuple(d.get("items", ())),
            }
        )
