//! `haul manifest` (issue 5): a manifest built from a directory verifies the bucket that
//! `haul sync` filled from it; one flipped byte in one object makes verify fail naming the key;
//! a truncated or foreign manifest is a clear error with a non-zero exit, never a panic.

use std::path::Path;

use anyhow::{Result, ensure};

use crate::cases::Case;
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_5_manifest_verify_synced_bucket_and_flipped_byte",
        run: verify_synced_bucket,
        only: None,
    },
    Case {
        name: "issue_5_manifest_truncated_or_foreign_is_an_error",
        run: bad_manifests,
        only: None,
    },
    Case {
        name: "issue_5_manifest_build_trust_metadata",
        run: trust_metadata,
        only: None,
    },
    Case {
        name: "issue_5_sync_manifest_nightly_reads_only_changes",
        run: sync_manifest_nightly,
        only: None,
    },
    Case {
        name: "issue_5_every_upload_stores_its_blake3",
        run: every_upload_stores_blake3,
        only: None,
    },
    Case {
        name: "issue_5_manifest_verify_flipped_byte_in_1gib_file",
        run: flipped_byte_in_1gib_file,
        // Local files only: the gateway is not involved, one run is enough.
        only: Some("s3s"),
    },
];

/// The `manifest` event of `haul --json sync … --manifest`.
fn manifest_event(stdout: &[u8]) -> Result<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "manifest")
        .ok_or_else(|| anyhow::anyhow!("no manifest event in {}", String::from_utf8_lossy(stdout)))
}

