//! `haul sync --shard K/N` and `haul manifest merge` against the real gateways (issue 10,
//! item 3): N shards run side by side on one machine do together exactly what one sync does
//! — the same objects, the same files, and manifests that merge into the single run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cases::{Case, data, mb};
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

pub(crate) const ALL: &[Case] = &[Case {
    name: "issue_10_shards_side_by_side_equal_one_sync",
    run: shards_equal_one_sync,
    only: None,
}];

/// The shards of these tests.
const N: u32 = 3;

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Every file under `root` (`.haul/` left out) with its content, by key.
fn files(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir)? {
            let e = e?;
            let rel = e.path().strip_prefix(root)?.to_string_lossy().into_owned();
            if rel == ".haul" {
                continue;
            }
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(rel, fs_err::read(e.path())?);
            }
        }
    }
    Ok(out)
}

/// Runs `haul --json sync ARGS --shard K/N` for every K at once; each run's summary.
fn shards(gw: &Gateway, args: &[&str]) -> Result<Vec<Value>> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..N)
            .map(|k| {
                scope.spawn(move || -> Result<Value> {
                    let shard = format!("{k}/{N}");
                    let mut all = vec!["--json", "sync", "--shard", &shard];
                    all.extend_from_slice(args);
                    let out = Haul::new(gw, &all)?.ok()?;
                    String::from_utf8_lossy(&out)
                        .lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .find(|r| r["event"] == "summary")
                        .with_context(|| format!("shard {shard}: no summary"))
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| {
                r.join()
                    .map_err(|_| anyhow::anyhow!("a shard's thread panicked"))?
            })
            .collect()
    })
}

/// The manifests `sync --manifest` stored under `s3://BUCKET/.haul/manifests/`, fetched into
/// `dir`; their paths.
fn fetch_manifests(gw: &Gateway, bucket: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    Haul::new(
        gw,
        &[
            "sync",
            "-q",
            &format!("s3://{bucket}/.haul/manifests/"),
            s(dir),
        ],
    )?
    .ok()?;
    manifests_in(dir)
}

fn manifests_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = fs_err::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    out.retain(|p| p.extension().is_some_and(|x| x == "manifest"));
    out.sort();
    Ok(out)
}

/// Merges `parts` into `out` with `haul manifest merge [--newest]`, and requires it equal to
/// `whole`.
fn merged_equals(parts: &[PathBuf], out: &Path, whole: &Path, newest: bool) -> Result<()> {
    let mut args = vec!["manifest", "merge", "--source", "merged", "-o", s(out)];
    if newest {
        args.push("--newest");
    }
    args.extend(parts.iter().map(|p| s(p)));
    Haul::bare(&args)?.ok()?;
    Haul::bare(&["manifest", "diff", s(whole), s(out)])?.ok()?;
    Ok(())
}

