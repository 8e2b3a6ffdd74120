#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine (Debian's slurm-wlm and munge packages,
# root needed): one node with this machine's CPUs, one partition "local". No accounting
# database: `sacct` then answers "accounting storage is disabled", so Snakemake's Slurm
# executor must query job states with squeue (`slurm-status-command: squeue`, which needs
# MinJobAge well above its status-check interval: 600 s here). docs/cluster.md.
#
#   sudo tests/cluster/slurm_up.sh        # prints "slurm up: <node>, <cpus> CPUs, <mem> MB"
#   sudo tests/cluster/slurm_down.sh
#
# Exits 3 with one line when Slurm cannot be started here (not root, no packages, daemons
# that do not come up): callers skip, they do not fail.
set -euo pipefail
say() { echo "slurm: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root"; exit 3; }
for bin in slurmctld slurmd munged sbatch squeue; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || { say "$bin is not installed (apt-get install slurm-wlm munge)"; exit 3; }
done
export PATH="/usr/sbin:$PATH"

node=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > "$conf" <<CONF
# Written by tests/cluster/slurm_up.sh: a one-node cluster for testing the workflow.
ClusterName=emergence
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for 10 minutes (the executor's status queries).
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

# munge: the key the package made, or a new one.
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm up: $node, $cpus CPUs, $mem MB"
    exit 0
  fi
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  sleep 1
done
say "the node did not come up: $(sinfo -h -o '%T %E' 2>&1 | head -1); see /var/log/slurm/"
exit 3
