//! Archives from anywhere, extracted into a temporary directory: the target `tar_unpack`
//! (the shape of tar-rs's own `fuzz/fuzz_targets/archive.rs`, with more to check).
//!
//! An input whose first 512 bytes are a tar header with a valid checksum is extracted as
//! is; any other input describes an archive that is built here with valid checksums, so
//! the fuzzer spends its time on hostile entries rather than on checksums: paths with `..`,
//! `.`, empty and absolute components, symlinks and hard links pointing anywhere, devices,
//! fifos, setuid modes, GNU long names and PAX paths, sizes that lie, missing end blocks.
//!
//! Whether the extraction succeeds or is refused, afterwards:
//! - nothing exists beside the extraction directory (nothing written outside it);
//! - no temporary file of this extraction (`.haul-tar.PID.N`, this process's id, unless the
//!   archive itself names a file or directory so) is left under it;
//! - every symlink under it resolves inside it;
//! - every hard-linked file has all its links under it (none to a file outside);
//! - nothing has a setuid or setgid bit, and there is no device node.
//!
//! When a described archive holds only files and directories with plain, distinct paths
//! and extracts without error, every file holds exactly its content.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use engine::archive::xattrs::XattrRestore;
use engine::archive::{UnpackOptions, unpack};
use tar::{EntryType, Header};

use crate::input::Input;

/// The `tar_unpack` target.
pub fn tar_unpack(data: &[u8]) {
    let (archive, plain) = if is_tar(data) {
        (data.to_vec(), None)
    } else {
        let spec = describe(&mut Input::new(data));
        (spec.build(), spec.plain_files())
    };
    let outer = tempfile::tempdir().expect("a temporary directory");
    let sandbox = outer.path().join("sandbox");
    let opts = UnpackOptions {
        same_owner: false,
        allow_devices: false,
        allow_setid: false,
        // Attributes are set on what was written, never through a path outside.
        xattrs: XattrRestore::User,
    };
    let result = unpack(archive.as_slice(), &sandbox, opts);
    let beside: Vec<_> = read_dir(outer.path())
        .into_iter()
        .map(|p| p.file_name().map(ToOwned::to_owned))
        .collect();
    assert!(
        beside
            .iter()
            .all(|n| n.as_deref() == Some("sandbox".as_ref())),
        "extraction wrote outside its directory: {beside:?} ({result:?})"
    );
    if sandbox.exists() {
        check_tree(&sandbox, &entry_names(&archive));
    }
    if let (Ok(_), Some(files)) = (&result, plain) {
        for (path, content) in files {
            let got = fs_err::read(sandbox.join(&path))
                .unwrap_or_else(|e| panic!("{} was not extracted: {e}", path.display()));
            assert_eq!(
                got,
                content,
                "{} extracted with other content",
                path.display()
            );
        }
    }
}

/// True when `data` starts with a tar header whose checksum is right.
fn is_tar(data: &[u8]) -> bool {
    let Some(block) = data.get(..512) else {
        return false;
    };
    let header = Header::from_byte_slice(block);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    stored == sum
}

/// The entries of a directory, made readable first if an extracted mode forbids it (so that
/// a run as an ordinary user can check and remove the tree).
fn read_dir(dir: &Path) -> Vec<PathBuf> {
    let entries = match fs_err::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .expect("making an extracted directory readable");
            fs_err::read_dir(dir)
        }
        other => other,
    };
    entries
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect()
}

