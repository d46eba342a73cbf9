#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for the tests: MariaDB + slurmdbd (accounting,
# so `sacct` works), munged, slurmctld and slurmd with one fake GPU.
#
# Run as root on Debian/Ubuntu (apt-get). Idempotent: installs the packages only when they
# are missing, (re)writes /etc/slurm/{slurm,gres,slurmdbd}.conf, starts only the daemons that
# are not running, and waits until the node is idle. The daemons it starts are listed in
# /run/bibleft-slurm-ci/started, so that stop.sh stops those and no others.
#
# No systemd is assumed (containers, CI runners): every daemon is started by hand.
# The configs must live in /etc/slurm/: the executor plugin's in-job helper drops SLURM_CONF,
# so the `srun` inside each job reads the default path.
#
# Environment: SLURM_CI_CLUSTER (ci), SLURM_CI_PARTITION (gpu), SLURM_CI_ACCOUNT (ci),
# SLURM_CI_FORCE=1 to overwrite an /etc/slurm/slurm.conf that this script did not write.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="${SLURM_CI_CLUSTER:-ci}"
PARTITION="${SLURM_CI_PARTITION:-gpu}"
ACCOUNT="${SLURM_CI_ACCOUNT:-ci}"
STATE_DIR=/run/bibleft-slurm-ci
LOG_DIR=/var/log/slurm
MARKER="# written by .ci/slurm/start.sh"
NODE=localhost

say() { echo "[slurm-ci] $*"; }
die() {
    echo "[slurm-ci] ERROR: $*" >&2
    for log in "$LOG_DIR"/mariadb.log "$LOG_DIR"/slurmdbd.log "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd.log; do
        [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
    done
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && die "timed out after ${seconds}s waiting for $what"
        sleep 1
    done
}

# running PIDFILE: the process named in PIDFILE is alive.
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

started() { mkdir -p "$STATE_DIR"; grep -qx "$1" "$STATE_DIR/started" 2>/dev/null || echo "$1" >>"$STATE_DIR/started"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts system daemons)"

# --- packages --------------------------------------------------------------------------
need=()
for cmd in slurmctld:slurm-wlm slurmd:slurm-wlm sacct:slurm-client slurmdbd:slurmdbd munged:munge mariadbd:mariadb-server; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${cmd%%:*}" ] || need+=("${cmd#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt_log="$(mktemp)"
    apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client slurmdbd munge mariadb-server \
        >"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; die "apt-get install failed"; }
    rm -f "$apt_log"
fi
export PATH="/usr/sbin:/sbin:$PATH"

# --- configs ---------------------------------------------------------------------------
mkdir -p /etc/slurm "$LOG_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$STATE_DIR"
if [ -f /etc/slurm/slurm.conf ] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf && [ "${SLURM_CI_FORCE:-0}" != 1 ]; then
    die "/etc/slurm/slurm.conf exists and was not written by this script; refusing to replace it (SLURM_CI_FORCE=1 overrides)"
fi

# The node line from slurmd's own view of the hardware (so slurmd does not drain the node for
# "low CPUs"), renamed to localhost; 90% of the memory so that a little drift is tolerated.
hw="$(slurmd -C | head -n 1)"
cpu_fields="$(echo "$hw" | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')"
mem_mb="$(echo "$hw" | tr ' ' '\n' | sed -n 's/^RealMemory=//p')"
node_line="NodeName=$NODE NodeAddr=127.0.0.1 ${cpu_fields}RealMemory=$((mem_mb * 9 / 10)) Gres=gpu:1 State=UNKNOWN"

db_pass=""
[ -f /etc/slurm/slurmdbd.conf ] && db_pass="$(sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd.conf)"
[ -n "$db_pass" ] || db_pass="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

changed=0
# install_conf SRC DEST MODE: write DEST if its content differs.
install_conf() {
    if ! cmp -s "$1" "$2"; then
        install -m "$3" "$1" "$2"
        changed=1
    fi
    rm -f "$1"
}
sed -e "s|@CLUSTER@|$CLUSTER|" -e "s|@PARTITION@|$PARTITION|" -e "s|@NODE_LINE@|$node_line|" \
    "$HERE/slurm.conf.in" >"$STATE_DIR/slurm.conf"
install_conf "$STATE_DIR/slurm.conf" /etc/slurm/slurm.conf 644
cp "$HERE/gres.conf" "$STATE_DIR/gres.conf"
install_conf "$STATE_DIR/gres.conf" /etc/slurm/gres.conf 644
sed -e "s|@DB_PASS@|$db_pass|" "$HERE/slurmdbd.conf.in" >"$STATE_DIR/slurmdbd.conf"
# slurmdbd refuses a config that others can read (it holds the database password).
install_conf "$STATE_DIR/slurmdbd.conf" /etc/slurm/slurmdbd.conf 600

# --- munge -----------------------------------------------------------------------------
if ! running /run/munge/munged.pid; then
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged </dev/null >>"$LOG_DIR/munged.out" 2>&1 || die "munged did not start"
    started munged
fi
wait_for 20 "munge to answer" sh -c 'munge -n | unmunge'

# --- MariaDB ---------------------------------------------------------------------------
if ! running /run/mysqld/mysqld.pid; then
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadb.log" 2>&1 || die "mariadb-install-db failed"
    fi
    say "starting MariaDB"
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
        </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 &
    started mariadb
fi
wait_for 60 "MariaDB to answer" mariadb-admin --silent ping
# Root reaches MariaDB through its unix socket; slurmdbd gets a password of its own.
mariadb -u root <<SQL || die "could not create the slurm database user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --- slurmdbd, the cluster and its account ------------------------------------------------
if ! running /run/slurmdbd.pid; then
    say "starting slurmdbd"
    slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.out" 2>&1 || die "slurmdbd did not start"
    started slurmdbd
elif [ $changed = 1 ]; then
    kill -HUP "$(cat /run/slurmdbd.pid)"
fi
wait_for 60 "slurmdbd to answer" sacctmgr -n list cluster
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description="test account" organization=ci >/dev/null
for user in root ${SUDO_USER:-}; do
    sacctmgr -n -P list association user="$user" account="$ACCOUNT" format=user | grep -qx "$user" ||
        sacctmgr -i add user "$user" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
done

# --- slurmctld and slurmd ----------------------------------------------------------------
if ! running /run/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld </dev/null >>"$LOG_DIR/slurmctld.out" 2>&1 || die "slurmctld did not start"
    started slurmctld
elif [ $changed = 1 ]; then
    scontrol reconfigure || true
fi
wait_for 60 "slurmctld to answer" sh -c 'scontrol ping | grep -q UP'
if ! running /run/slurmd.pid; then
    say "starting slurmd"
    # The node is named localhost in slurm.conf; the machine's hostname is something else.
    slurmd -N "$NODE" </dev/null >>"$LOG_DIR/slurmd.out" 2>&1 || die "slurmd did not start"
    started slurmd
fi

node_state() { sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1; }
deadline=$((SECONDS + 90))
while :; do
    state="$(node_state)"
    case "$state" in
        idle | mix | alloc) break ;;
        drain* | drng | down* | fail*)
            # A node left down by an earlier run (or drained while it registered) comes back.
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    [ $SECONDS -ge $deadline ] && die "node $NODE is '$state', not idle: $(sinfo -h -N -n "$NODE" -o '%E' 2>/dev/null)"
    sleep 1
done
say "cluster '$CLUSTER' up: partition '$PARTITION', account '$ACCOUNT', node $NODE ($state), $(sinfo -h -N -n "$NODE" -o '%c CPUs, %m MB, gres %G')"
