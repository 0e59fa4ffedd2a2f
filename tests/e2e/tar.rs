//! `haul tar` (issue 6): archives that GNU tar reads and writes, both ways, with the same
//! tree (content, modes, mtimes, owners, symlinks, hardlinks, long names, empty
//! directories); push to every gateway and pull back; a file appended to while it is
//! archived gives a valid archive, the warning and exit code 1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::cases::{Case, Standalone};
use crate::gateway::Gateway;
use crate::haul::{Haul, unique_bucket};

pub(crate) const STANDALONE: &[Standalone] = &[
    ("issue_6_tar_haul_archive_extracted_by_gnu_tar", haul_to_gnu),
    ("issue_6_tar_gnu_archive_extracted_by_haul", gnu_to_haul),
    ("issue_6_tar_file_growing_while_pushed", growing_file),
    (
        "issue_6_tar_pull_refuses_parent_dir_entry",
        refuses_parent_dir,
    ),
    ("issue_6_tar_pull_truncated_archive", truncated_archive),
    ("issue_6_tar_verify_finds_changes", verify_finds_changes),
    ("issue_6_tar_pull_only_from_a_file", pull_only_from_file),
    (
        "issue_6_tar_xattrs_both_ways_with_gnu_tar",
        xattrs_both_ways,
    ),
    (
        "issue_9_hostile_tar_100gb_base256_header",
        hostile_base256_size,
    ),
    (
        "issue_9_hostile_tar_100gb_pax_size_header",
        hostile_pax_size,
    ),
    ("issue_9_hostile_tar_gzip_bomb", hostile_gzip_bomb),
    ("issue_9_hostile_tar_gzip_zeros_only", hostile_zeros_only),
    (
        "issue_9_hostile_tar_pax_record_too_large",
        hostile_pax_record,
    ),
    ("issue_9_hostile_tar_long_name_too_large", hostile_long_name),
];

pub(crate) const ALL: &[Case] = &[
    Case {
        name: "issue_6_tar_push_pull_round_trip",
        run: push_pull_round_trip,
        only: None,
    },
    Case {
        name: "issue_9_hostile_tar_gzip_bomb_from_s3",
        run: hostile_gzip_bomb_from_s3,
        only: None,
    },
];

/// A tree with every kind of entry the issue lists.
fn make_tree(root: &Path) -> Result<()> {
    let long_dir = root.join("d".repeat(70));
    let long_name = long_dir.join(format!("{}.log", "l".repeat(110)));
    fs_err::create_dir_all(&long_dir)?;
    fs_err::write(&long_name, b"a name longer than 100 bytes\n")?;
    fs_err::create_dir_all(root.join("empty/nested-empty"))?;
    fs_err::create_dir_all(root.join("logs"))?;
    let mut big = Vec::with_capacity(3 << 20);
    for i in 0..(3 << 20) / 8u64 {
        big.extend_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    }
    fs_err::write(root.join("logs/big.bin"), &big)?;
    fs_err::write(root.join("logs/app.log"), b"line 1\nline 2\n")?;
    fs_err::write(root.join("script.sh"), b"#!/bin/sh\necho hi\n")?;
    fs_err::set_permissions(
        root.join("script.sh"),
        std::fs::Permissions::from_mode(0o750),
    )?;
    fs_err::write(root.join("secret"), b"s")?;
    fs_err::set_permissions(root.join("secret"), std::fs::Permissions::from_mode(0o600))?;
    fs_err::write(root.join("zero-length"), b"")?;
    fs_err::hard_link(root.join("logs/app.log"), root.join("app-hardlink.log"))?;
    std::os::unix::fs::symlink("logs/app.log", root.join("current.log"))?;
    std::os::unix::fs::symlink("does-not-exist", root.join("dangling"))?;
    std::os::unix::fs::symlink(
        format!("{}/{}", "d".repeat(70), "l".repeat(110) + ".log"),
        root.join("long-link"),
    )?;
    // Fixed mtimes, directories last (writing into one changes its mtime).
    let mut all = Vec::new();
    collect(root, root, &mut all)?;
    for (i, p) in all.iter().rev().enumerate() {
        let path = root.join(p);
        if fs_err::symlink_metadata(&path)?.file_type().is_symlink() {
            continue;
        }
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000 + i as u64);
        let f = std::fs::File::options().read(true).open(&path)?;
        f.set_modified(t)?;
    }
    fs_err::set_permissions(
        root.join("empty/nested-empty"),
        std::fs::Permissions::from_mode(0o700),
    )?;
    if is_root() {
        // Owners other than the runner's, restored only with --same-owner (the root default).
        std::os::unix::fs::chown(root.join("secret"), Some(1234), Some(5678))?;
        std::os::unix::fs::lchown(root.join("current.log"), Some(4321), Some(8765))?;
        std::os::unix::fs::chown(root.join("empty"), Some(1001), Some(1002))?;
    } else {
        eprintln!("tar: ownership checks skipped: needs root");
    }
    Ok(())
}

fn is_root() -> bool {
    fs_err::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut names: Vec<_> = fs_err::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        let p = dir.join(&n);
        out.push(p.strip_prefix(root)?.to_path_buf());
        if fs_err::symlink_metadata(&p)?.is_dir() {
            collect(root, &p, out)?;
        }
    }
    Ok(())
}

