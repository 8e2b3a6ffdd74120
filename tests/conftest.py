"""Fixtures built once per test session and shared by every module that needs them: the smoke
study's data, one tiny trained model of each kind, and one real Snakemake run of the study.
Helpers that are not fixtures live in helpers.py."""

import dataclasses
import fcntl
import shutil

import pytest
from helpers import SMOKE, copy_workflow, snakemake, tiny_run

from emergence.config import load_config
from emergence.data.corpus import build_corpus
from emergence.data.shards import write_shards
from emergence.data.tokenizer import train_tokenizer

# Fixtures that train a model or run the workflow: a test using one, directly or through
# another fixture, is marked slow (`make test-fast` leaves those out).
TRAINED = {"model_dir", "reference_run", "smoke_study"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINED & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


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
def cosine(smoke_cfg):
    """The smoke study's training settings with one cosine run per budget (no trunk)."""
    return dataclasses.replace(smoke_cfg.training, schedule="cosine")


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, cosine, smoke_data):
    """`tiny_run()` trained once in this process on one device: the run that the training,
    device, multi-process and Slurm tests compare theirs with. Read it, never write into it."""
    from emergence.train.loop import train

    out = tmp_path_factory.mktemp("reference")
    summary = train(tiny_run(), cosine, smoke_data, out, progress=False)
    return out, summary


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, smoke_cfg, smoke_data):
    """A tiny model of the smoke study, trained once per test session (cosine schedule)."""
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


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory, worker_id):
    """The whole smoke study run once by Snakemake in a scratch copy of the repository: every
    test of the workflow, the report and the Slurm cluster reads it. Tests that change it
    work on a copy (`shutil.copytree(smoke_study, ..., symlinks=True)`). Under pytest-xdist
    the workers share one run: the first to get here runs it while the others wait."""
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # the folder all workers share
    work = root / "smoke_study"
    with open(root / "smoke_study.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / "reports" / "index.html").exists():
            shutil.rmtree(work, ignore_errors=True)  # what a failed run left
            result = snakemake(copy_workflow(work))
            assert result.returncode == 0, result.stderr[-3000:]
    return work
