#!/usr/bin/env bash
# run.sh DIR [ROUNDS] [WAIT_S] — write2g.c into DIR, buffered then direct, ROUNDS times (3),
# each after removing the last file, a sync and WAIT_S seconds (10) of rest. Needs cc.
# Why the rest: on a VM whose balloon reports free pages to the host (virtio-balloon free
# page reporting), memory freed a few seconds ago is handed back, and the page cache's first
# touch of it costs the guest; right after the previous file's removal, it does not.
set -euo pipefail
dir=${1:?usage: run.sh DIR [ROUNDS] [WAIT_S]}
rounds=${2:-3}
wait_s=${3:-10}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
bin=$(mktemp -d)/write2g
trap 'rm -f -- "$dir/write2g.out"; rm -rf -- "$(dirname "$bin")"' EXIT
cc -O2 -o "$bin" "$here/write2g.c"
for ((r = 1; r <= rounds; r++)); do
    for mode in buffered direct; do
        rm -f -- "$dir/write2g.out"
        sync
        sleep "$wait_s"
        "$bin" "$dir/write2g.out" "$mode"
    done
done
