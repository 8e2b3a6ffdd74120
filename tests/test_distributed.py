"""Training as two JAX processes on this machine (jax.distributed, gloo collectives on CPU):
the same loss log as one process with the same global batch, and a resume that works."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import read_log, run_cli, tiny_run, train_command

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(out, run, tcfg, data) -> list[subprocess.CompletedProcess]:
    """`emergence train` as processes 0 and 1 of one job, run at the same time."""
    port = _free_port()
    args = [*train_command(run, tcfg, data, out), "--num-processes", "2", "--coordinator", f"127.0.0.1:{port}"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "emergence", *map(str, args), "--process-id", str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_two_processes_give_the_loss_log_of_one(tmp_path, cosine, smoke_data, reference_run):
    run = tiny_run()
    results = _two_processes(tmp_path / "two", run, cosine, smoke_data)
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
        assert "data-parallel over 2 devices" in r.stderr
    one, two = read_log(reference_run[0] / "train_log.jsonl"), read_log(tmp_path / "two" / "train_log.jsonl")
    assert [r["step"] for r in two] == [r["step"] for r in one]
    for key in ("loss", "val_loss", "grad_norm"):
        a = [r[key] for r in two if r[key] is not None]
        b = [r[key] for r in one if r[key] is not None]
        np.testing.assert_allclose(a, b, rtol=2e-4)
    # The last line is the summary (gloo prints its own lines before it).
    finals = [json.loads(r.stdout.strip().splitlines()[-1])["final_val_loss"] for r in results]
    assert finals[0] == finals[1] == two[-1]["val_loss"]

    # Resume: without its log and summary, the job restarts from its last checkpoint, in both processes.
    for name in ("train_log.jsonl", "model.json"):
        (tmp_path / "two" / name).unlink()
    again = _two_processes(tmp_path / "two", run, cosine, smoke_data)
    for r in again:
        assert r.returncode == 0, r.stderr[-2000:]
        assert "resumed from checkpoint" in r.stderr
    assert read_log(tmp_path / "two" / "train_log.jsonl") == two


def test_incomplete_process_options_are_one_line(tmp_path, cosine, smoke_data):
    args = ["train", "--data", smoke_data, "--out", tmp_path, "--run", json.dumps(tiny_run().to_dict())]
    args += ["--num-processes", "2"]
    result = run_cli(*args)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--num-processes, --process-id and --coordinator" in result.stderr
