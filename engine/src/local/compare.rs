//! Comparing two directory trees file by file (content, not metadata): the check behind
//! `haul demo` and the end-to-end tests. Manifests (issue 5) will prove backups without a
//! second copy at hand.

use std::fmt;
use std::io::Read;
use std::path::Path;

use super::walk::{WalkError, walk_sorted};

/// One way two trees differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Only in the first tree.
    OnlyInLeft(String),
    /// Only in the second tree.
    OnlyInRight(String),
    /// In both, with other content.
    Content(String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::OnlyInLeft(k) => write!(f, "{k}: missing from the copy"),
            Difference::OnlyInRight(k) => write!(f, "{k}: only in the copy"),
            Difference::Content(k) => write!(f, "{k}: content differs"),
        }
    }
}

/// Lists every regular file that is missing from one side or whose bytes differ.
///
/// # Errors
/// IO errors walking or reading either tree, naming the path.
pub fn compare_trees(left: &Path, right: &Path) -> Result<Vec<Difference>, WalkError> {
    let lefts = walk_sorted(left)?;
    let rights = walk_sorted(right)?;
    let mut out = Vec::new();
    let mut l = lefts.iter().peekable();
    let mut r = rights.iter().peekable();
    loop {
        match (l.peek(), r.peek()) {
            (Some(le), Some(re)) if le.key == re.key => {
                if le.size != re.size || !same_content(&le.path, &re.path)? {
                    out.push(Difference::Content(le.key.clone()));
                }
                l.next();
                r.next();
            }
            (Some(le), Some(re)) if le.key.as_bytes() < re.key.as_bytes() => {
                out.push(Difference::OnlyInLeft(le.key.clone()));
                l.next();
            }
            (Some(le), None) => {
                out.push(Difference::OnlyInLeft(le.key.clone()));
                l.next();
            }
            (_, Some(re)) => {
                out.push(Difference::OnlyInRight(re.key.clone()));
                r.next();
            }
            (None, None) => return Ok(out),
        }
    }
}

fn same_content(a: &Path, b: &Path) -> Result<bool, WalkError> {
    const CHUNK: usize = 256 * 1024;
    let mut fa = fs_err::File::open(a)?;
    let mut fb = fs_err::File::open(b)?;
    let mut ba = vec![0u8; CHUNK];
    let mut bb = vec![0u8; CHUNK];
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba.get(..na) != bb.get(..nb) {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs_err::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match f.read(rest)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_of_difference() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (root, files) in [
            (a.path(), &[("same", "x"), ("left", "l"), ("diff", "1")][..]),
            (
                b.path(),
                &[("same", "x"), ("right", "r"), ("diff", "2")][..],
            ),
        ] {
            for (name, body) in files {
                fs_err::write(root.join(name), body).unwrap();
            }
        }
        let d = compare_trees(a.path(), b.path()).unwrap();
        assert_eq!(
            d,
            [
                Difference::Content("diff".into()),
                Difference::OnlyInLeft("left".into()),
                Difference::OnlyInRight("right".into()),
            ]
        );
    }
}