/// Everything that must survive a round trip, per path: kind, mode, owner, mtime (not of
/// symlinks), content or target, and which paths share an inode.
fn snapshot(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut paths = Vec::new();
    collect(root, root, &mut paths)?;
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for rel in paths {
        let p = root.join(&rel);
        let m = fs_err::symlink_metadata(&p)?;
        let ft = m.file_type();
        let desc = if ft.is_symlink() {
            format!("symlink -> {}", fs_err::read_link(&p)?.display())
        } else {
            let what = if ft.is_dir() {
                "dir".to_owned()
            } else {
                let first = inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone();
                let data = fs_err::read(&p)?;
                format!(
                    "file {} bytes blake {:x} first-link {}",
                    data.len(),
                    fnv(&data),
                    first.display()
                )
            };
            format!("{what} mode {:o} mtime {}", m.mode() & 0o7777, m.mtime())
        };
        out.insert(rel, format!("{desc} owner {}:{}", m.uid(), m.gid()));
    }
    Ok(out)
}

/// FNV-1a: enough to tell contents apart in a test.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn same_trees(a: &Path, b: &Path) -> Result<()> {
    let (sa, sb) = (snapshot(a)?, snapshot(b)?);
    if sa != sb {
        let mut diff = String::new();
        for (k, v) in &sa {
            if sb.get(k) != Some(v) {
                let _ = writeln!(diff, "  {}: {v} vs {:?}", k.display(), sb.get(k));
            }
        }
        for k in sb.keys().filter(|k| !sa.contains_key(*k)) {
            let _ = writeln!(diff, "  {}: only in the copy", k.display());
        }
        bail!("trees differ:\n{diff}");
    }
    Ok(())
}

fn gnu_tar(args: &[&str]) -> Result<()> {
    let out = Command::new("tar")
        .args(args)
        .output()
        .context("running tar")?;
    ensure!(
        out.status.success(),
        "tar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn haul_to_gnu() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let archive = t.path().join("a.tar.gz");
    Haul::bare(&["tar", "push", s(&src), s(&archive)])?.ok()?;
    let dst = t.path().join("dst");
    fs_err::create_dir_all(&dst)?;
    gnu_tar(&["-xzpf", s(&archive), "--same-owner", "-C", s(&dst)])?;
    same_trees(&src, &dst)?;
    // To stdout, and zstd.
    for (compress, flag) in [("gzip", "-xzpf"), ("zstd", "--zstd")] {
        let bytes = Haul::bare(&["tar", "push", "--compress", compress, s(&src), "-"])?.ok()?;
        let file = t.path().join(format!("stdout.{compress}"));
        fs_err::write(&file, bytes)?;
        let dst = t.path().join(format!("dst-{compress}"));
        fs_err::create_dir_all(&dst)?;
        if compress == "gzip" {
            gnu_tar(&[flag, s(&file), "--same-owner", "-C", s(&dst)])?;
        } else {
            gnu_tar(&[flag, "-xpf", s(&file), "--same-owner", "-C", s(&dst)])?;
        }
        same_trees(&src, &dst)?;
    }
    Ok(())
}

fn gnu_to_haul() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let archive = t.path().join("a.tar.gz");
    gnu_tar(&["-C", s(&src), "-cpzf", s(&archive), "."])?;
    let dst = t.path().join("dst");
    Haul::bare(&["tar", "pull", s(&archive), s(&dst)])?.ok()?;
    same_trees(&src, &dst)?;
    // From stdin.
    let dst = t.path().join("dst-stdin");
    Haul::bare(&["tar", "pull", "-", s(&dst)])?
        .stdin(fs_err::read(&archive)?)
        .ok()?;
    same_trees(&src, &dst)?;
    // zstd and plain tar are recognised too.
    let zst = t.path().join("a.tar.zst");
    gnu_tar(&["-C", s(&src), "--zstd", "-cpf", s(&zst), "."]).ok();
    if zst.exists() {
        let dst = t.path().join("dst-zstd");
        Haul::bare(&["tar", "pull", s(&zst), s(&dst)])?.ok()?;
        same_trees(&src, &dst)?;
    }
    Ok(())
}

/// Another thread appending `line` to a file over and over, until stopped: a live log.
pub(crate) struct Appender {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl Appender {
    pub(crate) fn start(path: &Path, line: &'static [u8]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let path = path.to_path_buf();
            std::thread::spawn(move || -> Result<()> {
                let mut f = fs_err::OpenOptions::new().append(true).open(&path)?;
                while !stop.load(Ordering::Relaxed) {
                    f.write_all(line)?;
                }
                Ok(())
            })
        };
        Self { stop, thread }
    }

    /// Stops it; its own error (the file could not be written), if any.
    pub(crate) fn stop(self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("appender panicked"))?
    }
}

