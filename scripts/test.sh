#!/usr/bin/env bash
# The one way to run haul's whole test suite (the README's test command; .ci/run calls it).
# It installs what the suite needs (Ceph's RADOS Gateway from Debian's packages), then runs,
# in order: formatting, clippy, the unit/integration/property tests, the end-to-end suite
# (which starts and stops its own gateways: Ceph RGW and haul's embedded s3s-fs gateway),
# the fuzz corpus replay, rustdoc with warnings denied, and every fuzz target run for
# FUZZ_SECONDS (default 60) each with libFuzzer (scripts/fuzz.sh; 15 targets, about 15 min
# plus the build).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies (Ceph RGW from Debian)"
scripts/gateway.sh install rgw

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "building haul"
cargo build --workspace --locked
# The end-to-end suite runs the release binary: it moves gigabytes (the 4 GiB and 200,000-object
# memory cases), which a debug build does several times slower.
cargo build --release --locked -p haul
export HAUL_BIN="$PWD/target/release/haul"

step "tests: unit, property, integration and end-to-end against every gateway"
# HAUL_E2E_GATEWAYS defaults to every gateway (rgw and s3s); the e2e harness starts them.
cargo test --workspace --locked

step "fuzz: every target over its seed corpus and past findings (stable, no libFuzzer)"
# The fuzz crate is outside the workspace; sharing its target directory reuses the
# dependencies built above.
CARGO_TARGET_DIR="$PWD/target" cargo test --manifest-path fuzz/Cargo.toml --locked

step "rustdoc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "fuzz: every target for ${FUZZ_SECONDS:-60}s with libFuzzer (fails on any finding)"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "all checks passed"
