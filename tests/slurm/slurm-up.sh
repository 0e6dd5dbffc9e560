#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for the live test (Debian 12 / slurm 22.05, as root, no
# systemd, no cgroups, no accounting database): munged, slurmctld and slurmd, with FAKE_GPUS fake
# GPUs (gres) so that `--gpus=1` jobs are scheduled. Packages: tests/slurm/install.sh.
# Usage: SLURM_CI_DIR=/tmp/mixopt-slurm FAKE_GPUS=2 tests/slurm/slurm-up.sh; stop: slurm-down.sh.
# State, logs and the daemons' PID files go to $SLURM_CI_DIR; the config to /etc/slurm.
set -euo pipefail
D=${SLURM_CI_DIR:-/tmp/mixopt-slurm}; NGPU=${FAKE_GPUS:-2}
NODE=$(hostname -s); CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 8 / 10 ))   # 80% of RAM, MB
for exe in slurmctld slurmd munged sinfo; do
  command -v $exe >/dev/null || [ -x /usr/sbin/$exe ] || { echo "slurm-up: $exe not installed" >&2; exit 3; }
done
mkdir -p "$D"/{state,spool,log,dev} /etc/slurm /run/munge
chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { mungekey -c 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
# Fake GPUs: gres.conf must name device files, or the node is invalid ("gres/gpu count reported
# lower than configured"); char devices aliasing /dev/null do.
GRES_LINE=""; GRES_NODE=""
if [ "$NGPU" -gt 0 ]; then
  for i in $(seq 0 $((NGPU-1))); do [ -e "$D/dev/fakegpu$i" ] || mknod "$D/dev/fakegpu$i" c 1 3; done
  GRES_LINE="GresTypes=gpu"; GRES_NODE="Gres=gpu:fake:$NGPU"
  echo "NodeName=$NODE Name=gpu Type=fake File=$D/dev/fakegpu[0-$((NGPU-1))]" > /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=mixopt-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Without accounting the plugin reads job states with squeue: keep finished jobs visible 10 min
# (it needs >= 3x its first status-check interval).
MinJobAge=600
SchedulerParameters=sched_interval=2
$GRES_LINE
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid 2>/dev/null || /usr/sbin/munged
for k in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
cp /run/munge/munged.pid "$D/munged.pid" 2>/dev/null || pgrep -n -x munged > "$D/munged.pid"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
for k in $(seq 150); do
  st=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$st" = idle ] && break
  case "$st" in *drain*|*inval*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true;; esac
  sleep 0.2
done
sinfo
[ "$(sinfo -h -o %T)" = idle ] || { echo "slurm-up: node not idle, see $D/log" >&2; exit 4; }