/// Every component of every entry's path the archive lists (up to its first damage): a
/// directory an entry's path passes through is created as surely as the entry itself.
fn entry_names(archive: &[u8]) -> HashSet<OsString> {
    let mut names = HashSet::new();
    let mut reader = tar::Archive::new(archive);
    let Ok(entries) = reader.entries() else {
        return names;
    };
    for entry in entries {
        let Ok(entry) = entry else { break };
        if let Ok(path) = entry.path() {
            for c in path.components() {
                if let Component::Normal(name) = c {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// Whether `name` is a temporary file name of an extraction run by this process
/// (`.haul-tar.PID.N`, as `engine::archive::unpack` names them).
fn is_our_temp(name: &OsStr) -> bool {
    let prefix = format!(".haul-tar.{}.", std::process::id());
    name.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// The checks of the module documentation on everything under `root`; `listed` holds the
/// names the archive itself has (a file or directory it names `.haul-tar.…` is not a
/// temporary file).
fn check_tree(root: &Path, listed: &HashSet<OsString>) {
    let mut links: HashMap<(u64, u64), (u64, usize)> = HashMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for path in read_dir(&dir) {
            let rel = path
                .strip_prefix(root)
                .expect("under the root")
                .to_path_buf();
            let name = path.file_name().unwrap_or_default();
            assert!(
                !is_our_temp(name) || listed.contains(name),
                "temporary file left: {}",
                rel.display()
            );
            let meta = fs_err::symlink_metadata(&path).expect("metadata of an extracted entry");
            let kind = meta.file_type();
            assert!(
                meta.mode() & 0o6000 == 0,
                "{} has a setuid or setgid bit: {:o}",
                rel.display(),
                meta.mode()
            );
            assert!(
                !kind.is_block_device() && !kind.is_char_device(),
                "device node extracted: {}",
                rel.display()
            );
            if kind.is_symlink() {
                let target = fs_err::read_link(&path).expect("reading an extracted symlink");
                let parent = rel.parent().unwrap_or(Path::new(""));
                assert!(
                    stays_inside(parent, &target),
                    "symlink {} points outside: {}",
                    rel.display(),
                    target.display()
                );
            } else if kind.is_dir() {
                pending.push(path);
            } else if meta.nlink() > 1 {
                links
                    .entry((meta.dev(), meta.ino()))
                    .or_insert((meta.nlink(), 0))
                    .1 += 1;
            }
        }
    }
    for ((_, ino), (nlink, seen)) in links {
        assert_eq!(
            nlink, seen as u64,
            "inode {ino} has {nlink} links but {seen} under the directory: a link to a file outside"
        );
    }
}

/// Whether `target`, read in `parent` (relative to the root), stays under the root.
fn stays_inside(parent: &Path, target: &Path) -> bool {
    let mut depth = parent.components().count();
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// What an entry of a described archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Char,
    Block,
    /// A file with setuid, setgid or sticky bits.
    SetId,
    /// A file whose path is in a PAX extended header.
    PaxFile,
    /// An entry type haul does not extract (a GNU volume header).
    Volume,
}

const KINDS: [Kind; 10] = [
    Kind::File,
    Kind::Dir,
    Kind::Symlink,
    Kind::Hardlink,
    Kind::Fifo,
    Kind::Char,
    Kind::Block,
    Kind::SetId,
    Kind::PaxFile,
    Kind::Volume,
];

#[derive(Debug)]
struct SpecEntry {
    kind: Kind,
    path: Vec<u8>,
    link: Vec<u8>,
    content: Vec<u8>,
    /// The size field says this instead of the content's length.
    size_lie: Option<u64>,
    mode: u32,
}

#[derive(Debug)]
struct Spec {
    entries: Vec<SpecEntry>,
    /// The two zero blocks that end an archive are left out.
    unterminated: bool,
}

/// A path built from components likely to matter.
fn path(input: &mut Input<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    if input.below(8) == 0 {
        out.push(b'/');
    }
    let parts = 1 + input.below(4);
    for i in 0..parts {
        if i > 0 {
            out.push(b'/');
        }
        match input.below(10) {
            0 => out.extend_from_slice(b".."),
            1 => out.push(b'.'),
            2 => {}
            3 => out.push(b'a'),
            4 => out.push(b'b'),
            5 => out.push(b'l'),
            6 => out.extend_from_slice(&[b'x'; 120]),
            _ => out.extend_from_slice(input.bytes(24)),
        }
    }
    if input.below(6) == 0 {
        out.push(b'/');
    }
    out
}

fn describe(input: &mut Input<'_>) -> Spec {
    let mut entries = Vec::new();
    for _ in 0..input.below(10) {
        let kind = KINDS[input.below(KINDS.len())];
        let path = path(input);
        let link = if matches!(kind, Kind::Symlink | Kind::Hardlink) {
            self::path(input)
        } else {
            Vec::new()
        };
        let content = if matches!(kind, Kind::File | Kind::SetId | Kind::PaxFile) {
            input.bytes(600).to_vec()
        } else {
            Vec::new()
        };
        let size_lie = (input.below(16) == 0).then(|| input.u64() % 4096);
        let mode = match kind {
            Kind::SetId => [0o4755, 0o2755, 0o6777, 0o1777][input.below(4)],
            Kind::Dir => [0o755, 0o700, 0o500, 0o000][input.below(4)],
            _ => [0o644, 0o600, 0o755, 0o000][input.below(4)],
        };
        entries.push(SpecEntry {
            kind,
            path,
            link,
            content,
            size_lie,
            mode,
        });
    }
    Spec {
        entries,
        unterminated: input.below(8) == 0,
    }
}

/// A header block with `name` and `link` written raw (`set_path` refuses `..`), cut to the
/// 100 bytes of their fields (a GNU long name or link entry before it carries the whole).
fn header(name: &[u8], link: &[u8], kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    {
        let old = h.as_old_mut();
        let n = name.len().min(old.name.len());
        old.name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(old.linkname.len());
        old.linkname[..l].copy_from_slice(&link[..l]);
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn push_block(out: &mut Vec<u8>, h: &Header, content: &[u8]) {
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A GNU long name (`L`) or long link (`K`) entry carrying `value`.
fn push_long(out: &mut Vec<u8>, kind: EntryType, value: &[u8]) {
    let mut content = value.to_vec();
    content.push(0);
    let h = header(b"././@LongLink", b"", kind, content.len() as u64, 0o644);
    push_block(out, &h, &content);
}

/// A PAX record `LEN path=VALUE\n`, whose length counts itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl Spec {
    fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            let kind = match e.kind {
                Kind::File | Kind::SetId | Kind::PaxFile => EntryType::Regular,
                Kind::Dir => EntryType::Directory,
                Kind::Symlink => EntryType::Symlink,
                Kind::Hardlink => EntryType::Link,
                Kind::Fifo => EntryType::Fifo,
                Kind::Char => EntryType::Char,
                Kind::Block => EntryType::Block,
                Kind::Volume => EntryType::new(b'V'),
            };
            let name: &[u8] = if e.kind == Kind::PaxFile {
                let record = pax_record("path", &e.path);
                let h = header(
                    b"PaxHeaders/x",
                    b"",
                    EntryType::XHeader,
                    record.len() as u64,
                    0o644,
                );
                push_block(&mut out, &h, &record);
                b"pax-placeholder"
            } else {
                if e.path.len() > 100 {
                    push_long(&mut out, EntryType::GNULongName, &e.path);
                }
                &e.path
            };
            if e.link.len() > 100 {
                push_long(&mut out, EntryType::GNULongLink, &e.link);
            }
            let size = e.size_lie.unwrap_or(e.content.len() as u64);
            let h = header(name, &e.link, kind, size, e.mode);
            push_block(&mut out, &h, &e.content);
        }
        if !self.unterminated {
            out.extend_from_slice(&[0; 1024]);
        }
        out
    }

    /// The files and their contents when the archive holds only files and directories with
    /// plain relative paths, each path once, and no size lies; `None` otherwise.
    fn plain_files(&self) -> Option<Vec<(PathBuf, Vec<u8>)>> {
        let mut seen = std::collections::HashSet::new();
        let mut files = Vec::new();
        for e in &self.entries {
            if !matches!(e.kind, Kind::File | Kind::Dir) || e.size_lie.is_some() {
                return None;
            }
            let text = std::str::from_utf8(&e.path).ok()?;
            let trimmed = text.strip_suffix('/').unwrap_or(text);
            if trimmed.is_empty()
                || trimmed.contains('\0')
                || trimmed
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
                || text.starts_with('/')
            {
                return None;
            }
            if !seen.insert(trimmed.to_owned()) {
                return None;
            }
            if e.kind == Kind::File {
                files.push((PathBuf::from(trimmed), e.content.clone()));
            }
        }
        Some(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let r = pax_record("path", b"a/b");
        assert_eq!(r, b"12 path=a/b\n");
        let long = pax_record("path", &[b'x'; 95]);
        assert_eq!(long.len().to_string(), String::from_utf8_lossy(&long[..3]));
    }

    #[test]
    fn only_this_process_temporary_names_count() {
        let pid = std::process::id();
        assert!(is_our_temp(format!(".haul-tar.{pid}.0").as_ref()));
        assert!(is_our_temp(format!(".haul-tar.{pid}.17").as_ref()));
        assert!(!is_our_temp(format!(".haul-tar.{pid}.").as_ref()));
        assert!(!is_our_temp(format!(".haul-tar.{pid}.1x").as_ref()));
        assert!(!is_our_temp(".haul-tar.x".as_ref()));
        assert!(!is_our_temp(format!("a.haul-tar.{pid}.1").as_ref()));
    }

    #[test]
    fn every_component_of_an_entry_path_is_listed() {
        let spec = Spec {
            entries: vec![SpecEntry {
                kind: Kind::File,
                path: b".haul-tar.1.2/a".to_vec(),
                link: Vec::new(),
                content: b"x".to_vec(),
                size_lie: None,
                mode: 0o644,
            }],
            unterminated: false,
        };
        let names = entry_names(&spec.build());
        assert!(names.contains(OsStr::new(".haul-tar.1.2")));
        assert!(names.contains(OsStr::new("a")));
    }

    #[test]
    fn symlink_targets_resolve_lexically() {
        assert!(stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!stays_inside(Path::new("a"), Path::new("../../c")));
        assert!(!stays_inside(Path::new(""), Path::new("/etc")));
    }

    #[test]
    fn built_archives_have_valid_headers() {
        let spec = Spec {
            entries: vec![SpecEntry {
                kind: Kind::File,
                path: b"a/b".to_vec(),
                link: Vec::new(),
                content: b"hello".to_vec(),
                size_lie: None,
                mode: 0o644,
            }],
            unterminated: false,
        };
        assert!(is_tar(&spec.build()));
    }
}
