"""Evaluation stage: the metric registry, items and requests, the task registry (kinds),
benchmark-file loaders, scoring functions, and the loop over a model's checkpoints. The code
an evaluation depends on is found from the import graph (emergence.sources)."""
