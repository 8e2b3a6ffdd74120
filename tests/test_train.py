"""Training behaviour on the smoke study's real data: logs, checkpoints, determinism,
resume after a kill, NaN handling, stale checkpoints, and data parallelism."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import read_log, run_cli

from emergence.config import ModelRun, ModelSize
from emergence.errors import TrainingError
from emergence.model.checkpoints import Checkpoints
from emergence.train.loop import train
from emergence.train.optimizer import checkpoint_steps

pytestmark = pytest.mark.slow


def tiny_run(tokens=8192, seed=0, d_model=16) -> ModelRun:
    return ModelRun(f"t{d_model}-{tokens}-s{seed}", f"t{d_model}", ModelSize(d_model, 1, 2, 4), 32, tokens, seed)


def test_training_writes_log_checkpoints_and_summary(tmp_path, smoke_cfg, smoke_data):
    tcfg = smoke_cfg.training
    summary = train(tiny_run(), tcfg, smoke_data, tmp_path, progress=False)
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    steps = summary["steps"]
    assert steps == 8192 // (tcfg.batch_size * 32)
    expected = checkpoint_steps(steps, tcfg.n_checkpoints)
    assert Checkpoints(tmp_path / "checkpoints").steps() == expected == summary["checkpoint_steps"]
    fields = {"step", "tokens", "loss", "val_loss", "val_bpb", "lr", "grad_norm", "tokens_per_s", "flops_per_s"}
    assert all(fields <= set(r) for r in log)
    with_val = [r["step"] for r in log if r["val_loss"] is not None]
    assert with_val == expected
    assert log[-1]["step"] == steps and log[-1]["tokens"] == steps * tcfg.batch_size * 32
    first, last = log[0], log[-1]
    assert last["val_loss"] < first["val_loss"] - 0.5
    meta = json.loads((smoke_data / "meta.json").read_text())
    assert last["val_bpb"] == pytest.approx(last["val_loss"] / np.log(2) / meta["bytes_per_token"])
    assert summary["params"] > summary["nonembedding_params"] > 0


def test_same_config_twice_gives_identical_loss_logs(tmp_path, smoke_cfg, smoke_data):
    for name in ("a", "b"):
        train(tiny_run(), smoke_cfg.training, smoke_data, tmp_path / name, progress=False)
    a = tmp_path / "a" / "train_log.jsonl"
    b = tmp_path / "b" / "train_log.jsonl"
    # Byte-identical once the two wall-clock fields are dropped.
    assert json.dumps(read_log(a)) == json.dumps(read_log(b))


def test_killed_run_resumes_to_the_same_log(tmp_path, smoke_cfg, smoke_data):
    run = tiny_run(tokens=80_000)
    tcfg = dataclasses.replace(smoke_cfg.training, n_checkpoints=10)
    train(run, tcfg, smoke_data, tmp_path / "whole", progress=False)

    out = tmp_path / "killed"
    train_args = ["train", "--data", smoke_data, "--out", out, "--quiet", "--run", json.dumps(run.to_dict()),
                  "--training", json.dumps(dataclasses.asdict(tcfg))]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "emergence", *map(str, train_args)], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = [
            p for p in (out / "checkpoints").glob("*") if p.name.isdigit() and (p / "_CHECKPOINT_METADATA").exists()
        ]
        if len(done) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "train_log.jsonl").exists()
    killed_at = Checkpoints(out / "checkpoints").latest_step()
    assert killed_at is not None and killed_at < 80_000 // (tcfg.batch_size * 32)

    result = run_cli(*train_args)
    assert result.returncode == 0, result.stderr
    assert f"resumed from checkpoint at step {killed_at}" in result.stderr
    assert json.dumps(read_log(out / "train_log.jsonl")) == json.dumps(read_log(tmp_path / "whole" / "train_log.jsonl"))


def test_nan_loss_stops_with_a_clear_error_and_keeps_earlier_checkpoints(tmp_path, smoke_cfg, smoke_data):
    # Checkpoints at steps 1, 2, 4, ...; step 1 runs at LR 0, the huge LR of step 2 blows up step 3.
    tcfg = dataclasses.replace(
        smoke_cfg.training, learning_rate=1e30, warmup_fraction=0.3, grad_clip=1e30, n_checkpoints=12
    )
    with pytest.raises(TrainingError, match=r"loss became (nan|inf) at step \d+; latest good checkpoint"):
        train(tiny_run(), tcfg, smoke_data, tmp_path, progress=False)
    assert not (tmp_path / "train_log.jsonl").exists()
    ckpts = Checkpoints(tmp_path / "checkpoints")
    assert ckpts.steps()
    for step in ckpts.steps():  # every checkpoint left behind holds a finite-loss history
        assert all(np.isfinite(r["loss"]) for r in ckpts.restore_meta(step)["log"])


def test_cli_reports_a_nan_in_one_line(tmp_path, smoke_cfg, smoke_data):
    tcfg = dataclasses.replace(smoke_cfg.training, learning_rate=1e30, warmup_fraction=0.3, grad_clip=1e30)
    result = run_cli(
        "train",
        "--data",
        smoke_data,
        "--out",
        tmp_path,
        "--quiet",
        "--run",
        json.dumps(tiny_run().to_dict()),
        "--training",
        json.dumps(dataclasses.asdict(tcfg)),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: t16-8192-s0: training loss became")


def test_checkpoints_of_another_config_are_not_resumed(tmp_path, smoke_cfg, smoke_data, capsys):
    train(tiny_run(), smoke_cfg.training, smoke_data, tmp_path, progress=False)
    first = read_log(tmp_path / "train_log.jsonl")
    changed = dataclasses.replace(smoke_cfg.training, learning_rate=smoke_cfg.training.learning_rate / 2)
    summary = train(tiny_run(), changed, smoke_data, tmp_path, progress=False)
    assert "from another configuration: starting afresh" in capsys.readouterr().err
    second = read_log(tmp_path / "train_log.jsonl")
    assert [r["step"] for r in second] == [r["step"] for r in first]
    assert second[-1]["val_loss"] != first[-1]["val_loss"]  # trained afresh with the new LR
    ckpts = Checkpoints(tmp_path / "checkpoints")
    assert {ckpts.restore_meta(s)["fingerprint"] for s in ckpts.steps()} == {summary["fingerprint"]}


def test_four_devices_give_the_same_losses_as_one(tmp_path, smoke_cfg, smoke_data):
    run, tcfg = tiny_run(), smoke_cfg.training
    train(run, tcfg, smoke_data, tmp_path / "one", progress=False)
    result = run_cli(
        "train",
        "--data",
        smoke_data,
        "--out",
        tmp_path / "four",
        "--quiet",
        "--run",
        json.dumps(run.to_dict()),
        "--training",
        json.dumps(dataclasses.asdict(tcfg)),
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert result.returncode == 0, result.stderr
    assert "data-parallel over 4 devices" in result.stderr
    one, four = read_log(tmp_path / "one" / "train_log.jsonl"), read_log(tmp_path / "four" / "train_log.jsonl")
    assert [r["step"] for r in four] == [r["step"] for r in one]
    for key in ("loss", "val_loss", "grad_norm"):
        a = [r[key] for r in four if r[key] is not None]
        b = [r[key] for r in one if r[key] is not None]
        np.testing.assert_allclose(a, b, rtol=2e-4)
