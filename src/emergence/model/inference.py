"""Batched inference on checkpoints: continuation log-likelihoods and greedy decoding.

Work is padded into a few fixed shapes (a fixed batch size, lengths rounded up to a
multiple of BUCKET), so each function compiles once per shape bucket, not per item,
and parameters are arguments, so every checkpoint of a model reuses the compiled code.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from emergence.errors import InputError
from emergence.model.checkpoints import Checkpoints
from emergence.model.transformer import ModelConfig, init_model

BUCKET = 16


def _bucket(n: int, cap: int) -> int:
    return min(cap, BUCKET * math.ceil(max(n, 1) / BUCKET))


def load_model_config(model_dir: Path) -> ModelConfig:
    path = Path(model_dir) / "model.json"
    try:
        return ModelConfig(**json.loads(path.read_text())["model"])
    except FileNotFoundError:
        raise InputError(f"{path} does not exist: is {model_dir} a trained model's directory?") from None
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a model summary written by `emergence train` ({e})") from None


class ParamsReader:
    """Reads the parameters (not the optimizer state) of a model's checkpoints."""

    def __init__(self, model_dir: Path, mcfg: ModelConfig):
        self.ckpts = Checkpoints(Path(model_dir) / "checkpoints")
        self.steps = self.ckpts.steps()
        self.like = nnx.to_pure_dict(nnx.state(nnx.eval_shape(lambda: init_model(mcfg, 0)), nnx.Param))

    def __call__(self, step: int):
        if step not in self.steps:
            raise InputError(f"{self.ckpts.directory} has no checkpoint at step {step}; it has {self.steps}")
        return self.ckpts.restore(step, {"params": self.like})[0]["params"]


def load_params(model_dir: Path, step: int, mcfg: ModelConfig):
    """The parameters saved at `step` in model_dir/checkpoints."""
    return ParamsReader(model_dir, mcfg)(step)