/// Three nightly `sync --manifest` runs up to a bucket with one hash cache: the first reads
/// every file, the second none, the third only the file that changed; two manifests are kept
/// under `.haul/manifests/`, the newest verifies the bucket (which `.haul/` is left out of),
/// and a restore with `--manifest` writes one beside the restored tree.
fn sync_manifest_nightly(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let cache = t.path().join("cache");
    // Files changed within two seconds of being hashed are not cached (a later write in the
    // same timestamp tick could go unseen): let the new tree age past that.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let b = unique_bucket("nightly");
    let url = format!("s3://{b}/backup/");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let nightly = || -> Result<serde_json::Value> {
        let out = Haul::new(
            gw,
            &[
                "--json",
                "sync",
                s(&src),
                &url,
                "--manifest",
                "--keep-manifests",
                "2",
                "--delete",
            ],
        )?
        .env("HAUL_CACHE_DIR", &cache)
        .ok()?;
        manifest_event(&out)
    };
    let first = nightly()?;
    ensure!(
        first["entries"] == 5 && first["hashed"] == 5,
        "first night: {first}"
    );
    let second = nightly()?;
    ensure!(
        second["entries"] == 5 && second["hashed"] == 0,
        "second night: {second}"
    );
    // A nightly change comes seconds after the last upload (one within the same second, at
    // the same size, is the documented blind spot of the size + mtime comparison).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut data = fs_err::read(src.join("data/one-kib.bin"))?;
    data[3] ^= 0x40;
    fs_err::write(src.join("data/one-kib.bin"), &data)?;
    let third = nightly()?;
    ensure!(
        third["entries"] == 5 && third["hashed"] == 1 && third["pruned"] == 1,
        "third night: {third}"
    );

    // Two manifests kept; `--delete` left them alone; the newest proves the bucket.
    let listed =
        String::from_utf8(Haul::new(gw, &["ls", "-r", &format!("{url}.haul/manifests/")])?.ok()?)?;
    let kept: Vec<&str> = listed.lines().filter(|l| l.contains(".manifest")).collect();
    ensure!(kept.len() == 2, "kept manifests: {listed}");
    let newest = third["location"].as_str().unwrap_or_default().to_owned();
    let local = t.path().join("newest.manifest");
    Haul::new(gw, &["cp", &newest, s(&local)])?.ok()?;
    Haul::new(gw, &["manifest", "verify", s(&local), &url])?.ok()?;
    Haul::new(gw, &["manifest", "verify", s(&local), s(&src)])?.ok()?;

    // A restore writes the manifest of what it restored, which matches the backup's.
    let restore = t.path().join("restore");
    let out = Haul::new(gw, &["--json", "sync", &url, s(&restore), "--manifest"])?
        .env("HAUL_CACHE_DIR", &cache)
        .ok()?;
    let restored = manifest_event(&out)?;
    let restored_path = restored["location"].as_str().unwrap_or_default().to_owned();
    ensure!(
        restored_path.starts_with(s(&restore)) && restored["entries"] == 5,
        "restore manifest: {restored}"
    );
    Haul::new(gw, &["manifest", "diff", s(&local), &restored_path])?.ok()?;
    ensure!(
        !restore
            .join(".haul/manifests")
            .join(newest.rsplit('/').next().unwrap_or(""))
            .exists(),
        "the backup's manifests were downloaded as data"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn make_tree(root: &Path) -> Result<()> {
    fs_err::create_dir_all(root.join("data/nested"))?;
    fs_err::write(root.join("data/one-kib.bin"), noise(1024, 1))?;
    // Above the remote hasher's inline limit: hashed on a blocking thread, chunk by chunk.
    fs_err::write(root.join("data/nested/big.bin"), noise(3 << 20, 2))?;
    fs_err::write(root.join("a-b.txt"), b"sorts before a/\n")?;
    fs_err::write(root.join("empty"), b"")?;
    fs_err::write(root.join("key with spaces & %.txt"), b"odd name\n")?;
    Ok(())
}

fn verify_synced_bucket(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let manifest = t.path().join("src.manifest");
    Haul::new(gw, &["manifest", "build", s(&src), "-o", s(&manifest)])?.ok()?;

    let b = unique_bucket("manifest");
    let url = format!("s3://{b}/backup");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    Haul::new(gw, &["sync", s(&src), &format!("{url}/")])?.ok()?;

    // The bucket holds what the manifest says, and the directory still does.
    Haul::new(gw, &["manifest", "verify", s(&manifest), &url])?.ok()?;
    Haul::new(gw, &["manifest", "verify", s(&manifest), s(&src)])?.ok()?;
    // A manifest built from the bucket has the same content as the local one.
    let remote = t.path().join("remote.manifest");
    Haul::new(gw, &["manifest", "build", &url, "-o", s(&remote)])?.ok()?;
    Haul::new(gw, &["manifest", "diff", s(&manifest), s(&remote)])?.ok()?;
    // `-o s3://…` stores the manifest as an object, byte for byte what a file would hold.
    let stored = format!("s3://{b}/manifests/src.manifest");
    Haul::new(gw, &["manifest", "build", s(&src), "-o", &stored])?.ok()?;
    let fetched = t.path().join("fetched.manifest");
    Haul::new(gw, &["cp", &stored, s(&fetched)])?.ok()?;
    Haul::new(gw, &["manifest", "diff", s(&manifest), s(&fetched)])?.ok()?;
    Haul::new(gw, &["manifest", "verify", s(&fetched), s(&src)])?.ok()?;
    let shown = Haul::new(gw, &["manifest", "show", s(&remote)])?.ok()?;
    let shown = String::from_utf8(shown)?;
    ensure!(
        shown.contains("data/nested/big.bin") && shown.contains("key with spaces & %.txt"),
        "show lacks keys:\n{shown}"
    );

    // One flipped byte in one 1 KiB object.
    let mut flipped = fs_err::read(src.join("data/one-kib.bin"))?;
    flipped[517] ^= 0x01;
    let changed = t.path().join("one-kib.bin");
    fs_err::write(&changed, &flipped)?;
    Haul::new(gw, &["cp", s(&changed), &format!("{url}/data/one-kib.bin")])?.ok()?;
    let out = Haul::new(gw, &["manifest", "verify", s(&manifest), &url])?.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "verify after a flipped byte: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    ensure!(
        stdout.contains("changed data/one-kib.bin"),
        "verify does not name the key:\nstdout: {stdout}\nstderr: {stderr}"
    );
    ensure!(
        stdout.lines().count() == 1,
        "verify reports more than the one change:\n{stdout}"
    );
    ensure!(stderr.contains("1 changed"), "no summary: {stderr}");

    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// One flipped byte in a 1 GiB file (sparse, with noise at its start, middle and end), the
/// size and mtime left as they were: `verify` reads every byte, so it names the file.
fn flipped_byte_in_1gib_file(gw: &Gateway) -> Result<()> {
    use std::os::unix::fs::FileExt;
    const GIB: u64 = 1 << 30;
    let t = tempfile::tempdir()?;
    let root = t.path().join("tree");
    fs_err::create_dir_all(root.join("wal"))?;
    fs_err::write(root.join("wal/small"), noise(4096, 3))?;
    let big = root.join("wal/big.bin");
    let file = fs_err::File::create(&big)?;
    file.set_len(GIB)?;
    for (i, at) in [0, GIB / 2, GIB - (1 << 20)].into_iter().enumerate() {
        file.file()
            .write_all_at(&noise(1 << 20, 10 + i as u64), at)?;
    }
    drop(file);
    let manifest = t.path().join("tree.manifest");
    Haul::new(
        gw,
        &[
            "manifest",
            "build",
            s(&root),
            "-o",
            s(&manifest),
            "--no-hash-cache",
        ],
    )?
    .ok()?;
    Haul::new(gw, &["manifest", "verify", s(&manifest), s(&root)])?.ok()?;

    // Flip one bit in the sparse (all-zero) stretch, then put the mtime back.
    let mtime = fs_err::metadata(&big)?.modified()?;
    let at = GIB / 2 + (GIB / 4) + 12_345;
    let file = fs_err::OpenOptions::new().write(true).open(&big)?;
    file.file().write_all_at(&[0x01], at)?;
    file.file().set_modified(mtime)?;
    drop(file);
    ensure!(fs_err::metadata(&big)?.len() == GIB, "the size changed");

    let out = Haul::new(gw, &["manifest", "verify", s(&manifest), s(&root)])?.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "verify after a flipped byte at {at}: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    ensure!(
        stdout.trim() == "changed wal/big.bin (content)" && stderr.contains("1 changed"),
        "verify must name exactly the one file:\nstdout: {stdout}\nstderr: {stderr}"
    );
    Ok(())
}

/// Runs `haul manifest ARGS` expecting exit code 1 and an error naming `file` and `what`.
fn refused(gw: &Gateway, args: &[&str], file: &Path, what: &str) -> Result<()> {
    let stderr = Haul::new(gw, args)?.fails_with(1)?;
    ensure!(
        stderr.contains(s(file)) && stderr.contains(what),
        "{args:?}: expected an error naming {} and {what:?}, got: {stderr}",
        file.display()
    );
    ensure!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    Ok(())
}

fn bad_manifests(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let manifest = t.path().join("good.manifest");
    Haul::new(gw, &["manifest", "build", s(&src), "-o", s(&manifest)])?.ok()?;
    let bytes = fs_err::read(&manifest)?;

    let truncated = t.path().join("truncated.manifest");
    fs_err::write(&truncated, &bytes[..bytes.len() * 2 / 3])?;
    let foreign = t.path().join("foreign.manifest");
    fs_err::write(&foreign, b"PK\x03\x04 a zip file, not a manifest")?;
    let mut damaged_bytes = bytes.clone();
    let mid = damaged_bytes.len() / 2;
    damaged_bytes[mid] ^= 0x40;
    let damaged = t.path().join("damaged.manifest");
    fs_err::write(&damaged, &damaged_bytes)?;

    let b = unique_bucket("manifest-bad");
    let url = format!("s3://{b}");
    Haul::new(gw, &["mb", &url])?.ok()?;
    Haul::new(gw, &["sync", s(&src), &format!("{url}/")])?.ok()?;

    refused(
        gw,
        &["manifest", "show", s(&truncated)],
        &truncated,
        "truncated",
    )?;
    refused(
        gw,
        &["manifest", "verify", s(&truncated), &url],
        &truncated,
        "truncated",
    )?;
    refused(
        gw,
        &["manifest", "verify", s(&foreign), s(&src)],
        &foreign,
        "not a haul manifest",
    )?;
    refused(
        gw,
        &["manifest", "diff", s(&manifest), s(&foreign)],
        &foreign,
        "not a haul manifest",
    )?;
    // A flipped byte mid-stream: undecodable or a checksum mismatch, named as damage.
    let stderr = Haul::new(gw, &["manifest", "verify", s(&damaged), &url])?.fails_with(1)?;
    ensure!(
        stderr.contains(s(&damaged))
            && (stderr.contains("damaged") || stderr.contains("truncated")),
        "damaged manifest: {stderr}"
    );
    // The good one still verifies.
    Haul::new(gw, &["manifest", "verify", s(&manifest), &url])?.ok()?;
    Haul::new(gw, &["rb", "--force", &url])?.ok()?;
    Ok(())
}

/// The `blake3` field of `key` in `haul --json manifest show FILE`.
fn shown_hash(gw: &Gateway, file: &Path, key: &str) -> Result<String> {
    let out = String::from_utf8(Haul::new(gw, &["--json", "manifest", "show", s(file)])?.ok()?)?;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v["key"] == key {
            return Ok(v["blake3"].as_str().unwrap_or_default().to_owned());
        }
    }
    anyhow::bail!("{key} not in the manifest:\n{out}")
}

