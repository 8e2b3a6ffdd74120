"""Training as several JAX processes, data parallel across them (one process per host or GPU).

A training job runs as N processes when launched so: by `srun` with N tasks (Slurm sets the
process count, the rank and the coordinator, and `jax.distributed` reads them), or
explicitly with `--num-processes N --process-id I --coordinator HOST:PORT` on each process.
On CPU the processes exchange gradients through the gloo collectives.

Every process builds the same global batch (batches are a pure function of (seed, step))
and JAX places only its own shard on its devices; parameters and optimizer state are
replicated. Every process takes part in each Orbax checkpoint (Orbax writes each array
once); only the primary process (index 0) writes the log and the summary files.
"""

from __future__ import annotations

import os

import jax

from emergence.errors import ConfigError


def initialize(num_processes: int | None = None, process_id: int | None = None, coordinator: str | None = None) -> int:
    """Join the job's processes, if it has several; returns the number of processes.

    Explicit arguments win; otherwise `srun` with more than one task is detected from
    SLURM_STEP_NUM_TASKS. A single process does nothing. ConfigError for incomplete or
    inconsistent arguments."""
    given = [v is not None for v in (num_processes, process_id, coordinator)]
    if any(given) and not all(given):
        raise ConfigError("multi-process training needs all of --num-processes, --process-id and --coordinator")
    if all(given):
        if not 0 <= process_id < num_processes:
            raise ConfigError(f"--process-id {process_id} is not in 0..{num_processes - 1}")
        if num_processes == 1:
            return 1
        _cpu_collectives()
        jax.distributed.initialize(coordinator, num_processes, process_id)
        return num_processes
    tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS", "1"))
    if tasks > 1:
        _cpu_collectives()
        jax.distributed.initialize()  # the cluster environment (Slurm) gives the rest
    return tasks


def cpu_devices(n: int | None = None) -> int:
    """Split the host CPU into `n` JAX devices (default: the cores this process may run on),
    so that the data-parallel step runs a shard of each batch on every core at once.

    XLA's CPU backend runs much of a small model's step on one thread: on 2 cores one device
    per core trains 1.1-1.6x the tokens/s of one device (docs/performance.md). Call it before
    JAX starts. A host device count already set (XLA_FLAGS, JAX_NUM_CPU_DEVICES) wins; once
    JAX has started in this process (a test calling the CLI in-process) the count in force
    stays. Accelerators are not affected. Returns the count asked for."""
    n = n or len(os.sched_getaffinity(0))
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "") or os.environ.get(
        "JAX_NUM_CPU_DEVICES"
    ):
        return n
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # JAX has started: its devices are fixed
        pass
    return n


def _cpu_collectives() -> None:
    """Cross-process all-reduce on CPU devices goes through gloo (no effect on GPUs)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


def primary() -> bool:
    """Whether this process writes the files every process would otherwise write alike."""
    return jax.process_index() == 0
