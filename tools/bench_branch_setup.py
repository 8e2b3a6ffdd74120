"""What a WSD branch pays to take a trunk's early checkpoints as its own (issue 10, part 5).

Takes the first N checkpoints of a trunk into a scratch directory twice: restored and saved
again through Orbax (what a branch did before), and copied as files by `Checkpoints.adopt`
(what it does now). Prints milliseconds per checkpoint for each.

usage: .venv/bin/python tools/bench_branch_setup.py TRUNK_CHECKPOINTS [N]
   e.g. .venv/bin/python tools/bench_branch_setup.py results/trunks/w128l4-s0/checkpoints 8
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from emergence.model.checkpoints import Checkpoints


def _like(step_dir: Path) -> dict:
    """Abstract arrays of a checkpoint's items, read from its own metadata."""
    reader = ocp.StandardCheckpointer()
    return {
        item: jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), reader.metadata(step_dir / item).item_metadata.tree
        )
        for item in ("params", "opt_state")
    }


def main(trunk_dir: str, n: int = 8) -> None:
    trunk = Checkpoints(Path(trunk_dir))
    steps = trunk.steps()[:n]
    like = _like(trunk.directory / str(steps[0]))
    for how in ("restore + save", "adopt (file copy)"):
        scratch = Path(tempfile.mkdtemp())
        branch = Checkpoints(scratch / "checkpoints")
        tic = time.perf_counter()
        for s in steps:
            if how == "adopt (file copy)":
                branch.adopt(trunk, s, "bench")
            else:
                state, meta = trunk.restore(s, like)
                branch.save(s, state, {**meta, "fingerprint": "bench"})
        ms = (time.perf_counter() - tic) / len(steps) * 1000
        branch.close()
        shutil.rmtree(scratch)
        print(f"{how}: {ms:.0f} ms per checkpoint ({len(steps)} checkpoints of {trunk.directory})")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