/// A request signed by curl's own SigV4 (not haul's), to `{endpoint}/{path}`; its stdout.
fn curl(gw: &Gateway, args: &[&str], path: &str) -> Result<String> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
        ])
        .arg("--user")
        .arg(format!("{}:{}", gw.access_key, gw.secret_key))
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(args)
        .arg(format!("{}/{path}", gw.endpoint))
        .arg("--insecure")
        .output()?;
    ensure!(
        out.status.success(),
        "curl {args:?} {path} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `x-amz-meta-blake3` header of a HEAD of `bucket/key`, if any.
fn stored_blake3(gw: &Gateway, bucket: &str, key: &str) -> Result<Option<String>> {
    let head = curl(gw, &["-I"], &format!("{bucket}/{key}"))?;
    Ok(head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-amz-meta-blake3")
            .then(|| value.trim().to_owned())
    }))
}

/// Every way haul puts an object stores the BLAKE3 of its bytes: a single PUT, a multipart
/// upload of a file (parts hashed apart and joined as a BLAKE3 tree), a stream from stdin
/// longer than one part, and a sync. Checked with a HEAD signed by curl, against the
/// `blake3` crate's hash of the same bytes, and `manifest build --trust-metadata` agrees
/// with a manifest that reads the objects.
fn every_upload_stores_blake3(gw: &Gateway) -> Result<()> {
    const MIB: usize = 1024 * 1024;
    let t = tempfile::tempdir()?;
    let b = unique_bucket("blake3-meta");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let bytes = |len: usize, seed: usize| -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 11) ^ seed) as u8)
            .collect()
    };
    let small = bytes(3000, 1);
    let large = bytes(11 * MIB + 1234, 2);
    let stream = bytes(12 * MIB + 77, 3);
    let tree = t.path().join("tree");
    fs_err::create_dir_all(tree.join("d"))?;
    let (small_file, large_file) = (t.path().join("small"), t.path().join("large"));
    fs_err::write(&small_file, &small)?;
    fs_err::write(&large_file, &large)?;
    fs_err::write(tree.join("d/synced"), &large[..6 * MIB + 5])?;
    let small_parts = ["--multipart-threshold", "5MiB", "--part-size", "5MiB"];
    let url = format!("s3://{b}");
    Haul::new(gw, &["cp", s(&small_file), &format!("{url}/small")])?.ok()?;
    let mut args = vec!["cp", s(&large_file)];
    let dest = format!("{url}/large");
    args.push(&dest);
    args.extend(small_parts);
    Haul::new(gw, &args)?.ok()?;
    let dest = format!("{url}/stream");
    let mut args = vec!["cp", "-", &dest];
    args.extend(small_parts);
    Haul::new(gw, &args)?.stdin(stream.clone()).ok()?;
    let dest = format!("{url}/tree");
    let mut args = vec!["sync", s(&tree), &dest];
    args.extend(small_parts);
    Haul::new(gw, &args)?.ok()?;
    for (key, content) in [
        ("small", &small[..]),
        ("large", &large[..]),
        ("stream", &stream[..]),
        ("tree/d/synced", &large[..6 * MIB + 5]),
    ] {
        let want = blake3::hash(content).to_hex().to_string();
        let got = stored_blake3(gw, &b, key)?;
        ensure!(
            got.as_deref() == Some(want.as_str()),
            "{key}: x-amz-meta-blake3 is {got:?}, the bytes hash to {want}"
        );
    }
    let (trusted, read) = trusted_and_read(gw, &url, t.path())?;
    Haul::new(gw, &["manifest", "diff", s(&trusted), s(&read)])?.ok()?;
    Haul::new(gw, &["rb", "--force", &url])?.ok()?;
    Ok(())
}

