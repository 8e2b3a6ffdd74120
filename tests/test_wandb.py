"""Weights & Biases logging (logging.wandb, off by default): a run trained with it on logs the
numbers of its train_log.jsonl to its W&B run (offline here: no network, no account), a resumed
run continues the same W&B run, and switching it on without wandb installed is one line.
That switching it reruns nothing in the workflow is in tests/test_workflow.py."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import offline_wandb_env, one_line_error, read_wandb, tiny_run, train_command

from emergence.config import StudyConfig, WandbConfig, defaults
from emergence.errors import ConfigError
from emergence.train.events import TAGS
from emergence.train.loop import train
from emergence.train.wandb_log import WandbTarget


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline, quiet, its own files under tmp_path; its service stopped after."""
    import wandb

    for var, value in offline_wandb_env(tmp_path / "wandb").items():
        monkeypatch.setenv(var, value)
    yield WandbTarget(WandbConfig(enabled=True, project="emergence", entity=None, mode="offline"), "smoke")
    wandb.teardown()


def tagged(log: Path) -> dict[int, dict[str, float]]:
    """A train_log.jsonl as W&B should have it: {step: {tag: value}} with TensorBoard's tags."""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return {r["step"]: {tag: r[field] for field, tag in TAGS.items() if r[field] is not None} for r in lines}


@pytest.mark.slow
def test_a_run_logs_its_log_to_wandb_and_a_resumed_run_continues_its_wandb_run(
    tmp_path, cosine, smoke_data, offline_wandb
):
    run, out = tiny_run(), tmp_path / "run"
    summary = train(run, cosine, smoke_data, out, progress=False, wandb=offline_wandb)
    whole = tagged(out / "train_log.jsonl")
    # As if killed after its second checkpoint: the later ones are gone, and it trains again from there.
    resumed_at = summary["checkpoint_steps"][1]
    for step in summary["checkpoint_steps"][2:]:
        shutil.rmtree(out / "checkpoints" / str(step))
    again = train(run, cosine, smoke_data, out, progress=False, wandb=offline_wandb)
    assert again["fingerprint"] == summary["fingerprint"]

    (first, first_history), (second, second_history) = map(read_wandb, sorted((out / "wandb").glob("offline-run-*")))
    # One W&B run: its id from the study and the run's fingerprint; its name, group and config.
    assert first["id"] == second["id"] == offline_wandb.run_id(summary["fingerprint"])
    assert first["name"] == run.name and first["group"] == "smoke"
    assert first["config"]["run"] == run.to_dict() and first["config"]["training"]["schedule"] == "cosine"
    # The numbers of the JSONL log, exactly: every line, then the resumed run's from its checkpoint on.
    assert first_history == whole
    resumed = tagged(out / "train_log.jsonl")
    assert second_history == {step: line for step, line in resumed.items() if step > resumed_at}


def test_wandb_switched_on_but_not_installed_is_one_line(tmp_path, monkeypatch):
    on = {"logging": {"wandb": {"enabled": True}}}
    monkeypatch.setitem(sys.modules, "wandb", None)  # what `import wandb` finds where it is not installed
    with pytest.raises(ConfigError) as err:
        StudyConfig.from_dict(on)
    assert str(err.value) == (
        "config key 'logging.wandb.enabled': Weights & Biases is not installed; "
        "install it with `pip install -e '.[wandb]' -c requirements.lock`, or set enabled: false"
    )
    assert not StudyConfig.from_dict({}).logging.wandb.enabled  # off by default: wandb not needed
    # A training job too, as the workflow runs it (in an environment without wandb), before it trains.
    hide = "import sys; sys.modules['wandb'] = None; from emergence.cli import main; main(sys.argv[1:])"
    args = train_command(tiny_run(), defaults().training, tmp_path, tmp_path / "out", "--logging", json.dumps(on))
    result = subprocess.run([sys.executable, "-c", hide, *map(str, args)], capture_output=True, text=True)
    one_line_error(result, "config key 'logging.wandb.enabled'", "pip install -e '.[wandb]'")
