//! The end-to-end cases; each runs against every gateway.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

/// One case.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) run: fn(&Gateway) -> Result<()>,
    /// Runs only on this gateway (reported as ignored on the others), for behaviour another
    /// gateway lacks (s3s-fs has no ListMultipartUploads).
    pub(crate) only: Option<&'static str>,
}

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_2_bucket_lifecycle",
        run: bucket_lifecycle,
        only: None,
    },
    Case {
        name: "issue_2_runbook_bucket_names",
        run: runbook_bucket_names,
        only: None,
    },
    Case {
        name: "issue_2_rb_refuses_non_empty_bucket",
        run: rb_refuses_non_empty,
        only: None,
    },
    Case {
        name: "issue_2_cp_sizes_round_trip",
        run: cp_sizes_round_trip,
        only: None,
    },
    Case {
        name: "issue_2_cp_default_multipart_64mib",
        run: cp_default_multipart,
        only: None,
    },
    Case {
        name: "issue_2_cp_stdin_stdout",
        run: cp_stdin_stdout,
        only: None,
    },
    Case {
        name: "issue_2_cp_recursive_round_trip",
        run: cp_recursive_round_trip,
        only: None,
    },
    Case {
        name: "issue_2_key_encoding_round_trip",
        run: key_encoding_round_trip,
        only: None,
    },
    Case {
        name: "issue_2_key_encoding_proptest",
        run: key_encoding_proptest,
        only: None,
    },
    Case {
        name: "issue_2_wrong_secret",
        run: wrong_secret,
        only: None,
    },
    Case {
        name: "issue_2_missing_object_exit_code",
        run: missing_object,
        only: None,
    },
    Case {
        name: "issue_2_ls_json",
        run: ls_json,
        only: None,
    },
    Case {
        name: "issue_2_trace_logs_hide_secrets",
        run: trace_logs_hide_secrets,
        only: None,
    },
    Case {
        name: "issue_3_sync_round_trip_and_no_change_runs",
        run: sync_round_trip,
        only: None,
    },
    Case {
        name: "issue_3_sync_delete_dry_run_and_guard",
        run: sync_delete_dry_run_and_guard,
        only: None,
    },
    Case {
        name: "issue_3_sync_filters",
        run: sync_filters,
        only: None,
    },
    Case {
        name: "issue_3_rm_object_prefix_filters_and_batches",
        run: rm_object_prefix_filters_and_batches,
        only: None,
    },
    Case {
        name: "issue_3_sync_s3_to_s3",
        run: sync_s3_to_s3,
        only: None,
    },
    Case {
        name: "issue_3_sync_refuses_hostile_keys",
        run: sync_refuses_hostile_keys,
        only: None,
    },
    Case {
        name: "issue_9_sync_never_writes_through_a_symlink_in_the_destination",
        run: sync_refuses_symlinked_dirs,
        only: None,
    },
    Case {
        name: "issue_3_sigint_aborts_multipart_uploads",
        run: sigint_aborts_multipart_uploads,
        only: Some("rgw"),
    },
    Case {
        name: "issue_3_kill_9_then_rerun_completes",
        run: kill_9_then_rerun_completes,
        only: None,
    },
    Case {
        name: "issue_3_kill_9_upload_resumes_from_its_parts",
        run: kill_9_upload_resumes,
        only: Some("rgw"),
    },
    Case {
        name: "issue_3_sync_checksum",
        run: sync_checksum,
        only: None,
    },
    Case {
        name: "issue_3_memory_200k_small_objects",
        run: memory_200k_small_objects,
        only: Some("rgw"),
    },
    Case {
        name: "issue_3_memory_4gib_file",
        run: memory_4gib_file,
        only: Some("s3s"),
    },
];

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub(crate) fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub(crate) fn mb(gw: &Gateway, bucket: &str) -> Result<()> {
    Haul::new(gw, &["mb", &format!("s3://{bucket}")])?.ok()?;
    Ok(())
}

fn bucket_names(gw: &Gateway) -> Result<Vec<String>> {
    let out = Haul::new(gw, &["ls", "--json"])?.ok()?;
    let mut names = Vec::new();
    for line in String::from_utf8(out)?.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {line:?}"))?;
        if let Some(n) = v.get("bucket").and_then(|b| b.as_str()) {
            names.push(n.to_owned());
        }
    }
    Ok(names)
}

fn bucket_lifecycle(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("life");
    mb(gw, &b)?;
    ensure!(bucket_names(gw)?.contains(&b), "new bucket {b} not listed");
    let human = String::from_utf8(Haul::new(gw, &["ls"])?.ok()?)?;
    ensure!(
        human.contains(&format!("s3://{b}")),
        "plain ls lacks {b}: {human}"
    );
    Haul::new(gw, &["rb", &format!("s3://{b}")])?.ok()?;
    ensure!(
        !bucket_names(gw)?.contains(&b),
        "removed bucket {b} still listed"
    );
    // Removing it again: not found, exit code 3.
    let err = Haul::new(gw, &["rb", &format!("s3://{b}")])?.fails_with(3)?;
    ensure!(
        err.contains("NoSuchBucket"),
        "rb of a missing bucket: {err}"
    );
    Ok(())
}

fn runbook_bucket_names(gw: &Gateway) -> Result<()> {
    // The runbook's own names; the underscore forces path-style addressing.
    for b in ["db_wal", "registry"] {
        mb(gw, b)?;
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("000000010000000000000001");
        fs_err::write(&f, data(100_000, 7))?;
        Haul::new(
            gw,
            &[
                "cp",
                f.to_str().context("path")?,
                &format!("s3://{b}/wal_005/"),
            ],
        )?
        .ok()?;
        let listing =
            String::from_utf8(Haul::new(gw, &["ls", "--recursive", &format!("s3://{b}")])?.ok()?)?;
        ensure!(
            listing.contains("wal_005/000000010000000000000001"),
            "listing: {listing}"
        );
        Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    }
    Ok(())
}

