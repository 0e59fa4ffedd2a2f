//! Keeps the module layering of STYLE.md §1 true: each module of `engine` refers only to the
//! modules its row allows. `s3`, `transport`, `congestion`, `local` and `config` stand alone.

use std::collections::BTreeSet;
use std::path::Path;

/// (module, modules it may use). `error` and `progress` are shared vocabulary.
const ALLOWED: &[(&str, &[&str])] = &[
    ("s3", &[]),
    ("transport", &[]),
    ("congestion", &[]),
    ("local", &[]),
    ("config", &[]),
    ("progress", &[]),
    (
        "client",
        &["s3", "transport", "congestion", "error", "progress"],
    ),
    ("transfer", &["client", "local", "s3", "error", "progress"]),
    (
        "archive",
        &[
            "transfer", "local", "client", "s3", "error", "progress", "cancel", "sync", "manifest",
        ],
    ),
    ("manifest", &["local", "s3", "client", "error", "progress"]),
    (
        "backup",
        &[
            "archive", "sync", "s3", "error", "client", "local", "manifest", "progress", "transfer",
        ],
    ),
    (
        "bench",
        &["client", "congestion", "s3", "error", "progress", "cancel"],
    ),
];

const MODULES: &[&str] = &[
    "s3",
    "transport",
    "congestion",
    "local",
    "config",
    "progress",
    "client",
    "transfer",
    "manifest",
    "bench",
    "backup",
    "archive",
    "sync",
    "error",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    for entry in fs_err::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_import_only_what_their_row_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            rust_files(&src.join(format!("{module}.rs")), &mut files);
        }
        assert!(!files.is_empty(), "module {module} has no files");
        for file in files {
            let text = fs_err::read_to_string(&file).unwrap();
            let used: BTreeSet<&str> = MODULES
                .iter()
                .copied()
                .filter(|m| m != module)
                .filter(|m| {
                    text.contains(&format!("crate::{m}::"))
                        || text.contains(&format!("crate::{m};"))
                        || text.contains(&format!("crate::{m}}}"))
                        || text.contains(&format!("crate::{{{m}"))
                        || text.contains(&format!("crate::{m},"))
                })
                .collect();
            for m in used {
                if !allowed.contains(&m) {
                    violations.push(format!("{} uses crate::{m}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}
