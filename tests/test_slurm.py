"""The smoke study on a real Slurm cluster: a one-node cluster on this machine
(tests/cluster/slurm_up.sh), every job submitted with sbatch by Snakemake's own Slurm
executor plugin through profiles/slurm, and the same tables as a local run.

Skipped, with the reason in one line, where Slurm cannot be started (not root, no
packages: `make test` installs them where apt-get can)."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import copy_workflow, read_log, snakemake, study_tables, tiny_run

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
pytestmark = pytest.mark.slow
# What the profile asks of a GPU cluster does not fit one 2-CPU node: these flags replace
# the profile's partitions, GPUs, threads and memory (docs/cluster.md), and query job states
# with squeue, since this cluster has no accounting database.
LOCAL_NODE = (
    "--slurm-status-command squeue --slurm-init-seconds-before-status-checks 2"
    " --set-threads trunk=1 train=1 evaluate=1"
    " --set-resources trunk:mem_mb=2000 train:mem_mb=2000 evaluate:mem_mb=2000"
    " --default-resources mem_mb=1000 runtime=10 --jobs 2"
).split()


@pytest.fixture(scope="module")
def cluster():
    running = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0
    up = subprocess.run([CLUSTER / "slurm_up.sh"], capture_output=True, text=True)
    if up.returncode != 0:
        pytest.skip((up.stderr.strip().splitlines() or ["Slurm could not be started"])[-1])
    yield up.stdout.strip()
    if not running:  # leave a cluster that was up before as it was
        subprocess.run([CLUSTER / "slurm_down.sh"], capture_output=True)


def test_the_smoke_study_on_slurm_gives_the_local_tables(cluster, tmp_path, smoke_study):
    work = copy_workflow(tmp_path / "slurm")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/bin", "HOME": str(work)}
    # Up to the tables compared (not the figures and the page): half the jobs, each a round of
    # sbatch and squeue.
    tables = ["reports/tables/thresholds.csv", "reports/tables/collapse.csv"]
    slurm = snakemake(work, *tables, "--workflow-profile", "profiles/slurm", *LOCAL_NODE, env=env, timeout=1200)
    assert slurm.returncode == 0, slurm.stderr[-3000:]
    log = slurm.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", log).group(1))
    assert len(submitted) == jobs  # every job went through sbatch
    # Slurm's own record: every job of this run completed.
    states = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", run_id], capture_output=True, text=True
    ).stdout.split()
    assert sorted(s.split("|")[0] for s in states) == sorted(submitted)
    assert {s.split("|")[1] for s in states} == {"COMPLETED"}

    # The local run of the same study (the session's), whose jobs have the cluster jobs' threads
    # (1): a training job splits the CPU into as many devices as it has threads, and sums
    # over a batch's shards differ in the last bits.
    for name, table in study_tables(smoke_study).items():
        pd.testing.assert_frame_equal(study_tables(work)[name], table, check_exact=False, rtol=1e-9)


def test_srun_with_two_tasks_trains_as_two_jax_processes(cluster, tmp_path, cosine, smoke_data, reference_run):
    # jax.distributed finds the process count, rank and coordinator in srun's environment.
    run, tcfg = tiny_run(), cosine
    args = ["--data", smoke_data, "--out", tmp_path / "srun", "--quiet", "--run", json.dumps(run.to_dict())]
    args += ["--training", json.dumps(dataclasses.asdict(tcfg))]
    result = subprocess.run(
        ["srun", "--ntasks=2", "--cpus-per-task=1", sys.executable, "-m", "emergence", "train", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("data-parallel over 2 devices") == 2
    one, two = read_log(reference_run[0] / "train_log.jsonl"), read_log(tmp_path / "srun" / "train_log.jsonl")
    assert [r["step"] for r in two] == [r["step"] for r in one]
    for key in ("loss", "val_loss"):
        a = [r[key] for r in two if r[key] is not None]
        b = [r[key] for r in one if r[key] is not None]
        assert np.allclose(a, b, rtol=2e-4)
