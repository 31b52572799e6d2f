#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by slurm/start_cluster.sh DIR.
# Jobs still queued or running in it are cancelled first, so that no job processes
# outlive the cluster. The daemons are killed by the pids in DIR/run, never by name:
# killall/pkill would hit other clusters (or a site's SLURM) on the same machine.
# DIR stays in place: its logs and jobcomp.log are useful after the fact.
#
# Usage: bash slurm/stop_cluster.sh DIR        (exit 0 if nothing is running)
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
if [ ! -d "$1" ]; then
    echo "nothing to stop: $1 does not exist"
    exit 0
fi
dir="$(cd "$1" && pwd)"

pid_alive() {  # pid_alive PID NAME: PID is a live (not zombie) process called NAME
    [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
alive() {  # alive PIDFILE NAME: the pid in PIDFILE is a live NAME (else a stale file)
    [ -s "$1" ] && pid_alive "$(cat "$1" 2>/dev/null)" "$2"
}

# Cancel the jobs while slurmctld and slurmd can still end them cleanly; a slurmd
# killed under a running job leaves its slurmstepd and the job's processes behind.
if alive "$dir/run/slurmctld.pid" slurmctld && alive "$dir/run/slurmd.pid" slurmd; then
    export SLURM_CONF="$dir/slurm.conf"
    jobs="$(squeue -h -o '%i' 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
        echo "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086  # one word per job id
        scancel $jobs || true
        for _ in $(seq 1 50); do  # up to 10 s for the steps to end
            [ -z "$(squeue -h -t RUNNING,COMPLETING -o '%i' 2>/dev/null || true)" ] && break
            sleep 0.2
        done
    fi
fi

stopped=0
# Reverse order of start: slurmd, slurmctld, then munged (both need it until the end).
for d in slurmd slurmctld munged; do
    pidfile="$dir/run/$d.pid"
    if ! alive "$pidfile" "$d"; then
        rm -f "$pidfile"
        continue
    fi
    pid="$(cat "$pidfile" 2>/dev/null)" || continue
    kill -TERM "$pid" 2>/dev/null || true
    # Wait on the pid, not the pid file: a daemon may remove its file before it exits.
    for _ in $(seq 1 75); do  # up to 15 s, then SIGKILL
        pid_alive "$pid" "$d" || break
        sleep 0.2
    done
    if pid_alive "$pid" "$d"; then
        echo "$d (pid $pid) did not exit on SIGTERM: sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
    echo "stopped $d (pid $pid)"
    stopped=$((stopped + 1))
done

if [ "$stopped" -eq 0 ]; then
    echo "nothing was running in $dir"
else
    echo "SLURM cluster in $dir stopped; logs are in $dir/log, finished jobs in $dir/jobcomp.log"
fi