/// Another thread appends to a file all through the push: the archive stays valid (GNU tar
/// lists it), the warning names the file, the exit code is 1.
fn growing_file() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    fs_err::create_dir_all(&src)?;
    let live = src.join("live.log");
    fs_err::write(&live, vec![b'x'; 16 << 20])?;
    fs_err::write(src.join("other"), b"still here")?;
    let appender = Appender::start(&live, b"appended line while haul reads\n");
    let archive = t.path().join("live.tar.gz");
    let result = Haul::bare(&["tar", "push", s(&src), s(&archive)])?.fails_with(1);
    appender.stop()?;
    let stderr = result?;
    ensure!(
        stderr.contains("live.log: file changed as we read it"),
        "no warning: {stderr}"
    );
    let dst = t.path().join("dst");
    fs_err::create_dir_all(&dst)?;
    gnu_tar(&["-xzf", s(&archive), "-C", s(&dst)])?;
    let got = fs_err::metadata(dst.join("live.log"))?.len();
    ensure!(got >= 16 << 20, "archived live.log has {got} bytes");
    ensure!(fs_err::read(dst.join("other"))? == b"still here");
    Ok(())
}

/// An archive with a `..` entry, made by GNU tar itself: refused, the rule named, exit 2,
/// nothing written beside the target directory.
fn refuses_parent_dir() -> Result<()> {
    let t = tempfile::tempdir()?;
    let work = t.path().join("work");
    fs_err::create_dir_all(work.join("inner"))?;
    fs_err::write(work.join("evil"), b"x")?;
    let archive = t.path().join("evil.tar");
    // With -P (--absolute-names) GNU tar keeps `inner/../evil` as it is.
    gnu_tar(&["-C", s(&work), "-P", "-cf", s(&archive), "inner/../evil"])?;
    let dst = t.path().join("sandbox/dst");
    let err = Haul::bare(&["tar", "pull", s(&archive), s(&dst)])?.fails_with(2)?;
    ensure!(err.contains("parent-dir"), "rule not named: {err}");
    ensure!(!t.path().join("sandbox/evil").exists(), "wrote outside");
    Ok(())
}

/// A cut archive: exit 2, the entry named, and every file under a final name complete (no
/// temporary file left).
fn truncated_archive() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    let archive = t.path().join("a.tar.gz");
    Haul::bare(&["tar", "push", s(&src), s(&archive)])?.ok()?;
    let bytes = fs_err::read(&archive)?;
    let cut = t.path().join("cut.tar.gz");
    fs_err::write(&cut, &bytes[..bytes.len() / 2])?;
    let dst = t.path().join("dst");
    let err = Haul::bare(&["tar", "pull", s(&cut), s(&dst)])?.fails_with(2)?;
    ensure!(
        err.contains("corrupt or truncated archive at"),
        "entry not named: {err}"
    );
    let mut got = Vec::new();
    collect(&dst, &dst, &mut got)?;
    for rel in got {
        let (a, b) = (src.join(&rel), dst.join(&rel));
        ensure!(
            !rel.to_string_lossy().contains(".haul-tar."),
            "temporary file left: {}",
            rel.display()
        );
        if fs_err::symlink_metadata(&b)?.is_file() {
            ensure!(
                fs_err::read(&a)? == fs_err::read(&b)?,
                "{} is half-written",
                rel.display()
            );
        }
    }
    Ok(())
}

fn push_pull_round_trip(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    // Enough incompressible data for several 5 MiB parts of a streamed multipart upload.
    let mut noise = vec![0u8; 12 << 20];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fs_err::write(src.join("logs/noise.bin"), &noise)?;
    let f = std::fs::File::options()
        .read(true)
        .open(src.join("logs/noise.bin"))?;
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000))?;
    let f = std::fs::File::options().read(true).open(src.join("logs"))?;
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000))?;
    let b = unique_bucket("tar");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let url = format!("s3://{b}/store/store.tar.gz");
    Haul::new(gw, &["tar", "push", "--part-size", "5MiB", s(&src), &url])?.ok()?;
    let dst = t.path().join("dst");
    Haul::new(gw, &["tar", "pull", &url, s(&dst)])?.ok()?;
    same_trees(&src, &dst)?;
    // 5 MiB ranges read ahead (the archive is over two parts): the same tree.
    let dst_ranged = t.path().join("dst-ranged");
    Haul::new(
        gw,
        &["tar", "pull", "--part-size", "5MiB", &url, s(&dst_ranged)],
    )?
    .ok()?;
    same_trees(&src, &dst_ranged)?;
    // The index beside it: verify agrees, and --only restores one file and one directory
    // (ranged reads pinned to the archive's ETag).
    let out = Haul::new(gw, &["tar", "verify", &url])?.ok()?;
    ensure!(
        String::from_utf8_lossy(&out).contains("0 difference(s)"),
        "verify: {}",
        String::from_utf8_lossy(&out)
    );
    let dst_only = t.path().join("dst-only");
    Haul::new(
        gw,
        &[
            "tar",
            "pull",
            &url,
            s(&dst_only),
            "--only",
            "logs/noise.bin",
            "empty",
        ],
    )?
    .ok()?;
    ensure!(fs_err::read(dst_only.join("logs/noise.bin"))? == noise);
    ensure!(dst_only.join("empty").is_dir());
    ensure!(
        !dst_only.join("script.sh").exists(),
        "restored more than --only asked"
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// `tar verify` of a plain archive whose file content changed (a byte flipped in place):
/// exit 1, the file named; of a gzip archive with a flipped byte: exit 2 (the stream is
/// corrupt); with a damaged or missing index: exit 2, the index named.
fn verify_finds_changes() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    fs_err::write(src.join("target.bin"), vec![7u8; 100_000])?;
    let plain = t.path().join("a.tar");
    Haul::bare(&["tar", "push", "--compress", "none", s(&src), s(&plain)])?.ok()?;
    let out = Haul::bare(&["tar", "verify", s(&plain)])?.ok()?;
    ensure!(String::from_utf8_lossy(&out).contains("0 difference(s)"));
    let mut bytes = fs_err::read(&plain)?;
    let at = bytes
        .windows(64)
        .position(|w| w.iter().all(|&b| b == 7))
        .context("content not found")?
        + 5000;
    bytes[at] ^= 1;
    fs_err::write(&plain, &bytes)?;
    let err = Haul::bare(&["tar", "verify", s(&plain)])?.fails_with(1)?;
    let out = Haul::bare(&["tar", "verify", s(&plain)])?.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        stdout.contains("differs: target.bin: BLAKE3"),
        "file not named: {stdout} / {err}"
    );
    // gzip: a flipped byte breaks the stream itself.
    let gz = t.path().join("a.tar.gz");
    Haul::bare(&["tar", "push", s(&src), s(&gz)])?.ok()?;
    let mut bytes = fs_err::read(&gz)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs_err::write(&gz, &bytes)?;
    let err = Haul::bare(&["tar", "verify", s(&gz)])?.fails_with(2)?;
    ensure!(err.contains("corrupt or truncated archive"), "{err}");
    // A truncated index, then none.
    let index = t.path().join("a.tar.gz.index");
    let idx = fs_err::read(&index)?;
    fs_err::write(&index, &idx[..idx.len() / 2])?;
    let err = Haul::bare(&["tar", "verify", s(&gz)])?.fails_with(2)?;
    ensure!(err.contains("tar index is truncated"), "{err}");
    fs_err::remove_file(&index)?;
    let err = Haul::bare(&["tar", "verify", s(&gz)])?.fails_with(2)?;
    ensure!(err.contains("no index"), "{err}");
    Ok(())
}

