//! A directory checked against an archive's index: what `haul restore` proves after it
//! extracted an archive, and how a rerun knows an archive needs no extracting again.
//!
//! Every indexed entry must be there with its kind, content (size and BLAKE3), permission
//! bits, mtime, owner (when asked) and link target; a hard link must share its target's
//! inode. Anything under the directory that the index does not hold is a difference too,
//! except temporary files left by an extraction that was killed (`.haul-tar.PID.N`), which
//! are removed. Nothing is looked up through a symlink under the directory (an entry below
//! one is a difference), and an index path that would leave the directory is a difference,
//! never looked up.
//!
//! The index is read twice (its paths first, then its entries), so memory grows with the
//! number of paths, not with their content; when a path appears more than once, the last
//! entry is the one extraction leaves, and the one checked.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::io::{BufReader, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use super::ArchiveError;
use super::index::{EntryKind, IndexEntry, IndexReader};
use crate::sync::Filter;

/// Differences listed by name in a report; the rest are counted (chosen: a screenful).
pub const MAX_LISTED: usize = 100;

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeCheck {
    /// Compare numeric owners too (an extraction that restored them: root).
    pub owners: bool,
    /// Setuid and setgid bits were restored; otherwise the extraction refused them.
    pub setid: bool,
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeReport {
    /// Index entries checked.
    pub entries: u64,
    /// Bytes of file content hashed.
    pub bytes: u64,
    /// Differences found (all of them, listed or not).
    pub different: u64,
    /// The first [`MAX_LISTED`] differences, each naming its path.
    pub differences: Vec<String>,
    /// Temporary files of a killed extraction, removed.
    pub temps_removed: u64,
}

impl TreeReport {
    /// Nothing differs.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.different == 0
    }

    fn differ(&mut self, what: String) {
        self.different += 1;
        if self.differences.len() < MAX_LISTED {
            self.differences.push(what);
        }
    }
}

/// An index path as a path under the root: `None` when it would leave it.
fn relative(raw: &[u8]) -> Option<PathBuf> {
    let raw = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether `name` is a temporary file of an extraction (`.haul-tar.PID.N`).
fn is_extract_temp(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b".haul-tar.") else {
        return false;
    };
    let mut parts = rest.split(|&b| b == b'.');
    let digits =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Checks the directory `root` against the index in `index` (named `name` in errors). A
/// missing `root` is every entry missing. Paths under `root` that `excluded` does not admit
/// (the archive's `--exclude` globs) are not differences, nor anything under them.
///
/// # Errors
/// A damaged index ([`ArchiveError::Index`]), or a directory that cannot be read
/// ([`ArchiveError::Io`]). Differences are in the report.
pub fn check<F: Read + Seek>(
    mut index: F,
    name: &str,
    root: &Path,
    opts: TreeCheck,
    excluded: &Filter,
) -> Result<TreeReport, ArchiveError> {
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    // Pass 1: how often each path occurs, and the directories above them.
    let mut occurs: HashMap<PathBuf, u32> = HashMap::new();
    let mut ancestors: HashSet<PathBuf> = HashSet::new();
    {
        let mut reader = IndexReader::new(BufReader::new(&mut index), name)?;
        while let Some(e) = reader.next_entry()? {
            if let Some(rel) = relative(&e.path) {
                for a in rel.ancestors().skip(1) {
                    if !ancestors.insert(a.to_path_buf()) {
                        break;
                    }
                }
                *occurs.entry(rel).or_default() += 1;
            }
        }
    }
    index.rewind().map_err(io_at(Path::new(name)))?;
    let mut report = TreeReport::default();
    // Directories under the root seen to be real directories, not symlinks.
    let mut real_dirs: HashSet<PathBuf> = HashSet::new();
    let mut reader = IndexReader::new(BufReader::new(&mut index), name)?;
    while let Some(e) = reader.next_entry()? {
        report.entries += 1;
        let Some(rel) = relative(&e.path) else {
            report.differ(format!(
                "{}: the index names a path outside the directory",
                e.display()
            ));
            continue;
        };
        if let Some(n) = occurs.get_mut(&rel) {
            *n -= 1;
            if *n > 0 {
                continue; // a later entry replaces this one
            }
        }
        if rel.as_os_str().is_empty() {
            continue; // `./`: the directory itself
        }
        if let Some(link) = symlinked_parent(root, &rel, &mut real_dirs) {
            report.differ(format!(
                "{}: {} is a symlink, not a directory",
                rel.display(),
                link.display()
            ));
            continue;
        }
        check_entry(&e, root, &rel, opts, &mut report);
    }
    // Anything else under the root.
    // (The root itself may be a symlink to the directory: it is the caller's choice.)
    if fs_err::metadata(root).is_ok_and(|m| m.is_dir()) {
        let mut stack = vec![PathBuf::new()];
        while let Some(rel_dir) = stack.pop() {
            let dir = root.join(&rel_dir);
            for item in fs_err::read_dir(&dir).map_err(io_at(&dir))? {
                let item = item.map_err(io_at(&dir))?;
                let rel = rel_dir.join(item.file_name());
                let ft = item.file_type().map_err(io_at(&item.path()))?;
                let known = occurs.contains_key(&rel) || (ft.is_dir() && ancestors.contains(&rel));
                if !known && !excluded.is_empty() && !excluded.admits(&rel.to_string_lossy()) {
                    continue;
                }
                if ft.is_dir() && !ft.is_symlink() {
                    stack.push(rel.clone());
                }
                if known {
                    continue;
                }
                if ft.is_file() && is_extract_temp(item.file_name().as_bytes()) {
                    let path = item.path();
                    fs_err::remove_file(&path).map_err(io_at(&path))?;
                    report.temps_removed += 1;
                    continue;
                }
                report.differ(format!("{}: not in the archive", rel.display()));
            }
        }
    }
    Ok(report)
}

/// The first directory above `rel` (under `root`) that is a symlink: nothing is looked up
/// through one, so a planted link cannot make files outside the root look restored.
fn symlinked_parent(root: &Path, rel: &Path, known_dirs: &mut HashSet<PathBuf>) -> Option<PathBuf> {
    let mut parents: Vec<&Path> = rel
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect();
    parents.reverse();
    for dir in parents {
        if known_dirs.contains(dir) {
            continue;
        }
        match fs_err::symlink_metadata(root.join(dir)) {
            Ok(m) if m.file_type().is_symlink() => return Some(dir.to_path_buf()),
            Ok(m) if m.is_dir() => {
                known_dirs.insert(dir.to_path_buf());
            }
            // Missing or not a directory: the entry's own lookup reports it.
            _ => return None,
        }
    }
    None
}

fn kind_of(m: &Metadata) -> &'static str {
    let ft = m.file_type();
    if ft.is_symlink() {
        "a symlink"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a file"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "a socket"
    }
}