fn rb_refuses_non_empty(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("full");
    mb(gw, &b)?;
    Haul::new(gw, &["cp", "-", &format!("s3://{b}/a/b c")])?
        .stdin(b"hello".to_vec())
        .ok()?;
    let err = Haul::new(gw, &["rb", &format!("s3://{b}")])?.fails_with(1)?;
    ensure!(
        err.contains("not empty") || err.contains("BucketNotEmpty"),
        "rb: {err}"
    );
    ensure!(
        bucket_names(gw)?.contains(&b),
        "rb without --force removed the bucket"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    ensure!(
        !bucket_names(gw)?.contains(&b),
        "rb --force left the bucket"
    );
    Ok(())
}

const MIB: usize = 1024 * 1024;

fn round_trip_file(gw: &Gateway, bucket: &str, len: usize, extra: &[&str]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join(format!("src-{len}"));
    let want = data(len, len as u64 + 1);
    fs_err::write(&src, &want)?;
    let key = format!("s3://{bucket}/sizes/{len}.bin");
    let mut up = vec!["cp"];
    up.extend_from_slice(extra);
    up.extend_from_slice(&[src.to_str().context("path")?, &key]);
    Haul::new(gw, &up)?.ok()?;
    let dst = dir.path().join("back");
    let mut down = vec!["cp"];
    down.extend_from_slice(extra);
    down.extend_from_slice(&[&key, dst.to_str().context("path")?]);
    Haul::new(gw, &down)?.ok()?;
    let got = fs_err::read(&dst)?;
    ensure!(got.len() == want.len(), "{len} B: got {} B back", got.len());
    ensure!(got == want, "{len} B: content differs");
    let leftovers: Vec<_> = fs_err::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("haul-partial"))
        .collect();
    ensure!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    Ok(())
}