/// `tar pull --only` from a file with its index: exactly the selected entries (a hard link
/// brings its target), the same content and attributes; a path not in the archive: exit 2,
/// named; content that does not match the index: exit 2 and no file under its final name.
fn pull_only_from_file() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    make_tree(&src)?;
    for compress in ["gzip", "zstd", "none"] {
        let archive = t.path().join(format!("a.{compress}"));
        Haul::bare(&["tar", "push", "--compress", compress, s(&src), s(&archive)])?.ok()?;
        let dst = t.path().join(format!("only-{compress}"));
        Haul::bare(&["tar", "pull", s(&archive), s(&dst), "--only", "logs"])?.ok()?;
        let mut got = Vec::new();
        collect(&dst, &dst, &mut got)?;
        let mut want = Vec::new();
        collect(&src, &src, &mut want)?;
        // logs/app.log is a hard link to app-hardlink.log (archived first): it comes along.
        want.retain(|p| p.starts_with("logs") || p == Path::new("app-hardlink.log"));
        got.sort();
        want.sort();
        ensure!(got == want, "{compress}: restored {got:?}, wanted {want:?}");
        let (a, b) = (snapshot(&src)?, snapshot(&dst)?);
        for p in &got {
            if p.starts_with("logs/") {
                ensure!(a.get(p) == b.get(p), "{compress}: {} differs", p.display());
            }
        }
        let err = Haul::bare(&[
            "tar",
            "pull",
            s(&archive),
            s(&dst),
            "--only",
            "nothing/here",
        ])?
        .fails_with(2)?;
        ensure!(
            err.contains("not found in the archive: nothing/here"),
            "{err}"
        );
    }
    // A plain archive whose content no longer matches its index: refused before the rename.
    let archive = t.path().join("a.none");
    let mut bytes = fs_err::read(&archive)?;
    let at = bytes
        .windows(13)
        .position(|w| w == b"line 1\nline 2")
        .context("app.log content not found")?;
    bytes[at] ^= 1;
    fs_err::write(&archive, &bytes)?;
    let dst = t.path().join("tampered");
    let err = Haul::bare(&[
        "tar",
        "pull",
        s(&archive),
        s(&dst),
        "--only",
        "app-hardlink.log",
    ])?
    .fails_with(2)?;
    ensure!(err.contains("does not match the BLAKE3"), "{err}");
    ensure!(
        !dst.join("app-hardlink.log").exists(),
        "a file that failed its check was kept"
    );
    Ok(())
}

/// The extended attributes of `path` (not following a symlink), sorted.
fn xattrs_of(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut list = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(path, &mut list[..])?;
    let mut out = Vec::new();
    for name in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8(name.to_vec())?;
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..])?;
        value.truncate(len);
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .with_context(|| format!("setxattr {name} on {}", path.display()))
}

