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
