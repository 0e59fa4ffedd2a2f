//! `haul backup PLAN` and `haul restore SET` against the real gateways (issue 8, item 5): a
//! db_wal-like and a registry-like bucket and a store volume with a log appended to all
//! through the backup; the set restored into a fresh gateway instance (a new Ceph cluster on
//! RGW) and an empty directory, and checked there: content, modes, mtimes, owners; a restore
//! killed with SIGKILL and run again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cases::{Case, data, mb, signal, wait_until};
use crate::faults::Proxy;
use crate::gateway::{Gateway, spawn_s3s, start_fresh};
use crate::haul::{Haul, unique_bucket};
use crate::tar::Appender;

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_8_backup_a_live_volume_then_restore_into_a_fresh_gateway",
        run: backup_then_restore,
        only: None,
    },
    Case {
        name: "issue_8_restore_killed_then_rerun_completes",
        run: restore_killed_then_rerun,
        only: None,
    },
    Case {
        name: "issue_8_backup_to_a_bucket_on_another_gateway_and_restore_from_it",
        run: backup_to_another_gateway,
        only: None,
    },
    Case {
        name: "issue_8_incremental_backup_moves_only_changes",
        run: incremental_moves_only_changes,
        only: None,
    },
    Case {
        name: "issue_8_incremental_backup_to_a_bucket_moves_only_changes",
        run: incremental_to_a_bucket_moves_only_changes,
        only: None,
    },
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// What a test backs up: two buckets filled from local trees, a store volume and a plan.
struct Fixture {
    t: tempfile::TempDir,
    wal: String,
    registry: String,
    seed: PathBuf,
    store: PathBuf,
    plan: PathBuf,
}

impl Fixture {
    /// `wal_extra` more bytes of WAL segment (a larger bucket makes a restore last).
    fn fill(gw: &Gateway, wal_extra: usize) -> Result<Self> {
        let t = tempfile::tempdir()?;
        // The buckets: WAL-like segments and a base backup; registry-like blobs under
        // prefixes.
        let wal = unique_bucket("db-wal");
        let registry = unique_bucket("registry");
        let seed = t.path().join("seed");
        for (i, size) in [(0, 6 << 20), (1, 1 << 20), (2, 300_000)] {
            let p = seed
                .join("wal")
                .join(format!("wal_005/00000001000000000000000{i}"));
            fs_err::create_dir_all(p.parent().context("parent")?)?;
            fs_err::write(&p, data(size, i))?;
        }
        if wal_extra > 0 {
            fs_err::write(
                seed.join("wal/wal_005/000000010000000000000009"),
                data(wal_extra, 7),
            )?;
        }
        fs_err::create_dir_all(seed.join("wal/basebackups_005"))?;
        fs_err::write(seed.join("wal/basebackups_005/base.tar"), data(2 << 20, 9))?;
        for i in 0..20u64 {
            let p = seed
                .join("reg/docker/registry/v2/blobs/sha256")
                .join(format!("{:02x}", i * 13))
                .join(format!("blob{i}/data"));
            fs_err::create_dir_all(p.parent().context("parent")?)?;
            fs_err::write(&p, data(1000 + (i as usize) * 4096, 100 + i))?;
        }
        // Modes and mtimes the restore must bring back through the objects' metadata.
        let script = seed.join("wal/basebackups_005/restore.sh");
        fs_err::write(&script, b"#!/bin/sh\n")?;
        set_mode(&script, 0o750)?;
        set_mtime(
            &seed.join("wal/wal_005/000000010000000000000001"),
            1_600_000_000,
        )?;
        mb(gw, &wal)?;
        mb(gw, &registry)?;
        for (dir, bucket) in [("wal", &wal), ("reg", &registry)] {
            Haul::new(
                gw,
                &["sync", "-q", s(&seed.join(dir)), &format!("s3://{bucket}")],
            )?
            .ok()?;
        }

        // The store volume: logs with owners, modes and mtimes of their own, a symlink.
        let store = t.path().join("store");
        fs_err::create_dir_all(store.join("logs/archive"))?;
        fs_err::write(store.join("logs/deis-registry.log"), vec![b'x'; 32 << 20])?;
        let quiet = store.join("logs/deis-controller.log");
        fs_err::write(&quiet, b"quiet\n")?;
        set_mode(&quiet, 0o640)?;
        std::os::unix::fs::chown(&quiet, Some(1234), Some(5678))?;
        std::os::unix::fs::chown(store.join("logs/archive"), Some(4321), Some(4321))?;
        let old = store.join("logs/archive/2026-11.log.gz");
        fs_err::write(&old, data(100_000, 3))?;
        set_mtime(&old, 1_700_000_000)?;
        std::os::unix::fs::symlink("deis-controller.log", store.join("logs/current"))?;
        // Left out by the plan's `exclude`.
        fs_err::create_dir_all(store.join("logs/cache"))?;
        fs_err::write(store.join("logs/cache/scratch.bin"), data(50_000, 4))?;
        set_mtime(&store.join("logs/archive"), 1_700_000_100)?;
        let plan = t.path().join("plan.toml");
        fs_err::write(
            &plan,
            format!(
                "version = 1\ndestination = \"backups\"\n\
                 [[bucket]]\nname = \"{wal}\"\n[[bucket]]\nname = \"{registry}\"\n\
                 [[archive]]\nname = \"store\"\npath = \"{}\"\nexclude = [\"cache\"]\n",
                s(&store)
            ),
        )?;
        Ok(Self {
            t,
            wal,
            registry,
            seed,
            store,
            plan,
        })
    }

