//! `haul demo`: the quickstart. It starts haul's embedded S3 gateway on loopback, builds a
//! sample store shaped like the runbook's (a `registry` bucket tree, a `db_wal` tree of WAL
//! segments and base backups, a log directory), copies it to the gateway and back, checks the
//! copy is identical, and prints the throughput of each step. Nothing needs to be installed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use engine::client::{Client, ClientConfig};
use engine::congestion::Backoff;
use engine::s3::{Addressing, BucketName, Credentials, Endpoint};
use engine::transfer::{self, MemoryBudget, TransferOptions};
use engine::transport::TransportConfig;
use haul_gateway::{Gateway, GatewayConfig};

use crate::args::{DemoArgs, GlobalArgs};
use crate::output::human_bytes;

/// WAL segments are 16 MiB in PostgreSQL.
const WAL_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

pub(crate) async fn run(g: &GlobalArgs, a: &DemoArgs) -> Result<()> {
    let (_tmp, work) = if let Some(d) = &a.dir {
        (None, d.clone())
    } else {
        let t = tempfile::tempdir().context("creating a work directory")?;
        let p = t.path().to_path_buf();
        (Some(t), p)
    };
    let store = work.join("store");
    let restore = work.join("restore");
    let gateway_root = work.join("gateway");
    say(&format!("haul demo: work directory {}", work.display()));

    let blobs = a.blobs;
    let store_owned = store.clone();
    let t = Instant::now();
    let (files, bytes) =
        tokio::task::spawn_blocking(move || make_sample_store(&store_owned, blobs)).await??;
    say(&format!(
        "1. sample store: {files} files, {} (registry blobs, WAL segments, base backup, logs) in {:.1} s",
        human_bytes(bytes),
        t.elapsed().as_secs_f64()
    ));

    let secret = format!("demo-{:016x}", rand::random::<u64>());
    let mut cfg = GatewayConfig::new(gateway_root, "haul-demo".to_owned(), secret.clone());
    cfg.relaxed_bucket_names = true;
    let gw = Gateway::start(cfg).await?;
    say(&format!(
        "2. embedded S3 gateway (s3s-fs) listening at {}",
        gw.endpoint_url()
    ));

    let endpoint = Endpoint::parse(&gw.endpoint_url(), Addressing::PathStyle, "us-east-1")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = Client::new(
        ClientConfig {
            endpoint,
            credentials: Some(Credentials::new("haul-demo", secret, None)),
            transport: TransportConfig::default(),
            controller: engine::congestion::ControllerConfig::with_ceiling(g.concurrency() as usize),
            backoff: Backoff::default(),
        },
        engine::progress::silent(),
    )?;
    let opts = TransferOptions::default();
    let budget = MemoryBudget::new(256 * 1024 * 1024);
    let parallel = g.concurrency() as usize;
    let progress = engine::progress::silent();

    let parts = [
        ("db_wal", "db_wal"),
        ("registry", "registry"),
        ("logs", "store-logs"),
    ];
    let t = Instant::now();
    let mut up_bytes = 0;
    for (dir, bucket) in parts {
        let bucket = BucketName::new(bucket)?;
        client.create_bucket(&bucket).await?;
        let step = Instant::now();
        let r = transfer::upload_tree(
            &client,
            &store.join(dir),
            &bucket,
            "",
            &opts,
            &budget,
            parallel,
            &progress,
        )
        .await?;
        if !r.failed.is_empty() {
            bail!("upload of {dir} failed: {:?}", r.failed);
        }
        up_bytes += r.bytes;
        say(&format!(
            "   upload {dir:<9} -> s3://{:<11} {:>5} objects {}",
            bucket.as_str(),
            r.copied,
            throughput(r.bytes, step)
        ));
    }
    say(&format!("3. backup done: {}", throughput(up_bytes, t)));

    let t = Instant::now();
    let mut down_bytes = 0;
    for (dir, bucket) in parts {
        let bucket = BucketName::new(bucket)?;
        let step = Instant::now();
        let r = transfer::download_tree(
            &client,
            &bucket,
            "",
            &restore.join(dir),
            &opts,
            &budget,
            parallel,
            &progress,
        )
        .await?;
        if !r.failed.is_empty() {
            bail!("download of {dir} failed: {:?}", r.failed);
        }
        down_bytes += r.bytes;
        say(&format!(
            "   download s3://{:<11} -> {dir:<9} {:>5} objects {}",
            bucket.as_str(),
            r.copied,
            throughput(r.bytes, step)
        ));
    }
    say(&format!("4. restore done: {}", throughput(down_bytes, t)));

    let t = Instant::now();
    let (store2, restore2) = (store.clone(), restore.clone());
    let diffs =
        tokio::task::spawn_blocking(move || engine::local::compare_trees(&store2, &restore2))
            .await??;
    if !diffs.is_empty() {
        for d in diffs.iter().take(20) {
            crate::output::error_line(&d.to_string());
        }
        bail!(
            "the restored copy differs from the store in {} places",
            diffs.len()
        );
    }
    say(&format!(
        "5. verified: the restored tree is byte-identical to the store ({files} files, {:.1} s)",
        t.elapsed().as_secs_f64()
    ));
    gw.shutdown().await;
    if a.dir.is_none() {
        say("   (work directory removed; pass --dir to keep it)");
    }
    Ok(())
}