class Inference:
    """Jitted scoring and decoding for one model architecture."""

    def __init__(self, mcfg: ModelConfig, batch_size: int = 32):
        self.mcfg, self.batch_size = mcfg, batch_size
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: init_model(mcfg, 0)))
        self._token_logprobs = jax.jit(self._token_logprobs_fn)
        self._next_logprobs = jax.jit(self._next_logprobs_fn)
        self._choice_logprobs = jax.jit(self._choice_logprobs_fn)
        self._greedy = jax.jit(self._greedy_fn, static_argnames=("max_new",))
        self._greedy_uncached = jax.jit(self._greedy_uncached_fn, static_argnames=("max_new",))

    # ---- log-likelihoods -------------------------------------------------------------

    def _token_logprobs_fn(self, params, tokens_BxT):
        """Each next token's log-probability, and whether it is the most likely next token."""
        logits_BxTxV = nnx.merge(self.graphdef, params)(tokens_BxT)
        logp_BxTxV = jax.nn.log_softmax(logits_BxTxV[:, :-1], axis=-1)
        target_BxT1 = tokens_BxT[:, 1:]
        top_BxT1 = jnp.argmax(logits_BxTxV[:, :-1], axis=-1) == target_BxT1
        return jnp.take_along_axis(logp_BxTxV, target_BxT1[..., None], axis=-1)[..., 0], top_BxT1

    def continuation_logprobs(self, params, pairs: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """Per-token log-probabilities (natural log) of each continuation given its context.

        A pair longer than the model's context loses tokens from the left of the context."""
        return [logp for logp, _ in self.continuation_scores(params, pairs)]

    def continuation_scores(self, params, pairs: list[tuple[list[int], list[int]]]) -> list[tuple]:
        """Per continuation, (log-probabilities of its tokens, whether each is the most likely
        next token given the ones before): all True means greedy decoding produces it."""
        T_max = self.mcfg.context + 1
        seqs, n_cont = [], []
        for ctx, cont in pairs:
            if not cont:
                raise ValueError("empty continuation")
            seq = (list(ctx) + list(cont))[-T_max:]
            if len(seq) < 2:  # nothing to condition on: prepend the first token as context
                seq = [seq[0]] + seq
            seqs.append(seq)
            n_cont.append(min(len(cont), len(seq) - 1))
        out: list[np.ndarray | None] = [None] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            T = _bucket(max(len(seqs[i]) for i in idx), T_max)
            batch = np.zeros((self.batch_size, T), np.int32)
            for row, i in enumerate(idx):
                batch[row, : len(seqs[i])] = seqs[i]
            logp_BxT1, top_BxT1 = map(np.asarray, self._token_logprobs(params, batch))
            for row, i in enumerate(idx):
                end = len(seqs[i]) - 1
                out[i] = (logp_BxT1[row, end - n_cont[i] : end], top_BxT1[row, end - n_cont[i] : end])
        return out

    def _next_logprobs_fn(self, params, tokens_BxT, last_B):
        logits_BxTxV = nnx.merge(self.graphdef, params)(tokens_BxT)
        last_BxV = jnp.take_along_axis(logits_BxTxV, last_B[:, None, None], axis=1)[:, 0]
        return jax.nn.log_softmax(last_BxV, axis=-1)

    def next_token_logprobs(self, params, contexts: list[list[int]]) -> np.ndarray:
        """(n, V) log-probabilities of the token after each context: one forward pass per
        context scores every single-token continuation of it at once. A context longer than
        the model's keeps its last `context` tokens, as `continuation_logprobs` does."""
        L = self.mcfg.context
        seqs = [list(c)[-L:] or [0] for c in contexts]
        out = np.zeros((len(seqs), self.mcfg.vocab_size), np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            T = _bucket(max(len(seqs[i]) for i in idx), L)
            batch = np.zeros((self.batch_size, T), np.int32)
            last = np.zeros(self.batch_size, np.int32)
            for row, i in enumerate(idx):
                batch[row, : len(seqs[i])] = seqs[i]
                last[row] = len(seqs[i]) - 1
            logp_BxV = np.asarray(self._next_logprobs(params, batch, last))
            out[idx] = logp_BxV[: len(idx)]
        return out

    def _choice_logprobs_fn(self, params, ctx_BxP, pad_B, choices_BxNxC):
        """Log-probabilities (B, N, C) of each choice's tokens after its row's (left-padded)
        context, and whether each token is the most likely next one: the context runs once
        into a key/value cache, then all N choices of a row run on copies of that cache, each
        seeing the context and its own earlier tokens."""
        model = nnx.merge(self.graphdef, params)
        B, N, C = choices_BxNxC.shape
        P = ctx_BxP.shape[1]
        logits_BxPxV, caches, valid_BxS = self._prefill_logits(model, ctx_BxP, pad_B, P + C - 1)
        last_BxV = logits_BxPxV[:, -1]
        first_BxN = jnp.take_along_axis(jax.nn.log_softmax(last_BxV), choices_BxNxC[:, :, 0], axis=-1)
        first_top_BxN = jnp.argmax(last_BxV, axis=-1)[:, None] == choices_BxNxC[:, :, 0]
        if C == 1:
            return first_BxN[..., None], first_top_BxN[..., None]
        tokens_MxC1 = choices_BxNxC[:, :, :-1].reshape(B * N, C - 1)
        positions_MxC1 = jnp.repeat(P - pad_B, N)[:, None] + jnp.arange(C - 1)[None, :]
        caches = [tuple(jnp.repeat(a, N, axis=0) for a in kv) for kv in caches]
        logits_MxC1xV, _ = model(tokens_MxC1, caches, P, positions_MxC1, jnp.repeat(valid_BxS, N, axis=0))
        next_MxC1 = choices_BxNxC[:, :, 1:].reshape(B * N, C - 1)
        rest_MxC1 = jnp.take_along_axis(jax.nn.log_softmax(logits_MxC1xV, axis=-1), next_MxC1[..., None], axis=-1)
        rest_top_MxC1 = jnp.argmax(logits_MxC1xV, axis=-1) == next_MxC1
        logp_BxNxC = jnp.concatenate([first_BxN[..., None], rest_MxC1.reshape(B, N, C - 1)], axis=-1)
        top_BxNxC = jnp.concatenate([first_top_BxN[..., None], rest_top_MxC1.reshape(B, N, C - 1)], axis=-1)
        return logp_BxNxC, top_BxNxC

    def choice_logprobs(self, params, requests: list[tuple[list[int], list[list[int]]]]) -> list[list[np.ndarray]]:
        """Per (context, choices) request, the per-token log-probabilities of each choice given
        the context: the same numbers as `continuation_logprobs` on each (context, choice)
        pair, but each context is read once for all its choices (k-shot prompts are long
        and their choices a few tokens). A request that would not fit in the model's context
        is scored pair by pair, so it loses context tokens from the left as there."""
        return [[logp for logp, _ in choices] for choices in self.choice_scores(params, requests)]

    def choice_scores(self, params, requests: list[tuple[list[int], list[list[int]]]]) -> list[list[tuple]]:
        """`choice_logprobs` with, per token, whether it is the most likely next token (as
        `continuation_scores`): per request, a (log-probabilities, greedy) pair per choice."""
        L = self.mcfg.context
        out: list[list[tuple] | None] = [None] * len(requests)
        groups = defaultdict(list)  # (choices per request, longest choice up to a power of 2) -> requests
        fallback = []
        for i, (ctx, choices) in enumerate(requests):
            if not choices or not all(choices):
                raise ValueError("a request needs choices, none of them empty")
            C = max(map(len, choices))
            if not ctx or len(ctx) + C - 1 > L:
                fallback.append(i)
            else:
                groups[len(choices), min(1 << (C - 1).bit_length(), L + 1 - len(ctx))].append(i)
        for (N, C), members in groups.items():
            members.sort(key=lambda i: len(requests[i][0]))
            for start in range(0, len(members), self.batch_size):
                idx = members[start : start + self.batch_size]
                P = min(_bucket(max(len(requests[i][0]) for i in idx), L), L + 1 - C)
                ctx = np.zeros((self.batch_size, P), np.int32)
                pad = np.zeros(self.batch_size, np.int32)  # unused rows: a valid (all-zero) context
                choices = np.zeros((self.batch_size, N, C), np.int32)
                for row, i in enumerate(idx):
                    c, ch = requests[i]
                    ctx[row, P - len(c) :], pad[row] = c, P - len(c)
                    for j, tokens in enumerate(ch):
                        choices[row, j, : len(tokens)] = tokens
                logp, top = map(np.asarray, self._choice_logprobs(params, ctx, pad, choices))
                for row, i in enumerate(idx):
                    out[i] = [(logp[row, j, : len(t)], top[row, j, : len(t)]) for j, t in enumerate(requests[i][1])]
        pairs = [(requests[i][0], ch) for i in fallback for ch in requests[i][1]]
        scored = iter(self.continuation_scores(params, pairs))
        for i in fallback:
            out[i] = [next(scored) for _ in requests[i][1]]
        return out

    # ---- greedy decoding ---------------------------------------------------------------

    def _prefill_logits(self, model, prompt_BxP, pad_B, S):
        """Every prompt position's logits, the key/value caches of S slots filled with the
        prompt, and which slots each row may attend to (not its left padding)."""
        B, P = prompt_BxP.shape
        H, K = self.mcfg.n_heads, self.mcfg.head_dim
        dt = self.mcfg.dtype
        caches = [(jnp.zeros((B, H, S, K), dt), jnp.zeros((B, H, S, K), dt)) for _ in range(self.mcfg.n_layers)]
        valid_BxS = jnp.arange(S)[None, :] >= pad_B[:, None]
        positions_BxP = jnp.maximum(jnp.arange(P)[None, :] - pad_B[:, None], 0)
        logits_BxPxV, caches = model(prompt_BxP, caches, 0, positions_BxP, valid_BxS)
        return logits_BxPxV, caches, valid_BxS

    def _prefill(self, model, prompt_BxP, pad_B, S):
        logits_BxPxV, caches, valid_BxS = self._prefill_logits(model, prompt_BxP, pad_B, S)
        return jnp.argmax(logits_BxPxV[:, -1], axis=-1), caches, valid_BxS

    def _greedy_fn(self, params, prompt_BxP, pad_B, max_new: int):
        model = nnx.merge(self.graphdef, params)
        P = prompt_BxP.shape[1]
        first_B, caches, valid_BxS = self._prefill(model, prompt_BxP, pad_B, P + max_new)

        def step(i, carry):
            out_BxM, caches = carry
            positions_Bx1 = (P + i - 1 - pad_B)[:, None]
            last_Bx1 = jax.lax.dynamic_slice_in_dim(out_BxM, i - 1, 1, axis=1)
            logits_Bx1xV, caches = model(last_Bx1, caches, P + i - 1, positions_Bx1, valid_BxS)
            return out_BxM.at[:, i].set(jnp.argmax(logits_Bx1xV[:, 0], axis=-1)), caches

        out_BxM = jnp.zeros((prompt_BxP.shape[0], max_new), jnp.int32).at[:, 0].set(first_B)
        out_BxM, _ = jax.lax.fori_loop(1, max_new, step, (out_BxM, caches))
        return out_BxM

    def _greedy_uncached_fn(self, params, prompt_BxP, pad_B, max_new: int):
        """The reference: recompute the whole prefix for every new token."""
        model = nnx.merge(self.graphdef, params)
        B, P = prompt_BxP.shape
        T = P + max_new
        valid_BxT = jnp.arange(T)[None, :] >= pad_B[:, None]
        positions_BxT = jnp.maximum(jnp.arange(T)[None, :] - pad_B[:, None], 0)
        buf_BxT = jnp.zeros((B, T), jnp.int32).at[:, :P].set(prompt_BxP)

        def step(i, buf_BxT):
            logits_BxTxV = model(buf_BxT, positions_BxL=positions_BxT, valid_BxS=valid_BxT)
            nxt_B = jnp.argmax(jax.lax.dynamic_index_in_dim(logits_BxTxV, P + i - 1, axis=1, keepdims=False), axis=-1)
            return buf_BxT.at[:, P + i].set(nxt_B)

        return jax.lax.fori_loop(0, max_new, step, buf_BxT)[:, P:]

    def greedy(self, params, prompts: list[list[int]], max_new: int, cached: bool = True) -> np.ndarray:
        """(n, max_new) greedily decoded token ids for each prompt (stop sequences are the
        caller's: decoding always runs max_new steps, so shapes stay fixed).

        Prompts lose tokens from the left to leave room for max_new within the context."""
        if max_new >= self.mcfg.context:
            raise ValueError(f"max_new {max_new} leaves no room for a prompt in context {self.mcfg.context}")
        room = self.mcfg.context - max_new
        prompts = [list(p)[-room:] or [0] for p in prompts]
        fn = self._greedy if cached else self._greedy_uncached
        out = np.zeros((len(prompts), max_new), np.int32)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            P = _bucket(max(len(prompts[i]) for i in idx), room)
            batch = np.zeros((self.batch_size, P), np.int32)
            pad = np.full(self.batch_size, P, np.int32)
            for row, i in enumerate(idx):
                batch[row, P - len(prompts[i]) :] = prompts[i]
                pad[row] = P - len(prompts[i])
            pad[len(idx) :] = 0  # unused rows: a valid (all-zero) prompt
            tokens = np.asarray(fn(params, batch, pad, max_new=max_new))
            for row, i in enumerate(idx):
                out[i] = tokens[row]
        return out