fn check_entry(e: &IndexEntry, root: &Path, rel: &Path, opts: TreeCheck, r: &mut TreeReport) {
    let shown = rel.display();
    let path = root.join(rel);
    let m = match fs_err::symlink_metadata(&path) {
        Ok(m) => m,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            r.differ(format!("{shown}: missing"));
            return;
        }
        Err(err) => {
            r.differ(format!("{shown}: {err}"));
            return;
        }
    };
    if e.kind == EntryKind::Hardlink {
        let Some(target) = e.link.as_deref().and_then(relative) else {
            r.differ(format!(
                "{shown}: a hard link to a path outside the directory"
            ));
            return;
        };
        match fs_err::symlink_metadata(root.join(&target)) {
            Ok(t) if t.dev() == m.dev() && t.ino() == m.ino() => {}
            _ => r.differ(format!("{shown}: not a hard link to {}", target.display())),
        }
        return;
    }
    let ft = m.file_type();
    let (want, is) = match e.kind {
        EntryKind::File => ("a file", ft.is_file()),
        EntryKind::Dir => ("a directory", ft.is_dir()),
        EntryKind::Symlink => ("a symlink", ft.is_symlink()),
        EntryKind::Fifo => ("a fifo", ft.is_fifo()),
        EntryKind::Char => ("a character device", ft.is_char_device()),
        EntryKind::Block => ("a block device", ft.is_block_device()),
        EntryKind::Hardlink => ("a hard link", true),
    };
    if !is {
        r.differ(format!("{shown}: {} instead of {want}", kind_of(&m)));
        return;
    }
    let mut wrong = Vec::new();
    match e.kind {
        EntryKind::File => {
            if m.len() == e.size {
                r.bytes += e.size;
                match crate::manifest::hash::hash_file(&path) {
                    Ok(h) if Some(h) == e.blake3 => {}
                    Ok(_) => wrong.push("content differs (BLAKE3)".to_owned()),
                    Err(err) => wrong.push(format!("unreadable: {err}")),
                }
            } else {
                wrong.push(format!("size {} instead of {}", m.len(), e.size));
            }
        }
        EntryKind::Symlink => {
            let want = e.link.as_deref().unwrap_or_default();
            match fs_err::read_link(&path) {
                Ok(t) if t.as_os_str().as_bytes() == want => {}
                Ok(t) => wrong.push(format!(
                    "points to {} instead of {}",
                    t.display(),
                    String::from_utf8_lossy(want)
                )),
                Err(err) => wrong.push(format!("unreadable: {err}")),
            }
        }
        _ => {}
    }
    if e.kind != EntryKind::Symlink {
        let want = if opts.setid { e.mode } else { e.mode & !0o6000 };
        let mode = m.mode() & 0o7777;
        if mode != want {
            wrong.push(format!("mode {mode:04o} instead of {want:04o}"));
        }
    }
    let mtime = m.mtime();
    if u64::try_from(mtime).ok() != Some(e.mtime) {
        wrong.push(format!("mtime {mtime} instead of {}", e.mtime));
    }
    if opts.owners && (u64::from(m.uid()) != e.uid || u64::from(m.gid()) != e.gid) {
        wrong.push(format!(
            "owner {}:{} instead of {}:{}",
            m.uid(),
            m.gid(),
            e.uid,
            e.gid
        ));
    }
    if !wrong.is_empty() {
        r.differ(format!("{shown}: {}", wrong.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Compression, PackOptions, UnpackOptions};

    fn pack_with_index(src: &Path) -> (Vec<u8>, std::fs::File) {
        pack_excluding(src, &Filter::default())
    }

    fn pack_excluding(src: &Path, exclude: &Filter) -> (Vec<u8>, std::fs::File) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let index = tempfile::tempfile().unwrap();
        let (_, out, index) = rt
            .block_on(crate::archive::pack_to(
                src,
                Vec::new(),
                Compression::Gzip,
                PackOptions {
                    exclude: exclude.clone(),
                    ..PackOptions::default()
                },
                Some((index, "t.tar.gz".to_owned())),
            ))
            .unwrap();
        let mut index = index.unwrap();
        index.rewind().unwrap();
        (out, index)
    }

    #[test]
    fn an_extracted_tree_checks_clean_and_every_change_is_named() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs_err::create_dir_all(s.join("logs/old")).unwrap();
        fs_err::write(s.join("logs/a.log"), b"alpha\n".repeat(1000)).unwrap();
        fs_err::write(s.join("logs/old/b.log"), b"beta").unwrap();
        fs_err::write(s.join("c.conf"), b"c").unwrap();
        std::os::unix::fs::symlink("logs/a.log", s.join("current")).unwrap();
        fs_err::hard_link(s.join("c.conf"), s.join("c.link")).unwrap();
        let (archive, mut index) = pack_with_index(s);

        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("restored");
        let opts = TreeCheck::default();
        // Nothing there yet: every entry missing.
        let before = check(&mut index, "t", &dest, opts, &Filter::default()).unwrap();
        assert!(before.different >= 6, "{before:?}");
        assert!(
            before
                .differences
                .iter()
                .any(|d| d == "logs/a.log: missing")
        );

        crate::archive::unpack(
            &mut flate2::read::GzDecoder::new(&archive[..]),
            &dest,
            UnpackOptions::default(),
        )
        .unwrap();
        // A temporary file left by a killed extraction is removed, not reported. (Writing it
        // changes `logs/`'s mtime, put back as extracted: the check compares it.)
        let extracted = fs_err::metadata(dest.join("logs"))
            .unwrap()
            .modified()
            .unwrap();
        fs_err::write(dest.join("logs/.haul-tar.123.4"), b"half").unwrap();
        fs_err::File::open(dest.join("logs"))
            .unwrap()
            .file()
            .set_modified(extracted)
            .unwrap();
        index.rewind().unwrap();
        let clean = check(&mut index, "t", &dest, opts, &Filter::default()).unwrap();
        assert!(clean.is_clean(), "{clean:?}");
        assert_eq!(clean.temps_removed, 1);
        assert_eq!(clean.bytes, 6000 + 4 + 1);
        assert!(!dest.join("logs/.haul-tar.123.4").exists());

        // Content, mode, mtime, a symlink, a hard link, an extra file.
        fs_err::write(dest.join("logs/old/b.log"), b"BETA").unwrap();
        let f = fs_err::File::options()
            .write(true)
            .open(dest.join("c.conf"))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH).unwrap();
        drop(f);
        std::fs::set_permissions(
            dest.join("logs/a.log"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        fs_err::remove_file(dest.join("current")).unwrap();
        std::os::unix::fs::symlink("logs/old/b.log", dest.join("current")).unwrap();
        fs_err::remove_file(dest.join("c.link")).unwrap();
        fs_err::write(dest.join("c.link"), b"c").unwrap();
        fs_err::write(dest.join("stray"), b"x").unwrap();
        // logs/old replaced by a link to a copy elsewhere: not looked through.
        let elsewhere = out.path().join("elsewhere");
        fs_err::rename(dest.join("logs/old"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dest.join("logs/old")).unwrap();
        fs_err::write(dest.join(".haul-tar.x.1"), b"not ours").unwrap();
        index.rewind().unwrap();
        let r = check(&mut index, "t", &dest, opts, &Filter::default()).unwrap();
        let all = r.differences.join("\n");
        for want in [
            "logs/old/b.log: logs/old is a symlink, not a directory",
            "c.conf: mtime 0 instead of",
            "logs/a.log: mode 0600 instead of",
            "current: points to logs/old/b.log instead of logs/a.log",
            "c.link: not a hard link to c.conf",
            "stray: not in the archive",
            ".haul-tar.x.1: not in the archive",
        ] {
            assert!(all.contains(want), "{want} not in:\n{all}");
        }
    }

    #[test]
    fn excluded_paths_are_left_out_and_not_differences_after() {
        use crate::sync::RuleKind::Exclude;
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs_err::create_dir_all(s.join("logs/cache/deep")).unwrap();
        fs_err::write(s.join("logs/a.log"), b"a").unwrap();
        fs_err::write(s.join("logs/a.tmp"), b"t").unwrap();
        fs_err::write(s.join("logs/cache/deep/x"), b"x").unwrap();
        let exclude = Filter::new([(Exclude, "*.tmp"), (Exclude, "cache")]).unwrap();
        let (archive, mut index) = pack_excluding(s, &exclude);
        let mut names = Vec::new();
        let mut reader = IndexReader::new(BufReader::new(&mut index), "t").unwrap();
        while let Some(e) = reader.next_entry().unwrap() {
            names.push(e.display());
        }
        assert_eq!(names, ["logs/", "logs/a.log"]);
        let out = tempfile::tempdir().unwrap();
        crate::archive::unpack(
            &mut flate2::read::GzDecoder::new(&archive[..]),
            out.path(),
            UnpackOptions::default(),
        )
        .unwrap();
        // What the archive left out, found in the directory, is not a difference with the
        // same globs; without them it is.
        // (Adding them changes `logs/`'s mtime, put back as extracted: the check compares it.)
        let logs = out.path().join("logs");
        let extracted = fs_err::metadata(&logs).unwrap().modified().unwrap();
        fs_err::create_dir_all(out.path().join("logs/cache/deep")).unwrap();
        fs_err::write(out.path().join("logs/cache/deep/y"), b"y").unwrap();
        fs_err::write(out.path().join("logs/b.tmp"), b"t").unwrap();
        fs_err::File::open(&logs)
            .unwrap()
            .file()
            .set_modified(extracted)
            .unwrap();
        let opts = TreeCheck::default();
        index.rewind().unwrap();
        let r = check(&mut index, "t", out.path(), opts, &exclude).unwrap();
        assert!(r.is_clean(), "{r:?}");
        index.rewind().unwrap();
        let r = check(&mut index, "t", out.path(), opts, &Filter::default()).unwrap();
        assert_eq!(r.different, 4, "{r:?}");
    }

    #[test]
    fn temp_names() {
        assert!(is_extract_temp(b".haul-tar.1.2"));
        assert!(!is_extract_temp(b".haul-tar.1"));
        assert!(!is_extract_temp(b".haul-tar.1.2.3"));
        assert!(!is_extract_temp(b".haul-tar..2"));
        assert!(!is_extract_temp(b"x.haul-tar.1.2"));
    }

    #[test]
    fn paths_leaving_the_root_are_refused() {
        assert_eq!(relative(b"a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(relative(b"../x"), None);
        assert_eq!(relative(b"/etc/passwd"), None);
        assert_eq!(relative(b"./"), Some(PathBuf::new()));
    }
}
