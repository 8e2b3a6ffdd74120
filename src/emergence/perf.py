"""Speed benchmarks (`emergence perf`) that print figures: training throughput against this machine's
measured matmul peak, and evaluation throughput with and without the KV cache."""

from __future__ import annotations

import dataclasses
import resource
import time

import jax
import numpy as np
from flax import nnx

from emergence.config import StudyConfig, load_config
from emergence.errors import ConfigError
from emergence.model.inference import Inference
from emergence.model.transformer import ModelConfig, flops_per_token, init_model, param_counts
from emergence.train.engine import Engine, data_mesh
from emergence.train.optimizer import lr_schedule, total_steps

# Dense bfloat16 / float32 (without sparsity) peak FLOP/s from the vendors' datasheets, by a
# substring of jax's device_kind: model FLOPs utilisation (MFU) is reported against these.
DATASHEET_PEAKS = {
    "H200": {"bfloat16": 989e12, "float32": 67e12},
    "H100 PCIe": {"bfloat16": 756e12, "float32": 51e12},
    "H100": {"bfloat16": 989e12, "float32": 67e12},
    "A100": {"bfloat16": 312e12, "float32": 19.5e12},
    "L4": {"bfloat16": 121e12, "float32": 30e12},
}


def datasheet_peak(device_kind: str, dtype: str) -> float | None:
    """The datasheet peak of a device (first matching name: more specific names come first), or None."""
    for name, peaks in DATASHEET_PEAKS.items():
        if name in device_kind:
            return peaks.get(dtype)
    return None


def matmul_peak(sizes=(512, 1024, 2048), repeats: int = 10, dtype: str = "float32") -> float:
    """Best FLOP/s of a jitted square matmul in `dtype` on the default device (best of
    `repeats` per size: the peak is what the hardware can do, not a typical moment)."""
    best = 0.0
    for n in sizes:
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        b = jax.random.normal(jax.random.key(1), (n, n), dtype)
        f = jax.jit(lambda x, y: x @ y)
        f(a, b).block_until_ready()
        for _ in range(repeats):
            t = time.perf_counter()
            f(a, b).block_until_ready()
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def phase_breakdown(engine: Engine, params, data: np.ndarray, repeats: int) -> dict[str, float]:
    """Seconds per chunk of: the forward pass and loss, forward plus backward, and the whole
    step with the optimizer update: where a step's time goes."""

    def forward(p, d):
        return jax.lax.map(lambda b: engine._token_losses(p, b).mean(), d)

    def backward(p, d):
        # Reduce every gradient, or XLA drops the weight gradients nobody reads.
        grad = jax.grad(lambda q, b: engine._token_losses(q, b).mean())
        return jax.lax.map(lambda b: sum(g.sum() for g in jax.tree.leaves(grad(p, b))), d)

    opt_state = engine.tx.init(params)
    fns = {
        "forward + loss": (jax.jit(forward), (params, data)),
        "forward + backward": (jax.jit(backward), (params, data)),
        "full step (AdamW, clip)": (jax.jit(engine._train_chunk), (params, opt_state, data)),
    }
    out = {}
    for name, (fn, args) in fns.items():
        jax.block_until_ready(fn(*args))
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            jax.block_until_ready(fn(*args))
            best = min(best, time.perf_counter() - t)
        out[name] = best
    return out


def _largest(cfg: StudyConfig, size_name: str | None, config_path: str) -> str:
    sizes = cfg.models.sizes
    if size_name is None:
        return max(
            sizes, key=lambda n: param_counts(ModelConfig.from_size(sizes[n], cfg.tokenizer.vocab_size, 1))["params"]
        )
    if size_name not in sizes:
        raise ConfigError(f"size {size_name!r} is not in {config_path}; sizes: {', '.join(sizes)}")
    return size_name


