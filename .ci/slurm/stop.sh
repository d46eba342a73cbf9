#!/usr/bin/env bash
# Stop the daemons that start.sh started (listed in /run/bibleft-slurm-ci/started), newest
# first, each by the pid in its pid file; daemons that were already running are left alone.
set -euo pipefail

STATE_DIR=/run/bibleft-slurm-ci
[ -f "$STATE_DIR/started" ] || { echo "[slurm-ci] nothing to stop"; exit 0; }

pidfile() {
    case "$1" in
        slurmd) echo /run/slurmd.pid ;;
        slurmctld) echo /run/slurmctld.pid ;;
        slurmdbd) echo /run/slurmdbd.pid ;;
        mariadb) echo /run/mysqld/mysqld.pid ;;
        munged) echo /run/munge/munged.pid ;;
    esac
}

for daemon in slurmd slurmctld slurmdbd mariadb munged; do
    grep -qx "$daemon" "$STATE_DIR/started" || continue
    file="$(pidfile "$daemon")"
    if [ -s "$file" ] && pid="$(cat "$file")" && kill -0 "$pid" 2>/dev/null; then
        echo "[slurm-ci] stopping $daemon (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { echo "[slurm-ci] $daemon ignored SIGTERM; killing"; kill -KILL "$pid"; }
    fi
    sed -i "/^$daemon\$/d" "$STATE_DIR/started"
done