/// `--xattrs` both ways with GNU tar: user attributes (text and binary values, on a file and
/// a directory) survive haul → `tar --xattrs -x` and `tar --xattrs -c` → haul; without the
/// flag none are stored or restored; `trusted.` ones (root only) are restored only with
/// `--xattrs-all`; `--only` (which reads from the entry's PAX header) and `tar verify` work
/// on an archive that holds them.
fn xattrs_both_ways() -> Result<()> {
    let t = tempfile::tempdir()?;
    let src = t.path().join("src");
    fs_err::create_dir_all(src.join("dir"))?;
    fs_err::write(src.join("dir/file.log"), b"content\n")?;
    fs_err::write(src.join("plain"), b"no attributes")?;
    if set_xattr(&src.join("dir/file.log"), "user.haul.text", b"checksum=abc").is_err() {
        eprintln!("tar: xattr checks skipped: the filesystem of the temporary directory has none");
        return Ok(());
    }
    set_xattr(
        &src.join("dir/file.log"),
        "user.haul.binary",
        &[0, 1, 2, 0xff, b'=', b' '],
    )?;
    set_xattr(&src.join("dir"), "user.haul.dir", b"on a directory")?;
    let root = is_root();
    if root {
        set_xattr(&src.join("plain"), "trusted.haul", b"root only")?;
    }
    let user_attrs = |dir: &Path| -> Result<Vec<(String, Vec<u8>)>> {
        let mut all = Vec::new();
        for rel in ["dir", "dir/file.log", "plain"] {
            for (k, v) in xattrs_of(&dir.join(rel))? {
                all.push((format!("{rel}:{k}"), v));
            }
        }
        all.sort();
        Ok(all)
    };
    let want_user: Vec<_> = user_attrs(&src)?
        .into_iter()
        .filter(|(k, _)| k.contains(":user."))
        .collect();

    // haul → GNU tar.
    let archive = t.path().join("x.tar.gz");
    Haul::bare(&["tar", "push", "--xattrs", s(&src), s(&archive)])?.ok()?;
    let dst = t.path().join("gnu-dst");
    fs_err::create_dir_all(&dst)?;
    gnu_tar(&["--xattrs", "-xzpf", s(&archive), "-C", s(&dst)])?;
    ensure!(
        user_attrs(&dst)? == want_user,
        "GNU tar restored {:?}",
        user_attrs(&dst)?
    );
    // The index still lines up, and --only restores an entry's attributes from its PAX header.
    let out = Haul::bare(&["tar", "verify", s(&archive)])?.ok()?;
    ensure!(
        String::from_utf8_lossy(&out).contains("0 difference(s)"),
        "verify: {}",
        String::from_utf8_lossy(&out)
    );
    let only = t.path().join("only-dst");
    Haul::bare(&[
        "tar",
        "pull",
        "--xattrs",
        s(&archive),
        s(&only),
        "--only",
        "dir/file.log",
    ])?
    .ok()?;
    ensure!(
        xattrs_of(&only.join("dir/file.log"))? == xattrs_of(&src.join("dir/file.log"))?,
        "--only lost the attributes"
    );
    // haul → haul, with and without --xattrs.
    let back = t.path().join("haul-dst");
    Haul::bare(&["tar", "pull", "--xattrs", s(&archive), s(&back)])?.ok()?;
    ensure!(
        user_attrs(&back)? == want_user,
        "haul restored {:?}",
        user_attrs(&back)?
    );
    let none = t.path().join("haul-none");
    Haul::bare(&["tar", "pull", s(&archive), s(&none)])?.ok()?;
    ensure!(user_attrs(&none)?.is_empty(), "restored without --xattrs");
    if root {
        let all = t.path().join("haul-all");
        Haul::bare(&["tar", "pull", "--xattrs-all", s(&archive), s(&all)])?.ok()?;
        ensure!(
            xattrs_of(&all.join("plain"))?
                == vec![("trusted.haul".to_owned(), b"root only".to_vec())],
            "--xattrs-all: {:?}",
            xattrs_of(&all.join("plain"))?
        );
        ensure!(
            xattrs_of(&back.join("plain"))?.is_empty(),
            "--xattrs restored trusted."
        );
    }
    // Without --xattrs on push, the archive holds none.
    let bare_archive = t.path().join("bare.tar.gz");
    Haul::bare(&["tar", "push", s(&src), s(&bare_archive)])?.ok()?;
    let bare = t.path().join("bare-dst");
    Haul::bare(&["tar", "pull", "--xattrs", s(&bare_archive), s(&bare)])?.ok()?;
    ensure!(user_attrs(&bare)?.is_empty(), "stored without --xattrs");

    // GNU tar → haul.
    let gnu = t.path().join("gnu.tar.gz");
    gnu_tar(&["--xattrs", "-C", s(&src), "-cpzf", s(&gnu), "."])?;
    let from_gnu = t.path().join("from-gnu");
    Haul::bare(&["tar", "pull", "--xattrs", s(&gnu), s(&from_gnu)])?.ok()?;
    ensure!(
        user_attrs(&from_gnu)? == want_user,
        "from GNU tar: {:?}",
        user_attrs(&from_gnu)?
    );

    // A value holding a newline byte: GNU tar restores it; haul cannot read the record (its
    // tar library splits PAX records at newlines) and says so, exit 1, the file restored.
    set_xattr(&src.join("plain"), "user.haul.newline", b"two\nlines")?;
    let nl = t.path().join("nl.tar.gz");
    Haul::bare(&["tar", "push", "--xattrs", s(&src), s(&nl)])?.ok()?;
    let gnu_nl = t.path().join("gnu-nl");
    fs_err::create_dir_all(&gnu_nl)?;
    gnu_tar(&["--xattrs", "-xzpf", s(&nl), "-C", s(&gnu_nl)])?;
    ensure!(
        xattrs_of(&gnu_nl.join("plain"))?
            .contains(&("user.haul.newline".to_owned(), b"two\nlines".to_vec())),
        "GNU tar: {:?}",
        xattrs_of(&gnu_nl.join("plain"))?
    );
    let haul_nl = t.path().join("haul-nl");
    let err = Haul::bare(&["tar", "pull", "--xattrs", s(&nl), s(&haul_nl)])?.fails_with(1)?;
    ensure!(
        err.contains("plain: a PAX record could not be read"),
        "no warning: {err}"
    );
    ensure!(fs_err::read(haul_nl.join("plain"))? == b"no attributes");
    Ok(())
}

