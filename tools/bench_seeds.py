"""Would training several seeds in one process pay? (issue 10, part 4)

Times one seed's jitted training step (the engine's, as a training job runs it) against
`n` seeds stacked on a leading axis and trained by one `jax.vmap` of the same step, on
random tokens, after compiling; one JAX device (run it with JAX_NUM_CPU_DEVICES=2 for one
per core). Prints, per size, the speedup in seed-steps per second (above 1: grouping pays).

usage: .venv/bin/python tools/bench_seeds.py SIZES SEEDS SECONDS   e.g.  w24l2,w64l2 3 6
"""

import sys
import time

import jax
import numpy as np

from emergence.config import load_config
from emergence.model.transformer import ModelConfig
from emergence.train.engine import Engine, data_mesh
from emergence.train.optimizer import wsd_schedule


def steps_per_s(fn, params, opt_state, data, steps_per_call, seconds):
    params, opt_state, losses, _ = fn(params, opt_state, data)  # compile and warm up
    jax.block_until_ready(losses)
    steps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        params, opt_state, losses, _ = fn(params, opt_state, data)
        np.asarray(losses)
        steps += steps_per_call
    return steps / (time.perf_counter() - t)


def main(sizes: str, n_seeds: int, seconds: float) -> None:
    cfg = load_config("config/config.yaml")
    tcfg, L, K = cfg.training, cfg.models.context, cfg.training.steps_per_call
    rng = np.random.default_rng(0)
    for name in sizes.split(","):
        mcfg = ModelConfig.from_size(cfg.models.sizes[name], cfg.tokenizer.vocab_size, L, tcfg.precision)
        engine = Engine(mcfg, tcfg, wsd_schedule(tcfg, 30), data_mesh(tcfg.batch_size))
        data = rng.integers(0, mcfg.vocab_size, (K, tcfg.batch_size, L + 1)).astype(np.int32)
        alone = steps_per_s(engine.run_chunk, *engine.init(0), data, K, seconds)
        inits = [engine.init(s) for s in range(n_seeds)]
        params = jax.tree.map(lambda *x: np.stack(x), *[i[0] for i in inits])
        opt_state = jax.tree.map(lambda *x: np.stack(x), *[i[1] for i in inits])
        together = jax.jit(jax.vmap(engine._train_chunk), donate_argnums=(0, 1))  # the engine's own step, mapped
        seeds_data = rng.integers(0, mcfg.vocab_size, (n_seeds, K, tcfg.batch_size, L + 1)).astype(np.int32)
        grouped = steps_per_s(together, params, opt_state, seeds_data, K, seconds)
        speedup = grouped * n_seeds / alone
        print(
            f"{name}: one seed {1e3 / alone:.1f} ms/step; {n_seeds} seeds vmapped {1e3 / grouped:.1f} ms/step = "
            f"{1e3 / grouped / n_seeds:.1f} ms per seed-step: {speedup:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
