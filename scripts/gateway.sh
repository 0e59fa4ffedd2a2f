#!/usr/bin/env bash
# gateway.sh — start/stop throwaway S3 gateways on loopback for haul's test suite.
#
# Usage:
#   scripts/gateway.sh install rgw
#   scripts/gateway.sh start   rgw [STATE_DIR]
#   scripts/gateway.sh status  rgw STATE_DIR
#   scripts/gateway.sh stop    rgw STATE_DIR
#
# "rgw" is a real single-node Ceph RADOS Gateway (Debian 12 ships Ceph 16.2.x):
# one monitor, one memstore OSD, one radosgw, all bound to 127.0.0.1 on ports
# the kernel hands out, all state (conf, mon/osd data, admin sockets, logs,
# pid list) under STATE_DIR. Nothing is written to /etc/ceph, /var/lib/ceph,
# /var/log/ceph or /var/run/ceph, so several gateways can run side by side.
#
# On success `start` prints exactly these shell-sourceable lines on stdout (and
# writes them to STATE_DIR/env); progress goes to stderr:
#   HAUL_TEST_RGW_ENDPOINT=http://127.0.0.1:PORT
#   HAUL_TEST_RGW_ACCESS_KEY=...
#   HAUL_TEST_RGW_SECRET_KEY=...
#   HAUL_TEST_RGW_STATE=STATE_DIR
# Clients must use path-style addressing (no rgw_dns_name is set) and may sign
# with any region; use us-east-1 so that CreateBucket sends no LocationConstraint.
#
# Environment knobs for `start`:
#   RGW_MAX_CONCURRENT_REQUESTS=N  sets `rgw max concurrent requests` (beast
#                                  answers 503 SlowDown above it).
#   HAUL_RGW_EXTRA_CONF=TEXT       appended verbatim to the [client.rgw.haul] section.
#   HAUL_RGW_START_TIMEOUT=SECS    readiness deadline (default 120).
#   HAUL_RGW_MEMSTORE_BYTES=N      OSD capacity in bytes (default 4 GiB; RAM is
#                                  only used for data actually stored).
#
# STATE_DIR/pids holds the PID of every daemon this script started, one per line
# (STATE_DIR/daemons has the same with names). `stop` signals only those PIDs,
# and only while their command line still names this STATE_DIR's ceph.conf.

set -euo pipefail

readonly RGW_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
# curl probes the S3 endpoint; python3 (picks free ports) comes with ceph-common.
readonly RGW_TOOL_PACKAGES=(curl)
readonly RGW_ACCESS_KEY=haultestaccess
readonly RGW_SECRET_KEY=haultestsecret0123456789
readonly RGW_USER=haul
readonly RGW_NAME=client.rgw.haul
readonly CLUSTER=ceph

log() { printf 'gateway.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    cat >&2 <<'EOF'
usage: gateway.sh install rgw
       gateway.sh start   rgw [STATE_DIR]
       gateway.sh status  rgw STATE_DIR
       gateway.sh stop    rgw STATE_DIR
EOF
    exit 2
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

pkg_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

rgw_install() {
    local pkgs=("${RGW_PACKAGES[@]}" "${RGW_TOOL_PACKAGES[@]}") missing=() p
    for p in "${pkgs[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "rgw packages already installed: ${pkgs[*]}"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root"
    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # Refresh the package lists only when apt does not know a candidate for
    # every package (fresh image, or lists too old to still be fetchable).
    local need_update=0
    for p in "${missing[@]}"; do
        if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            need_update=1
        fi
    done
    if ((need_update)); then
        log "apt-get update"
        apt-get update -q >&2
    fi
    log "apt-get install ${missing[*]}"
    if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >&2; then
        # Stale lists can point at .debs the mirror no longer has: refresh once.
        log "install failed; retrying after apt-get update"
        apt-get update -q >&2
        apt-get install "${apt_opts[@]}" "${missing[@]}" >&2
    fi
    log "installed: $(ceph --version 2>/dev/null || echo '?')"
}

# ---------------------------------------------------------------------------
# helpers shared by start/stop/status
# ---------------------------------------------------------------------------

# Absolute path of a directory (which must exist).
abs_dir() { (cd "$1" && pwd -P); }

# free_ports N: print N distinct TCP ports on 127.0.0.1 that are free right now.
# All sockets are held open until every port is chosen, so the N differ.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# Is PID alive and one of ours: a ceph-mon/ceph-osd/radosgw whose command line
# names STATE's ceph.conf? Guards against signalling an unrelated process that
# reused a recorded PID. (Zombies have an empty cmdline: they count as gone.)
pid_is_ours() {
    local pid=$1 conf=$2 cmdline comm
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    case "$comm" in
    ceph-mon | ceph-osd | radosgw) ;;
    *) return 1 ;;
    esac
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmdline" == *"$conf"* ]]
}

