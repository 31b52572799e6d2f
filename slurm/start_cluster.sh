#!/usr/bin/env bash
# Start a real single-node SLURM cluster (munged + slurmctld + slurmd) whose files all
# live under DIR: config, munge key and socket, pid files, logs, state and spool.
# Nothing under /etc is read or written, so it can sit beside a site's own SLURM.
#
# Usage: bash slurm/start_cluster.sh DIR        then: source DIR/env.sh
# Env:   SSE_SLURM_CTLD_PORT (6817), SSE_SLURM_D_PORT (6818): give a second cluster on
#        the same machine other ports. SSE_SLURM_START_TIMEOUT (30): seconds to wait
#        for the node to come up.
# Needs root (daemons run as root, mknod) and: slurmctld slurmd slurm-client munge.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
case "$1" in
    *[[:space:]]*) echo "error: DIR must not contain whitespace (slurm.conf cannot quote it): '$1'" >&2; exit 2 ;;
esac

ctld_port="${SSE_SLURM_CTLD_PORT:-6817}"
d_port="${SSE_SLURM_D_PORT:-6818}"
timeout="${SSE_SLURM_START_TIMEOUT:-30}"
here="$(cd "$(dirname "$0")" && pwd)"

# The daemons live in sbin, which a `sudo` or `su` PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=()
for bin in slurmctld slurmd munged sinfo sbatch; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "error: not found: ${missing[*]}. Install them with" >&2
    echo "  apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge" >&2
    echo "or: bash scripts/setup_system.sh" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root: the daemons run as root (SlurmUser=root) and the fake GPU needs mknod" >&2
    exit 1
fi

mkdir -p "$1"
dir="$(cd "$1" && pwd)"
conf="$dir/slurm.conf"

