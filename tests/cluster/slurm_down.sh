#!/usr/bin/env bash
# Stop the cluster tests/cluster/slurm_up.sh started (its jobs are cancelled first).
set -uo pipefail
export PATH="/usr/sbin:$PATH"
scancel --user="$(id -un)" >/dev/null 2>&1
pkill -x slurmd; pkill -x slurmctld; pkill -x munged
for _ in $(seq 20); do pgrep -x 'slurmd|slurmctld|munged' >/dev/null || exit 0; sleep 0.5; done
pkill -9 -x 'slurmd|slurmctld|munged'; exit 0
