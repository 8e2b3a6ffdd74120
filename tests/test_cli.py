"""The command line: bad input gives one line naming the file, key or argument, exit 2, no
traceback; every subcommand has its handler; it starts without JAX; a model picked by hand
trains its trunk first."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import one_line_error, run_cli, tiny_run

from emergence.cli import build_parser
from emergence.config import StudyConfig


@pytest.mark.parametrize(
    "spec, expected",
    [
        ('{"seed": 1,}', ["--spec: not valid JSON"]),
        ("@{missing}", ["--spec file", "does not exist"]),
        ("@{malformed}", ["--spec file", "not valid YAML", "line 3"]),
        ("@{twice}", ["key 'seed' appears twice"]),
        ('{"models": {"seeds": [1.5]}}', ["config key 'models.seeds.0'"]),
    ],
)
def test_corpus_spec_errors(tmp_path, spec, expected):
    (tmp_path / "malformed.yaml").write_text("seed: 1\ncorpus: [unclosed\n")
    (tmp_path / "twice.yaml").write_text("seed: 1\nseed: 2\n")
    for name in ("missing", "malformed", "twice"):
        spec = spec.replace("{" + name + "}", str(tmp_path / f"{name}.yaml"))
    one_line_error(run_cli("corpus", "--spec", spec, "--out", tmp_path / "corpus"), *expected)
    assert not (tmp_path / "corpus").exists()


def test_train_before_the_shards_exist(tmp_path):
    (tmp_path / "cfg.yaml").write_text("models: {sizes: {a: {d_model: 16, n_layers: 1, n_heads: 2}}}\n")
    result = run_cli("train", "--data", tmp_path / "data", "--config", tmp_path / "cfg.yaml", "--model", "a-1M-s0")
    one_line_error(result, "meta.json does not exist", "emergence shards")


@pytest.mark.parametrize("command", ["fit-threshold", "fit-scaling"])
def test_fits_of_a_directory(tmp_path, command):
    one_line_error(run_cli(command, tmp_path), str(tmp_path), "is a directory")


def test_usage_errors_are_one_line(tmp_path):
    one_line_error(
        run_cli("evaluate", "--checkpoint", tmp_path, "--out", tmp_path / "o.parquet"),
        "--checkpoint needs --task-file, --format",
    )


def test_workflow_arguments_that_are_not_what_the_workflow_writes_are_one_line(tmp_path):
    run = json.dumps(tiny_run().to_dict())
    result = run_cli("train", "--data", tmp_path, "--out", tmp_path / "m", "--run", run, "--training", "{bad")
    one_line_error(result, "--training: not valid JSON")
    result = run_cli("long-context", "--checkpoint", tmp_path, "--data", tmp_path, "--out", tmp_path / "o.parquet")
    one_line_error(result, f"--checkpoint {tmp_path}: expected a checkpoint directory named by its step")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--data", "d", "--config", "c.yaml"], "train --config needs --model"),
        (
            ["long-context", "--model-dir", "m", "--data", "d"],
            "long-context --model-dir needs --spec, --tokenizer, --out",
        ),
    ],
)
def test_a_mode_without_the_arguments_it_needs(args, expected):
    one_line_error(run_cli(*args), expected)


def test_every_subcommand_has_a_handler_and_needs_only_its_own_arguments():
    parser = build_parser()
    commands = {}
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            commands.update({f"{name} {n}": s for a in nested for n, s in a.choices.items()} if nested else {name: sub})
    assert {"corpus", "train", "evaluate", "perf train", "perf evaluate"} <= set(commands)
    for name, sub in commands.items():
        defaults, dests = sub._defaults, {a.dest for a in sub._actions}
        assert callable(defaults.get("func")), name
        for mode, needed in defaults.get("needs", {}).items():
            assert {mode, *needed} <= dests, name


def test_the_command_line_starts_without_jax():
    code = "import sys; from emergence.cli import build_parser; build_parser(); print('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def _cfg(schedule: str):
    return StudyConfig.from_dict(
        {"training": {"schedule": schedule}, "models": {"sizes": {"a": {"d_model": 16, "n_layers": 1, "n_heads": 2}}}}
    )


def test_a_model_picked_by_hand_trains_its_trunk_first_unless_complete(tmp_path, monkeypatch):
    from emergence.train import grid

    calls = []
    monkeypatch.setattr(grid, "train_trunk", lambda trunk, tcfg, data, out, **_: calls.append(("trunk", out)))
    monkeypatch.setattr(grid, "train", lambda run, tcfg, data, out, trunk_dir, **_: calls.append((out, trunk_dir)))
    monkeypatch.chdir(tmp_path)
    trunk_dir = Path("results/trunks/a-s0")
    grid.train_from_grid(_cfg("wsd"), "a-1M-s0", Path("data"))
    assert calls == [("trunk", trunk_dir), (Path("results/models/a-1M-s0"), trunk_dir)]

    calls.clear()
    trunk_dir.mkdir(parents=True)
    (trunk_dir / "trunk.json").write_text("{}")
    grid.train_from_grid(_cfg("wsd"), "a-1M-s0", Path("data"), Path("out"))
    assert calls == [(Path("out"), trunk_dir)]

    calls.clear()
    grid.train_from_grid(_cfg("cosine"), "a-1M-s0", Path("data"))
    assert calls == [(Path("results/models/a-1M-s0"), None)]
