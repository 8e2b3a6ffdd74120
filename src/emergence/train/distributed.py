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


def _cpu_collectives() -> None:
    """Cross-process all-reduce on CPU devices goes through gloo (no effect on GPUs)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


def primary() -> bool:
    """Whether this process writes the files every process would otherwise write alike."""
    return jax.process_index() == 0
