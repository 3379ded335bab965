#!/usr/bin/env bash
# Starts a one-node Slurm on this machine for the Slurm executor's tests (test/runtime/slurm.test.ts):
# munged, slurmctld and slurmd, with two fake GPUs (character devices, major 195) so that
# `--gres=gpu:1` sets CUDA_VISIBLE_DEVICES. Needs root and Debian's slurm-wlm and munge.
# Idempotent: a node that is already up is left as it is. Exits non-zero, with the daemons' log
# tail, when Slurm does not come up.
set -euo pipefail
node=$(hostname -s)
cpus=$(nproc)
# RealMemory in MB, leaving 1 GB (or a quarter, if less) to the machine.
total_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
headroom=$(( total_mb / 4 < 1024 ? total_mb / 4 : 1024 ))
memory=$(( total_mb - headroom ))
logs=/var/log/slurm
up() { sinfo -h -n "$node" -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'; }
if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && up; then
  echo "slurm: node $node already up"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "start-slurm.sh: needs root" >&2; exit 1; }
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
  || { echo "start-slurm.sh: slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)" >&2; exit 1; }

for n in 0 1; do [ -e /dev/nvidia$n ] || mknod /dev/nvidia$n c 195 $n; done
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$logs" /run/munge /var/log/munge /var/lib/munge
chown slurm:slurm /var/spool/slurmctld "$logs" 2>/dev/null || true
cat > /etc/slurm/slurm.conf <<CONF
# Written by test/slurm/start-slurm.sh: one node, this machine.
ClusterName=jukeflow
SlurmctldHost=$node
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SchedulerType=sched/backfill
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node CPUs=$cpus RealMemory=$memory Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
cat > /etc/slurm/gres.conf <<CONF
Name=gpu File=/dev/nvidia[0-1]
CONF

if [ ! -s /etc/munge/munge.key ]; then
  if [ -x /usr/sbin/mungekey ]; then /usr/sbin/mungekey --create --force; else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
munge -n | unmunge >/dev/null || { echo "start-slurm.sh: munged does not answer" >&2; exit 1; }

failed() { echo "start-slurm.sh: $1 did not start:" >&2; tail -n 20 "$logs/$1.log" >&2 || true; exit 1; }
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld || failed slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd || failed slurmd
for _ in $(seq 60); do
  if up; then
    echo "slurm: node $node up ($cpus CPUs, ${memory}M, gpu:2)"
    exit 0
  fi
  # A node left DOWN or DRAINED by an earlier start comes back.
  state=$(sinfo -h -n "$node" -o '%T' 2>/dev/null || true)
  case "$state" in down*|drain*) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;; esac
  sleep 1
done
echo "start-slurm.sh: node $node did not become idle (state: $(sinfo -h -n "$node" -o '%T' 2>&1))" >&2
tail -n 20 "$logs/slurmctld.log" "$logs/slurmd.log" >&2 || true
exit 1
