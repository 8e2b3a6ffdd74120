"""Training behaviour on the smoke study's real data: logs, checkpoints, determinism,
resume after a kill, NaN handling, stale checkpoints, data parallelism, and WSD branches
off a shared trunk."""

import dataclasses
import json
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import read_log, run_cli, tiny_run, train_command

from emergence.config import Trunk
from emergence.errors import TrainingError
from emergence.model.checkpoints import Checkpoints
from emergence.model.inference import load_model_config, load_params
from emergence.train.loop import train, train_trunk
from emergence.train.optimizer import branch_step, checkpoint_steps

pytestmark = pytest.mark.slow


def test_training_writes_log_checkpoints_and_summary(reference_run, cosine, smoke_data):
    tcfg, (out, summary) = cosine, reference_run
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = summary["steps"]
    assert steps == 8192 // (tcfg.batch_size * 32)
    expected = checkpoint_steps(steps, tcfg.n_checkpoints)
    assert Checkpoints(out / "checkpoints").steps() == expected == summary["checkpoint_steps"]
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


def read_events(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar of the TensorBoard event files in `folder`: {tag: {step: value}} (the
    files are TFRecords: length, its CRC, an Event protobuf, its CRC)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
            for v in event.summary.value:
                scalars.setdefault(v.tag, {})[event.step] = v.simple_value
    return scalars


def test_training_writes_tensorboard_events_of_its_log(reference_run):
    out, _ = reference_run
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    events = read_events(out / "events")
    assert events["train/loss"] == pytest.approx({r["step"]: r["loss"] for r in log})
    assert events["val/loss"] == pytest.approx({r["step"]: r["val_loss"] for r in log if r["val_loss"] is not None})
    assert events["val/bpb"] == pytest.approx({r["step"]: r["val_bpb"] for r in log if r["val_bpb"] is not None})
    assert set(events) == {
        "train/loss",
        "val/loss",
        "val/bpb",
        "train/learning_rate",
        "train/grad_norm",
        "speed/tokens_per_s",
    }


def test_same_config_twice_gives_identical_loss_logs(tmp_path, cosine, smoke_data, reference_run):
    train(tiny_run(), cosine, smoke_data, tmp_path, progress=False)
    a = reference_run[0] / "train_log.jsonl"
    b = tmp_path / "train_log.jsonl"
    # Byte-identical once the two wall-clock fields are dropped.
    assert json.dumps(read_log(a)) == json.dumps(read_log(b))


def test_killed_run_resumes_to_the_same_log(tmp_path, cosine, smoke_data):
    run = tiny_run(tokens=40_000)
    tcfg = dataclasses.replace(cosine, n_checkpoints=10)
    out = tmp_path / "killed"
    train_args = train_command(run, tcfg, smoke_data, out)
    # The uninterrupted run as the workflow runs it too: one device per core.
    whole = [*train_args[:4], tmp_path / "whole", *train_args[5:]]
    assert run_cli(*whole).returncode == 0
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
    assert killed_at is not None and killed_at < 40_000 // (tcfg.batch_size * 32)

    result = run_cli(*train_args)
    assert result.returncode == 0, result.stderr
    assert f"resumed from checkpoint at step {killed_at}" in result.stderr
    assert json.dumps(read_log(out / "train_log.jsonl")) == json.dumps(read_log(tmp_path / "whole" / "train_log.jsonl"))


def test_nan_loss_stops_with_a_clear_error_and_keeps_earlier_checkpoints(tmp_path, cosine, smoke_data):
    # Checkpoints at steps 1, 2, 4, ...; step 1 runs at LR 0, the huge LR of step 2 blows up step 3.
    tcfg = dataclasses.replace(cosine, learning_rate=1e30, warmup_fraction=0.3, grad_clip=1e30, n_checkpoints=12)
    with pytest.raises(TrainingError, match=r"loss became (nan|inf) at step \d+; latest good checkpoint"):
        train(tiny_run(), tcfg, smoke_data, tmp_path, progress=False)
    assert not (tmp_path / "train_log.jsonl").exists()
    ckpts = Checkpoints(tmp_path / "checkpoints")
    assert ckpts.steps()
    for step in ckpts.steps():  # every checkpoint left behind holds a finite-loss history
        assert all(np.isfinite(h[0]) for h in ckpts.restore_meta(step)["history"])


def test_cli_reports_a_nan_in_one_line(tmp_path, cosine, smoke_data):
    tcfg = dataclasses.replace(cosine, learning_rate=1e30, warmup_fraction=0.3, grad_clip=1e30)
    result = run_cli(*train_command(tiny_run(), tcfg, smoke_data, tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: t16-8192-s0: training loss became")


def test_checkpoints_of_another_config_are_not_resumed(tmp_path, cosine, smoke_data, reference_run, capsys):
    shutil.copytree(reference_run[0], tmp_path, dirs_exist_ok=True)
    first = read_log(tmp_path / "train_log.jsonl")
    changed = dataclasses.replace(cosine, learning_rate=cosine.learning_rate / 2)
    summary = train(tiny_run(), changed, smoke_data, tmp_path, progress=False)
    assert "from another configuration: starting afresh" in capsys.readouterr().err
    second = read_log(tmp_path / "train_log.jsonl")
    assert [r["step"] for r in second] == [r["step"] for r in first]
    assert second[-1]["val_loss"] != first[-1]["val_loss"]  # trained afresh with the new LR
    ckpts = Checkpoints(tmp_path / "checkpoints")
    assert {ckpts.restore_meta(s)["fingerprint"] for s in ckpts.steps()} == {summary["fingerprint"]}


@pytest.mark.parametrize(
    ("option", "env", "devices"),
    [
        (["--cpu-devices", "2"], {}, 2),  # what the workflow passes: its threads
        ([], {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}, 4),  # the user's count wins
    ],
)
def test_devices_give_the_same_losses_as_one(tmp_path, cosine, smoke_data, reference_run, option, env, devices):
    run, tcfg, one_dir = tiny_run(), cosine, reference_run[0]
    result = run_cli(*train_command(run, tcfg, smoke_data, tmp_path / "many"), *option, env=env)
    assert result.returncode == 0, result.stderr
    assert f"data-parallel over {devices} devices" in result.stderr
    one, many = read_log(one_dir / "train_log.jsonl"), read_log(tmp_path / "many" / "train_log.jsonl")
    assert [r["step"] for r in many] == [r["step"] for r in one]
    for key in ("loss", "val_loss", "grad_norm"):
        a = [r[key] for r in many if r[key] is not None]
        b = [r[key] for r in one if r[key] is not None]
        np.testing.assert_allclose(a, b, rtol=2e-4)
    # Evaluation, on one device, reads the checkpoints that several devices saved.
    mcfg = load_model_config(tmp_path / "many")
    final = Checkpoints(tmp_path / "many" / "checkpoints").latest_step()
    a, b = (load_params(d, final, mcfg) for d in (tmp_path / "many", one_dir))
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-5), a, b)


# WSD: one trunk, budgets branching off it. 8192 and 24576 tokens are 32 and 96 steps of 8 x 32.
BUDGETS = (8192, 24576)


@pytest.fixture(scope="module")
def wsd(smoke_cfg):
    return dataclasses.replace(smoke_cfg.training, schedule="wsd", cooldown_fraction=0.25, n_checkpoints=8)


@pytest.fixture(scope="module")
def trunk_dir(tmp_path_factory, wsd, smoke_data):
    run = tiny_run()
    out = tmp_path_factory.mktemp("trunk")
    train_trunk(Trunk("t16-s0", run.size_name, run.size, run.context, 0, BUDGETS), wsd, smoke_data, out, progress=False)
    return out


def test_wsd_budgets_branch_off_one_trunk_and_each_cools_down_to_its_own_end(tmp_path, wsd, smoke_data, trunk_dir):
    trunk = json.loads((trunk_dir / "trunk.json").read_text())
    assert trunk["steps"] == branch_step(wsd, 96) == 72  # the trunk stops where the largest budget branches
    logs, summaries = {}, {}
    for tokens in BUDGETS:
        summary = train(tiny_run(tokens), wsd, smoke_data, tmp_path / str(tokens), trunk_dir, progress=False)
        steps, branch = tokens // 256, branch_step(wsd, tokens // 256)
        assert summary["branch_step"] == branch and summary["steps"] == steps
        # Its own checkpoint schedule, the early part taken from the trunk: the trunk's arrays
        # and log, under the branch's own fingerprint (so the branch resumes from them).
        ckpts = Checkpoints(tmp_path / str(tokens) / "checkpoints")
        assert ckpts.steps() == checkpoint_steps(steps, 8)
        early = max(s for s in ckpts.steps() if s <= branch)
        mcfg = load_model_config(tmp_path / str(tokens))
        mine, theirs = load_params(tmp_path / str(tokens), early, mcfg), load_params(trunk_dir, early, mcfg)
        assert jax.tree.all(jax.tree.map(np.array_equal, mine, theirs))
        meta, trunk_meta = ckpts.restore_meta(early), Checkpoints(trunk_dir / "checkpoints").restore_meta(early)
        assert meta["fingerprint"] == summary["fingerprint"] != trunk_meta["fingerprint"]
        assert meta["history"] == trunk_meta["history"] and meta["val"] == trunk_meta["val"]
        logs[tokens] = {r["step"]: r for r in read_log(tmp_path / str(tokens) / "train_log.jsonl")}
        lr = [r["lr"] for r in logs[tokens].values()]
        assert lr[-1] < 0.25 * wsd.learning_rate  # cooled down (the last step's rate)
        summaries[tokens] = summary
    # The short budget's checkpoints before its branch are also the long one's: shared.
    assert summaries[BUDGETS[0]]["shared_steps"] == [2, 4, 8, 16, 24] and summaries[BUDGETS[1]]["shared_steps"] == []
    short, long = logs[BUDGETS[0]], logs[BUDGETS[1]]
    # Up to the short budget's branch (step 24) both runs are the trunk: the same checkpoints
    # (validation losses), gradients and rates, at the peak once the 2 warmup steps are over.
    shared = [s for s in short if s <= branch_step(wsd, 32) and long.get(s, {}).get("val_loss")]
    assert shared == [2, 4, 8, 16, 24]
    for key in ("val_loss", "grad_norm", "lr"):
        assert [short[s][key] for s in shared] == [long[s][key] for s in shared]
    assert all(short[s]["lr"] == pytest.approx(wsd.learning_rate) for s in shared if s > 2)
    # Then the short one cools down and ends below where it branched.
    assert short[32]["lr"] < long[32]["lr"] == pytest.approx(wsd.learning_rate)
    assert short[32]["val_loss"] < short[24]["val_loss"]


def test_a_wsd_branch_resumes_to_the_same_log(tmp_path, wsd, smoke_data, trunk_dir):
    tcfg = dataclasses.replace(wsd, cooldown_fraction=0.5)  # several checkpoints inside the cool-down
    trunk = Trunk("t16-s0", "t16", tiny_run().size, 32, 0, BUDGETS)
    train_trunk(trunk, tcfg, smoke_data, tmp_path / "trunk", progress=False)
    run = tiny_run(BUDGETS[1])
    train(run, tcfg, smoke_data, tmp_path / "whole", tmp_path / "trunk", progress=False)
    whole = read_log(tmp_path / "whole" / "train_log.jsonl")
    # A run stopped after its first cool-down checkpoint: later checkpoints and outputs gone.
    out = tmp_path / "resumed"
    train(run, tcfg, smoke_data, out, tmp_path / "trunk", progress=False)
    steps = Checkpoints(out / "checkpoints").steps()
    cool = [s for s in steps if s > branch_step(tcfg, 96)]
    assert len(cool) >= 2
    for s in cool[1:]:
        shutil.rmtree(out / "checkpoints" / str(s))
    (out / "train_log.jsonl").unlink()
    # On one device, as the runs in this process (the sums of a batch's shards differ in the last bits).
    args = ["--run", json.dumps(run.to_dict()), "--training", json.dumps(dataclasses.asdict(tcfg))]
    args += ["--cpu-devices", "1"]
    result = run_cli("train", "--data", smoke_data, "--out", out, "--trunk", tmp_path / "trunk", "--quiet", *args)
    assert result.returncode == 0, result.stderr
    assert f"resumed from checkpoint at step {cool[0]}" in result.stderr
    assert json.dumps(read_log(out / "train_log.jsonl")) == json.dumps(whole)


def test_a_wsd_branch_without_its_trunk_is_one_clear_line(tmp_path, wsd, smoke_data):
    args = ["--run", json.dumps(tiny_run().to_dict()), "--training", json.dumps(dataclasses.asdict(wsd))]
    result = run_cli("train", "--data", smoke_data, "--out", tmp_path, "--trunk", tmp_path / "none", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'none'}/trunk.json does not exist: train the WSD trunk first (`emergence trunk`)"
    )


def test_bfloat16_mixed_precision_trains_with_float32_master_weights(tmp_path, cosine, smoke_data, reference_run):
    float32 = reference_run[1]
    mixed = tmp_path / "bfloat16"
    bfloat16 = train(tiny_run(), dataclasses.replace(cosine, precision="bfloat16"), smoke_data, mixed, progress=False)
    assert load_model_config(mixed).dtype == "bfloat16"
    params = load_params(mixed, bfloat16["steps"], load_model_config(mixed))
    assert {str(p.dtype) for p in jax.tree.leaves(params)} == {"float32"}  # master weights
    log = read_log(mixed / "train_log.jsonl")
    assert log[-1]["val_loss"] < log[0]["val_loss"] - 0.5
    assert bfloat16["final_val_loss"] == pytest.approx(float32["final_val_loss"], abs=0.05)
