import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emergence.config import load_config
from emergence.data.corpus import build_corpus
from emergence.data.shards import write_shards
from emergence.data.tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"


# The long-context stage with context extension (off in the smoke study), small enough for tests.
LONG_CONTEXT = {
    "enabled": True, "factor": 2, "methods": ["none", "yarn"], "windows": 2, "passkey_items": 4,
    "passkey_lengths": [1, 2], "many_shot_task": "mapping", "many_shot": [0, 4, 16],
    "extend": {"enabled": True, "method": "yarn", "steps": 4, "n_checkpoints": 2, "learning_rate": 0.001},
}  # fmt: skip


def long_context_spec(**extend) -> str:
    """The smoke study with LONG_CONTEXT (its extension's settings replaced by `extend`), as --spec JSON."""
    from emergence.errors import ConfigError
    from emergence.io import load_yaml

    cfg = load_yaml(SMOKE, ConfigError)
    cfg["long_context"] = {**LONG_CONTEXT, "extend": {**LONG_CONTEXT["extend"], **extend}}
    return json.dumps(cfg)


# The instruction-tuning stage (off in the smoke study), small enough for tests.
INSTRUCT = {
    "enabled": True, "checkpoints": 2, "steps": 6, "batch_size": 4, "n_checkpoints": 2, "tune_examples": 200,
    "n_items": 6, "max_new_tokens": 10,
}  # fmt: skip


def instruct_spec(**changes) -> str:
    """The smoke study with INSTRUCT (updated by `changes`), as --spec JSON."""
    from emergence.errors import ConfigError
    from emergence.io import load_yaml

    cfg = load_yaml(SMOKE, ConfigError)
    cfg["instruct"] = {**INSTRUCT, **changes}
    return json.dumps(cfg)


@pytest.fixture(scope="session")
def smoke_cfg():
    return load_config(SMOKE)


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory, smoke_cfg):
    """Corpus, tokenizer and shards of the smoke study, built once per test session."""
    root = tmp_path_factory.mktemp("smoke")
    build_corpus(smoke_cfg, root / "corpus")
    train_tokenizer(root / "corpus" / "train.jsonl", smoke_cfg.tokenizer.vocab_size, root / "tokenizer.json")
    write_shards(root / "corpus", root / "tokenizer.json", root / "data")
    return root / "data"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, smoke_cfg, smoke_data):
    """A tiny model of the smoke study, trained once per test session (cosine schedule)."""
    import dataclasses

    from emergence.config import ModelRun, ModelSize
    from emergence.train.loop import train

    out = tmp_path_factory.mktemp("model")
    # A context long enough for one GSM8K demonstration plus a question.
    train(
        ModelRun("t-16k-s0", "t", ModelSize(16, 1, 2, 4), 160, 16384, 0),
        dataclasses.replace(smoke_cfg.training, schedule="cosine"),
        smoke_data,
        out,
        progress=False,
    )
    return out


def read_log(path: Path, drop=("tokens_per_s", "flops_per_s")) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]


def run_cli(*args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emergence", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )
