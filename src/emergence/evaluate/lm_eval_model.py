"""An lm-evaluation-harness model for this project's checkpoints.

`CheckpointLM` answers lm-eval's three requests on the project's own batched inference
(`emergence.model.inference`): `loglikelihood` reads each context once into a key/value
cache and scores all its continuations on it (a multiple-choice item's choices share their
context), `loglikelihood_rolling` scores a text in lm-eval's rolling windows, and
`generate_until` decodes greedily with the cache. Truncation is lm-eval's (its HF model's):
a context and continuation longer than the model's context lose tokens from the left, a
generation prompt keeps its last `context - max_gen_toks` tokens; `truncated` counts both.

Importing this module registers it with lm-eval as `emergence`, so after it
`lm_eval.simple_evaluate(model="emergence", model_args="checkpoint=results/models/M/checkpoints/245")`
works, as does `lm_eval.simple_evaluate(model=CheckpointLM.from_checkpoint(...))`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from emergence.data.tokenizer import eos_id
from emergence.errors import InputError
from emergence.evaluate.opening import open_checkpoint
from emergence.evaluate.scoring import cut_at_stop
from emergence.model.inference import Inference

# lm-eval's default cap on generated tokens (its HF model's `max_gen_toks`).
MAX_GEN_TOKS = 256


@register_model("emergence")
class CheckpointLM(TemplateLM):
    """lm-eval's model interface on one checkpoint (`params`) of a model read as `inference`
    describes it, with the study's tokenizer. `params` may be swapped between evaluations:
    the evaluation stage keeps one CheckpointLM per model and sets each checkpoint's."""

    def __init__(
        self,
        checkpoint: str | None = None,
        tokenizer: str | None = None,
        rope_scaling: str = "none",
        rope_factor: float = 1.0,
        batch_size: int | str = 32,
        *,
        inference: Inference | None = None,
        params=None,
        tok=None,
        **_ignored,
    ):
        super().__init__()
        if inference is None:  # lm-eval's model_args: checkpoint=...,tokenizer=...
            if checkpoint is None:
                raise InputError("model emergence: needs model_args checkpoint=results/models/M/checkpoints/STEP")
            inference, params, tok = open_checkpoint(Path(checkpoint), tokenizer, rope_scaling, float(rope_factor))
            inference.batch_size = int(batch_size) if str(batch_size).isdigit() else 32
        self.inference, self.params, self.tokenizer = inference, params, tok
        self._eot = eos_id(tok)
        # Requests cut to fit the context, by kind of request.
        self.truncated: Counter = Counter()

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Path, tokenizer: Path | None = None, rope_scaling: str = "none", rope_factor: float = 1.0
    ) -> CheckpointLM:
        inference, params, tok = open_checkpoint(Path(checkpoint), tokenizer, rope_scaling, rope_factor)
        return cls(inference=inference, params=params, tok=tok)

    # ---- what TemplateLM asks ----------------------------------------------------------

    @property
    def eot_token_id(self) -> int:
        return self._eot

    @property
    def max_length(self) -> int:
        return self.inference.mcfg.context

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.tokenizer.encode(string).ids

    def tok_decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(list(tokens))

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """(log-likelihood, greedy) of each (_, context tokens, continuation tokens) request;
        requests with the same context are scored on one read of it."""
        by_context = defaultdict(list)
        for i, (_, ctx, cont) in enumerate(requests):
            by_context[tuple(ctx)].append(i)
            if len(ctx) + len(cont) > self.max_length + 1:
                self.truncated["loglikelihood"] += 1
        contexts = list(by_context)
        scored = self.inference.choice_scores(
            self.params, [(list(ctx), [requests[i][2] for i in by_context[ctx]]) for ctx in contexts]
        )
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        for ctx, choices in zip(contexts, scored):
            for i, (logp, top) in zip(by_context[ctx], choices):
                out[i] = (float(np.sum(logp, dtype=np.float64)), bool(np.all(top)))
        self._cache(requests, out)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Each text's log-likelihood in lm-eval's rolling windows of the model's context (the
        first conditioned on EOS, each later one on as much of the text before it as fits)."""
        pairs, owner = [], []
        for i, req in enumerate(requests):
            windows = get_rolling_token_windows(
                token_list=self.tok_encode(req.args[0]),
                prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            )
            for ctx, pred in map(make_disjoint_window, windows):
                pairs.append((ctx, pred))
                owner.append(i)
        totals = np.zeros(len(requests), np.float64)
        for i, logp in zip(owner, self.inference.continuation_logprobs(self.params, pairs)):
            totals[i] += float(np.sum(logp, dtype=np.float64))
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, float(total))
        return [float(t) for t in totals]

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy continuations, cut at the first of the request's `until` strings or EOS.
        At most `max_gen_toks` tokens (lm-eval's default 256), and at most half the model's
        context, so that a prompt keeps the other half (counted in `truncated`)."""
        by_cap = defaultdict(list)
        stops = []
        for i, req in enumerate(requests):
            context, gen_kwargs = req.args
            kwargs = dict(gen_kwargs or {})
            if kwargs.get("do_sample") or kwargs.get("temperature", 0.0) not in (0, 0.0, None):
                raise InputError(f"model emergence decodes greedily; request {i} asks for sampling ({kwargs})")
            until = kwargs.get("until") or []
            stops.append([until] if isinstance(until, str) else list(until))
            wanted = int(kwargs.get("max_gen_toks", MAX_GEN_TOKS))
            cap = min(wanted, self.max_length // 2)
            if cap < wanted:
                self.truncated["max_gen_toks"] += 1
            by_cap[cap].append(i)
        out: list[str | None] = [None] * len(requests)
        for cap, idx in by_cap.items():
            prompts = [self.tok_encode(requests[i].args[0]) for i in idx]
            room = self.max_length - cap
            self.truncated["generate_until"] += sum(len(p) > room for p in prompts)
            tokens = self.inference.greedy(self.params, prompts, cap)
            for row, i in enumerate(idx):
                ids = tokens[row].tolist()
                if self._eot in ids:
                    ids = ids[: ids.index(self._eot)]
                out[i] = cut_at_stop(self.tok_decode(ids), stops[i])
        for req, text in zip(requests, out):
            self.cache_hook.add_partial("generate_until", req.args, text)
        return out

    def _cache(self, requests, out) -> None:
        for (pair, _, _), result in zip(requests, out):
            if pair is not None:
                self.cache_hook.add_partial("loglikelihood", pair, result)