# kill_recorded STATE_DIR: TERM every recorded daemon (newest first), wait,
# then KILL whatever is left. Only PIDs from STATE_DIR/pids are touched.
kill_recorded() {
    local conf=$1/ceph.conf pidfile=$1/pids pid i
    [[ -f "$pidfile" ]] || return 0
    local pids=()
    mapfile -t pids < <(tac "$pidfile")
    for pid in "${pids[@]}"; do
        if pid_is_ours "$pid" "$conf"; then
            kill -TERM "$pid" 2>/dev/null || true
            # Stop in reverse start order (rgw, osd, mon) so clients go first.
            for ((i = 0; i < 100; i++)); do
                pid_is_ours "$pid" "$conf" || break
                sleep 0.1
            done
        fi
    done
    for pid in "${pids[@]}"; do
        if pid_is_ours "$pid" "$conf"; then
            log "pid $pid did not exit on TERM; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 50; i++)); do
            pid_is_ours "$pid" "$conf" || break
            sleep 0.1
        done
        if pid_is_ours "$pid" "$conf"; then
            log "warning: pid $pid still alive after KILL"
        fi
    done
}

# ceph CLI against this cluster only (explicit conf, short timeouts).
ceph_cli() {
    ceph -c "$CONF" --cluster "$CLUSTER" --connect-timeout 10 "$@"
}

# Deadline bookkeeping for `start`.
DEADLINE=0
remaining() { echo $((DEADLINE - SECONDS)); }

