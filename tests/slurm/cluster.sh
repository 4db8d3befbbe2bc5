#!/usr/bin/env bash
# A single-node Slurm cluster in a folder, for the executor's test:
#
#   cluster.sh start DIR   write DIR/slurm.conf (the node from `slurmd -C`),
#                          start munged, slurmctld and slurmd on free ports
#                          with every file under DIR; prints the SLURM_CONF
#                          to export, once the node is idle
#   cluster.sh stop DIR    stop the three daemons
#
# Nothing outside DIR is touched: its own munge key and socket, state,
# spool, logs and pid files. slurmd runs as root (it starts jobs as their
# users), so the test needs root, as CI has. Slurm's defaults otherwise,
# MinJobAge (300 s) included. Process tracking is `linuxproc` and tasks are
# not confined (`task/none`): both work in a container without cgroups.
# Debian's slurmctld, slurmd, slurm-client and munge must be installed
# (`./run test` installs them).
set -euo pipefail
cmd="${1:?usage: cluster.sh start|stop DIR}"
dir="$(mkdir -p "${2:?usage: cluster.sh start|stop DIR}" && cd "$2" && pwd)"

die() { echo "cluster.sh: $*" >&2; exit 1; }

stop() {
    local name pid
    # Jobs first: with linuxproc tracking, a job's processes outlive slurmd.
    if [ -f "$dir/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ]; then
        SLURM_CONF="$dir/slurm.conf" scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -z "$(SLURM_CONF="$dir/slurm.conf" squeue -h -u "$(id -un)" 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    for name in slurmd slurmctld munged; do
        [ -f "$dir/$name.pid" ] || continue
        pid="$(cat "$dir/$name.pid" 2>/dev/null || true)"
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    # Give them a moment, then make sure.
    for _ in $(seq 50); do
        local alive=0
        for name in slurmd slurmctld munged; do
            pid="$(cat "$dir/$name.pid" 2>/dev/null || true)"
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for name in slurmd slurmctld munged; do
        pid="$(cat "$dir/$name.pid" 2>/dev/null || true)"
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/$name.pid"
    done
}

# Two distinct free ports (both held open while chosen).
free_ports() {
    python3 -c 'import socket; a=socket.socket(); b=socket.socket(); a.bind(("127.0.0.1",0)); b.bind(("127.0.0.1",0)); print(a.getsockname()[1], b.getsockname()[1])'
}

start() {
    for prog in munged slurmctld slurmd sbatch squeue scontrol; do
        command -v "$prog" >/dev/null || die "$prog not found: install Debian's slurmctld slurmd slurm-client munge (./run test does)"
    done
    stop
    chmod 700 "$dir"
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    chmod 700 "$dir/munge"
    # A key of our own (munged wants it private to its user).
    [ -s "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$dir/munge/munge.key"; chmod 600 "$dir/munge/munge.key"; }
    munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" \
        || die "munged did not start (see $dir/munged.log)"
    local node cpus mem user
    node="$(slurmd -C | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')"
    cpus="$(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')"
    mem="$(slurmd -C | sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p')"
    user="$(id -un)"
    local ports
    read -r -a ports <<< "$(free_ports)"
    cat > "$dir/slurm.conf" <<CONF
# Written by tests/slurm/cluster.sh: one node, everything under $dir.
ClusterName=hoimat-test
SlurmctldHost=$node
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF" -i || die "slurmctld did not start (see $dir/slurmctld.log)"
    slurmd -f "$SLURM_CONF" || die "slurmd did not start (see $dir/slurmd.log)"
    local state=""
    for _ in $(seq 150); do
        state="$(sinfo -h -n "$node" -o %T 2>/dev/null || true)"
        case "$state" in idle*) echo "$SLURM_CONF"; return 0 ;; esac
        sleep 0.2
    done
    die "the node never became idle (state '$state'); logs: $dir/slurmctld.log $dir/slurmd.log"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) die "unknown command $cmd (start|stop)" ;;
esac
