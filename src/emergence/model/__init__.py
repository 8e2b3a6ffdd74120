"""The model: the Flax NNX transformer (RoPE, causal attention), its checkpoints on disk,
and batched inference (continuation log-likelihoods, KV-cached greedy decoding)."""