START_FAILED_CLEANUP=""
dump_logs() {
    local f
    log "---- daemon logs (last 60 lines each) from $STATE ----"
    for f in "$STATE"/log/*; do
        [[ -f "$f" ]] || continue
        printf '==== %s ====\n' "$f" >&2
        tail -n 60 "$f" >&2 || true
    done
    log "---- end of logs ----"
}

start_fail() {
    log "error: $*"
    dump_logs
    kill_recorded "$STATE"
    if [[ -n "$START_FAILED_CLEANUP" ]]; then
        rm -rf -- "$STATE"
        log "removed $STATE"
    else
        log "state left in $STATE (remove with: $0 stop rgw $STATE)"
    fi
    exit 1
}

# wait_for DESCRIPTION PID_TO_WATCH COMMAND...: run COMMAND until it succeeds,
# failing fast if PID_TO_WATCH has died, or when the deadline passes.
wait_for() {
    local what=$1 pid=$2
    shift 2
    while :; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            start_fail "$what: daemon pid $pid exited"
        fi
        if (($(remaining) <= 0)); then
            start_fail "timed out after ${TIMEOUT}s waiting for $what"
        fi
        sleep 0.25
    done
}

# spawn NAME CMD...: start a daemon in the foreground mode of its own (-f),
# detached from our stdio and session, and record its PID.
spawn() {
    local name=$1
    shift
    # setsid: own session, so a ^C or hangup aimed at the test runner's process
    # group does not take the daemon down mid-test (stop is explicit). It does
    # not fork here (we are not a group leader), so $! is the daemon itself.
    setsid "$@" </dev/null >>"$STATE/log/$name.stdout" 2>&1 &
    local pid=$!
    echo "$pid" >>"$STATE/pids"
    echo "$name $pid" >>"$STATE/daemons"
    LAST_PID=$pid
}

# forget_pid PID: drop an exited daemon from the pid lists.
forget_pid() {
    local tmp
    tmp=$(grep -vx -- "$1" "$STATE/pids" || true)
    printf '%s\n' "$tmp" | sed '/^$/d' >"$STATE/pids"
    tmp=$(grep -v -- " $1\$" "$STATE/daemons" || true)
    printf '%s\n' "$tmp" | sed '/^$/d' >"$STATE/daemons"
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

write_conf() {
    local fsid=$1 mon_port=$2 memstore_bytes=$3
    cat >"$CONF" <<EOF
# Generated by scripts/gateway.sh for a throwaway single-node test cluster.
[global]
fsid = $fsid
# One monitor "a" on a kernel-chosen loopback port, messenger v1 only: a single
# explicit v1 address avoids the v2/v1 port pair (3300/6789) defaults that
# would collide between two clusters on one machine.
mon initial members = a
mon host = [v1:127.0.0.1:$mon_port]
ms bind msgr1 = true
ms bind msgr2 = false
ms bind ipv6 = false
# Every daemon binds loopback only (OSDs pick ports in 6800-7300 themselves).
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# No cephx between daemons or for clients: nothing to leak, no keyrings needed.
auth cluster required = none
auth service required = none
auth client required = none
# Everything a daemon writes goes under the state dir, never /var or /etc.
run dir = $STATE/run
keyring = $STATE/keyring
crash dir = $STATE/crash
mon data = $STATE/mon/\$cluster-\$id
osd data = $STATE/osd/\$cluster-\$id
rgw data = $STATE/rgw/\$cluster-\$id
# Monitor cluster log would otherwise go to /var/log/ceph/ceph.log.
mon cluster log file = $STATE/log/\$cluster.\$channel.log
# Single OSD: one replica is all there is. Pacific refuses size-1 pools
# unless explicitly allowed.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
# Tiny pools: radosgw creates ~7 pools on its own; 8 PGs each keeps the OSD's
# memory and PG peering time low. There is no mgr, so no autoscaler either.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
rgw rados pool pg num min = 8
mon max pg per osd = 1000
# Replicas are placed across OSDs, not hosts (there is one host).
osd crush chooseleaf type = 0
# Size-1 pools are intended here: no POOL_NO_REDUNDANCY warning. (There is
# no mgr either, so the cluster stays HEALTH_WARN; RGW does not care.)
mon warn on pool no redundancy = false
# Let a test or a person drop pools while diagnosing.
mon allow pool delete = true
# global_id reclaim is a cephx matter; with auth none the warning is noise.
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# The test cluster lives in /tmp: do not shut the mon down on a full-ish disk.
mon data avail crit = 1
mon data avail warn = 2

[mon]
log file = $STATE/log/\$cluster-\$name.log

[osd]
log file = $STATE/log/\$cluster-\$name.log
# RAM-backed object store: no disk I/O, no block device; memory is only
# allocated for data actually written. Capacity is what the OSD reports.
osd objectstore = memstore
memstore device bytes = $memstore_bytes
# The OSD must not send mon commands while it boots: with auth none its
# MonClient can fire them before it has the monmap, with fsid 0, and the mon
# answers "wrong fsid" and the OSD aborts (seen here ~1 start in 5). So no
# "crush create-or-move" / "set-device-class" at start: the script places the
# OSD in CRUSH itself (ceph osd crush add) before starting it.
osd crush update on start = false
osd class update on start = false
# Fewer worker shards/threads than the defaults: this is one test client.
osd op num shards = 2
osd op num threads per shard = 1

[$RGW_NAME]
log file = $STATE/log/\$cluster-\$name.log
# S3 on HTTP, loopback only, kernel-chosen port (filled in just before
# radosgw starts, see start_radosgw). No rgw dns name: path-style only.
rgw frontends = beast endpoint=127.0.0.1:RGW_PORT
# haul's users have buckets like "db_wal" (underscore) that strict S3 naming
# rejects.
rgw relaxed s3 bucket names = true
# Fail fast instead of waiting the default 300 s if the OSD never comes up.
rgw init timeout = 120
EOF
    if [[ -n "${RGW_MAX_CONCURRENT_REQUESTS:-}" ]]; then
        [[ "$RGW_MAX_CONCURRENT_REQUESTS" =~ ^[0-9]+$ ]] ||
            die "RGW_MAX_CONCURRENT_REQUESTS must be a number"
        cat >>"$CONF" <<EOF
# Requested by RGW_MAX_CONCURRENT_REQUESTS (throttling tests).
rgw max concurrent requests = $RGW_MAX_CONCURRENT_REQUESTS
EOF
    fi
    if [[ -n "${HAUL_RGW_EXTRA_CONF:-}" ]]; then
        printf '# From HAUL_RGW_EXTRA_CONF:\n%s\n' "$HAUL_RGW_EXTRA_CONF" >>"$CONF"
    fi
}

osd_is_up() {
    ceph_cli osd dump -f json 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(o["up"] for o in d["osds"]) else 1)'
}

s3_answers() {
    # Any HTTP status from the gateway means beast is serving.
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ENDPOINT/") || return 1
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]
}

s3_anonymous_list() {
    curl -sf --max-time 10 "$ENDPOINT/" | grep -q 'ListAllMyBucketsResult'
}

s3_signed_list() {
    # RGW rejects SigV4 without x-amz-content-sha256 (curl 7.88 does not add
    # it itself); the value is the SHA-256 of the empty body.
    curl -sf --max-time 10 --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "$ENDPOINT/" |
        grep -q "<ID>$RGW_USER</ID>"
}

# start_osd ID: start the OSD and wait until the mon marks it up. An OSD that
# dies while booting (a startup race, see the conf) is restarted from its
# memstore, which mkfs saved to disk, up to 3 times.
start_osd() {
    local id=$1 attempt pid
    for attempt in 1 2 3; do
        spawn "osd.$id" ceph-osd -c "$CONF" --cluster "$CLUSTER" -i "$id" -f
        pid=$LAST_PID
        log "osd.$id started (pid $pid); waiting for it to be up"
        while ! osd_is_up; do
            if ! kill -0 "$pid" 2>/dev/null; then
                log "osd.$id (pid $pid) exited while booting (attempt $attempt)"
                forget_pid "$pid"
                continue 2
            fi
            (($(remaining) > 0)) || start_fail "timed out after ${TIMEOUT}s waiting for osd.$id up"
            sleep 0.25
        done
        return 0
    done
    start_fail "osd.$id kept exiting while booting"
}

# start_radosgw: pick a free loopback port, write it into the conf and start
# radosgw; wait until beast answers HTTP. The port is only reserved by the
# kernel while our probe socket is open, so if something grabs it before
# radosgw binds (radosgw then logs "failed to bind address" and exits 98),
# pick another port and try again; any other early exit is retried as well
# (a real misconfiguration fails all attempts and the logs are shown).
start_radosgw() {
    local attempt rgw_port pid
    for attempt in 1 2 3 4 5; do
        rgw_port=$(free_ports 1)
        sed -i "s|^rgw frontends = beast endpoint=127\.0\.0\.1:.*|rgw frontends = beast endpoint=127.0.0.1:$rgw_port|" "$CONF"
        ENDPOINT=http://127.0.0.1:$rgw_port
        spawn rgw.haul radosgw -c "$CONF" --cluster "$CLUSTER" -n "$RGW_NAME" -f
        pid=$LAST_PID
        log "radosgw started (pid $pid); waiting for S3 on $ENDPOINT"
        while ! s3_answers; do
            if ! kill -0 "$pid" 2>/dev/null; then
                if grep -q "failed to bind address 127.0.0.1:$rgw_port" \
                    "$STATE/log/$CLUSTER-$RGW_NAME.log" 2>/dev/null; then
                    log "port $rgw_port was taken meanwhile (attempt $attempt); retrying"
                else
                    log "radosgw (pid $pid) exited before serving (attempt $attempt); retrying"
                fi
                forget_pid "$pid"
                continue 2
            fi
            (($(remaining) > 0)) || start_fail "timed out after ${TIMEOUT}s waiting for S3 on $ENDPOINT"
            sleep 0.25
        done
        return 0
    done
    start_fail "radosgw kept exiting before serving S3 (5 attempts)"
}

rgw_start() {
    local state_arg=${1:-}
    local tool
    for tool in ceph ceph-mon ceph-osd monmaptool ceph-authtool radosgw radosgw-admin curl python3 setsid; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "$tool not found; run: $0 install rgw"
    done
    TIMEOUT=${HAUL_RGW_START_TIMEOUT:-120}
    [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "HAUL_RGW_START_TIMEOUT must be a number"
    local memstore_bytes=${HAUL_RGW_MEMSTORE_BYTES:-$((4 << 30))}
    [[ "$memstore_bytes" =~ ^[0-9]+$ ]] || die "HAUL_RGW_MEMSTORE_BYTES must be a number"

    if [[ -z "$state_arg" ]]; then
        STATE=$(mktemp -d "${TMPDIR:-/tmp}/haul-rgw.XXXXXX")
        START_FAILED_CLEANUP=1
    else
        mkdir -p -- "$state_arg"
        STATE=$state_arg
        if [[ -n "$(ls -A -- "$STATE")" ]]; then
            die "state dir $STATE is not empty (stop the old gateway first)"
        fi
    fi
    STATE=$(abs_dir "$STATE")
    # Ceph config values cannot hold spaces/specials reliably; keep paths plain.
    [[ "$STATE" =~ ^[A-Za-z0-9_./-]+$ ]] || die "state dir path must be plain ([A-Za-z0-9_./-]): $STATE"
    CONF=$STATE/ceph.conf
    # An interrupted start takes its daemons down with it.
    trap 'start_fail "interrupted"' INT TERM HUP
    DEADLINE=$((SECONDS + TIMEOUT))
    local t0=$SECONDS

    mkdir -p "$STATE"/{run,log,mon,osd,rgw,crash}
    : >"$STATE/pids"
    : >"$STATE/daemons"

    local mon_port fsid osd_uuid osd_id
    mon_port=$(free_ports 1)
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    write_conf "$fsid" "$mon_port" "$memstore_bytes"
    log "state dir $STATE (mon port $mon_port)"

    # --- monitor -----------------------------------------------------------
    # ceph-mon --mkfs wants a keyring with a mon. key even with auth none; the
# admin key is unused but makes the keyring usable if cephx is ever enabled.
    ceph-authtool --create-keyring "$STATE/keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    ceph-authtool "$STATE/keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" \
        "$STATE/monmap" >/dev/null
    mkdir -p "$STATE/mon/$CLUSTER-a"
    ceph-mon -c "$CONF" --cluster "$CLUSTER" -i a --mkfs \
        --monmap "$STATE/monmap" --keyring "$STATE/keyring" \
        >>"$STATE/log/mkfs.log" 2>&1 || start_fail "ceph-mon --mkfs failed"
    spawn mon.a ceph-mon -c "$CONF" --cluster "$CLUSTER" -i a -f
    local mon_pid=$LAST_PID
    log "mon.a started (pid $mon_pid); waiting for quorum"
    wait_for "monitor quorum" "$mon_pid" ceph_cli mon stat
    log "mon.a in quorum after $((SECONDS - t0))s"

    # --- OSD ---------------------------------------------------------------
    osd_id=$(ceph_cli osd new "$osd_uuid" 2>>"$STATE/log/mkfs.log") ||
        start_fail "ceph osd new failed"
    [[ "$osd_id" =~ ^[0-9]+$ ]] || start_fail "unexpected osd id: $osd_id"
    # Fixed weight 1 (a 4 GiB device would get ~0.004); one host bucket.
    ceph_cli osd crush add "osd.$osd_id" 1.0 host=localhost root=default \
        >>"$STATE/log/mkfs.log" 2>&1 || start_fail "ceph osd crush add failed"
    mkdir -p "$STATE/osd/$CLUSTER-$osd_id"
    ceph-osd -c "$CONF" --cluster "$CLUSTER" -i "$osd_id" --mkfs \
        --osd-uuid "$osd_uuid" >>"$STATE/log/mkfs.log" 2>&1 ||
        start_fail "ceph-osd --mkfs failed"
    start_osd "$osd_id"
    log "osd.$osd_id up after $((SECONDS - t0))s"

    # --- radosgw -----------------------------------------------------------
    mkdir -p "$STATE/rgw/$CLUSTER-rgw.haul"
    start_radosgw
    local rgw_pid=$LAST_PID
    wait_for "anonymous ListBuckets" "$rgw_pid" s3_anonymous_list
    log "radosgw serving S3 after $((SECONDS - t0))s"

    # The S3 user. radosgw-admin is a plain client (no admin socket, no log
    # file of its own), so it does not disturb the running gateway.
    radosgw-admin -c "$CONF" --cluster "$CLUSTER" user create \
        --uid="$RGW_USER" --display-name="haul test user" \
        --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" \
        >>"$STATE/log/radosgw-admin.log" 2>&1 ||
        start_fail "radosgw-admin user create failed"
    wait_for "signed ListBuckets as $RGW_USER" "$rgw_pid" s3_signed_list

    {
        echo "HAUL_TEST_RGW_ENDPOINT=$ENDPOINT"
        echo "HAUL_TEST_RGW_ACCESS_KEY=$RGW_ACCESS_KEY"
        echo "HAUL_TEST_RGW_SECRET_KEY=$RGW_SECRET_KEY"
        echo "HAUL_TEST_RGW_STATE=$STATE"
    } >"$STATE/env"
    trap - INT TERM HUP
    log "ready in $((SECONDS - t0))s (pids: $(tr '\n' ' ' <"$STATE/pids"))"
    cat "$STATE/env"
}

# ---------------------------------------------------------------------------
# status / stop
# ---------------------------------------------------------------------------

require_state() {
    [[ -n "${1:-}" ]] || usage
    STATE=$1
}

rgw_status() {
    require_state "${1:-}"
    if [[ ! -f "$STATE/pids" ]]; then
        echo "stopped (no $STATE/pids)"
        return 1
    fi
    STATE=$(abs_dir "$STATE")
    CONF=$STATE/ceph.conf
    local name pid up=0 down=0
    while read -r name pid; do
        if pid_is_ours "$pid" "$CONF"; then
            echo "$name pid $pid: running"
            up=$((up + 1))
        else
            echo "$name pid $pid: not running"
            down=$((down + 1))
        fi
    done <"$STATE/daemons"
    if ((down == 0 && up > 0)) && [[ -f "$STATE/env" ]]; then
        ENDPOINT=$(sed -n 's/^HAUL_TEST_RGW_ENDPOINT=//p' "$STATE/env")
        if s3_anonymous_list; then
            echo "running: $ENDPOINT"
            return 0
        fi
        echo "daemons up but $ENDPOINT does not answer"
        return 1
    fi
    echo "not running ($up up, $down down)"
    return 1
}

rgw_stop() {
    require_state "${1:-}"
    if [[ ! -d "$STATE" ]]; then
        log "$STATE does not exist; nothing to stop"
        return 0
    fi
    STATE=$(abs_dir "$STATE")
    # Only ever delete a directory that this script populated.
    if [[ ! -f "$STATE/pids" || ! -f "$STATE/ceph.conf" ]]; then
        die "$STATE does not look like a gateway state dir (no pids/ceph.conf); not touching it"
    fi
    kill_recorded "$STATE"
    rm -rf -- "$STATE"
    log "stopped and removed $STATE"
}

# ---------------------------------------------------------------------------

main() {
    (($# >= 2)) || usage
    local cmd=$1 kind=$2
    shift 2
    [[ "$kind" == rgw ]] || die "unknown gateway kind '$kind' (supported: rgw)"
    case "$cmd" in
    install) rgw_install ;;
    start) rgw_start "$@" ;;
    status) rgw_status "$@" ;;
    stop) rgw_stop "$@" ;;
    *) usage ;;
    esac
}

main "$@"
