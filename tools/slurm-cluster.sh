#!/usr/bin/env bash
# A real SLURM cluster with accounting on one machine, for tests and demos:
#   tools/slurm-cluster.sh start STATE_DIR [NODES]   munge, MariaDB, slurmdbd, slurmctld,
#                                                   and NODES compute nodes (default 1)
#   tools/slurm-cluster.sh stop STATE_DIR            stop every daemon by its recorded PID
#   tools/slurm-cluster.sh stop-node STATE_DIR NODE  a lost node: its slurmd and jobs killed
#   tools/slurm-cluster.sh start-node STATE_DIR NODE the node back, empty, in service
#   tools/slurm-cluster.sh on-node STATE_DIR NODE CMD...  CMD as on that node (its /tmp)
# Needs root and Debian's munge slurmctld slurmd slurm-client slurmdbd mariadb-server
# (tools/install-system-deps.sh).
#
# Each compute node is a slurmd of its own (SLURM's multiple-slurmd mode: a NodeName
# line, a port and %n-named spool, pid and log files per node) with its own loopback
# address (127.X.Y.N), started in mount and PID namespaces of its own: a private tmpfs
# /tmp (as on a real node), processes that see no other node's, and /etc/slurm bound to
# this cluster's configuration (SLURM's job step drops SLURM_CONF before its nested
# srun, which then reads /etc/slurm/slurm.conf). The project's folders stay shared, as a
# site's parallel filesystem is. Every port is picked free and every name derives from
# STATE_DIR, so two clusters on one machine do not touch; munged (whose default socket
# slurmdbd needs) is shared between them and stopped by the last one.
set -euo pipefail

readonly ACCOUNT=reprotrain
readonly PARTITION=debug
readonly MUNGE_USERS=/run/munge/reprotrain-clusters
# A node's private /tmp (a small one makes "a full /tmp" testable: TMP_MB). Folders of
# the machine's /tmp that must stay shared (a project under /tmp, as tests keep theirs:
# SLURM_SHARED_TMP, colon-separated) are bound back into it, with STATE_DIR.
readonly TMP_MB="${SLURM_NODE_TMP_MB:-512}"
readonly SHARED_TMP="${SLURM_SHARED_TMP:-}"

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

# This cluster's identity, from its state directory: a name, and the second and third
# bytes of its nodes' 127.X.Y.N addresses.
identity() {
    local digest
    digest="$(printf '%s' "$1" | sha256sum)"
    cluster="rt${digest:0:8}"
    address_prefix="127.$((16#${digest:8:2} % 250 + 1)).$((16#${digest:10:2} % 250 + 1))"
}

# munged's own files live beside its users' list, not in the state of the cluster that
# happened to start it: that cluster may stop (and its folder go) while others still use it.
readonly MUNGE_FILES="$MUNGE_USERS/munged"

# Starting or stopping the shared munged, and counting its users, hold this machine-wide
# lock: two clusters starting at once would otherwise both start a munged. Each runs in a
# subshell, whose end (failed or not) closes the lock's descriptor and so releases it.
lock_munge() {
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -m 0755 "$MUNGE_USERS"
    exec {munge_lock}>"$MUNGE_USERS/.lock"
    flock "$munge_lock"
}

