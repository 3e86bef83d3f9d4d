#!/bin/bash
# A private one-node Slurm (Debian's slurmctld, slurmd, munge) for the pilot tests,
# on loopback with the ports given, every file under DIR.
#   slurm.sh up DIR CTLD_PORT SLURMD_PORT CPUS     slurm.sh down DIR
set -euo pipefail
cmd=$1 B=$2
. "$(dirname "$0")/stop_pid.sh"
if [ "$cmd" = down ]; then
  for f in "$B"/run/slurmd.pid "$B"/run/slurmctld.pid "$B"/munge/munged.pid; do
    stop_pid "$f" 50
  done
  exit 0
fi
CTLD_PORT=$3 SLURMD_PORT=$4 CPUS=$5
mkdir -p "$B"/{etc,state,spool,log,run,munge}
chmod 700 "$B/munge"
dd if=/dev/urandom of="$B/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$B/munge/munge.key"
munged --force --key-file="$B/munge/munge.key" --socket="$B/munge/munge.sock" \
  --pid-file="$B/munge/munged.pid" --log-file="$B/log/munged.log" \
  --seed-file="$B/munge/munged.seed" --num-threads=2
for _ in $(seq 50); do [ -S "$B/munge/munge.sock" ] && break; sleep 0.1; done
cat > "$B/etc/slurm.conf" <<CONF
ClusterName=corralpilot$CTLD_PORT
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$B/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool/%n
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
MinJobAge=30
KillWait=5
SlurmctldDebug=info
SlurmdDebug=info
NodeName=sn1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$SLURMD_PORT CPUs=$CPUS RealMemory=4000 State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$B/etc/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N sn1
for _ in $(seq 100); do
  sinfo -h -N -t idle -o %N 2>/dev/null | grep -q sn1 && exit 0
  sleep 0.2
done
echo "slurm: node sn1 did not become idle" >&2
tail -5 "$B/log/slurmctld.log" "$B/log/slurmd.log" >&2 || true
exit 1