// Issue 9, hostile input: archives whose headers declare 100 GB, gzip bombs, and records of
// some GB, each made here at run time. Each run must end by itself with a clear error, in
// bounded memory and time, and leave nothing of the bad entry in the directory.

/// The hang guard of a hostile run: each ends in about a second; one that decompressed the
/// bomb or wrote the 100 GB would run for minutes.
const HOSTILE_LIMIT: Duration = Duration::from_secs(60);

/// Peak RSS of a hostile run from a file, MiB. Measured at 10-13 MiB for every case here
/// (haul itself and the two 4 MiB pipes of the decoder and the extractor); before the
/// record limit, the PAX-record bomb took 4.2 GB (the record read whole into memory). The
/// bound leaves room for allocator noise and stays far below anything that grows with what
/// the archive declares.
const HOSTILE_RSS_MIB: u64 = 64;

/// What a hostile header declares: 100 GiB, or four times the free space of `dir`'s
/// filesystem when that is more, so that the file never fits whatever disk this runs on.
fn declared_huge(dir: &Path) -> Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    let free = s.f_bavail.saturating_mul(s.f_frsize);
    Ok((100u64 << 30).max(free.saturating_mul(4)))
}

/// A tree of `first.txt` and a small `huge.bin`, archived by haul, plain and gzip, each
/// with its index beside it: the archives a hostile one replaces, the index kept.
fn hostile_base(t: &Path) -> Result<(PathBuf, PathBuf)> {
    let src = t.join("src");
    fs_err::create_dir_all(&src)?;
    fs_err::write(src.join("first.txt"), b"the entry before\n")?;
    fs_err::write(src.join("huge.bin"), b"small\n")?;
    let plain = t.join("a.tar");
    Haul::bare(&["tar", "push", "--compress", "none", s(&src), s(&plain)])?.ok()?;
    let gz = t.join("a.tar.gz");
    Haul::bare(&["tar", "push", s(&src), s(&gz)])?.ok()?;
    Ok((plain, gz))
}

/// The offset of the header of `name` in the tar stream `tar`.
fn header_at(tar: &[u8], name: &str) -> Result<usize> {
    let mut want = name.as_bytes().to_vec();
    want.push(0);
    (0..tar.len() / 512)
        .map(|i| i * 512)
        .find(|&at| tar[at..].starts_with(&want))
        .with_context(|| format!("no header of {name}"))
}

/// `tar` with the header at `at` declaring `size` bytes (a GNU base-256 size field: too
/// large for octal), re-checksummed.
fn declare_size(tar: &mut [u8], at: usize, size: u64) -> Result<()> {
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&tar[at..at + 512]);
    h.set_size(size);
    ensure!(h.as_bytes()[124] == 0x80, "not a base-256 size field");
    h.set_cksum();
    tar[at..at + 512].copy_from_slice(h.as_bytes());
    Ok(())
}

/// A record header (PAX `x`, GNU `L`) declaring `size` bytes, as a 512-byte block.
fn record_header(kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// One gzip member of 1 GiB of zeros, about 1 MiB, compressed once per run: concatenated,
/// members are one gzip stream that decompresses to as many GiB.
fn zeros_member() -> Result<&'static [u8]> {
    static MEMBER: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(m) = MEMBER.get() {
        return Ok(m);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&zeros)?;
    }
    let member = enc.finish()?;
    Ok(MEMBER.get_or_init(|| member))
}

/// `head` gzip-compressed, then `gib` GiB of compressed zeros: a small file that
/// decompresses to `gib` GiB more.
fn gzip_bomb(path: &Path, head: &[u8], gib: usize) -> Result<()> {
    let member = zeros_member()?;
    let mut f = std::io::BufWriter::new(fs_err::File::create(path)?);
    if !head.is_empty() {
        f.write_all(&gzip(head)?)?;
    }
    for _ in 0..gib {
        f.write_all(member)?;
    }
    f.into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?
        .sync_all()?;
    Ok(())
}

/// Everything under `dir`, relative, sorted: what a refused entry must not have left.
fn left_in(dir: &Path) -> Result<Vec<String>> {
    let mut got = Vec::new();
    if dir.exists() {
        collect(dir, dir, &mut got)?;
    }
    Ok(got.iter().map(|p| p.display().to_string()).collect())
}