fn cp_sizes_round_trip(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("sizes");
    mb(gw, &b)?;
    // 5 MiB threshold and parts: 5 MiB + 1 is a two-part upload (5 MiB, 1 B) and a two-range
    // download; 5 MiB and below are single PutObjects and GETs.
    let small_parts = ["--multipart-threshold", "5MiB", "--part-size", "5MiB"];
    for len in [0, 1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1] {
        round_trip_file(gw, &b, len, &small_parts).with_context(|| format!("size {len}"))?;
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn cp_default_multipart(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("big");
    mb(gw, &b)?;
    round_trip_file(gw, &b, 64 * MIB, &[])?;
    round_trip_file(
        gw,
        &b,
        64 * MIB,
        &["--part-size", "5MiB", "--concurrency", "4"],
    )?;
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn cp_stdin_stdout(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("pipe");
    mb(gw, &b)?;
    for (len, extra) in [
        (0usize, &[][..]),
        (1000, &[][..]),
        (11 * MIB + 3, &["--part-size", "5MiB"][..]),
    ] {
        let want = data(len, 99);
        let key = format!("s3://{b}/stream/{len}");
        let mut up = vec!["cp"];
        up.extend_from_slice(extra);
        up.extend_from_slice(&["-", &key]);
        Haul::new(gw, &up)?.stdin(want.clone()).ok()?;
        let got = Haul::new(gw, &["cp", &key, "-"])?.ok()?;
        ensure!(
            got == want,
            "stdin/stdout round trip of {len} B differs ({} B back)",
            got.len()
        );
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn cp_recursive_round_trip(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("tree");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let files = [
        "docker/registry/v2/blobs/sha256/ab/abcdef/data",
        "docker/registry/v2/repositories/app/_manifests/tags/latest/current/link",
        "a-b",
        "a/b",
        "with space/and+plus",
    ];
    for (i, f) in files.iter().enumerate() {
        let p = src.path().join(f);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, data(1000 * (i + 1), i as u64))?;
    }
    Haul::new(
        gw,
        &[
            "cp",
            "-r",
            src.path().to_str().context("path")?,
            &format!("s3://{b}/backup/"),
        ],
    )?
    .ok()?;
    let dst = tempfile::tempdir()?;
    Haul::new(
        gw,
        &[
            "cp",
            "-r",
            &format!("s3://{b}/backup/"),
            dst.path().to_str().context("path")?,
        ],
    )?
    .ok()?;
    for f in files {
        let a = fs_err::read(src.path().join(f))?;
        let c = fs_err::read(dst.path().join(f))
            .with_context(|| format!("{f} missing after download"))?;
        ensure!(a == c, "{f} differs");
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// Keys with every character the issue names, uploaded from stdin, listed, and read back.
const HARD_KEYS: &[&str] = &[
    "space in key",
    "plus+sign",
    "percent%20literal",
    "tilde~",
    "equals=sign",
    "question?mark",
    "hash#tag",
    "ampersand&and",
    "unicode/ünïcödé/日本語/😀",
    "dir//double/slash",
    "./dot/../dotdot",
    "trailing.",
    "colon:semi;comma,",
    "quote'\"brackets[]{}()",
    "star*caret^pipe|backtick`",
    "<xml>&amp;</xml>",
];

fn key_round_trip(gw: &Gateway, bucket: &str, keys: &[String]) -> Result<()> {
    for (i, k) in keys.iter().enumerate() {
        Haul::new(gw, &["cp", "-", &format!("s3://{bucket}/{k}")])?
            .stdin(format!("body {i}").into_bytes())
            .ok()
            .with_context(|| format!("upload of key {k:?}"))?;
    }
    let out = Haul::new(
        gw,
        &["ls", "--recursive", "--json", &format!("s3://{bucket}")],
    )?
    .ok()?;
    let mut listed = Vec::new();
    for line in String::from_utf8(out)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(k) = v.get("key").and_then(|k| k.as_str()) {
            listed.push(k.to_owned());
        }
    }
    let mut want: Vec<String> = keys.to_vec();
    want.sort();
    want.dedup();
    listed.sort();
    ensure!(
        listed == want,
        "listed keys differ:\n listed {listed:?}\n wanted {want:?}"
    );
    for (i, k) in keys.iter().enumerate() {
        let got = Haul::new(gw, &["cp", &format!("s3://{bucket}/{k}"), "-"])?
            .ok()
            .with_context(|| format!("download of key {k:?}"))?;
        // Later duplicates overwrite earlier ones: compare with the last index of this key.
        let last = keys.iter().rposition(|x| x == k).unwrap_or(i);
        ensure!(
            got == format!("body {last}").into_bytes(),
            "key {k:?}: wrong body"
        );
    }
    Ok(())
}

fn key_encoding_round_trip(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("keys");
    mb(gw, &b)?;
    let mut keys: Vec<String> = HARD_KEYS
        .iter()
        .filter(|k| gw.keeps_dot_segments || !(k.contains("//") || k.contains("./")))
        .map(|s| (*s).to_owned())
        .collect();
    // A key as long as the gateway holds (1,024 bytes, the S3 limit, on RGW), with spaces in
    // every component so that its encoding triples its length on the wire.
    let stem = "long/";
    let mut long = String::from(stem);
    while long.len() < gw.max_key_bytes {
        long.push(if long.len() % 60 == 59 {
            '/'
        } else if long.len() % 2 == 0 {
            'k'
        } else {
            ' '
        });
    }
    long.truncate(gw.max_key_bytes);
    let long = long.trim_end_matches('/').to_owned();
    keys.push(long);
    key_round_trip(gw, &b, &keys)?;
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn key_encoding_proptest(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("propkeys");
    mb(gw, &b)?;
    // Printable characters of every class (ASCII punctuation, Latin, CJK, emoji); control
    // characters are excluded: XML 1.0 cannot carry them in listings.
    let strategy = proptest::collection::vec("[ -~¡-ÿ一-龥😀-🙏]{1,40}", 12);
    let mut runner = TestRunner::deterministic();
    let keys = strategy
        .new_tree(&mut runner)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .current();
    let keys: Vec<String> = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| format!("p{i}/{k}"))
        .collect();
    key_round_trip(gw, &b, &keys)?;
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn wrong_secret(gw: &Gateway) -> Result<()> {
    let err = Haul::new(gw, &["ls"])?
        .env("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret")
        .fails_with(4)?;
    ensure!(err.contains("SignatureDoesNotMatch"), "stderr: {err}");
    ensure!(
        !err.contains("definitely-not-the-secret"),
        "the secret leaked: {err}"
    );
    ensure!(
        !err.contains(&gw.secret_key),
        "the real secret leaked: {err}"
    );
    Ok(())
}

fn missing_object(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("missing");
    mb(gw, &b)?;
    let dir = tempfile::tempdir()?;
    let dst = dir.path().join("out");
    let err = Haul::new(
        gw,
        &[
            "cp",
            &format!("s3://{b}/nope"),
            dst.to_str().context("path")?,
        ],
    )?
    .fails_with(3)?;
    ensure!(
        err.contains("NoSuchKey") || err.contains("not found"),
        "stderr: {err}"
    );
    ensure!(!dst.exists(), "a file was created for a missing object");
    let err = Haul::new(gw, &["ls", "s3://no-such-bucket-here"])?.fails_with(3)?;
    ensure!(err.contains("NoSuchBucket"), "stderr: {err}");
    Haul::new(gw, &["rb", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn ls_json(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("lsjson");
    mb(gw, &b)?;
    for k in ["top", "dir/one", "dir/two", "dir/sub/three"] {
        Haul::new(gw, &["cp", "-", &format!("s3://{b}/{k}")])?
            .stdin(k.as_bytes().to_vec())
            .ok()?;
    }
    let out =
        String::from_utf8(Haul::new(gw, &["ls", "--json", &format!("s3://{b}/dir/")])?.ok()?)?;
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(k) = v.get("key").and_then(|k| k.as_str()) {
            ensure!(
                v.get("size").and_then(serde_json::Value::as_u64).is_some(),
                "no size: {line}"
            );
            keys.push(k.to_owned());
        }
        if let Some(p) = v.get("prefix").and_then(|k| k.as_str()) {
            prefixes.push(p.to_owned());
        }
    }
    ensure!(keys == ["dir/one", "dir/two"], "keys {keys:?}");
    ensure!(prefixes == ["dir/sub/"], "prefixes {prefixes:?}");
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// At the most verbose log level, neither the secret nor the Authorization header (nor the
/// signature it carries) appears anywhere in haul's output.
fn trace_logs_hide_secrets(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("trace");
    let out = Haul::new(gw, &["-vvv", "mb", &format!("s3://{b}")])?
        .env("RUST_LOG", "trace")
        .output()?;
    ensure!(
        out.status.success(),
        "mb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up = Haul::new(gw, &["-vvv", "cp", "-", &format!("s3://{b}/k")])?
        .env("RUST_LOG", "trace")
        .stdin(vec![7u8; 6 * MIB])
        .output()?;
    ensure!(
        up.status.success(),
        "cp failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    for o in [&out, &up] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ensure!(
            all.contains("request"),
            "no request was logged at trace level"
        );
        ensure!(
            !all.contains(&gw.secret_key),
            "the secret key appears in the logs"
        );
        let lower = all.to_ascii_lowercase();
        ensure!(
            !lower.contains("authorization:"),
            "an Authorization header appears in the logs"
        );
        ensure!(
            !lower.contains("signature="),
            "a signature appears in the logs"
        );
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// Not per gateway: a malformed ~/.s3cfg is refused with its path and line named.
fn malformed_s3cfg() -> Result<()> {
    let h = Haul::bare(&["ls"])?;
    let cfg = h.home().join(".s3cfg");
    fs_err::write(
        &cfg,
        "[default]\naccess_key = A\nthis line is not a setting\n",
    )?;
    let err = h.fails_with(2)?;
    ensure!(err.contains(".s3cfg"), "file not named: {err}");
    ensure!(
        err.contains("line 3") || err.contains(":3"),
        "line not named: {err}"
    );
    Ok(())
}

/// Not per gateway: an endpoint where nothing listens fails fast and clearly.
pub(crate) fn nothing_listening() -> Result<()> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let started = Instant::now();
    let err = Haul::bare(&["--connect-timeout", "5", "ls"])?
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .fails_with(5)?;
    let took = started.elapsed();
    ensure!(
        err.contains(&format!("127.0.0.1:{port}")),
        "error names no endpoint: {err}"
    );
    if took > Duration::from_secs(5) + Duration::from_secs(3) {
        bail!("took {took:?}, longer than the connect timeout");
    }
    Ok(())
}

/// Not per gateway: an operator's s3cmd config is read as it is, and the secret never shown.
pub(crate) fn config_show_from_s3cfg() -> Result<()> {
    let h = Haul::bare(&["config", "show"])?;
    fs_err::write(
        h.home().join(".s3cfg"),
        "[default]\naccess_key = RUNBOOKACCESS\nsecret_key = runbook-secret-value\n\
         host_base = 127.0.0.1:7480\nhost_bucket = 127.0.0.1:7480\nuse_https = False\n\
         signature_v2 = False\n",
    )?;
    let out = String::from_utf8(h.ok()?)?;
    ensure!(
        out.contains("http://127.0.0.1:7480"),
        "endpoint missing: {out}"
    );
    ensure!(out.contains("RUNBOOKACCESS"), "access key missing: {out}");
    ensure!(out.contains(".s3cfg"), "sources not named: {out}");
    ensure!(
        out.contains("path"),
        "path-style addressing not derived: {out}"
    );
    ensure!(!out.contains("runbook-secret-value"), "secret shown: {out}");
    Ok(())
}

/// Gateway-independent cases.
/// A case that needs no gateway.
pub(crate) type Standalone = (&'static str, fn() -> Result<()>);

pub(crate) const STANDALONE: &[Standalone] = &[
    ("issue_2_nothing_listening", nothing_listening),
    ("issue_2_config_show_from_s3cfg", config_show_from_s3cfg),
    ("issue_2_malformed_s3cfg", malformed_s3cfg),
];

// ---- issue 3: haul sync ----

/// A small tree shaped like the runbook's data: registry blobs and links, WAL segments, a
/// base backup; files with distinct modes and sub-second mtimes.
fn make_tree(root: &std::path::Path) -> Result<Vec<String>> {
    use std::os::unix::fs::PermissionsExt;
    let mut keys = Vec::new();
    let mut add = |key: String, len: usize, mode: u32, secs: u64| -> Result<()> {
        let p = root.join(&key);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, data(len, secs))?;
        fs_err::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
        let t = std::time::UNIX_EPOCH + Duration::new(1_600_000_000 + secs, 123_456_789);
        fs_err::File::options()
            .write(true)
            .open(&p)?
            .set_modified(t)?;
        keys.push(key);
        Ok(())
    };
    for i in 0..12u64 {
        let digest = format!("{:064x}", i * 7_919 + 1);
        add(
            format!(
                "docker/registry/v2/blobs/sha256/{}/{digest}/data",
                &digest[62..]
            ),
            (i as usize % 4) * 70_000 + 100,
            0o644,
            i,
        )?;
    }
    add(
        "docker/registry/v2/repositories/app/_manifests/tags/latest/current/link".into(),
        71,
        0o600,
        20,
    )?;
    // Ranged at 5 MiB parts, and not a whole number of 4 KiB blocks: with direct I/O its
    // last block is written padded, then cut back, and its mtime must survive that.
    add(
        "wal_005/000000010000000000000001".into(),
        6 * MIB + 5,
        0o640,
        30,
    )?;
    add(
        "wal_005/000000010000000000000002".into(),
        3 * MIB + 17,
        0o640,
        31,
    )?;
    add(
        "basebackups_005/base_000000010000000000000002_00000040/extended_version.txt".into(),
        15,
        0o444,
        40,
    )?;
    add("a-b".into(), 5, 0o755, 50)?;
    add("a/b".into(), 6, 0o700, 51)?;
    keys.sort();
    Ok(keys)
}

/// The last NDJSON line with `"event":"summary"`.
pub(crate) fn summary(stdout: &[u8]) -> Result<serde_json::Value> {
    let text = String::from_utf8(stdout.to_vec())?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .with_context(|| format!("no summary in {text}"))
}

fn sync_json(gw: &Gateway, args: &[&str]) -> Result<serde_json::Value> {
    let mut all = vec![
        "--json",
        "sync",
        "--part-size",
        "5MiB",
        "--multipart-threshold",
        "5MiB",
    ];
    all.extend_from_slice(args);
    summary(&Haul::new(gw, &all)?.ok()?)
}

/// Same content, permission bits and mtimes (to the nanosecond) for every key.
fn same_tree(a: &std::path::Path, b: &std::path::Path, keys: &[String]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for k in keys {
        let (pa, pb) = (a.join(k), b.join(k));
        ensure!(
            fs_err::read(&pa)? == fs_err::read(&pb).with_context(|| format!("{k} missing"))?,
            "{k}: content differs"
        );
        let (ma, mb) = (fs_err::metadata(&pa)?, fs_err::metadata(&pb)?);
        ensure!(
            ma.mode() & 0o777 == mb.mode() & 0o777,
            "{k}: mode {:o} vs {:o}",
            ma.mode(),
            mb.mode()
        );
        ensure!(
            ma.modified()? == mb.modified()?,
            "{k}: mtime {:?} vs {:?}",
            ma.modified()?,
            mb.modified()?
        );
    }
    Ok(())
}

/// The request counts of one side, as {op: n}.
fn ops(summary: &serde_json::Value, side: &str) -> Vec<String> {
    summary["requests"][side]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Listing requests (ListObjectsV2, or V1 where a gateway lacks it) one side of a run sent.
pub(crate) fn list_requests(summary: &serde_json::Value, side: &str) -> u64 {
    ["ListObjectsV2", "ListObjects"]
        .iter()
        .filter_map(|op| summary["requests"][side][op].as_u64())
        .sum()
}

fn sync_round_trip(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("sync");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let keys = make_tree(src.path())?;
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}/backup/");
    let up = sync_json(gw, &[s, &url])?;
    ensure!(up["transferred"] == keys.len(), "first upload: {up}");
    // An immediate second sync moves nothing and sends only listing requests.
    let again = sync_json(gw, &[s, &url])?;
    ensure!(
        again["transferred"] == 0 && again["unchanged"] == keys.len(),
        "second upload: {again}"
    );
    let dest_ops = ops(&again, "dest");
    ensure!(
        dest_ops.iter().all(|o| o.starts_with("ListObjects")),
        "no-change upload sent {dest_ops:?}"
    );
    // A listing of one page is one request: the listing fan-out does not run discovery on it.
    ensure!(
        list_requests(&again, "dest") == 1,
        "no-change upload of {} keys listed with {} requests",
        keys.len(),
        list_requests(&again, "dest")
    );
    // Down into an empty directory: identical content, modes and mtimes. Beside the build, on
    // a disk filesystem, where the ranged download takes direct I/O.
    let dst = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let d = dst.path().join("restore");
    let d = d.to_str().context("path")?;
    let down = sync_json(gw, &[&url, d])?;
    ensure!(down["transferred"] == keys.len(), "download: {down}");
    same_tree(src.path(), std::path::Path::new(d), &keys)?;
    let again = sync_json(gw, &[&url, d])?;
    ensure!(again["transferred"] == 0, "second download: {again}");
    let src_ops = ops(&again, "source");
    ensure!(
        src_ops.iter().all(|o| o.starts_with("ListObjects"))
            && list_requests(&again, "source") == 1,
        "no-change download sent {src_ops:?}, {} listing requests",
        list_requests(&again, "source")
    );
    // One changed file moves alone, both ways.
    let changed = src.path().join("a/b");
    fs_err::write(&changed, b"changed, and longer")?;
    let up = sync_json(gw, &[s, &url])?;
    ensure!(up["transferred"] == 1, "after one change: {up}");
    let down = sync_json(gw, &[&url, d])?;
    ensure!(down["transferred"] == 1, "after one change, down: {down}");
    same_tree(src.path(), std::path::Path::new(d), &keys)?;
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn sync_delete_dry_run_and_guard(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("syncdel");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let keys = make_tree(src.path())?;
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}");
    sync_json(gw, &[s, &url])?;
    fs_err::remove_file(src.path().join("a-b"))?;
    fs_err::remove_file(src.path().join("wal_005/000000010000000000000002"))?;
    fs_err::write(src.path().join("new-file"), b"new")?;
    // Dry run: the plan, and nothing moves.
    let out = String::from_utf8(Haul::new(gw, &["sync", "--dry-run", "--delete", s, &url])?.ok()?)?;
    ensure!(
        out.contains("(dry run) delete: a-b") && out.contains("(dry run) upload: new-file"),
        "plan: {out}"
    );
    let listed = String::from_utf8(Haul::new(gw, &["ls", "-r", &url])?.ok()?)?;
    ensure!(
        listed.contains("/a-b") && !listed.contains("new-file"),
        "dry run moved data: {listed}"
    );
    // The guard refuses, and deletes nothing.
    let err = Haul::new(gw, &["sync", "--delete", "--max-delete", "1", s, &url])?.fails_with(2)?;
    ensure!(err.contains("max-delete"), "guard: {err}");
    let listed = String::from_utf8(Haul::new(gw, &["ls", "-r", &url])?.ok()?)?;
    ensure!(listed.contains("/a-b"), "the guard deleted: {listed}");
    let done = sync_json(gw, &["--delete", "--max-delete", "2", s, &url])?;
    ensure!(done["deleted"] == 2, "delete: {done}");
    let listed = String::from_utf8(Haul::new(gw, &["ls", "-r", &url])?.ok()?)?;
    ensure!(
        !listed.contains("/a-b") && listed.contains("new-file"),
        "after delete: {listed}"
    );
    ensure!(
        listed.lines().count() == keys.len() - 1,
        "objects: {listed}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn sync_filters(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("syncfilter");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    for f in [
        "logs/deis-registry.log",
        "logs/deis-router.log",
        "logs/x.tmp",
        "tmp/scratch",
        "keep.txt",
    ] {
        let p = src.path().join(f);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, f)?;
    }
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}/f1/");
    let r = sync_json(gw, &["--exclude", "*.tmp", "--exclude", "tmp/**", s, &url])?;
    ensure!(r["transferred"] == 3 && r["filtered"] == 2, "exclude: {r}");
    let url2 = format!("s3://{b}/f2/");
    let r = sync_json(gw, &["--exclude", "*", "--include", "*.log", s, &url2])?;
    ensure!(r["transferred"] == 2, "include after exclude: {r}");
    let listed = String::from_utf8(Haul::new(gw, &["ls", "-r", &url2])?.ok()?)?;
    ensure!(
        listed.contains("deis-router.log") && !listed.contains("keep.txt"),
        "{listed}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// Every key in `bucket`, in key order.
fn keys_in(gw: &Gateway, bucket: &str) -> Result<Vec<String>> {
    let out = Haul::new(gw, &["--json", "ls", "-r", &format!("s3://{bucket}")])?.ok()?;
    String::from_utf8(out)?
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v["key"].as_str().context("key")?.to_owned())
        })
        .collect()
}

/// `haul rm`: one object; a prefix taken as a directory (`logs` is never `logs2` or
/// `logs.txt`); a dry run; filters; a mistyped key and a prefix without --recursive refused
/// with exit codes 3 and 2; 2,500 keys deleted in three DeleteObjects batches.
fn rm_object_prefix_filters_and_batches(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("rm");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let named = [
        "logs/a.txt",
        "logs/sub/b.txt",
        "logs/keep.manifest",
        "logs2/c.txt",
        "logs.txt",
        "top.bin",
    ];
    for f in named {
        let p = src.path().join(f);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, f)?;
    }
    let many = src.path().join("many");
    fs_err::create_dir_all(&many)?;
    for i in 0..2500 {
        fs_err::write(many.join(format!("{i:05}")), i.to_string())?;
    }
    let s = src.path().to_str().context("path")?;
    let r = sync_json(gw, &[s, &format!("s3://{b}/")])?;
    ensure!(r["transferred"] == 2506, "upload: {r}");
    let url = |k: &str| format!("s3://{b}/{k}");

    // A prefix without --recursive, and a key that is not there: refused, nothing deleted.
    let err = Haul::new(gw, &["rm", &url("logs")])?.fails_with(2)?;
    ensure!(err.contains("--recursive"), "{err}");
    let err = Haul::new(gw, &["rm", &url("logs/")])?.fails_with(2)?;
    ensure!(err.contains("--recursive"), "{err}");
    Haul::new(gw, &["rm", &url("nothing.here")])?.fails_with(3)?;
    ensure!(
        keys_in(gw, &b)?.len() == 2506,
        "a refused rm deleted something"
    );

    // One object.
    let out = String::from_utf8(Haul::new(gw, &["rm", &url("top.bin")])?.ok()?)?;
    ensure!(
        out.contains(&format!("delete: {}", url("top.bin"))),
        "{out}"
    );

    // A dry run names what it would delete and deletes nothing.
    let out = String::from_utf8(Haul::new(gw, &["rm", "-r", "--dry-run", &url("logs")])?.ok()?)?;
    let planned = out
        .lines()
        .filter(|l| l.starts_with("(dry run) delete:"))
        .count();
    ensure!(planned == 3, "dry run planned {planned}:\n{out}");
    ensure!(
        keys_in(gw, &b)?.len() == 2505,
        "the dry run deleted something"
    );

    // Filters relative to the prefix; `logs` is the directory logs/, not logs2/ or logs.txt.
    let out = Haul::new(
        gw,
        &[
            "--json",
            "rm",
            "-r",
            "--exclude",
            "*.manifest",
            &url("logs"),
        ],
    )?
    .ok()?;
    let r = summary(&out)?;
    ensure!(
        r["deleted"] == 2 && r["filtered"] == 1 && r["failed"] == 0,
        "{r}"
    );
    let left = keys_in(gw, &b)?;
    let named_left: Vec<&str> = left
        .iter()
        .map(String::as_str)
        .filter(|k| !k.starts_with("many/"))
        .collect();
    ensure!(
        named_left == ["logs.txt", "logs/keep.manifest", "logs2/c.txt"],
        "after rm -r --exclude: {named_left:?}"
    );

    // 2,500 keys: three batches of at most 1,000, every key gone, the rest untouched.
    let r = summary(&Haul::new(gw, &["--json", "rm", "-r", &url("many/")])?.ok()?)?;
    ensure!(
        r["deleted"] == 2500 && r["requests"]["DeleteObjects"] == 3,
        "rm -r of 2,500 keys: {r}"
    );
    ensure!(
        keys_in(gw, &b)? == ["logs.txt", "logs/keep.manifest", "logs2/c.txt"],
        "after rm -r many/: {:?}",
        keys_in(gw, &b)?
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn sync_s3_to_s3(gw: &Gateway) -> Result<()> {
    let (b1, b2) = (unique_bucket("synca"), unique_bucket("syncb"));
    mb(gw, &b1)?;
    mb(gw, &b2)?;
    let src = tempfile::tempdir()?;
    let keys = make_tree(src.path())?;
    let s = src.path().to_str().context("path")?;
    sync_json(gw, &[s, &format!("s3://{b1}/x/")])?;
    let r = sync_json(gw, &[&format!("s3://{b1}/x/"), &format!("s3://{b2}/y/")])?;
    ensure!(r["transferred"] == keys.len(), "copy: {r}");
    let r = sync_json(gw, &[&format!("s3://{b1}/x/"), &format!("s3://{b2}/y/")])?;
    ensure!(r["transferred"] == 0, "second copy: {r}");
    let back = tempfile::tempdir()?;
    sync_json(
        gw,
        &[
            &format!("s3://{b2}/y/"),
            back.path().to_str().context("path")?,
        ],
    )?;
    same_tree(src.path(), back.path(), &keys)?;
    for b in [b1, b2] {
        Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    }
    Ok(())
}

fn sync_refuses_hostile_keys(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("hostile");
    mb(gw, &b)?;
    let mut hostile = vec!["back\\slash", "tab\there"];
    let mut good = vec!["good/one", "good/two"];
    // s3s-fs stores keys as paths, so it cannot hold these (see Gateway::keeps_dot_segments).
    if gw.keeps_dot_segments {
        hostile.extend([
            "../escape",
            "dir/../../escape2",
            "./dot",
            "double//slash",
            "x/y",
        ]);
        good.push("x");
    }
    for k in hostile.iter().chain(good.iter()) {
        Haul::new(gw, &["cp", "-", &format!("s3://{b}/{k}")])?
            .stdin(k.as_bytes().to_vec())
            .ok()?;
    }
    let root = tempfile::tempdir()?;
    let dest = root.path().join("dest");
    let out = Haul::new(
        gw,
        &["sync", &format!("s3://{b}"), dest.to_str().context("path")?],
    )?
    .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "exit {:?}: {err}",
        out.status.code()
    );
    for k in &hostile {
        let shown = format!("{k:?}");
        ensure!(
            err.contains(&shown) || err.contains(k),
            "key {k:?} not named in: {err}"
        );
    }
    for k in good {
        ensure!(
            fs_err::read(dest.join(k))? == k.as_bytes(),
            "{k} not synced"
        );
    }
    // Nothing outside the destination.
    let outside: Vec<_> = fs_err::read_dir(root.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n != "dest")
        .collect();
    ensure!(
        outside.is_empty(),
        "written outside the destination: {outside:?}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// A symlink inside the destination pointing elsewhere (planted, or left by an operator): a
/// download below it is refused with the symlink named, the other objects still sync, the
/// run says it is incomplete, and nothing appears where the symlink points. `cp -r` too; with
/// `--follow-symlinks` the sync goes through it, as asked.
fn sync_refuses_symlinked_dirs(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("symlinked");
    mb(gw, &b)?;
    for k in ["logs/app.log", "logs/deep/x.log", "good/one"] {
        Haul::new(gw, &["cp", "-", &format!("s3://{b}/{k}")])?
            .stdin(k.as_bytes().to_vec())
            .ok()?;
    }
    let root = tempfile::tempdir()?;
    let outside = root.path().join("outside");
    fs_err::create_dir(&outside)?;
    for verb in ["sync", "cp"] {
        let dest = root.path().join(format!("dest-{verb}"));
        fs_err::create_dir(&dest)?;
        std::os::unix::fs::symlink(&outside, dest.join("logs"))?;
        let d = dest.to_str().context("path")?;
        let src = format!("s3://{b}");
        let args: &[&str] = if verb == "sync" {
            &["sync", &src, d]
        } else {
            &["cp", "-r", &src, d]
        };
        let err = Haul::new(gw, args)?.fails_with(1)?;
        ensure!(
            err.contains("logs is a symlink"),
            "{verb}: the symlink is not named in: {err}"
        );
        ensure!(
            fs_err::read(dest.join("good/one"))? == b"good/one",
            "{verb}: good/one not synced"
        );
        let leaked: Vec<_> = fs_err::read_dir(&outside)?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        ensure!(
            leaked.is_empty(),
            "{verb}: written through the symlink: {leaked:?}"
        );
    }
    let dest = root.path().join("dest-sync");
    Haul::new(
        gw,
        &[
            "sync",
            "--follow-symlinks",
            &format!("s3://{b}"),
            dest.to_str().context("path")?,
        ],
    )?
    .ok()?;
    ensure!(
        fs_err::read(outside.join("deep/x.log"))? == b"logs/deep/x.log",
        "--follow-symlinks did not go through the symlink"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

pub(crate) fn wait_until(
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !cond()? {
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

pub(crate) fn signal(child: &std::process::Child, sig: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill {sig} failed");
    Ok(())
}

fn sigint_aborts_multipart_uploads(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("sigint");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    fs_err::write(src.path().join("big.bin"), data(160 * MIB, 5))?;
    let url = format!("s3://{b}/");
    let child = Haul::new(
        gw,
        &[
            "--concurrency",
            "1",
            "sync",
            "--part-size",
            "5MiB",
            src.path().to_str().context("path")?,
            &url,
        ],
    )?
    .spawn()?;
    let (mut child, _home) = child;
    // Interrupt once a multipart upload is under way.
    wait_until(
        "a multipart upload to start",
        Duration::from_secs(30),
        || {
            let out = Haul::new(gw, &["multipart", "ls", &url])?.ok()?;
            Ok(!out.is_empty())
        },
    )?;
    signal(&child, "-INT")?;
    let status = child.wait()?;
    ensure!(
        status.code() == Some(130),
        "exit status after SIGINT: {status}"
    );
    let left = Haul::new(gw, &["multipart", "ls", &url])?.ok()?;
    ensure!(
        left.is_empty(),
        "multipart uploads left: {}",
        String::from_utf8_lossy(&left)
    );
    let listed = Haul::new(gw, &["ls", "-r", &url])?.ok()?;
    ensure!(
        listed.is_empty(),
        "a partial object exists: {}",
        String::from_utf8_lossy(&listed)
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn kill_9_then_rerun_completes(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("kill9");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let want = data(160 * MIB, 9);
    fs_err::write(src.path().join("big.bin"), &want)?;
    fs_err::write(src.path().join("small.txt"), b"small")?;
    let url = format!("s3://{b}/");
    Haul::new(gw, &["sync", src.path().to_str().context("path")?, &url])?.ok()?;
    let dst = tempfile::tempdir()?;
    let d = dst.path().to_str().context("path")?.to_owned();
    let partials = |dir: &std::path::Path| -> Result<usize> {
        Ok(fs_err::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("haul-partial"))
            .count())
    };
    let (mut child, _home) = Haul::new(
        gw,
        &[
            "--concurrency",
            "1",
            "sync",
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
            &url,
            &d,
        ],
    )?
    .spawn()?;
    wait_until("a temporary download file", Duration::from_secs(30), || {
        Ok(partials(dst.path())? > 0)
    })?;
    signal(&child, "-KILL")?;
    let _ = child.wait()?;
    ensure!(
        !dst.path().join("big.bin").exists(),
        "a partial file exists under its final name"
    );
    // The rerun completes and cleans up.
    let r = sync_json(gw, &[&url, &d])?;
    ensure!(r["failed"] == 0, "rerun: {r}");
    ensure!(
        fs_err::read(dst.path().join("big.bin"))? == want,
        "big.bin differs after the rerun"
    );
    ensure!(
        partials(dst.path())? == 0,
        "temporary files left after the rerun"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

fn kill_9_upload_resumes(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("resume");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let want = data(160 * MIB, 11);
    fs_err::write(src.path().join("big.bin"), &want)?;
    let s = src.path().to_str().context("path")?.to_owned();
    let url = format!("s3://{b}/");
    // One request at a time, so the kill lands while most parts are still to be sent.
    let (mut child, _home) = Haul::new(
        gw,
        &[
            "--concurrency",
            "1",
            "sync",
            "--part-size",
            "5MiB",
            &s,
            &url,
        ],
    )?
    .spawn()?;
    // Kill once a few parts are on the gateway (and before the last ones are).
    wait_until("parts to be uploaded", Duration::from_secs(60), || {
        let out = String::from_utf8(Haul::new(gw, &["--json", "multipart", "ls", &url])?.ok()?)?;
        Ok(out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["parts"].as_u64().is_some_and(|p| p >= 3)))
    })?;
    signal(&child, "-KILL")?;
    let _ = child.wait()?;
    let left = Haul::new(gw, &["multipart", "ls", &url])?.ok()?;
    ensure!(
        !left.is_empty(),
        "the killed run left no upload to resume (it finished too fast)"
    );
    // The rerun continues the upload: fewer parts are sent than the file has.
    let r = sync_json(gw, &[&s, &url])?;
    ensure!(r["failed"] == 0 && r["transferred"] == 1, "rerun: {r}");
    let parts_sent = r["requests"]["dest"]["UploadPart"].as_u64().unwrap_or(0);
    ensure!(
        parts_sent < 32,
        "the rerun sent {parts_sent} of 32 parts: it did not resume"
    );
    ensure!(
        r["requests"]["dest"].get("CreateMultipartUpload").is_none(),
        "the rerun started a new upload: {r}"
    );
    let left = Haul::new(gw, &["multipart", "ls", &url])?.ok()?;
    ensure!(
        left.is_empty(),
        "uploads left: {}",
        String::from_utf8_lossy(&left)
    );
    let got = Haul::new(gw, &["cp", &format!("{url}big.bin"), "-"])?.ok()?;
    ensure!(got == want, "the resumed object differs");
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// Peak RSS a sync reported, in MiB.
fn peak_rss_mib(summary: &serde_json::Value) -> Result<u64> {
    summary["peak_rss_bytes"]
        .as_u64()
        .map(|b| b / MIB as u64)
        .with_context(|| format!("no peak_rss_bytes in {summary}"))
}

/// Memory does not grow with the object count: 200,000 small objects up and down.
fn memory_200k_small_objects(gw: &Gateway) -> Result<()> {
    const DIRS: usize = 200;
    const PER_DIR: usize = 1000;
    let b = unique_bucket("many");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    for d in 0..DIRS {
        let dir = src.path().join(format!("blobs/{d:03}"));
        fs_err::create_dir_all(&dir)?;
        for f in 0..PER_DIR {
            fs_err::write(
                dir.join(format!("{f:04}")),
                data(100 + (f * 7) % 900, (d * PER_DIR + f) as u64),
            )?;
        }
    }
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}/");
    let started = Instant::now();
    let up = sync_json(gw, &[s, &url])?;
    let up_secs = started.elapsed().as_secs_f64();
    ensure!(
        up["transferred"] == DIRS * PER_DIR && up["failed"] == 0,
        "upload: {up}"
    );
    let dst = tempfile::tempdir()?;
    let started = Instant::now();
    let down = sync_json(gw, &[&url, dst.path().to_str().context("path")?])?;
    let down_secs = started.elapsed().as_secs_f64();
    ensure!(
        down["transferred"] == DIRS * PER_DIR && down["failed"] == 0,
        "download: {down}"
    );
    let started = Instant::now();
    let again = sync_json(gw, &[&url, dst.path().to_str().context("path")?])?;
    let again_secs = started.elapsed().as_secs_f64();
    ensure!(again["transferred"] == 0, "no-change run: {again}");
    // Issue 5: a no-change nightly run costs one listing: LIST requests only, no HEAD per
    // object, no PUT or GET, in either direction (200 pages, and with the listing fan-out a
    // delimiter listing of the root and of `blobs/`).
    let started = Instant::now();
    let again_up = sync_json(gw, &[s, &url])?;
    let again_up_secs = started.elapsed().as_secs_f64();
    ensure!(again_up["transferred"] == 0, "no-change upload: {again_up}");
    for (what, run, side) in [
        ("no-change download", &again, "source"),
        ("no-change upload", &again_up, "dest"),
    ] {
        let ops = run["requests"][side]
            .as_object()
            .with_context(|| format!("{what}: no request counts in {run}"))?;
        let lists = ops.get("ListObjectsV2").and_then(serde_json::Value::as_u64);
        ensure!(
            ops.keys().all(|op| op == "ListObjectsV2") && lists.is_some_and(|n| n <= 205),
            "{what} sent more than listings: {ops:?}"
        );
    }
    let started = Instant::now();
    Haul::new(gw, &["ls", "-r", &url])?.ok()?;
    let list_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "e2e: 200,000 objects: no-change download {again_secs:.1} s, no-change upload \
         {again_up_secs:.1} s, `haul ls -r` alone {list_secs:.1} s"
    );
    let (up_mib, down_mib, again_mib) = (
        peak_rss_mib(&up)?,
        peak_rss_mib(&down)?,
        peak_rss_mib(&again)?,
    );
    eprintln!(
        "e2e: 200,000 objects: upload {up_secs:.1} s peak RSS {up_mib} MiB; download {down_secs:.1} s \
         peak RSS {down_mib} MiB; no-change run peak RSS {again_mib} MiB"
    );
    // The default memory budget is 256 MiB of object data; small objects use a sliver of it,
    // and nothing may scale with the object count.
    for (what, mib) in [
        ("upload", up_mib),
        ("download", down_mib),
        ("no-change", again_mib),
    ] {
        ensure!(
            mib < 200,
            "{what}: peak RSS {mib} MiB for 200,000 small objects"
        );
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// Memory does not grow with the object size: a 4 GiB file up and down within --memory.
fn memory_4gib_file(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("huge");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let f = src.path().join("huge.bin");
    {
        // Sparse: the disk holds almost nothing, the reads still move 4 GiB.
        let file = fs_err::File::create(&f)?;
        file.set_len(4 * 1024 * MIB as u64)?;
        let mut w = std::io::BufWriter::new(file);
        std::io::Write::write_all(&mut w, &data(MIB, 3))?;
    }
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}/");
    let mem = ["--memory", "128MiB"];
    let started = Instant::now();
    let up = sync_json(gw, &[mem[0], mem[1], s, &url])?;
    let up_secs = started.elapsed().as_secs_f64();
    ensure!(up["transferred"] == 1, "upload: {up}");
    let dst = tempfile::tempdir()?;
    let started = Instant::now();
    let down = sync_json(
        gw,
        &[mem[0], mem[1], &url, dst.path().to_str().context("path")?],
    )?;
    let down_secs = started.elapsed().as_secs_f64();
    ensure!(down["transferred"] == 1, "download: {down}");
    let got = fs_err::metadata(dst.path().join("huge.bin"))?.len();
    ensure!(got == 4 * 1024 * MIB as u64, "downloaded {got} bytes");
    let (up_mib, down_mib) = (peak_rss_mib(&up)?, peak_rss_mib(&down)?);
    eprintln!(
        "e2e: 4 GiB file with --memory 128MiB: upload {up_secs:.1} s peak RSS {up_mib} MiB; \
         download {down_secs:.1} s peak RSS {down_mib} MiB"
    );
    // Budget, plus the process's baseline (~25 MiB) and about 1 MiB per connection in use
    // (64 by default): measured 148 MiB up, 132–154 MiB down on 2 GiB and 4 GiB files.
    for (what, mib) in [("upload", up_mib), ("download", down_mib)] {
        ensure!(
            mib < 128 + 112,
            "{what}: peak RSS {mib} MiB with --memory 128MiB"
        );
    }
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// `--checksum` decides by content: a same-size change hidden behind an old mtime is found,
/// and files whose mtime moved but whose bytes did not are left alone.
fn sync_checksum(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("checksum");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let keys = make_tree(src.path())?;
    let s = src.path().to_str().context("path")?;
    let url = format!("s3://{b}/");
    sync_json(gw, &[s, &url])?;
    // Same size, other bytes, the old mtime kept: size+mtime cannot see it.
    let hidden = src.path().join("a/b");
    let mtime = fs_err::metadata(&hidden)?.modified()?;
    fs_err::write(&hidden, b"XXXXXX")?;
    fs_err::File::options()
        .write(true)
        .open(&hidden)?
        .set_modified(mtime)?;
    // Same bytes, a new mtime: size+mtime would send it again.
    let touched = src.path().join("wal_005/000000010000000000000002");
    fs_err::File::options()
        .write(true)
        .open(&touched)?
        .set_modified(
            // Clearly after the upload, whose time is kept in whole seconds.
            std::time::SystemTime::now() + Duration::from_secs(5),
        )?;
    let plain = sync_json(gw, &["--dry-run", s, &url])?;
    ensure!(
        plain["transferred"] == 1,
        "size+mtime should see only the touched file: {plain}"
    );
    let r = sync_json(gw, &["--checksum", s, &url])?;
    ensure!(
        r["transferred"] == 1 && r["failed"] == 0,
        "checksum run: {r}"
    );
    ensure!(r["unchanged"] == keys.len() - 1, "checksum run: {r}");
    let got = Haul::new(gw, &["cp", &format!("{url}a/b"), "-"])?.ok()?;
    ensure!(got == b"XXXXXX", "the hidden change was not uploaded");
    // And the other way: a download compares the same way (multipart objects included).
    let dst = tempfile::tempdir()?;
    let d = dst.path().to_str().context("path")?;
    sync_json(gw, &[&url, d])?;
    let again = sync_json(gw, &["--checksum", &url, d])?;
    ensure!(
        again["transferred"] == 0 && again["unchanged"] == keys.len(),
        "download checksum: {again}"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// `haul sync s3://… s3://…` from one gateway to another, each with its own endpoint and
/// credentials (AWS profiles), streamed with no local staging; the copy round-trips exactly.
pub(crate) fn sync_between_two_gateways(a: &Gateway, b: &Gateway) -> Result<()> {
    let (ba, bb) = (unique_bucket("froma"), unique_bucket("tob"));
    mb(a, &ba)?;
    mb(b, &bb)?;
    let src = tempfile::tempdir()?;
    let keys = make_tree(src.path())?;
    sync_json(
        a,
        &[src.path().to_str().context("path")?, &format!("s3://{ba}/")],
    )?;
    let cross = Haul::bare(&[
        "--json",
        "sync",
        "--part-size",
        "5MiB",
        "--multipart-threshold",
        "5MiB",
        "--source-endpoint",
        &a.endpoint,
        "--source-profile",
        "clustera",
        "--dest-endpoint",
        &b.endpoint,
        "--dest-profile",
        "clusterb",
        &format!("s3://{ba}/"),
        &format!("s3://{bb}/copy/"),
    ])?;
    let aws = cross.home().join(".aws");
    fs_err::create_dir_all(&aws)?;
    fs_err::write(
        aws.join("credentials"),
        format!(
            "[clustera]\naws_access_key_id = {}\naws_secret_access_key = {}\n\n\
             [clusterb]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            a.access_key, a.secret_key, b.access_key, b.secret_key
        ),
    )?;
    let r = summary(&cross.ok()?)?;
    ensure!(
        r["transferred"] == keys.len() && r["failed"] == 0,
        "cross-gateway sync: {r}"
    );
    ensure!(
        r["requests"]["dest"].get("CopyObject").is_none(),
        "a server-side copy cannot cross gateways: {r}"
    );
    let back = tempfile::tempdir()?;
    sync_json(
        b,
        &[
            &format!("s3://{bb}/copy/"),
            back.path().to_str().context("path")?,
        ],
    )?;
    same_tree(src.path(), back.path(), &keys)?;
    Haul::new(a, &["rb", "--force", &format!("s3://{ba}")])?.ok()?;
    Haul::new(b, &["rb", "--force", &format!("s3://{bb}")])?.ok()?;
    Ok(())
}