fn shards_equal_one_sync(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let seed = t.path().join("seed");
    // Registry-like blobs under 2-hex-digit prefixes, and WAL-like segments.
    for i in 0..90u64 {
        let p = seed.join(format!(
            "docker/registry/v2/blobs/sha256/{:02x}/{i:016x}/data",
            (i * 37) % 256
        ));
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, data(100 + (i as usize * 997) % 30_000, i))?;
    }
    for i in 0..4u64 {
        let p = seed.join(format!("wal_005/00000001000000000000000{i}"));
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, data(3 << 20, 1000 + i))?;
    }
    let total = files(&seed)?.len() as u64;
    let (whole, sharded) = (unique_bucket("whole"), unique_bucket("sharded"));
    mb(gw, &whole)?;
    mb(gw, &sharded)?;

    // One sync, and N shards of the same sync at once.
    Haul::new(
        gw,
        &[
            "sync",
            "-q",
            "--manifest",
            s(&seed),
            &format!("s3://{whole}"),
        ],
    )?
    .ok()?;
    let runs = shards(
        gw,
        &[
            "--manifest",
            "--run-id",
            "night-1",
            s(&seed),
            &format!("s3://{sharded}"),
        ],
    )?;
    let moved: Vec<u64> = runs
        .iter()
        .map(|r| r["transferred"].as_u64().unwrap_or_default())
        .collect();
    ensure!(
        moved.iter().sum::<u64>() == total && moved.iter().all(|&m| m > 0),
        "{total} files split over the shards as {moved:?}"
    );
    let whole_m = fetch_manifests(gw, &whole, &t.path().join("whole-m"))?;
    ensure!(whole_m.len() == 1, "{whole_m:?}");
    let whole_m = &whole_m[0];
    // The sharded bucket holds what the single sync uploaded, byte for byte.
    Haul::new(
        gw,
        &["manifest", "verify", s(whole_m), &format!("s3://{sharded}")],
    )?
    .ok()?;
    let parts = fetch_manifests(gw, &sharded, &t.path().join("parts-m"))?;
    ensure!(parts.len() == N as usize, "{parts:?}");
    merged_equals(&parts, &t.path().join("merged-up"), whole_m, false)?;

    // Downloads: N shards into one directory at once give the tree.
    let restored = t.path().join("restored");
    let runs = shards(
        gw,
        &["--manifest", &format!("s3://{sharded}"), s(&restored)],
    )?;
    ensure!(
        runs.iter()
            .map(|r| r["transferred"].as_u64().unwrap_or_default())
            .sum::<u64>()
            == total,
        "{runs:?}"
    );
    ensure!(
        files(&restored)? == files(&seed)?,
        "the shards' downloads differ from the tree"
    );
    let parts = manifests_in(&restored.join(".haul/manifests"))?;
    ensure!(parts.len() == N as usize, "{parts:?}");
    merged_equals(&parts, &t.path().join("merged-down"), whole_m, false)?;
    // A missing shard is named.
    let out = Haul::bare(&[
        "manifest",
        "merge",
        "--source",
        "merged",
        "-o",
        s(&t.path().join("incomplete")),
        s(&parts[0]),
        s(&parts[1]),
    ])?
    .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("shards missing"),
        "a merge without every shard: {stderr}"
    );

    // Deletes stay within each shard and together remove exactly what left the tree.
    let gone: Vec<String> = files(&seed)?.into_keys().step_by(9).collect();
    for k in &gone {
        fs_err::remove_file(seed.join(k))?;
    }
    let runs = shards(
        gw,
        &[
            "--delete",
            "--manifest",
            "--run-id",
            "night-2",
            s(&seed),
            &format!("s3://{sharded}"),
        ],
    )?;
    let deleted: u64 = runs
        .iter()
        .map(|r| r["deleted"].as_u64().unwrap_or_default())
        .sum();
    ensure!(
        deleted == gone.len() as u64,
        "deleted {deleted}, expected {}",
        gone.len()
    );
    let now = t.path().join("now.manifest");
    Haul::bare(&["manifest", "build", s(&seed), "-o", s(&now)])?.ok()?;
    Haul::new(
        gw,
        &["manifest", "verify", s(&now), &format!("s3://{sharded}")],
    )?
    .ok()?;
    // Both nights' parts are kept; --newest merges the second night's into the tree now.
    let parts = fetch_manifests(gw, &sharded, &t.path().join("parts-2"))?;
    ensure!(parts.len() == 2 * N as usize, "{parts:?}");
    merged_equals(&parts, &t.path().join("merged-2"), &now, true)?;

    // A shard that is not one is refused before anything moves.
    let err = Haul::new(
        gw,
        &[
            "sync",
            "--shard",
            "3/3",
            s(&seed),
            &format!("s3://{sharded}"),
        ],
    )?
    .fails_with(2)?;
    ensure!(err.contains("K must be below N"), "{err}");
    for b in [&whole, &sharded] {
        Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    }
    Ok(())
}
