"""Orbax checkpoints of a training run: parameters, optimizer state and the log so far.

Orbax writes each checkpoint into a temporary directory and renames it when complete,
so a killed job never leaves a half-written checkpoint that a rerun would restore.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from jax.sharding import SingleDeviceSharding

from emergence.errors import InputError

# Orbax reports every save at INFO level; a training job's log has better uses.
logging.getLogger("absl").setLevel(logging.WARNING)


def _target(leaf) -> jax.ShapeDtypeStruct:
    """What to restore a saved array as: the leaf's shape, dtype and sharding; a leaf without
    a sharding (an abstract shape) onto this process's first device, whatever the devices of
    the job that saved it (training splits the CPU into one device per core)."""
    struct = ocp.utils.to_shape_dtype_struct(leaf)
    if struct.sharding is None:
        struct = jax.ShapeDtypeStruct(struct.shape, struct.dtype, sharding=SingleDeviceSharding(jax.local_devices()[0]))
    return struct


class Checkpoints:
    """All checkpoints of one run, by step. Each holds the items of a state dict (e.g.
    `params` and `opt_state`, pytrees of arrays) separately, so a reader can restore the
    parameters alone, and `meta` (JSON)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None, enable_async_checkpointing=False, create=True, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: dict, meta: dict) -> None:
        items = {name: ocp.args.StandardSave(tree) for name, tree in state.items()}
        self._manager.save(step, args=ocp.args.Composite(**items, meta=ocp.args.JsonSave(meta)), force=True)

    def restore(self, step: int, like: dict):
        """(state, meta) at `step` for the items named in `like`, a dict of pytrees with the
        items' structure (arrays or shapes); items not named are not read."""
        items = {name: ocp.args.StandardRestore(jax.tree.map(_target, tree)) for name, tree in like.items()}
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(**items, meta=ocp.args.JsonRestore()))
        except Exception as e:  # Orbax raises many types for a damaged or mismatched checkpoint.
            reason = str(e).split(" See full TensorStore details")[0].splitlines()[0]
            raise InputError(f"checkpoint {self.directory / str(step)} cannot be restored: {reason}") from e
        return {name: restored[name] for name in like}, restored.meta

    def adopt(self, source: Checkpoints, step: int, fingerprint: str) -> None:
        """Make `source`'s checkpoint at `step` one of these, under this run's `fingerprint`:
        a copy of its files (the arrays are the same; a restore and save measured 0.3-0.5 s each),
        renamed into place once complete, as Orbax's own are. Process 0 copies; the others wait."""
        if jax.process_index() == 0:
            # Not Orbax's temporary name: its manager removes those in a thread of its own.
            tmp = self.directory / f".adopting-{step}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source.directory / str(step), tmp)
            meta_file = tmp / "meta" / "metadata"  # where Orbax's JsonSave keeps the item
            meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "fingerprint": fingerprint}))
            tmp.rename(self.directory / str(step))
        ocp.multihost.sync_global_processes(f"adopt checkpoint {step}")
        self._manager.reload()

    def restore_meta(self, step: int) -> dict:
        return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def wipe(self) -> None:
        """Delete every checkpoint (they belong to a different configuration)."""
        self._manager.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.__init__(self.directory)

    def close(self) -> None:
        self._manager.close()
