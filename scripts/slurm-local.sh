#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for trying and testing lwca's Slurm executor:
#
#   scripts/slurm-local.sh start   # munged, slurmctld and slurmd, one partition "debug"
#   scripts/slurm-local.sh status
#   scripts/slurm-local.sh stop    # stops them and removes the state directory
#
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root: the node
# runs jobs as their submitter, which here is root. Everything lives in $LWCA_SLURM_DIR
# (default /tmp/lwca-slurm): the config, the munge key and socket, the daemons' state, logs and
# PID files. Clients find the config through /etc/slurm/slurm.conf, which start links to the
# state directory's when no such file exists, or through SLURM_CONF (start prints it).
# start is idempotent: a running cluster is left as it is.
set -euo pipefail

dir=${LWCA_SLURM_DIR:-/tmp/lwca-slurm}
conf=$dir/slurm.conf
etc=/etc/slurm/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

running() { # running NAME: the daemon whose PID file is $dir/NAME.pid is alive
  [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root (the node runs jobs as their submitter)"
  for cmd in munged slurmctld slurmd sbatch; do
    command -v "$cmd" >/dev/null || die "$cmd not found; install it with: apt-get install slurm-wlm munge"
  done
  mkdir -p "$dir"/{ctld,spool,log}
  chmod 0755 "$dir"
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
  # Leave the system some memory: a job asking for the whole node would never start.
  mem=$((mem > 2048 ? mem - 1024 : mem))
  cat >"$conf.new" <<CONF
# Written by scripts/slurm-local.sh: a single-node cluster on localhost.
ClusterName=lwca-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${LWCA_SLURMCTLD_PORT:-6817}
SlurmdPort=${LWCA_SLURMD_PORT:-6818}
# No cgroups: containers and CI machines seldom allow them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Short waits: the tests submit, cancel and requeue in seconds.
SchedulerParameters=sched_interval=2
MinJobAge=600
KillWait=30
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$conf.new" "$conf"
  if [ ! -e "$etc" ] && [ ! -L "$etc" ]; then
    mkdir -p /etc/slurm
    ln -s "$conf" "$etc"
  fi

  if ! running munged; then
    if [ ! -f "$dir/munge.key" ]; then
      dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
      chmod 0400 "$dir/munge.key"
    fi
    munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
      --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed"
  fi
  export SLURM_CONF=$conf
  running slurmctld || slurmctld -f "$conf"
  running slurmd || slurmd -f "$conf" -N localhost
  # Ready when the node takes jobs.
  for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    case $state in
      idle*|mix*|alloc*) break ;;
      down*|drain*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  case $state in
    idle*|mix*|alloc*) ;;
    *) die "the node did not come up (state '${state}'); see $dir/log/" ;;
  esac
  echo "slurm-local: a single-node cluster (partition debug, $cpus CPUs) is up; its config: $conf"
  echo "export SLURM_CONF=$conf"
}

stop() {
  export SLURM_CONF=$conf
  if running slurmctld; then
    scancel --state=PENDING 2>/dev/null || true
    scancel --state=RUNNING 2>/dev/null || true
  fi
  for d in slurmd slurmctld munged; do
    if running "$d"; then
      pid=$(cat "$dir/$d.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [ -L "$etc" ] && [ "$(readlink "$etc")" = "$conf" ]; then
    rm -f "$etc"
  fi
  rm -rf "$dir"
  echo "slurm-local: stopped"
}

status() {
  for d in munged slurmctld slurmd; do
    if running "$d"; then echo "$d: running (PID $(cat "$dir/$d.pid"))"; else echo "$d: not running"; fi
  done
  if running slurmctld; then SLURM_CONF=$conf sinfo; fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
