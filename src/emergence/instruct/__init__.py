"""Instruction-tuning stage: a synthetic instruction dataset split by family (`families`,
`dataset`), tuning of selected checkpoints with the loss on response tokens (`tune`), and the
zero-shot evaluation of tuned and untuned checkpoints on the held-out families (`stage`). The
code a tuning depends on is found from the import graph (emergence.sources)."""