/// `haul tar pull ARCHIVE DST` (and `ARGS…`) under the bounds: exit 2, the rule named, and
/// nothing in DST but `keep`.
fn pull_refused(
    archive: &Path,
    dst: &Path,
    args: &[&str],
    needle: &str,
    keep: &[&str],
) -> Result<String> {
    let mut all = vec!["tar", "pull", s(archive), s(dst)];
    all.extend_from_slice(args);
    let run = Haul::bare(&all)?.bounded(HOSTILE_LIMIT)?;
    let stderr = run
        .failed_clearly(2, HOSTILE_RSS_MIB, needle)
        .with_context(|| format!("tar pull {} {args:?}", archive.display()))?
        .to_owned();
    eprintln!(
        "  pull {} {args:?}: {:.2} s, peak RSS {} MiB",
        archive.file_name().unwrap_or_default().to_string_lossy(),
        run.elapsed.as_secs_f64(),
        run.peak_rss_bytes >> 20
    );
    let left = left_in(dst)?;
    ensure!(
        left == keep,
        "{}: left {left:?} in the directory, wanted only {keep:?}",
        archive.display()
    );
    Ok(stderr)
}

/// `haul tar verify ARCHIVE` (its index beside it) under the bounds: exit `code`, `needle`
/// on stderr; returns stdout.
fn verify_bounded(archive: &Path, code: i32, needle: &str) -> Result<String> {
    let run = Haul::bare(&["tar", "verify", s(archive)])?.bounded(HOSTILE_LIMIT)?;
    run.failed_clearly(code, HOSTILE_RSS_MIB, needle)
        .with_context(|| format!("tar verify {}", archive.display()))?;
    eprintln!(
        "  verify {}: {:.2} s, peak RSS {} MiB",
        archive.file_name().unwrap_or_default().to_string_lossy(),
        run.elapsed.as_secs_f64(),
        run.peak_rss_bytes >> 20
    );
    Ok(run.stdout)
}

/// The refusal names the entry, what it declares and the free space.
fn names_no_space(stderr: &str, declared: u64) -> Result<()> {
    ensure!(
        stderr.contains("refused entry huge.bin: rule no-space")
            && stderr.contains(&format!("declares {declared} bytes"))
            && stderr.contains("has free"),
        "the error does not name the entry, its size and the free space: {stderr}"
    );
    Ok(())
}

/// Writes `tar` as `plain` and gzipped as `gz`; each is refused by `tar pull` (rule
/// no-space, `huge.bin` declaring `declared` named, only `first.txt` extracted) and reported by
/// `tar verify` (exit 1); returns verify's two outputs.
fn refused_plain_and_gzip(
    dir: &Path,
    plain: &Path,
    gz: &Path,
    tar: &[u8],
    declared: u64,
) -> Result<Vec<String>> {
    fs_err::write(plain, tar)?;
    fs_err::write(gz, gzip(tar)?)?;
    let mut outs = Vec::new();
    for archive in [plain, gz] {
        let dst = dir.join("dst");
        let err = pull_refused(archive, &dst, &[], "no-space", &["first.txt"])?;
        names_no_space(&err, declared)?;
        fs_err::remove_dir_all(&dst)?;
        outs.push(verify_bounded(archive, 1, "differs from its index")?);
    }
    Ok(outs)
}

/// (a) haul's own archive with `huge.bin`'s header declaring 100 GB in a GNU base-256 size
/// field, followed by the few bytes that were there: refused before anything of it is
/// written (no file, no temporary file, not even a parent), plain and gzip, also through
/// `--only` with the index; `tar verify` reports the size and stops reading.
fn hostile_base256_size() -> Result<()> {
    let t = tempfile::tempdir()?;
    let (plain, gz) = hostile_base(t.path())?;
    let declared = declared_huge(t.path())?;
    let mut tar = fs_err::read(&plain)?;
    let at = header_at(&tar, "huge.bin")?;
    declare_size(&mut tar, at, declared)?;
    let outs = refused_plain_and_gzip(t.path(), &plain, &gz, &tar, declared)?;
    for out in outs {
        ensure!(
            out.contains(&format!("huge.bin: size {declared}, index 6"))
                && out.contains("the rest of the archive was not read"),
            "verify: {out}"
        );
    }
    let dst = t.path().join("dst-only");
    let err = pull_refused(&plain, &dst, &["--only", "huge.bin"], "no-space", &[])?;
    names_no_space(&err, declared)?;
    Ok(())
}

/// (a) the same 100 GB declared by a PAX `size` record before a small ustar-sized header.
fn hostile_pax_size() -> Result<()> {
    let t = tempfile::tempdir()?;
    let (plain, gz) = hostile_base(t.path())?;
    let declared = declared_huge(t.path())?;
    let mut tar = fs_err::read(&plain)?;
    let at = header_at(&tar, "huge.bin")?;
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", declared.to_string().as_bytes())])?;
    let mut pax = b.into_inner()?;
    pax.truncate(pax.len() - 1024);
    tar.splice(at..at, pax);
    let outs = refused_plain_and_gzip(t.path(), &plain, &gz, &tar, declared)?;
    for out in outs {
        ensure!(
            out.contains(&format!("huge.bin: size {declared}")),
            "verify: {out}"
        );
    }
    Ok(())
}