start_munge() (  # one munged for every cluster of this machine, counted by its users
    lock_munge
    if ! bash -c 'munge -n | unmunge' >/dev/null 2>&1; then
        install -d -o munge -g munge -m 0700 "$MUNGE_FILES"
        [[ -f /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create
        # (the lock's descriptor is closed for the daemon, or it would hold the lock)
        runuser -u munge -- munged --pid-file="$MUNGE_FILES/munged.pid" \
            --log-file="$MUNGE_FILES/munged.log" --seed-file="$MUNGE_FILES/munged.seed" \
            {munge_lock}>&-
        wait_for 20 munge bash -c 'munge -n | unmunge'
    fi
    touch "$MUNGE_USERS/$cluster"
)

stop_munge() (  # the last cluster of this machine stops the munged the first one started
    lock_munge
    rm -f "$MUNGE_USERS/$cluster"
    if ! compgen -G "$MUNGE_USERS/rt*" >/dev/null; then
        stop_pid "$MUNGE_FILES/munged.pid"
    fi
)

start_node() {  # start_node STATE NODE: a slurmd in mount and PID namespaces of its own
    local state="$1" node="$2"
    # The node's first process (PID 1 of its namespace) mounts its /tmp and /etc/slurm,
    # then runs slurmd. Killing unshare (--kill-child) kills that first process, and the
    # kernel then every process of the namespace: the node's slurmd and its jobs, as when
    # a real node is lost. slurmd's own pid file holds its PID inside the namespace.
    # What the cluster started with (start-node brings a node back the same way).
    local shared tmp_mb
    shared="$(cat "$state/run/shared-tmp")"
    tmp_mb="$(cat "$state/run/node-tmp-mb")"
    unshare --mount --propagation private --pid --fork --mount-proc --kill-child=SIGKILL \
        bash -c '
            set -e
            host_tmp=/run/reprotrain-host-tmp
            mkdir -p "$host_tmp" && mount --bind /tmp "$host_tmp"
            mount -t tmpfs -o "size='"$tmp_mb"'m,mode=1777" "tmp-'"$node"'" /tmp
            IFS=: read -ra shared <<<"'"$shared"'"
            for path in "${shared[@]}"; do
                case "$path" in
                    /tmp/*) mkdir -p "$path" && mount --bind "$host_tmp/${path#/tmp/}" "$path" ;;
                esac
            done
            mount --bind "'"$state"'/etc" /etc/slurm
            exec slurmd -D -N "'"$node"'" -f "'"$state"'/etc/slurm.conf"
        ' >"$state/log/$node.namespace.log" 2>&1 &
    echo $! >"$state/run/$node.namespace.pid"
}

start() {
    local state="$1" nodes="${2:-1}"
    for tool in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sinfo unshare; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run tools/install-system-deps.sh"
    done
    [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || die "NODES must be a number from 1 to 99, not $nodes"
    [[ -d /etc/slurm ]] || die "/etc/slurm is missing: run tools/install-system-deps.sh"
    rm -rf "$state"
    mkdir -p "$state"/{etc,log,run,spool/ctld,spool/d,mysql,nodes}
    state="$(cd "$state" && pwd)"
    local cluster address_prefix
    identity "$state"
    # A start that fails half-way must not leave daemons behind.
    trap 'echo "slurm-cluster: start failed (line $LINENO: $BASH_COMMAND); stopping what was started" >&2; stop "'"$state"'"' ERR
    local host
    host="$(hostname -s)"

    # munge: the default socket (a custom one breaks slurmdbd's authentication).
    start_munge "$state"

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
    local dbd_port ctld_port
    dbd_port="$(free_port)"
    ctld_port="$(free_port)"
    cat >"$state/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=$dbd_port
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
    local node_lines="" node_names="" index
    for index in $(seq "$nodes"); do
        node_lines+="NodeName=${cluster}n$index NodeHostname=$host NodeAddr=$address_prefix.$index Port=$(free_port) CPUs=$(nproc) RealMemory=$memory State=UNKNOWN"$'\n'
        node_names+="${node_names:+,}${cluster}n$index"
    done
    cat >"$state/etc/slurm.conf" <<CONF
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d/%n
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.%n.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.%n.log
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
# A lost node is noticed within seconds (SLURM's default waits 300 s): its jobs end as
# NODE_FAIL, and it returns to service when its slurmd registers again (start-node).
SlurmdTimeout=10
MinJobAge=300
AccountingStoreFlags=job_comment
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
${node_lines}PartitionName=$PARTITION Nodes=$node_names Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$state/etc/slurm.conf"
    echo "$nodes" >"$state/run/nodes"
    local shared="$state" path
    local IFS=:
    for path in $SHARED_TMP; do shared+=":$(realpath -m "$path")"; done
    unset IFS
    echo "$shared" >"$state/run/shared-tmp"
    echo "$TMP_MB" >"$state/run/node-tmp-mb"

    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$cluster" >/dev/null
    sacctmgr -i add account "$ACCOUNT" Cluster="$cluster" Description=tests Organization=reprotrain >/dev/null
    sacctmgr -i add user root DefaultAccount="$ACCOUNT" >/dev/null

    slurmctld
    for index in $(seq "$nodes"); do
        start_node "$state" "${cluster}n$index"
    done
    wait_for 60 "$nodes node(s) to be idle" bash -c \
        "[[ \$(sinfo -h -N -o %T | grep -cx idle) == $nodes ]]"
    trap - ERR
    echo "slurm-cluster: $cluster is up with $nodes node(s) (SLURM_CONF=$SLURM_CONF, account $ACCOUNT, partition $PARTITION)"
}

stop_pid() {  # stop_pid PIDFILE [SIGNAL]: signal (TERM), wait up to 10 s, then KILL
    local pidfile="$1" signal="${2:-TERM}" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -s "$signal" "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

stop_node() {  # stop_node STATE NODE: the node's namespace, slurmd and jobs with it
    local state="$1" node="$2"
    # unshare does not end on TERM while it waits for the namespace: KILL it, and the
    # kernel kills the namespace's first process (--kill-child), then all the others.
    stop_pid "$state/run/$node.namespace.pid" KILL
    rm -f "$state/run/slurmd.$node.pid"
}

restart_node() {  # restart_node STATE NODE: a lost node back, empty, and in service
    local state="$1" node="$2"
    state="$(cd "$state" && pwd)"
    export SLURM_CONF="$state/etc/slurm.conf"
    grep -q "^NodeName=$node " "$SLURM_CONF" || die "no node $node in $SLURM_CONF"
    stop_node "$state" "$node"
    start_node "$state" "$node"
    wait_for 60 "$node to be back in service" bash -c \
        "sinfo -h -n '$node' -o %T | grep -qx idle"
}

on_node() {  # on_node STATE NODE COMMAND...: run COMMAND as on that node (its /tmp, its processes)
    local state="${1:?usage: on-node STATE_DIR NODE COMMAND...}" node="${2:?NODE}" first
    shift 2
    (($#)) || die "on-node: no command given"
    [[ -f "$state/run/$node.namespace.pid" ]] || die "no running node $node in $state"
    first="$(pgrep -P "$(cat "$state/run/$node.namespace.pid")")" || die "node $node is not running"
    exec nsenter --target "$first" --mount --pid -- "$@"
}

stop() {
    local state="$1" cluster address_prefix pidfile
    [[ -d "$state" ]] || die "no cluster state in $state"
    state="$(cd "$state" && pwd)"
    identity "$state"
    # Every node and daemon is signalled first and waited for after, side by side: the
    # nodes take a second each to die with their jobs, the daemons a few to shut down.
    local -a pidfiles=() signals=()
    for pidfile in "$state"/run/*.namespace.pid; do
        [[ -e "$pidfile" ]] || continue
        pidfiles+=("$pidfile") signals+=(KILL)
    done
    for pidfile in "$state/run/slurmctld.pid" "$state/run/slurmdbd.pid" "$state/mysql/mariadbd.pid"; do
        pidfiles+=("$pidfile") signals+=(TERM)
    done
    local index
    for index in "${!pidfiles[@]}"; do
        stop_pid "${pidfiles[$index]}" "${signals[$index]}" &
    done
    wait
    rm -f "$state"/run/slurmd.*.pid
    stop_munge
    echo "slurm-cluster: stopped"
}

case "${1:-}" in
    start) start "${2:?usage: $0 start STATE_DIR [NODES]}" "${3:-1}" ;;
    stop) stop "${2:?usage: $0 stop STATE_DIR}" ;;
    stop-node) stop_node "${2:?usage: $0 stop-node STATE_DIR NODE}" "${3:?NODE}" ;;
    start-node) restart_node "${2:?usage: $0 start-node STATE_DIR NODE}" "${3:?NODE}" ;;
    on-node) shift; on_node "$@" ;;
    *) echo "usage: $0 start STATE_DIR [NODES] | stop STATE_DIR | stop-node|start-node STATE_DIR NODE | on-node STATE_DIR NODE COMMAND..." >&2; exit 2 ;;
esac
