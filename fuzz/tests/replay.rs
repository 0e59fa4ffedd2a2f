//! Every fuzz target over every file of `corpus/TARGET/` and `regressions/TARGET/`, on
//! stable Rust, as part of the ordinary test suite: the recorded gateway answers and every
//! crash ever found keep passing the targets' invariants.
//!
//! A crash libFuzzer finds is saved as `artifacts/TARGET/crash-…`; copy it into
//! `regressions/TARGET/` (see `regressions/README.md`) and this test runs it from then on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use haul_fuzz::TARGETS;

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

/// Runs `target` on each file; returns the failures, each named by its file.
fn replay(target: fn(&[u8]), paths: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in paths {
        let data = fs_err::read(path).expect("reading a corpus file");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    failures
}

#[test]
fn every_target_passes_its_corpus_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for (name, target) in TARGETS {
        let corpus = files(&root.join("corpus").join(name));
        let regressions = files(&root.join("regressions").join(name));
        assert!(
            !corpus.is_empty(),
            "no seed corpus for {name} under {}",
            root.join("corpus").display()
        );
        failures.extend(replay(*target, &corpus));
        failures.extend(replay(*target, &regressions));
        counts.push(format!("{name}: {} + {}", corpus.len(), regressions.len()));
    }
    println!("replayed (corpus + regressions): {}", counts.join(", "));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_binary_and_a_corpus_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in TARGETS {
        let bin = root.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
    }
    let bins = files(&root.join("fuzz_targets"));
    assert_eq!(
        bins.len(),
        TARGETS.len(),
        "a binary without an entry in TARGETS"
    );
}

#[test]
fn a_broken_invariant_is_reported_with_its_file() {
    fn always_fails(_: &[u8]) {
        panic!("an invariant");
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let failures = replay(always_fails, &[file]);
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].contains("Cargo.toml: an invariant"),
        "{failures:?}"
    );
}