/// Manifests of `url` built with `--trust-metadata` and by reading the objects, in `dir`.
fn trusted_and_read(
    gw: &Gateway,
    url: &str,
    dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let trusted = dir.join("trusted.manifest");
    let read = dir.join("read.manifest");
    let trust = [
        "manifest",
        "build",
        "--trust-metadata",
        url,
        "-o",
        s(&trusted),
    ];
    Haul::new(gw, &trust)?.ok()?;
    Haul::new(gw, &["manifest", "build", url, "-o", s(&read)])?.ok()?;
    Ok((trusted, read))
}

/// `--trust-metadata` takes `x-amz-meta-blake3` without reading the object: an object whose
/// metadata names another hash shows that hash; without the flag the content's hash shows.
/// (curl's SigV4 puts the object, with a hash that is not its content's.)
fn trust_metadata(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let b = unique_bucket("manifest-trust");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let claimed = "ab".repeat(32);
    let body = t.path().join("body");
    fs_err::write(&body, b"hello")?;
    curl(
        gw,
        &[
            "-X",
            "PUT",
            "-H",
            &format!("x-amz-meta-blake3: {claimed}"),
            "--data-binary",
            &format!("@{}", s(&body)),
        ],
        &format!("{b}/trusted.bin"),
    )?;
    let url = format!("s3://{b}");
    let (trusted, read) = trusted_and_read(gw, &url, t.path())?;
    let got = shown_hash(gw, &trusted, "trusted.bin")?;
    ensure!(
        got == claimed,
        "--trust-metadata gave {got}, metadata says {claimed}"
    );
    let got = shown_hash(gw, &read, "trusted.bin")?;
    ensure!(
        got != claimed,
        "without --trust-metadata the object was not read"
    );
    Haul::new(gw, &["rb", "--force", &url])?.ok()?;
    Ok(())
}
