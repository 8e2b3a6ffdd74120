"""Data stage: the synthetic world and corpus (or the user's files), the tokenizer, token
shards, and the training batches drawn from them."""
