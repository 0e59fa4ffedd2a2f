#!/usr/bin/env bash
# tar.sh — `haul tar push` / `haul tar pull` against GNU tar + pigz (issue 6, item 6).
#
# The data is the `logs` workload of gen_workloads.py (~2 GiB of log-like text in 48 files,
# like the runbook's /var/lib/deis/store). For each run, timed, in alternating order:
#   push  haul:  haul tar push TREE s3://BUCKET/logs.tar.gz       (archive + index uploaded)
#         pigz:  tar -C TREE -cpf - . | pigz > FILE                (a local file, no upload)
#   pull  haul:  haul tar pull s3://BUCKET/logs.tar.gz DIR
#         pigz:  pigz -dc FILE | tar -C DIR -xpf -
# Every extracted tree is compared with the source (file count, bytes, and `cmp` of every
# file), untimed; a difference fails the run. Each archive is also checked with `gzip -t`
# (untimed, first run).
#
# Usage:
#   benches/compare/tar.sh [--runs N] [--scale S] [--compress gzip|zstd] [--haul-bin PATH]
#                          [--cache DIR] [--out FILE.md]
# Defaults: --runs 3 --scale 1 --compress gzip. With zstd the reference is `zstd -T0`.
# Results: ~/.cache/haul-bench/results/tar-<UTC time>.md (+ .tsv raw rows, + .logs/).
#
# Measured for the command's whole process tree by GNU time (`%e %U %S %M`): wall seconds,
# user + system CPU seconds of the client, peak RSS (the largest single process). The
# gateway's CPU seconds during the step come from /proc/PID/stat of its daemons.
# Requirements: python3, pigz (or zstd), GNU time (installed with apt-get when run as root),
# Ceph's Debian packages (scripts/gateway.sh install rgw), cargo unless --haul-bin.
# Everything listens on and talks to 127.0.0.1; every process started here is stopped by PID.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
RUNS=${RUNS:-3}
SCALE=${SCALE:-1}
COMPRESS=${COMPRESS:-gzip}
HAUL_BIN=${HAUL_BIN:-}
CACHE=${HAUL_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/haul-bench}
OUT=${OUT:-}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

while (($#)); do
    case "$1" in
    --runs) RUNS=$2 && shift ;;
    --scale) SCALE=$2 && shift ;;
    --compress) COMPRESS=$2 && shift ;;
    --haul-bin) HAUL_BIN=$2 && shift ;;
    --cache) CACHE=$2 && shift ;;
    --out) OUT=$2 && shift ;;
    -h | --help) sed -n '2,26p' "$0" >&2 && exit 0 ;;
    *) die "unknown argument: $1" ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
case "$COMPRESS" in
gzip) REF=pigz EXT=tar.gz ;;
zstd) REF=zstd EXT=tar.zst ;;
*) die "--compress must be gzip or zstd" ;;
esac

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$CACHE/results"
OUT=${OUT:-$CACHE/results/tar-$STAMP.md}
RAW=${OUT%.md}.tsv
LOGDIR=${OUT%.md}.logs
mkdir -p "$LOGDIR"
WORK=$(mktemp -d "$CACHE/tar-work.XXXXXX")

RGW_STATE="" CHILD=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [[ -n "$RGW_STATE" ]]; then
        log "stopping Ceph RGW ($RGW_STATE)"
        "$ROOT/scripts/gateway.sh" stop rgw "$RGW_STATE" || true
    fi
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

apt_install() {
    [[ $(id -u) -eq 0 ]] || die "$1 missing: apt-get install $1 (needs root)"
    log "installing Debian package '$1'"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1" >&2; }
}
[[ -x /usr/bin/time ]] || apt_install time
command -v "$REF" >/dev/null || apt_install "$REF"

if [[ -n "$HAUL_BIN" ]]; then
    HAUL=$HAUL_BIN