    fn dest(&self) -> PathBuf {
        self.t.path().join("backups")
    }

    /// Runs the backup with a log appended to all along; the set's directory.
    fn backup(&self, gw: &Gateway) -> Result<(PathBuf, String)> {
        let live = self.store.join("logs/deis-registry.log");
        let appender = Appender::start(&live, b"GET /v2/ 200 appended while haul reads\n");
        let out = Haul::new(gw, &["backup", s(&self.plan)])?.output();
        appender.stop()?;
        let out = out?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(
            out.status.success(),
            "haul backup failed ({}): {}\n{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        let sets: Vec<_> = fs_err::read_dir(self.dest().join("sets"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        ensure!(sets.len() == 1, "sets: {sets:?}");
        Ok((sets[0].clone(), stderr))
    }

    /// The buckets on `gw` hold what was uploaded at first, with its modes and mtimes (read
    /// back with `haul sync` into a new directory).
    fn check_buckets(&self, gw: &Gateway) -> Result<()> {
        for (bucket, local) in [(&self.wal, "wal"), (&self.registry, "reg")] {
            let back = self.t.path().join(format!("back-{local}"));
            Haul::new(gw, &["sync", "-q", &format!("s3://{bucket}"), s(&back)])?.ok()?;
            same_tree(&self.seed.join(local), &back, false, &[])?;
            let _ = fs_err::remove_dir_all(&back);
        }
        Ok(())
    }

    /// Points the plan at `s3://backups/deis` on a new s3s gateway, whose keys are a profile
    /// `store`, with `options` appended; the gateway.
    fn to_bucket_on_another_gateway(&self, options: &str) -> Result<Gateway> {
        let store = spawn_s3s(&crate::haul::binary()?, "s3s-backups", &[])?;
        mb(&store, "backups")?;
        self.destination(&store.endpoint, options)?;
        Ok(store)
    }

    /// Points the plan at `s3://backups/deis` on the gateway at `endpoint`, keys from the
    /// profile `store`, with `options` appended.
    fn destination(&self, endpoint: &str, options: &str) -> Result<()> {
        let mut text = fs_err::read_to_string(&self.plan)?.replacen(
            "destination = \"backups\"",
            &format!(
                "destination = \"s3://backups/deis\"\ndestination_endpoint = \"{endpoint}\"\ndestination_profile = \"store\""
            ),
            1,
        );
        text.push_str(options);
        fs_err::write(&self.plan, text)?;
        Ok(())
    }

    /// `haul --json backup ARGS PLAN` with the profile `store` holding `store`'s keys; the
    /// JSON records.
    fn backup_to(&self, gw: &Gateway, store: &Gateway, args: &[&str]) -> Result<Vec<Value>> {
        let mut all = vec!["--json", "backup"];
        all.extend_from_slice(args);
        all.push(s(&self.plan));
        records(&with_store_profile(Haul::new(gw, &all)?, store)?.ok()?)
    }

    /// The manifest of `bucket`'s copy in the set at `set_url` on `store` matches what the
    /// bucket holds on `gw` now (`haul manifest verify`).
    fn copy_manifest_matches(
        &self,
        gw: &Gateway,
        store: &Gateway,
        set_url: &str,
        bucket: &str,
    ) -> Result<()> {
        let manifest = self.t.path().join(format!("{bucket}.manifest"));
        Haul::new(
            store,
            &[
                "cp",
                &format!("{set_url}/buckets/{bucket}.manifest"),
                s(&manifest),
            ],
        )?
        .ok()?;
        manifest_verifies(gw, &manifest, bucket)?;
        Ok(())
    }

    /// Changes one registry blob, adds one and deletes one, and syncs the bucket: the keys
    /// (changed, added, deleted, one unchanged).
    fn change_registry(&self, gw: &Gateway) -> Result<[&'static str; 4]> {
        let blobs = self.seed.join("reg/docker/registry/v2/blobs/sha256");
        let changed = "docker/registry/v2/blobs/sha256/00/blob0/data";
        let added = "docker/registry/v2/blobs/sha256/ff/blob99/data";
        let gone = "docker/registry/v2/blobs/sha256/0d/blob1/data";
        let unchanged = "docker/registry/v2/blobs/sha256/1a/blob2/data";
        fs_err::write(self.seed.join("reg").join(changed), data(5000, 999))?;
        fs_err::create_dir_all(blobs.join("ff/blob99"))?;
        fs_err::write(self.seed.join("reg").join(added), data(7000, 998))?;
        fs_err::remove_dir_all(blobs.join("0d"))?;
        Haul::new(
            gw,
            &[
                "sync",
                "-q",
                "--delete",
                s(&self.seed.join("reg")),
                &format!("s3://{}", self.registry),
            ],
        )?
        .ok()?;
        // Changes are newer than the base set's copies by at least a second.
        std::thread::sleep(Duration::from_millis(1100));
        Ok([changed, added, gone, unchanged])
    }

    fn remove_buckets(&self, gw: &Gateway) -> Result<()> {
        for b in [&self.wal, &self.registry] {
            Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
        }
        Ok(())
    }
}

/// `h` with a profile `store` in its AWS credentials file holding `store`'s keys.
fn with_store_profile(h: Haul, store: &Gateway) -> Result<Haul> {
    let aws = h.home().join(".aws");
    fs_err::create_dir_all(&aws)?;
    fs_err::write(
        aws.join("credentials"),
        format!(
            "[store]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            store.access_key, store.secret_key
        ),
    )?;
    Ok(h)
}

/// `haul manifest verify MANIFEST s3://BUCKET` on `gw` passes.
fn manifest_verifies(gw: &Gateway, manifest: &Path, bucket: &str) -> Result<()> {
    Haul::new(
        gw,
        &["manifest", "verify", s(manifest), &format!("s3://{bucket}")],
    )?
    .ok()?;
    Ok(())
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    fs_err::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    Ok(())
}

fn set_mtime(p: &Path, secs: u64) -> Result<()> {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    let status = std::process::Command::new("touch")
        .args(["-h", "-d", &format!("@{secs}"), s(p)])
        .status()?;
    ensure!(status.success(), "touch {}", p.display());
    ensure!(
        fs_err::symlink_metadata(p)?.modified()? == t,
        "mtime of {}",
        p.display()
    );
    Ok(())
}

/// Every entry under `a` is under `b` with the same kind, content, permission bits and mtime
/// (seconds; of directories too with `archive`, as tar restores them and `haul sync` does
/// not), and as tar restores them with `archive` as root, the same numeric owner; and nothing
/// else is under `b`. `skip` names paths (relative) whose content and mtime are not compared.
/// With `archive`, directories named `cache` (the plan's `exclude`) are left out on both sides.
fn same_tree(a: &Path, b: &Path, archive: bool, skip: &[&str]) -> Result<()> {
    let owners = archive && running_as_root();
    let list = |root: &Path| -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in fs_err::read_dir(root.join(&rel))? {
                let e = e?;
                if archive && e.file_name() == "cache" {
                    continue;
                }
                let r = rel.join(e.file_name());
                if e.file_type()?.is_dir() {
                    stack.push(r.clone());
                }
                out.push(r);
            }
        }
        out.sort();
        Ok(out)
    };
    let (la, lb) = (list(a)?, list(b)?);
    ensure!(la == lb, "trees differ:\n{la:?}\n{lb:?}");
    for rel in &la {
        let (pa, pb) = (a.join(rel), b.join(rel));
        let (ma, mb) = (
            fs_err::symlink_metadata(&pa)?,
            fs_err::symlink_metadata(&pb)?,
        );
        let what = rel.display();
        ensure!(ma.file_type() == mb.file_type(), "{what}: kind differs");
        if ma.file_type().is_symlink() {
            ensure!(
                fs_err::read_link(&pa)? == fs_err::read_link(&pb)?,
                "{what}: target"
            );
            continue;
        }
        ensure!(
            ma.mode() & 0o7777 == mb.mode() & 0o7777,
            "{what}: mode {:o} restored as {:o}",
            ma.mode() & 0o7777,
            mb.mode() & 0o7777
        );
        if skip.iter().any(|k| Path::new(k) == rel) || (ma.is_dir() && !archive) {
            continue;
        }
        ensure!(
            ma.mtime() == mb.mtime(),
            "{what}: mtime {} restored as {}",
            ma.mtime(),
            mb.mtime()
        );
        if owners {
            ensure!(
                (ma.uid(), ma.gid()) == (mb.uid(), mb.gid()),
                "{what}: owner {}:{} restored as {}:{}",
                ma.uid(),
                ma.gid(),
                mb.uid(),
                mb.gid()
            );
        }
        if ma.is_file() {
            ensure!(
                fs_err::read(&pa)? == fs_err::read(&pb)?,
                "{what}: content differs"
            );
        }
    }
    Ok(())
}