# A pid file counts only if its process is alive and is the daemon we expect: a stale
# file whose pid was reused by something else must not look like a running cluster.
pid_alive() {  # pid_alive PID NAME: PID is a live (not zombie) process called NAME
    [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
alive() {  # alive PIDFILE NAME: the pid in PIDFILE is a live NAME (else a stale file)
    [ -s "$1" ] && pid_alive "$(cat "$1" 2>/dev/null)" "$2"
}

running=0
for d in munged slurmctld slurmd; do
    if alive "$dir/run/$d.pid" "$d"; then running=$((running + 1)); fi
done
if [ "$running" -eq 3 ]; then
    echo "SLURM cluster in $dir is already running; use it with: source $dir/env.sh"
    exit 0
fi
if [ "$running" -gt 0 ]; then
    # Half a cluster (a daemon died): restart all of it from a known state.
    echo "only $running of 3 daemons of $dir are running: stopping them and starting afresh" >&2
    bash "$here/stop_cluster.sh" "$dir"
fi

# Another SLURM (a site's, or a second test cluster) on our ports would make our
# daemons die at once: say so plainly instead.
port_busy() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
if [ "$ctld_port" = "$d_port" ]; then
    echo "error: SSE_SLURM_CTLD_PORT and SSE_SLURM_D_PORT are both $d_port" >&2
    exit 2
fi
for port in "$ctld_port" "$d_port"; do
    case "$port" in ''|*[!0-9]*) echo "error: port '$port' is not a number" >&2; exit 2 ;; esac
    if port_busy "$port"; then
        echo "error: port $port is in use on this machine (another SLURM cluster?)." >&2
        echo "Choose free ports: SSE_SLURM_CTLD_PORT=... SSE_SLURM_D_PORT=... bash $0 $dir" >&2
        exit 1
    fi
done

# munged wants every folder above its socket searchable by all (clients of any user
# connect to it). The cluster folder is ours: make it so. A folder above it (mktemp's
# /tmp/tmp.XXX is 0700, a home is often 0700) we do not change: say how.
chmod a+x "$dir"
closed=()
parent="$(dirname "$dir")"
while [ "$parent" != "/" ]; do
    perms="$(stat -c %A "$parent")"
    [ "${perms:9:1}" = "x" ] || [ "${perms:9:1}" = "t" ] || closed+=("$parent")
    parent="$(dirname "$parent")"
done
if [ ${#closed[@]} -gt 0 ]; then
    echo "error: munged needs every folder above its socket ($dir/munge) searchable by" >&2
    echo "all users, and ${closed[*]} is not (mode $(stat -c %a "${closed[0]}"))." >&2
    echo "Fix: chmod a+x ${closed[*]}" >&2
    echo "or use a folder whose parents are open, e.g. bash $0 /tmp/sse-slurm" >&2
    exit 1
fi

t0="$(date +%s.%N)"
mkdir -p "$dir/run" "$dir/log" "$dir/state" "$dir/spool"
# munged refuses a key or socket in a directory others can write to, and wants the
# socket's directory searchable by all (clients of any user connect to it).
mkdir -p "$dir/munge"
chmod 0711 "$dir/munge"

# Own munge key: never the machine's /etc/munge/munge.key.
if [ ! -s "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 0400 "$dir/munge/munge.key"
munge_socket="$dir/munge/munge.socket"

# A fake GPU: slurmd needs gres.conf's File= to exist; /dev/null's numbers (c 1 3) are
# harmless. Without File= the GPU gres is silently dropped and the node goes INVAL.
if [ ! -c "$dir/fakegpu0" ]; then
    rm -f "$dir/fakegpu0"
    mknod "$dir/fakegpu0" c 1 3
fi

# The node as slurmd sees it; a node declared bigger than it is would drain
# ("Low RealMemory").
hw="$(env -u SLURM_CONF slurmd -C | head -n 1)" || { echo "error: slurmd -C failed" >&2; exit 1; }
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $hw"; }
node="$(field NodeName)"
[ -n "$node" ] || node="$(hostname -s)"
node_line="NodeName=$node NodeAddr=127.0.0.1"
for key in CPUs Boards SocketsPerBoard CoresPerSocket ThreadsPerCore RealMemory; do
    value="$(field "$key")"
    if [ -n "$value" ]; then node_line="$node_line $key=$value"; fi
done
node_line="$node_line Gres=gpu:1 State=UNKNOWN"

cat >"$dir/gres.conf" <<EOF
# Written by slurm/start_cluster.sh: one fake GPU for scheduling tests.
AutoDetect=off
Name=gpu File=$dir/fakegpu0
EOF

cat >"$conf" <<EOF
# Written by slurm/start_cluster.sh: a single-node test cluster, everything under $dir.
ClusterName=sse
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
# munge with this cluster's own key and socket
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge

SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool

# No cgroups in a container: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
# Cores and memory are consumable: each small job takes a core and DefMemPerCPU, not
# the whole node, so several jobs run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
# Start batch jobs at once (the default delay made sbatch-to-start take up to 3 s).
SchedulerParameters=batch_sched_delay=0
# A node that was down comes back by itself when slurmd registers again.
ReturnToService=2

# No slurmdbd: no accounting (sacct does not work); a line per finished job instead.
# Do not set AccountingStorageTRES=gres/gpu without slurmdbd: slurmctld dies.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log

GresTypes=gpu
$node_line
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node Default=NO MaxTime=INFINITE State=UP
EOF

cat >"$dir/env.sh" <<EOF
# source this file to use the SLURM cluster in $dir (sbatch, squeue, sinfo, scancel)
export SLURM_CONF=$conf
EOF
export SLURM_CONF="$conf"

show_logs() {
    local f
    for f in "$dir/log/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
        [ -f "$f" ] || continue
        echo "----- tail of $f" >&2
        tail -n 20 "$f" >&2
    done
}
fail() {
    echo "error: $*" >&2
    show_logs
    # Leave no half cluster behind (a test run would leak daemons); logs stay.
    bash "$here/stop_cluster.sh" "$dir" >&2 || true
    exit 1
}

munged --key-file="$dir/munge/munge.key" --socket="$munge_socket" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" \
    || fail "munged did not start"
# slurmctld needs a working munge at once: check a credential round trip.
munge -n -S "$munge_socket" | unmunge -S "$munge_socket" >/dev/null \
    || fail "munge credential round trip on $munge_socket failed"

slurmctld -f "$conf" || fail "slurmctld did not start"
slurmd -f "$conf" -N "$node" || fail "slurmd did not start"

# Up means: the node answers (no '*') and is idle in both partitions. A recovered
# state with running jobs would show mix/alloc, which is up too.
deadline=$(( $(date +%s) + timeout ))
grace=$(( $(date +%s) + 3 ))  # time for the daemons to write their pid files
while :; do
    states="$(sinfo -h -N -o '%P %t' 2>/dev/null || true)"
    if grep -Eq '^cpu\*? (idle|mix|alloc)$' <<<"$states" &&
       grep -Eq '^gpu (idle|mix|alloc)$' <<<"$states"; then
        break
    fi
    # A daemon that died (bad config, port taken) will not come back: fail now.
    if [ "$(date +%s)" -ge "$grace" ]; then
        for d in munged slurmctld slurmd; do
            alive "$dir/run/$d.pid" "$d" || fail "$d is not running (see its log below)"
        done
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "sinfo says:" >&2
        sinfo -N -l >&2 || true
        fail "node $node not up in partitions cpu and gpu after ${timeout}s"
    fi
    sleep 0.2
done

elapsed="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
echo "SLURM cluster up in ${elapsed}s: node $node, partitions cpu (default) and gpu (gres gpu:1), ports $ctld_port/$d_port"
sinfo
echo "use it with: source $dir/env.sh        stop it with: bash $here/stop_cluster.sh $dir"