fn say(line: &str) {
    println!("{line}");
}

fn throughput(bytes: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "display only"
    )]
    let rate = (bytes as f64 / secs) as u64;
    format!(
        "{} in {secs:.2} s ({}/s)",
        human_bytes(bytes),
        human_bytes(rate)
    )
}

/// Deterministic filler bytes (xorshift), so runs are reproducible and not compressible.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(path, data)?;
    Ok(())
}

/// Builds the sample store; returns (files, bytes).
fn make_sample_store(root: &Path, blobs: u32) -> Result<(u64, u64)> {
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut add = |path: PathBuf, data: Vec<u8>| -> Result<()> {
        write(&path, &data)?;
        files += 1;
        bytes += data.len() as u64;
        Ok(())
    };
    // registry: docker/registry/v2/blobs/sha256/<2 hex>/<64 hex>/data, mostly small layers and
    // configs, a few larger layers; plus repository links.
    let reg = root.join("registry/docker/registry/v2");
    for i in 0..blobs {
        let digest = blake3::hash(&u64::from(i).to_le_bytes())
            .to_hex()
            .to_string();
        let len = match i % 20 {
            0 => 4 * 1024 * 1024 + (i as usize * 7919) % (1024 * 1024),
            1..=4 => 256 * 1024 + (i as usize * 104_729) % (512 * 1024),
            _ => 1024 + (i as usize * 7919) % (63 * 1024),
        };
        let dir = reg.join(format!("blobs/sha256/{}/{digest}", &digest[..2]));
        add(dir.join("data"), filler(len, u64::from(i)))?;
        if i % 10 == 0 {
            let repo = format!("app{}", i / 10);
            add(
                reg.join(format!("repositories/{repo}/_layers/sha256/{digest}/link")),
                format!("sha256:{digest}").into_bytes(),
            )?;
        }
    }
    // db_wal: WAL segments and a base backup, as the database's WAL shipping writes them.
    let wal = root.join("db_wal");
    for seg in 1..=4u64 {
        add(
            wal.join(format!("wal_005/00000001000000000000000{seg:X}")),
            filler(WAL_SEGMENT_BYTES, 1000 + seg),
        )?;
    }
    let bb = wal.join("basebackups_005/base_000000010000000000000002_00000040");
    add(
        bb.join("tar_partitions/part_00000001.tar.lzo"),
        filler(3 * 1024 * 1024, 7),
    )?;
    add(
        bb.join("extended_version.txt"),
        b"PostgreSQL 9.4\n".to_vec(),
    )?;
    add(
        wal.join(
            "basebackups_005/base_000000010000000000000002_00000040_backup_stop_sentinel.json",
        ),
        br#"{"wal_segment_backup_stop": "000000010000000000000002"}"#.to_vec(),
    )?;
    // logs: the store volume's application and component logs.
    let logs = root.join("logs");
    for (i, name) in [
        "deis-registry.log",
        "deis-controller.log",
        "deis-builder.log",
        "deis-router.log",
    ]
    .iter()
    .enumerate()
    {
        let mut text = String::new();
        for line in 0..(2000 * (i + 1)) {
            let _ = writeln!(
                text,
                "2026-11-24T12:{:02}:{:02}Z {name} INFO request {line} served in {}ms",
                line / 60 % 60,
                line % 60,
                line % 97
            );
        }
        add(logs.join(name), text.into_bytes())?;
    }
    Ok((files, bytes))
}