/// (b) a gzip bomb: a 100 MB `.tar.gz` whose `huge.bin` declares 100 GB and whose stream
/// holds them (100 members of 1 GiB of zeros): refused at once, nothing decompressed past
/// the header; `tar verify` against the index stops at the size; `--only` without an index
/// (reading the whole archive) refuses it the same way.
fn hostile_gzip_bomb() -> Result<()> {
    let t = tempfile::tempdir()?;
    let (plain, gz) = hostile_base(t.path())?;
    let declared = declared_huge(t.path())?;
    let mut tar = fs_err::read(&plain)?;
    let at = header_at(&tar, "huge.bin")?;
    declare_size(&mut tar, at, declared)?;
    tar.truncate(at + 512);
    gzip_bomb(&gz, &tar, 100)?;
    let dst = t.path().join("dst");
    let err = pull_refused(&gz, &dst, &[], "no-space", &["first.txt"])?;
    names_no_space(&err, declared)?;
    let out = verify_bounded(&gz, 1, "differs from its index")?;
    ensure!(
        out.contains(&format!("huge.bin: size {declared}, index 6")),
        "verify: {out}"
    );
    fs_err::remove_file(t.path().join("a.tar.gz.index"))?;
    let dst = t.path().join("dst-only");
    let err = pull_refused(&gz, &dst, &["--only", "huge.bin"], "no-space", &[])?;
    names_no_space(&err, declared)?;
    Ok(())
}

/// (b) compressed zeros alone, 100 GiB of them: the first block ends the archive, and what
/// follows is read up to 16 MiB, not decompressed to the end; `tar verify` the same.
fn hostile_zeros_only() -> Result<()> {
    let t = tempfile::tempdir()?;
    let (_, gz) = hostile_base(t.path())?;
    gzip_bomb(&gz, &[], 100)?;
    let dst = t.path().join("dst");
    pull_refused(&gz, &dst, &[], "follow the end-of-archive marker", &[])?;
    verify_bounded(&gz, 2, "follow the end-of-archive marker")?;
    Ok(())
}

/// (c) a record header (`kind`) declaring 4 GiB before `huge.bin`: followed by a few bytes
/// (plain) and by 5 GiB of compressed zeros (a bomb that would supply the record): refused
/// unread, within the RSS bound (read whole, it would take 4 GiB); `tar verify` the same.
fn hostile_record(kind: tar::EntryType) -> Result<()> {
    let t = tempfile::tempdir()?;
    let (plain, gz) = hostile_base(t.path())?;
    let mut tar = fs_err::read(&plain)?;
    let at = header_at(&tar, "huge.bin")?;
    tar.truncate(at);
    tar.extend_from_slice(&record_header(kind, 4 << 30));
    gzip_bomb(&gz, &tar, 5)?;
    tar.extend_from_slice(&[b'a'; 4096]);
    fs_err::write(&plain, &tar)?;
    for archive in [&plain, &gz] {
        let dst = t.path().join("dst");
        let err = pull_refused(archive, &dst, &[], "record-too-large", &["first.txt"])?;
        ensure!(
            err.contains("refused the entry after first.txt")
                && err.contains("declares 4294967296 bytes"),
            "the error does not name where and what: {err}"
        );
        fs_err::remove_dir_all(&dst)?;
        verify_bounded(archive, 2, "record-too-large")?;
    }
    Ok(())
}

fn hostile_pax_record() -> Result<()> {
    hostile_record(tar::EntryType::XHeader)
}

fn hostile_long_name() -> Result<()> {
    hostile_record(tar::EntryType::GNULongName)
}

/// Peak RSS of a hostile pull from a gateway, MiB. Measured at 14 MiB (the refusal comes
/// with the first bytes); the bound also covers the download's read-ahead, four 16 MiB
/// ranges within `--memory`, had more of them arrived before it.
const HOSTILE_S3_RSS_MIB: u64 = 200;

/// (b) the gzip bomb pulled from the gateway (20 GiB of zeros behind a 100 GB header): the
/// download stops with the refusal, nothing written.
fn hostile_gzip_bomb_from_s3(gw: &Gateway) -> Result<()> {
    let t = tempfile::tempdir()?;
    let (plain, gz) = hostile_base(t.path())?;
    let declared = declared_huge(t.path())?;
    let mut tar = fs_err::read(&plain)?;
    let at = header_at(&tar, "huge.bin")?;
    declare_size(&mut tar, at, declared)?;
    tar.truncate(at + 512);
    gzip_bomb(&gz, &tar, 20)?;
    let b = unique_bucket("hostile-tar");
    Haul::new(gw, &["mb", &format!("s3://{b}")])?.ok()?;
    let url = format!("s3://{b}/bomb.tar.gz");
    Haul::new(gw, &["cp", s(&gz), &url])?.ok()?;
    let dst = t.path().join("dst");
    let run = Haul::new(gw, &["tar", "pull", &url, s(&dst)])?.bounded(HOSTILE_LIMIT)?;
    let err = run.failed_clearly(2, HOSTILE_S3_RSS_MIB, "no-space")?;
    names_no_space(err, declared)?;
    eprintln!(
        "  pull {url}: {:.2} s, peak RSS {} MiB",
        run.elapsed.as_secs_f64(),
        run.peak_rss_bytes >> 20
    );
    let left = left_in(&dst)?;
    ensure!(left == ["first.txt"], "left {left:?}");
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}
