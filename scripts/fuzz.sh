#!/usr/bin/env bash
# fuzz.sh — run every fuzz target of fuzz/ for a bounded time; fail on any finding.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); all targets of fuzz/Cargo.toml unless some are named.
# Installs cargo-fuzz (pinned) when missing, builds every target once with AddressSanitizer
# (LeakSanitizer included) and debug assertions (overflow checks), then runs each with its
# committed seeds (fuzz/corpus/TARGET and fuzz/regressions/TARGET, copied into a scratch
# directory so that the committed corpus does not grow) for SECONDS. Any crash, failed
# invariant, leak, timeout (-timeout) or memory blow-up (-rss_limit_mb) stops that target:
# its input is saved under fuzz/artifacts/TARGET/, the path printed, and the script exits 1
# after the others ran. Prints executions and coverage per target at the end.
#
# Why RUSTC_BOOTSTRAP=1: cargo-fuzz builds with `-Zsanitizer=address` and the sanitizer
# coverage `-Cllvm-args`, flags only nightly rustc accepts. This machine (and CI) has one
# pinned stable toolchain (rust-toolchain.toml) and cannot fetch another; RUSTC_BOOTSTRAP=1
# lets that stable rustc accept the unstable flags for this build only. The flags are the
# ones cargo-fuzz passes on nightly; the sanitizer runtime ships with the stable toolchain.
# Only the fuzz build uses it: nothing else in the project is built this way.
#
# Time: one build of the targets (about 10 min from scratch on 2 cores, seconds when
# nothing changed), then SECONDS for each of the 15 targets (15 min at the default).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

if ! cargo fuzz --version 2>/dev/null | grep -qF "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

export RUSTC_BOOTSTRAP=1

cd fuzz
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
    # A failure inside <( ) escapes set -e: no target listed must not pass as a clean run.
    if ((${#targets[@]} == 0)); then
        log "cargo fuzz list gave no target"
        exit 1
    fi
fi

# -max_len per target: the largest input worth mutating (a listing page of a dozen long
# keys, a config file, a small archive); libFuzzer cuts longer seeds to it.
max_len() {
    case $1 in
        content_range) echo 256 ;;
        key_to_path) echo 4096 ;;
        config_ini) echo 8192 ;;
        tar_unpack) echo 32768 ;;
        *) echo 16384 ;;
    esac
}

# A dictionary of S3's XML for the targets that read it.
dict_args() {
    case $1 in
        list_* | create_multipart_upload | complete_multipart_upload | copy_object | delete_objects | error_xml)
            echo "-dict=dicts/s3-xml.dict"
            ;;
    esac
}

# Sanitizer, release with debug assertions, and the flags cargo-fuzz adds for libFuzzer.
readonly BUILD=(--sanitizer address --release --debug-assertions)
log "building ${#targets[@]} targets"
cargo fuzz build "${BUILD[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
    seeds=$scratch/$t
    mkdir -p "$seeds" "artifacts/$t"
    for dir in "corpus/$t" "regressions/$t"; do
        if [[ -d $dir ]]; then
            find "$dir" -maxdepth 1 -type f ! -name README.md -exec cp -t "$seeds" {} +
        fi
    done
    log "$t: ${seconds}s from $(find "$seeds" -type f | wc -l) seeds"
    out=$scratch/$t.log
    status=0
    cargo fuzz run "${BUILD[@]}" "$t" "$seeds" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=20 \
        -rss_limit_mb=4096 -print_final_stats=1 $(dict_args "$t") >"$out" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$out" | tail -1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")
    if ((status != 0)); then
        artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$out" | tail -1)
        artifact=${artifact:-$PWD/artifacts/$t/}
        # What failed (a panic's message, a sanitizer's report), then libFuzzer's last
        # words, lines cut short (it prints the whole input as one line).
        grep -m1 -A12 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$out" |
            cut -c1-300 >&2 || true
        tail -30 "$out" | cut -c1-300 >&2
        log "$t: FAILED (exit $status); input: $artifact"
        failed+=("$t")
        summary+=("$(printf '%-26s %12s %8s %8s %8s  FAILED: %s' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$artifact")")
    else
        summary+=("$(printf '%-26s %12s %8s %8s %8s  ok' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
    fi
done

printf '\n%-26s %12s %8s %8s %8s\n' target executions cov features corpus
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    log "findings in: ${failed[*]} (copy each input into fuzz/regressions/TARGET/, see fuzz/regressions/README.md)"
    exit 1
fi
log "all ${#targets[@]} targets ran ${seconds}s without a finding"
