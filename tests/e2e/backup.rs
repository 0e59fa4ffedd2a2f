//! `haul backup PLAN` against the real gateways: a db_wal-like and a registry-like bucket and
//! a store volume with a log appended to all through the backup (issue 8, item 5: the backup
//! half; `haul restore` is not built yet).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cases::{Case, data, mb};
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};
use crate::tar::Appender;

pub(crate) const ALL: &[Case] = &[Case {
    name: "issue_8_backup_buckets_and_a_live_volume_into_a_verified_set",
    run: backup_into_a_set,
    only: None,
}];

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn backup_into_a_set(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    // The buckets: WAL-like segments and a base backup; registry-like blobs under prefixes.
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
    mb(gw, &wal)?;
    mb(gw, &registry)?;
    Haul::new(
        gw,
        &["sync", "-q", s(&seed.join("wal")), &format!("s3://{wal}")],
    )?
    .ok()?;
    Haul::new(
        gw,
        &[
            "sync",
            "-q",
            s(&seed.join("reg")),
            &format!("s3://{registry}"),
        ],
    )?
    .ok()?;

    // The store volume, with a log written to all through the backup.
    let store = t.path().join("store");
    fs_err::create_dir_all(store.join("logs"))?;
    let live = store.join("logs/deis-registry.log");
    fs_err::write(&live, vec![b'x'; 32 << 20])?;
    fs_err::write(store.join("logs/deis-controller.log"), b"quiet\n")?;
    let plan = t.path().join("plan.toml");
    fs_err::write(
        &plan,
        format!(
            "version = 1\ndestination = \"backups\"\n\
             [[bucket]]\nname = \"{wal}\"\n[[bucket]]\nname = \"{registry}\"\n\
             [[archive]]\nname = \"store\"\npath = \"{}\"\n",
            s(&store)
        ),
    )?;
    let appender = Appender::start(&live, b"GET /v2/ 200 appended while haul reads\n");
    let out = Haul::new(gw, &["backup", s(&plan)])?.output();
    appender.stop()?;
    let out = out?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "haul backup failed ({}): {}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );

    // One complete set; its report names the file that changed while archived.
    let dest = t.path().join("backups");
    let sets: Vec<_> = fs_err::read_dir(dest.join("sets"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    ensure!(sets.len() == 1, "sets: {sets:?}");
    let set = &sets[0];
    let json: Value = serde_json::from_slice(&fs_err::read(set.join("set.json"))?)?;
    ensure!(json["state"] == "complete", "{json}");
    ensure!(json["parts"].as_array().map(Vec::len) == Some(3), "{json}");
    let store_part = json["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "store")
        .context("no store part")?;
    ensure!(
        store_part["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w.as_str().is_some_and(
                |w| w.contains("deis-registry.log") && w.contains("changed as we read it")
            )),
        "the changed log is not named: {store_part}"
    );
    ensure!(
        stderr.contains("deis-registry.log"),
        "no warning on stderr: {stderr}"
    );
    let listed = Haul::bare(&["backup", "ls", s(&dest)])?.ok()?;
    ensure!(
        String::from_utf8_lossy(&listed).contains("complete"),
        "{}",
        String::from_utf8_lossy(&listed)
    );

    // Each bucket copy is what the bucket holds (its manifest verified against the gateway),
    // byte for byte what was uploaded, and the archive matches its index.
    for (bucket, local) in [(&wal, seed.join("wal")), (&registry, seed.join("reg"))] {
        let manifest = set.join(format!("buckets/{bucket}.manifest"));
        Haul::new(
            gw,
            &[
                "manifest",
                "verify",
                s(&manifest),
                &format!("s3://{bucket}"),
            ],
        )?
        .ok()?;
        Haul::bare(&["manifest", "verify", s(&manifest), s(&local)])?.ok()?;
    }
    Haul::bare(&["tar", "verify", s(&set.join("archives/store.tar.gz"))])?.ok()?;
    let extracted = t.path().join("extracted");
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
    ensure!(fs_err::read(extracted.join("logs/deis-controller.log"))? == b"quiet\n");
    let got = fs_err::metadata(extracted.join("logs/deis-registry.log"))?.len();
    ensure!(got >= 32 << 20, "archived log has {got} bytes");

    // A second run with `keep = 1`: a new complete set, the first one removed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut text = fs_err::read_to_string(&plan)?;
    text.push_str("[options]\nkeep = 1\n");
    fs_err::write(&plan, text)?;
    let second = Haul::new(gw, &["backup", s(&plan)])?.ok()?;
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
    let left: Vec<_> = fs_err::read_dir(dest.join("sets"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    ensure!(
        left.len() == 1 && left[0] != first_id.as_str(),
        "sets left: {left:?}"
    );

    for b in [&wal, &registry] {
        Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    }
    Ok(())
}