else
    log "building haul (cargo build --release -p haul)"
    (cd "$ROOT" && cargo build --release -p haul >&2)
    HAUL=${CARGO_TARGET_DIR:-$ROOT/target}/release/haul
    [[ "$HAUL" == /* ]] || HAUL=$ROOT/$HAUL
fi
[[ -x "$HAUL" ]] || die "haul binary not found: $HAUL"

# The workload, generated once (same naming as run.sh, so both scripts share it).
GV=$(sed -n 's/^GENERATOR_VERSION = //p' "$HERE/gen_workloads.py")
WDIR=$CACHE/workloads/logs-scale$SCALE-v$GV
if [[ ! -f "$WDIR/manifest.json" ]]; then
    rm -rf -- "$WDIR"
    mkdir -p "$CACHE/workloads"
    log "generating workload logs at scale $SCALE into $WDIR"
    python3 "$HERE/gen_workloads.py" "$WDIR" logs "$SCALE" >&2
fi
TREE=$WDIR/tree
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WDIR/manifest.json" "$1"; }
FILES=$(field files)
BYTES=$(field bytes)

# The gateway: room for the archives of every run until GC takes the overwritten ones.
log "starting Ceph RGW"
env_out=$(HAUL_RGW_MEMSTORE_BYTES=$((BYTES * 2 + (2 << 30))) \
    HAUL_RGW_EXTRA_CONF=$'rgw gc obj min wait = 0\nrgw gc processor period = 3600' \
    "$ROOT/scripts/gateway.sh" start rgw "$WORK/rgw" 2>"$LOGDIR/gateway-start.log") ||
    die "RGW did not start (see $LOGDIR/gateway-start.log)"
RGW_STATE=$(sed -n 's/^HAUL_TEST_RGW_STATE=//p' <<<"$env_out")
ENDPOINT=$(sed -n 's/^HAUL_TEST_RGW_ENDPOINT=//p' <<<"$env_out")
ACCESS_KEY=$(sed -n 's/^HAUL_TEST_RGW_ACCESS_KEY=//p' <<<"$env_out")
SECRET_KEY=$(sed -n 's/^HAUL_TEST_RGW_SECRET_KEY=//p' <<<"$env_out")
[[ "$ENDPOINT" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || die "unexpected endpoint '$ENDPOINT' (loopback only)"
: >"$WORK/empty"
HAUL_ENV=(env "AWS_ACCESS_KEY_ID=$ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$SECRET_KEY" AWS_REGION=us-east-1
    "AWS_ENDPOINT_URL=$ENDPOINT" "AWS_SHARED_CREDENTIALS_FILE=$WORK/empty"
    "AWS_CONFIG_FILE=$WORK/empty" "HOME=$WORK")
"${HAUL_ENV[@]}" "$HAUL" mb s3://tarbench >>"$LOGDIR/admin.log" 2>&1 || die "cannot create the bucket"
# Warm-up, untimed: RGW creates its multipart pools on the first multipart upload (~1.5 s).
head -c $((20 << 20)) /dev/zero >"$WORK/warm"
"${HAUL_ENV[@]}" "$HAUL" cp "$WORK/warm" s3://tarbench/warm-up >>"$LOGDIR/admin.log" 2>&1 || die "warm-up upload failed (see $LOGDIR/admin.log)"
rm -f -- "$WORK/warm"

CLK_TCK=$(getconf CLK_TCK)
gateway_ticks() {
    local pid total=0 rest
    for pid in $(cat "$RGW_STATE/pids"); do
        rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086 # word-split the stat fields on purpose
        set -- $rest
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

printf 'op\ttool\trun\trc\twall_s\tuser_s\tsys_s\tmaxrss_kib\tgateway_cpu_s\tstored_bytes\tverified\n' >"$RAW"

# step OP TOOL RUN SCRIPT: run SCRIPT (bash) timed; appends a row to RAW (without `verified`).
step() {
    local op=$1 tool=$2 run=$3 script=$4 tfile=$WORK/time.out g0 g1 rc wall=NA user=NA sys=NA rss=NA
    printf '\n=== %s %s run %s\n$ %s\n' "$op" "$tool" "$run" "${script//"$SECRET_KEY"/<secret>}" >>"$LOGDIR/$tool.log"
    sync
    g0=$(gateway_ticks)
    rm -f -- "$WORK/time.out"
    setsid /usr/bin/time -f '%e %U %S %M' -o "$tfile" bash -c "$script" \
        </dev/null >>"$LOGDIR/$tool.log" 2>&1 &
    CHILD=$!
    if wait "$CHILD"; then rc=0; else rc=$?; fi
    CHILD=""
    g1=$(gateway_ticks)
    [[ -s "$tfile" ]] && read -r wall user sys rss < <(tail -n1 "$tfile")
    log "  $op $tool run $run: exit $rc, wall $wall s, CPU $user+$sys s, RSS $((rss / 1024)) MiB"
    # haul exits 1 for "done, with warnings" (a file changed while read), as GNU tar does.
    ((rc == 0)) || [[ $rc == 1 && $tool == haul ]] || die "$tool $op failed (exit $rc; see $LOGDIR/$tool.log)"
    ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$op" "$tool" "$run" "$rc" "$wall" "$user" "$sys" \
        "$rss" "$(awk -v d=$((g1 - g0)) -v t="$CLK_TCK" 'BEGIN{printf "%.2f", d/t}')")
}

# same_tree DIR: "ok" when DIR holds exactly the workload's files with the same bytes.
same_tree() {
    local n b rel
    n=$(find "$1" -type f | wc -l)
    b=$(find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f", s}')
    ((n == FILES && b == BYTES)) || { echo "mismatch:${n}files/${b}B"; return; }
    while IFS= read -r rel; do
        cmp -s "$TREE/$rel" "$1/$rel" || { echo "differs:$rel"; return; }
    done < <(cd "$TREE" && find . -type f)
    echo ok
}

[[ "$COMPRESS" == gzip ]] && REF_PUSH="tar -C '$TREE' -cpf - . | pigz > '$WORK/ref.$EXT'" \
    REF_PULL="pigz -dc '$WORK/ref.$EXT' | tar -C '$WORK/out' -xpf -"
[[ "$COMPRESS" == zstd ]] && REF_PUSH="tar -C '$TREE' -cpf - . | zstd -q -T0 > '$WORK/ref.$EXT'" \
    REF_PULL="zstd -dc '$WORK/ref.$EXT' | tar -C '$WORK/out' -xpf -"
HAUL_CMD=$(printf '%q ' "${HAUL_ENV[@]}" "$HAUL")
HAUL_PUSH="$HAUL_CMD tar push --compress $COMPRESS '$TREE' s3://tarbench/logs.$EXT"
HAUL_PULL="$HAUL_CMD tar pull s3://tarbench/logs.$EXT '$WORK/out'"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

for ((run = 1; run <= RUNS; run++)); do
    # Alternate which tool goes first, so that neither always meets a cold or warm cache.
    if ((run % 2)); then order="haul $REF"; else order="$REF haul"; fi
    for tool in $order; do
        if [[ $tool == haul ]]; then step push haul "$run" "$HAUL_PUSH"; else step push "$REF" "$run" "$REF_PUSH"; fi
        if [[ $tool == haul ]]; then
            stored=$("${HAUL_ENV[@]}" "$HAUL" ls "s3://tarbench/logs.$EXT" 2>>"$LOGDIR/admin.log" | awk 'NR==1{print $(NF-1)}')
        else
            stored=$(stat -c %s "$WORK/ref.$EXT")
            ((run == 1)) && { "$REF" -t "$WORK/ref.$EXT" || die "$REF -t refused its own archive"; }
        fi
        printf '%s\t%s\t-\n' "$ROW" "$stored" >>"$RAW"
    done
    for tool in $order; do
        rm -rf -- "$WORK/out" && mkdir "$WORK/out"
        if [[ $tool == haul ]]; then step pull haul "$run" "$HAUL_PULL"; else step pull "$REF" "$run" "$REF_PULL"; fi
        v=$(same_tree "$WORK/out")
        [[ "$v" == ok ]] || die "$tool pull: extracted tree differs from the source: $v"
        printf '%s\t-\t%s\n' "$ROW" "$v" >>"$RAW"
    done
    rm -rf -- "$WORK/out"
    radosgw-admin -c "$RGW_STATE/ceph.conf" --cluster ceph gc process --include-all >>"$LOGDIR/gc.log" 2>&1 || true
done

{
    echo "# haul tar vs tar + $REF ($COMPRESS), $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo
    echo "- command: benches/compare/tar.sh --runs $RUNS --scale $SCALE --compress $COMPRESS"
    echo "- data: logs workload, $FILES files, $BYTES bytes ($WDIR)"
    echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), nproc $(nproc)"
    echo "- kernel: $(uname -sr); haul: $("$HAUL" --version | head -n1), source $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "- gateway: Ceph RGW $(ceph --version 2>/dev/null | awk '{print $3}') at $ENDPOINT (scripts/gateway.sh)"
    echo "- reference: $($REF --version 2>&1 | head -n1), $(tar --version | head -n1)"
    echo "- load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| step | tool | wall s (runs) | median wall s | CPU s user+sys (median) | peak RSS MiB (max) | gateway CPU s (median) | stored MiB |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    python3 - "$RAW" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for op in ("push", "pull"):
    for tool in dict.fromkeys(r["tool"] for r in rows):
        rs = [r for r in rows if r["op"] == op and r["tool"] == tool]
        if not rs:
            continue
        walls = [float(r["wall_s"]) for r in rs]
        cpu = statistics.median(float(r["user_s"]) for r in rs), statistics.median(float(r["sys_s"]) for r in rs)
        rss = max(int(r["maxrss_kib"]) for r in rs) / 1024
        gw = statistics.median(float(r["gateway_cpu_s"]) for r in rs)
        stored = "-" if rs[0]["stored_bytes"] == "-" else f'{int(rs[0]["stored_bytes"]) / 2**20:.0f}'
        print(f"| {op} | {tool} | {', '.join(f'{w:.2f}' for w in walls)} | {statistics.median(walls):.2f} "
              f"| {cpu[0]:.1f} + {cpu[1]:.1f} | {rss:.0f} | {gw:.1f} | {stored} |")
EOF
} >"$OUT"
cat "$OUT"
log "results: $OUT"
