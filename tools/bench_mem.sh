#!/bin/bash
# Peak RSS of training w128l4 on the study's shards and on shards 10x larger (the same tokens
# tiled). Needs results/data from a study run; run from the repository root.
set -e
src=results/data big=$(mktemp -d)
mkdir -p "$big/data" && cp "$src/val.npy" "$src/meta.json" "$big/data/"
.venv/bin/python -c "
import numpy as np
t = np.load('$src/train.npy', mmap_mode='r')
out = np.lib.format.open_memmap('$big/data/train.npy', mode='w+', dtype=t.dtype, shape=(10 * len(t),))
for i in range(10): out[i * len(t):(i + 1) * len(t)] = t
out.flush(); print('train tokens', len(t), '->', 10 * len(t))
"
RUN='{"name":"w128l4-400k-s0","size_name":"w128l4","size":{"d_model":128,"n_layers":4,"n_heads":4,"mlp_ratio":4},"context":128,"tokens":400000,"seed":0}'
for d in "$src" "$big/data"; do
  rm -rf "$big/run"
  /usr/bin/time -f "max RSS %M KiB, wall %e s" .venv/bin/emergence train --data "$d" --run "$RUN" \
    --training '{"schedule":"cosine"}' --out "$big/run" --quiet 2>&1 | tail -1
  echo "$(stat -c %s "$d/train.npy") bytes of train.npy"
done
rm -rf "$big"
