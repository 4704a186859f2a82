#!/usr/bin/env bash
# A real single-node SLURM cluster with accounting, on loopback, for tests and demos:
#   tools/slurm-cluster.sh start STATE_DIR   munge, MariaDB, slurmdbd, slurmctld, slurmd
#   tools/slurm-cluster.sh stop STATE_DIR    stop every daemon by the PID it recorded
# Needs root and Debian's munge slurmctld slurmd slurm-client slurmdbd mariadb-server
# (tools/install-system-deps.sh). Everything the cluster writes stays in STATE_DIR,
# except /etc/slurm/slurm.conf, a symlink to STATE_DIR/etc/slurm.conf while it runs:
# SLURM's job step drops SLURM_CONF before its nested srun, which then reads /etc.
set -euo pipefail

readonly CLUSTER=reprotrain
readonly ACCOUNT=reprotrain
readonly PARTITION=debug
readonly SYSTEM_CONF=/etc/slurm/slurm.conf

die() { echo "slurm-cluster: $*" >&2; return 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$((SECONDS + $1)) what="$2"
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out waiting for $what"
        sleep 0.2
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local state="$1"
    for tool in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run tools/install-system-deps.sh"
    done
    [[ -e "$SYSTEM_CONF" && ! -L "$SYSTEM_CONF" ]] &&
        die "$SYSTEM_CONF exists and is not ours; refusing to replace a real configuration"
    rm -rf "$state"
    mkdir -p "$state"/{etc,log,run,spool/ctld,spool/d,munge,mysql}
    state="$(cd "$state" && pwd)"
    # A start that fails half-way must not leave daemons behind.
    trap 'echo "slurm-cluster: start failed; stopping what was started" >&2; stop "'"$state"'"' ERR
    local host
    host="$(hostname -s)"

    # munge: the default socket (a custom one breaks slurmdbd's authentication).
    install -d -o munge -g munge -m 0755 /run/munge
    chown munge:munge "$state/munge"
    runuser -u munge -- test -w "$state/munge" ||
        die "user munge cannot reach $state (a parent directory is not world-searchable)"
    [[ -f /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create
    runuser -u munge -- munged --pid-file="$state/munge/munged.pid" \
        --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed"
    wait_for 20 munge bash -c 'munge -n | unmunge'

    # MariaDB for slurmdbd, on a free loopback port, owned by mysql.
    local db_port
    db_port="$(free_port)"
    chown mysql:mysql "$state/mysql"
    mariadb-install-db --no-defaults --user=mysql --datadir="$state/mysql/data" \
        --auth-root-authentication-method=socket >"$state/log/mariadb-install.log" 2>&1
    mariadbd --no-defaults --user=mysql --datadir="$state/mysql/data" \
        --socket="$state/mysql/mysqld.sock" --pid-file="$state/mysql/mariadbd.pid" \
        --bind-address=127.0.0.1 --port="$db_port" --log-error="$state/mysql/error.log" \
        >/dev/null 2>&1 &
    wait_for 60 MariaDB mariadb --no-defaults --socket="$state/mysql/mysqld.sock" -u root -e 'SELECT 1'
    mariadb --no-defaults --socket="$state/mysql/mysqld.sock" -u root <<SQL
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

    local memory
    memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
    memory=$((memory * 95 / 100))
    cat >"$state/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$state/run/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
    chmod 600 "$state/etc/slurmdbd.conf"
    cat >"$state/etc/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=300
AccountingStoreFlags=job_comment
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$state/etc/slurm.conf"
    ln -sfn "$SLURM_CONF" "$SYSTEM_CONF"

    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=tests Organization=reprotrain >/dev/null
    sacctmgr -i add user root DefaultAccount="$ACCOUNT" >/dev/null

    slurmctld
    slurmd
    wait_for 60 "node $host to be idle" bash -c "sinfo -h -o %T | grep -qx idle"
    trap - ERR
    echo "slurm-cluster: $CLUSTER is up (SLURM_CONF=$SLURM_CONF, account $ACCOUNT, partition $PARTITION)"
}

stop_pid() {  # stop_pid PIDFILE NAME
    local pidfile="$1" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

stop() {
    local state="$1"
    [[ -d "$state" ]] || die "no cluster state in $state"
    state="$(cd "$state" && pwd)"
    stop_pid "$state/run/slurmd.pid"
    stop_pid "$state/run/slurmctld.pid"
    stop_pid "$state/run/slurmdbd.pid"
    stop_pid "$state/mysql/mariadbd.pid"
    stop_pid "$state/munge/munged.pid"
    if [[ -L "$SYSTEM_CONF" && "$(readlink "$SYSTEM_CONF")" == "$state/etc/slurm.conf" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
    echo "slurm-cluster: stopped"
}

case "${1:-}" in
    start) start "${2:?usage: $0 start STATE_DIR}" ;;
    stop) stop "${2:?usage: $0 stop STATE_DIR}" ;;
    *) echo "usage: $0 start|stop STATE_DIR" >&2; exit 2 ;;
esac