/// The NDJSON records of a `--json` run.
fn records(stdout: &[u8]) -> Result<Vec<Value>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

fn part<'a>(recs: &'a [Value], name: &str) -> Result<&'a Value> {
    recs.iter()
        .find(|r| r["event"] == "part" && r["part"]["name"] == name)
        .map(|r| &r["part"])
        .with_context(|| format!("no part {name} in {recs:?}"))
}

fn running_as_root() -> bool {
    fs_err::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

fn backup_then_restore(gw: &Gateway) -> Result<()> {
    let f = Fixture::fill(gw, 0)?;
    let (set, stderr) = f.backup(gw)?;

    // One complete set; its report names the file that changed while archived.
    let json: Value = serde_json::from_slice(&fs_err::read(set.join("set.json"))?)?;
    ensure!(json["state"] == "complete", "{json}");
    ensure!(json["parts"].as_array().map(Vec::len) == Some(3), "{json}");
    let store_part = json["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "store")
        .context("no store part")?;
    let names_live_log = |w: &Value| {
        w.as_str()
            .is_some_and(|w| w.contains("deis-registry.log") && w.contains("changed as we read it"))
    };
    ensure!(
        store_part["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(names_live_log),
        "the changed log is not named: {store_part}"
    );
    ensure!(
        stderr.contains("deis-registry.log"),
        "no warning on stderr: {stderr}"
    );
    let listed = Haul::bare(&["backup", "ls", s(&f.dest())])?.ok()?;
    ensure!(
        String::from_utf8_lossy(&listed).contains("complete"),
        "{}",
        String::from_utf8_lossy(&listed)
    );
    // The set checks where it lies.
    Haul::bare(&["backup", "verify", s(&set)])?.ok()?;

    // Each bucket copy is what the bucket holds (its manifest verified against the gateway),
    // byte for byte what was uploaded, and GNU tar reads the archive.
    for (bucket, local) in [
        (&f.wal, f.seed.join("wal")),
        (&f.registry, f.seed.join("reg")),
    ] {
        let manifest = set.join(format!("buckets/{bucket}.manifest"));
        manifest_verifies(gw, &manifest, bucket)?;
        Haul::bare(&["manifest", "verify", s(&manifest), s(&local)])?.ok()?;
    }
    let extracted = f.t.path().join("extracted");
    fs_err::create_dir_all(&extracted)?;
    let status = std::process::Command::new("tar")
        .args([
            "-xzf",
            s(&set.join("archives/store.tar.gz")),
            "-C",
            s(&extracted),
        ])
        .status()?;
    ensure!(
        status.success(),
        "GNU tar could not extract the set's archive"
    );
    let got = fs_err::metadata(extracted.join("logs/deis-registry.log"))?.len();
    ensure!(got >= 32 << 20, "archived log has {got} bytes");

    // Restore into a fresh gateway instance and an empty directory.
    let fresh = start_fresh(gw)?;
    let restored = f.t.path().join("restored/store");
    let archive_dir = format!("store={}", s(&restored));
    let restore = |args: &[&str]| -> Result<std::process::Output> {
        let mut all = vec!["--json", "restore", s(&set), "--archive-dir", &archive_dir];
        all.extend_from_slice(args);
        Haul::new(&fresh, &all)?.output()
    };
    // The set does not choose where archives go: without --archive-dir or --in-place, a
    // usage error naming the part and the directory it records.
    let refused = Haul::new(&fresh, &["restore", s(&set)])?.fails_with(2)?;
    ensure!(
        refused.contains("archive part store") && refused.contains("--in-place"),
        "{refused}"
    );
    let out = restore(&[])?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(
        out.status.success(),
        "restore failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let recs = records(&out.stdout)?;
    for name in [f.wal.as_str(), f.registry.as_str(), "store"] {
        let p = part(&recs, name)?;
        ensure!(
            p["different"] == 0 && p["error"].is_null() && p["moved"].as_u64() > Some(0),
            "{name}: {p}"
        );
    }
    ensure!(
        part(&recs, &f.wal)?["action"] == "bucket made, restored",
        "{recs:?}"
    );
    // The report names the file that changed while it was archived.
    ensure!(
        stderr.contains("when backed up") && stderr.contains("deis-registry.log"),
        "the restore report does not name the changed log: {stderr}"
    );
    f.check_buckets(&fresh)?;
    // Everything but the live log is as it was on the volume (content, modes, mtimes, owners
    // as root); the live log holds at least what it had, and is exactly what was archived.
    let owners = running_as_root();
    same_tree(&f.store, &restored, true, &["logs/deis-registry.log"])?;
    ensure!(
        fs_err::read(restored.join("logs/deis-registry.log"))?
            == fs_err::read(extracted.join("logs/deis-registry.log"))?,
        "the restored log is not what GNU tar extracts from the set"
    );
    if owners {
        let m = fs_err::metadata(restored.join("logs/deis-controller.log"))?;
        ensure!((m.uid(), m.gid()) == (1234, 5678), "owner not restored");
    }

    // Excluded from the archive: not restored, and not a difference where it is found.
    ensure!(
        !restored.join("logs/cache").exists(),
        "an excluded directory was archived"
    );
    fs_err::create_dir_all(restored.join("logs/cache"))?;
    fs_err::write(restored.join("logs/cache/new.bin"), b"new")?;
    // (Making it changed the mtime of logs/, which the check would rightly report.)
    let logs_mtime = fs_err::metadata(f.store.join("logs"))?.mtime();
    set_mtime(&restored.join("logs"), u64::try_from(logs_mtime)?)?;
    // A rerun finds everything in place and moves nothing.
    let again = restore(&[])?;
    ensure!(
        again.status.success(),
        "rerun: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let recs = records(&again.stdout)?;
    for name in [f.wal.as_str(), f.registry.as_str(), "store"] {
        let p = part(&recs, name)?;
        ensure!(
            p["action"] == "already restored" && p["moved"] == 0 && p["different"] == 0,
            "rerun, {name}: {p}"
        );
    }

    // Damage: an object changed and a file changed are put right by a rerun; an object the
    // set does not hold is reported (exit 1, naming it) until --delete removes it.
    // (The WAL segment is overwritten at its own size: newer, same length, other bytes.)
    let tmp = f.t.path().join("junk");
    fs_err::write(&tmp, data(300_000, 77))?;
    let wal_obj = format!("s3://{}/wal_005/000000010000000000000002", f.wal);
    Haul::new(&fresh, &["cp", s(&tmp), &wal_obj])?.ok()?;
    fs_err::write(&tmp, b"junk")?;
    Haul::new(
        &fresh,
        &["cp", s(&tmp), &format!("s3://{}/stray", f.registry)],
    )?
    .ok()?;
    fs_err::write(restored.join("logs/deis-controller.log"), b"tampered")?;
    let damaged = restore(&[])?;
    ensure!(
        damaged.status.code() == Some(1),
        "an extra object must fail the restore: {}",
        damaged.status
    );
    let text = String::from_utf8_lossy(&damaged.stdout);
    let recs = records(&damaged.stdout)?;
    let reg = part(&recs, &f.registry)?;
    ensure!(
        reg["different"] == 1 && text.contains("stray: not in the set"),
        "{reg}"
    );
    ensure!(part(&recs, &f.wal)?["different"] == 0, "{text}");
    ensure!(part(&recs, "store")?["different"] == 0, "{text}");
    let fixed = restore(&["--delete"])?;
    ensure!(
        fixed.status.success(),
        "restore --delete: {}",
        String::from_utf8_lossy(&fixed.stdout)
    );
    f.check_buckets(&fresh)?;
    same_tree(&f.store, &restored, true, &["logs/deis-registry.log"])?;
    f.remove_buckets(&fresh)?;
    drop(fresh);

    // A damaged set fails `backup verify`, naming the object.
    let copy = set.join(format!(
        "buckets/{}/wal_005/000000010000000000000000",
        f.wal
    ));
    let mut bytes = fs_err::read(&copy)?;
    bytes[1000] ^= 1;
    fs_err::write(&copy, &bytes)?;
    let err = Haul::bare(&["backup", "verify", s(&set)])?.output()?;
    ensure!(
        err.status.code() == Some(1),
        "verify of a damaged set: {}",
        err.status
    );
    let text = String::from_utf8_lossy(&err.stdout);
    ensure!(
        text.contains("wal_005/000000010000000000000000: content differs"),
        "{text}"
    );

    // A second run with `keep = 1`: a new complete set, the first one removed.
    std::thread::sleep(Duration::from_millis(1100));
    let mut text = fs_err::read_to_string(&f.plan)?;
    text.push_str("[options]\nkeep = 1\n");
    fs_err::write(&f.plan, text)?;
    let second = Haul::new(gw, &["backup", s(&f.plan)])?.ok()?;
    let first_id = set
        .file_name()
        .and_then(|n| n.to_str())
        .context("set name")?
        .to_owned();
    ensure!(
        String::from_utf8_lossy(&second).contains(&format!(
            "removed 1 older set(s) beyond keep = 1: {first_id}"
        )),
        "{}",
        String::from_utf8_lossy(&second)
    );
    let left: Vec<_> = fs_err::read_dir(f.dest().join("sets"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    ensure!(
        left.len() == 1 && left[0] != first_id.as_str(),
        "sets left: {left:?}"
    );
    f.remove_buckets(gw)
}

/// A restore killed with SIGKILL while it uploads, then run again: the rerun completes and
/// verifies, and leaves no temporary file and no unfinished upload.
fn restore_killed_then_rerun(gw: &Gateway) -> Result<()> {
    let f = Fixture::fill(gw, 96 << 20)?;
    let (set, _) = f.backup(gw)?;
    let fresh = start_fresh(gw)?;
    let restored = f.t.path().join("restored/store");
    let archive_dir = format!("store={}", s(&restored));
    // Through a proxy that holds every answer 30 ms, one request at a time, 5 MiB parts: the
    // kill lands while the 96 MiB segment is being uploaded.
    let proxy = Proxy::start(&fresh, r#"{"first_byte_delay_ms": 30}"#)?;
    let (mut child, _home) = proxy
        .haul(
            &fresh,
            &[
                "--concurrency",
                "1",
                "restore",
                s(&set),
                "--archive-dir",
                &archive_dir,
                "--part-size",
                "5MiB",
                "--multipart-threshold",
                "5MiB",
            ],
        )?
        .spawn()?;
    wait_until("UploadPart requests", Duration::from_secs(120), || {
        Ok(proxy.stats()?["ops"]["UploadPart"]["requests"].as_u64() >= Some(4))
    })?;
    signal(&child, "-KILL")?;
    let status = child.wait()?;
    ensure!(
        status.code().is_none(),
        "the restore ended before the kill: {status}"
    );
    drop(proxy);

    let out = Haul::new(
        &fresh,
        &["--json", "restore", s(&set), "--archive-dir", &archive_dir],
    )?
    .output()?;
    ensure!(
        out.status.success(),
        "rerun after kill -9 ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out.stdout)?;
    let summary = recs
        .iter()
        .find(|r| r["event"] == "summary")
        .context("no summary")?;
    ensure!(summary["clean"] == true, "{summary}");
    f.check_buckets(&fresh)?;
    same_tree(&f.store, &restored, true, &["logs/deis-registry.log"])?;
    // Nothing left behind: no multipart upload (where the gateway lists them) and no
    // temporary file.
    if gw.name == "rgw" {
        for b in [&f.wal, &f.registry] {
            let left = Haul::new(&fresh, &["multipart", "ls", &format!("s3://{b}")])?.ok()?;
            ensure!(
                left.is_empty(),
                "uploads left: {}",
                String::from_utf8_lossy(&left)
            );
        }
    }
    let temps: Vec<_> = walk(&restored)?
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".haul-"))
        .collect();
    ensure!(temps.is_empty(), "temporary files left: {temps:?}");
    f.remove_buckets(&fresh)?;
    f.remove_buckets(gw)
}

fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            }
            out.push(e.path());
        }
    }
    Ok(out)
}

/// `haul backup --incremental`: unchanged objects are hard links to the previous set's files
/// and keep their hashes, only changed and new objects are downloaded, deleted ones are gone
/// from the new set, and both sets verify on their own.
fn incremental_moves_only_changes(gw: &Gateway) -> Result<()> {
    let f = Fixture::fill(gw, 0)?;
    let (first, _) = f.backup(gw)?;
    let first_id = first
        .file_name()
        .and_then(|n| n.to_str())
        .context("set name")?
        .to_owned();
    // One blob changed, one added, one deleted.
    let [changed, _, gone, unchanged] = f.change_registry(gw)?;
    let out = Haul::new(gw, &["--json", "backup", "--incremental", s(&f.plan)])?.ok()?;
    let recs = records(&out)?;
    let summary = recs
        .iter()
        .find(|r| r["event"] == "summary")
        .context("no summary")?;
    ensure!(
        summary["state"] == "complete" && summary["base"] == first_id.as_str(),
        "{summary}"
    );
    let parts = summary["parts"].as_array().context("parts")?;
    let by_name = |n: &str| parts.iter().find(|p| p["name"] == n).context("part");
    let reg = by_name(&f.registry)?;
    ensure!(
        reg["moved"] == 2 && reg["reused"] == 18 && reg["entries"] == 20,
        "registry: only the changed and the new blob move: {reg}"
    );
    let wal = by_name(&f.wal)?;
    ensure!(
        wal["moved"] == 0 && wal["reused"] == wal["entries"],
        "db_wal is unchanged: {wal}"
    );
    let second = PathBuf::from(summary["dir"].as_str().context("dir")?);
    let second = if second.is_absolute() {
        second
    } else {
        f.t.path().join(second)
    };
    let copy = |set: &Path, key: &str| set.join("buckets").join(&f.registry).join(key);
    let ino = |p: PathBuf| -> Result<u64> { Ok(fs_err::metadata(p)?.ino()) };
    ensure!(
        ino(copy(&first, unchanged))? == ino(copy(&second, unchanged))?,
        "an unchanged object is not a link to the previous set's file"
    );
    ensure!(
        fs_err::read(copy(&first, changed))? != fs_err::read(copy(&second, changed))?,
        "the changed object"
    );
    ensure!(
        copy(&first, gone).exists() && !copy(&second, gone).exists(),
        "the deleted object"
    );
    // Both sets hold what they held: the first is untouched, the second is the bucket now.
    Haul::bare(&["backup", "verify", s(&first)])?.ok()?;
    Haul::bare(&["backup", "verify", s(&second)])?.ok()?;
    let manifest = second.join(format!("buckets/{}.manifest", f.registry));
    Haul::new(
        gw,
        &[
            "manifest",
            "verify",
            s(&manifest),
            &format!("s3://{}", f.registry),
        ],
    )?
    .ok()?;
    f.remove_buckets(gw)
}

/// A plan whose destination is a bucket on another gateway (with its own keys, from a
/// profile): the set is written there, listed, shown and verified there, restored from there
/// (into that same gateway: server-side copies), and pruned there with `keep = 1`.
fn backup_to_another_gateway(gw: &Gateway) -> Result<()> {
    let f = Fixture::fill(gw, 0)?;
    let store = f.to_bucket_on_another_gateway("[options]\nkeep = 1\n")?;
    let backup = || f.backup_to(gw, &store, &[]);
    let recs = backup()?;
    let summary = recs
        .iter()
        .find(|r| r["event"] == "summary")
        .context("no summary")?;
    ensure!(summary["state"] == "complete", "{summary}");
    let id = summary["set"].as_str().context("set")?.to_owned();
    let set_url = format!("s3://backups/deis/sets/{id}");
    ensure!(
        !f.dest().exists(),
        "the plan's destination is a bucket, yet a local directory was written"
    );
    let on_store = |args: &[&str]| Haul::new(&store, args);
    let listed = String::from_utf8(on_store(&["backup", "ls", "s3://backups/deis"])?.ok()?)?;
    ensure!(
        listed.contains(&id) && listed.contains("complete"),
        "{listed}"
    );
    let shown = String::from_utf8(on_store(&["backup", "show", &set_url])?.ok()?)?;
    ensure!(shown.contains("archive store"), "{shown}");
    on_store(&["backup", "verify", &set_url])?.ok()?;
    // The bucket copy's manifest holds what the source bucket holds.
    f.copy_manifest_matches(gw, &store, &set_url, &f.wal)?;

    // Restore from the bucket into the gateway that holds it, and an empty directory.
    let restored = f.t.path().join("restored/store");
    let out = on_store(&[
        "--json",
        "restore",
        &set_url,
        "--set-endpoint",
        &store.endpoint,
        "--archive-dir",
        &format!("store={}", s(&restored)),
    ])?
    .output()?;
    ensure!(
        out.status.success(),
        "restore from a bucket ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out.stdout)?;
    ensure!(
        recs.iter()
            .any(|r| r["event"] == "summary" && r["clean"] == true),
        "{recs:?}"
    );
    f.check_buckets(&store)?;
    same_tree(&f.store, &restored, true, &["logs/deis-registry.log"])?;

    // A damaged copy in the bucket fails verify, naming the object.
    let junk = f.t.path().join("junk");
    fs_err::write(&junk, b"junk")?;
    let victim = format!(
        "{set_url}/buckets/{}/wal_005/000000010000000000000002",
        f.wal
    );
    on_store(&["cp", s(&junk), &victim])?.ok()?;
    let bad = on_store(&["backup", "verify", &set_url])?.output()?;
    let text = String::from_utf8_lossy(&bad.stdout);
    ensure!(
        bad.status.code() == Some(1)
            && text.contains("wal_005/000000010000000000000002: size 4 instead of 300000"),
        "verify of a damaged set in a bucket ({}): {text}",
        bad.status
    );

    // A second backup with keep = 1 removes the first set from the bucket.
    std::thread::sleep(Duration::from_millis(1100));
    let recs = backup()?;
    let summary = recs
        .iter()
        .find(|r| r["event"] == "summary")
        .context("no summary")?;
    ensure!(summary["pruned"] == serde_json::json!([id]), "{summary}");
    let left = String::from_utf8(on_store(&["ls", "-r", "s3://backups/deis/"])?.ok()?)?;
    ensure!(
        !left.contains(&id),
        "the pruned set is still in the bucket:\n{left}"
    );
    for b in [&f.wal, &f.registry] {
        on_store(&["rb", "--force", &format!("s3://{b}")])?.ok()?;
    }
    f.remove_buckets(gw)
}

/// `haul backup --incremental` to a bucket on another gateway: unchanged objects are copied
/// from the previous set on that gateway (server-side), only the changed and the new blob
/// move from the source, the deleted one is not in the new set, and both sets verify there.
fn incremental_to_a_bucket_moves_only_changes(gw: &Gateway) -> Result<()> {
    let f = Fixture::fill(gw, 0)?;
    let store = spawn_s3s(&crate::haul::binary()?, "s3s-backups", &[])?;
    mb(&store, "backups")?;
    // Requests to the destination are counted on their way.
    let proxy = Proxy::start(&store, "{}")?;
    f.destination(&proxy.endpoint, "")?;
    let count = |op: &str| -> Result<u64> {
        Ok(proxy.stats()?["ops"][op]["requests"]
            .as_u64()
            .unwrap_or_default())
    };
    let summary_of = |recs: Vec<Value>| -> Result<Value> {
        let summary = recs
            .into_iter()
            .find(|r| r["event"] == "summary")
            .context("no summary")?;
        ensure!(summary["state"] == "complete", "{summary}");
        Ok(summary)
    };
    let first = summary_of(f.backup_to(gw, &store, &[])?)?;
    let first_id = first["set"].as_str().context("set")?.to_owned();
    let [changed, added, gone, unchanged] = f.change_registry(gw)?;
    let gets = count("GetObject")?;
    let second = summary_of(f.backup_to(gw, &store, &["--incremental"])?)?;
    // Read back to be hashed: the two objects that moved; the base set's two manifests and
    // set.json files are read too (the base's to choose it, both to prune). Every unchanged
    // object keeps the hash the base manifest records for its size and ETag (23 more reads
    // otherwise).
    let gets = count("GetObject")? - gets;
    ensure!(
        gets <= 2 + 2 + 3,
        "{gets} GetObject on the destination: unchanged objects were read back"
    );
    ensure!(second["base"] == first_id.as_str(), "{second}");
    let parts = second["parts"].as_array().context("parts")?;
    let by_name = |n: &str| parts.iter().find(|p| p["name"] == n).context("part");
    let reg = by_name(&f.registry)?;
    ensure!(
        reg["moved"] == 2 && reg["reused"] == 18 && reg["entries"] == 20,
        "registry: only the changed and the new blob move: {reg}"
    );
    let wal = by_name(&f.wal)?;
    ensure!(
        wal["moved"] == 0 && wal["reused"] == wal["entries"] && wal["entries"] == 5,
        "db_wal is unchanged: {wal}"
    );
    let second_id = second["set"].as_str().context("set")?.to_owned();
    let set_url = |id: &str| format!("s3://backups/deis/sets/{id}");
    let on_store = |args: &[&str]| Haul::new(&store, args);
    let listed = String::from_utf8(on_store(&["ls", "-r", &set_url(&second_id)])?.ok()?)?;
    let key = |k: &str| format!("buckets/{}/{k}", f.registry);
    ensure!(
        listed.contains(&key(changed))
            && listed.contains(&key(added))
            && listed.contains(&key(unchanged))
            && !listed.contains(&key(gone)),
        "the new set's registry copy:\n{listed}"
    );
    // Both sets hold what they held: the first is untouched, the second is the bucket now.
    for id in [&first_id, &second_id] {
        on_store(&["backup", "verify", &set_url(id)])?.ok()?;
    }
    f.copy_manifest_matches(gw, &store, &set_url(&second_id), &f.registry)?;
    // The incremental set restores on its own.
    let restored = f.t.path().join("restored/store");
    let target = spawn_s3s(&crate::haul::binary()?, "s3s-target", &[])?;
    let out = with_store_profile(
        Haul::new(
            &target,
            &[
                "--json",
                "restore",
                &set_url(&second_id),
                "--set-endpoint",
                &store.endpoint,
                "--set-profile",
                "store",
                "--archive-dir",
                &format!("store={}", s(&restored)),
            ],
        )?,
        &store,
    )?
    .output()?;
    ensure!(
        out.status.success(),
        "restore of the incremental set ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    f.check_buckets(&target)?;
    f.remove_buckets(gw)
}