def _best_seconds(fn, repeats: int = 3) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def perf_evaluate(config_path: str, size_name: str | None, new_tokens: int, batch_size: int) -> dict:
    """Evaluation throughput of one size (random weights: speed does not depend on them):
    multiple-choice items/s (4 choices, 48-token contexts; a context read once for all its
    choices, as the evaluator does, and each pair on its own) and greedy generation tokens/s
    with and without the KV cache, checking both decode the same tokens."""
    cfg = load_config(config_path)
    size_name = _largest(cfg, size_name, config_path)
    mcfg = ModelConfig.from_size(cfg.models.sizes[size_name], cfg.tokenizer.vocab_size, cfg.models.context)
    if new_tokens + 16 > mcfg.context:
        raise ConfigError(f"--new-tokens {new_tokens} leaves under 16 prompt tokens in the context of {mcfg.context}")
    params = nnx.to_pure_dict(nnx.state(init_model(mcfg, 0), nnx.Param))
    inf = Inference(mcfg, batch_size=batch_size)
    rng = np.random.default_rng(0)
    V = mcfg.vocab_size
    items = [
        (rng.integers(0, V, 48).tolist(), [rng.integers(0, V, 4).tolist() for _ in range(4)])
        for _ in range(4 * batch_size)
    ]
    pairs = [(ctx, c) for ctx, choices in items for c in choices]
    mc_s = _best_seconds(lambda: inf.choice_logprobs(params, items))  # the evaluator's path
    pairs_s = _best_seconds(lambda: inf.continuation_logprobs(params, pairs))
    prompt_len = min(32, mcfg.context - new_tokens)
    prompts = [rng.integers(0, V, prompt_len).tolist() for _ in range(batch_size)]
    cached_s = _best_seconds(lambda: inf.greedy(params, prompts, new_tokens, cached=True))
    uncached_s = _best_seconds(lambda: inf.greedy(params, prompts, new_tokens, cached=False))
    same = bool(
        np.array_equal(inf.greedy(params, prompts, new_tokens, True), inf.greedy(params, prompts, new_tokens, False))
    )
    result = {
        "model": size_name,
        "batch_size": batch_size,
        "new_tokens": new_tokens,
        "mc_items_per_s": len(items) / mc_s,
        "mc_items_per_s_pairs": len(items) / pairs_s,
        "gen_tokens_per_s_cached": batch_size * new_tokens / cached_s,
        "gen_tokens_per_s_uncached": batch_size * new_tokens / uncached_s,
        "kv_cache_speedup": uncached_s / cached_s,
        "cached_equals_uncached": same,
    }
    print(
        f"multiple choice: {result['mc_items_per_s']:,.0f} items/s (4 choices, 48-token contexts, each read once), "
        f"{result['mc_items_per_s_pairs']:,.0f} scoring each (context, choice) pair on its own",
        flush=True,
    )
    print(
        f"greedy decoding, {new_tokens} new tokens x {batch_size} prompts: "
        f"{result['gen_tokens_per_s_cached']:,.0f} tokens/s "
        f"with the KV cache, {result['gen_tokens_per_s_uncached']:,.0f} without ({result['kv_cache_speedup']:.1f}x); "
        f"same tokens: {same}",
        flush=True,
    )
    return result


def perf_train(
    config_path: str,
    size_name: str | None,
    seconds: float,
    batch_size: int | None,
    steps_per_call: int | None = None,
    precision: str | None = None,
) -> dict:
    """Train one size of a study's grid on random tokens for `seconds` (after compiling)
    and compare its model FLOP/s with the matmul peak. Prints progress, returns the figures."""
    cfg = load_config(config_path)
    sizes = cfg.models.sizes
    size_name = _largest(cfg, size_name, config_path)
    tcfg = cfg.training
    B = batch_size or tcfg.batch_size
    L = cfg.models.context
    precision = precision or tcfg.precision
    mcfg = ModelConfig.from_size(sizes[size_name], cfg.tokenizer.vocab_size, L, precision)
    K = steps_per_call or tcfg.steps_per_call
    mesh = data_mesh(B)
    print(f"devices: {mesh.devices.size} x {jax.devices()[0].device_kind}; model {size_name}: {mcfg}", flush=True)

    peak = matmul_peak(
        sizes=(512, 1024, 2048, 4096) if jax.default_backend() != "cpu" else (512, 1024, 2048), dtype=precision
    )
    print(f"{precision} matmul peak: {peak / 1e9:.1f} GFLOP/s", flush=True)

    tcfg = dataclasses.replace(tcfg, batch_size=B, precision=precision)
    engine = Engine(mcfg, tcfg, lr_schedule(tcfg, total_steps(10**9, B, L)), mesh)
    params, opt_state = engine.init(0)
    engine.compile(params, opt_state, {K})
    rng = np.random.default_rng(0)
    data = rng.integers(0, mcfg.vocab_size, size=(K, B, L + 1), dtype=np.int32)
    params, opt_state, losses, _ = engine.run_chunk(params, opt_state, data)  # warm-up
    losses.block_until_ready()
    steps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        params, opt_state, losses, _ = engine.run_chunk(params, opt_state, data)
        losses.block_until_ready()
        steps += K
    elapsed = time.perf_counter() - t
    tps = steps * B * L / elapsed
    fpt = flops_per_token(mcfg)
    phases = phase_breakdown(engine, params, data, repeats=3)
    for name, sec in phases.items():
        print(f"  {name:<28s} {sec * 1e3 / K:8.2f} ms/step", flush=True)
    result = {
        "model": size_name,
        **param_counts(mcfg),
        "batch_size": B,
        "context": L,
        "steps_per_call": K,
        "devices": int(mesh.devices.size),
        "flops_per_token": fpt,
        "tokens_per_s": tps,
        "flops_per_s": tps * fpt,
        "precision": precision,
        "matmul_peak_flops_per_s": peak,
        "ratio": tps * fpt / peak,
        "device_kind": jax.devices()[0].device_kind,
        "datasheet_peak_flops_per_s": datasheet_peak(jax.devices()[0].device_kind, precision),
        "ms_per_step": {k: v * 1e3 / K for k, v in phases.items()},
        "matmul_bound_ms_per_step": B * L * fpt / peak * 1e3,
        # Peak resident memory of this process (Linux reports KiB).
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    sheet = result["datasheet_peak_flops_per_s"]
    result["mfu"] = tps * fpt / sheet if sheet else None
    if sheet:
        print(f"MFU: {result['mfu']:.1%} of the {precision} datasheet peak of {result['device_kind']}", flush=True)
    print(
        f"training: {tps:,.0f} tokens/s, {tps * fpt / 1e9:.1f} GFLOP/s = {result['ratio']:.2f} of the matmul peak; "
        f"peak RSS {result['peak_rss_mib']:,.0f} MiB",
        flush=True,
    )
    return result
