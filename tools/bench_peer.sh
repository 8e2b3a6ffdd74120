#!/bin/bash
# Side by side, twice: the project's training step and the PyTorch peer on the same models.
# PyTorch lives in a scratch venv of its own, never in the project's:
#   python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.13.0 numpy
# usage: tools/bench_peer.sh [PEER_PYTHON]   (run from the repository root)
PEER=${1:-/tmp/peer/bin/python}
for rep in 1 2; do
  for spec in "w128l4 128 4 4" "w64l2 64 2 4"; do
    set -- $spec
    echo "== rep $rep $1 project"; .venv/bin/emergence perf train --size "$1" --seconds 15 2>&1 | grep -E "^training:|matmul peak"
    echo "== rep $rep $1 torch eager"; "$PEER" ../shared/peers/torch_peer.py "$2" "$3" "$4" 512 32 128 15 | tail -1
    echo "== rep $rep $1 torch compile"; "$PEER" ../shared/peers/torch_peer.py "$2" "$3" "$4" 512 32 128 15 compile | tail -1
  done
done
