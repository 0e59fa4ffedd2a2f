//! Reading one config file from disk: size bound, UTF-8 check, `~/` expansion, and the
//! rule that a missing file is "no settings here" unless the user named it.
//!
//! Parsing is `ini`'s job; what the keys mean is `aws_files`' and `s3cfg`'s.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::ConfigError;

/// Largest config file haul reads, in bytes.
///
/// Chosen: s3cmd's full default `~/.s3cfg` is about 2.5 KiB and an AWS config with a few
/// hundred profiles stays under 100 KiB, so a file of 1 MiB or more is not a config file
/// (more likely a mistyped path to a log or a binary); refusing it bounds memory and parse
/// time.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Reads `path` as UTF-8 text. A file that does not exist gives `Ok(None)`; the caller
/// decides whether that is an error.
///
/// The text holds secret keys, so it is returned [`Zeroizing`]; the buffer is sized from the
/// file's length up front so that growing it leaves no unzeroed copies behind (best effort:
/// a file that grows while read may still cause one reallocation).
pub(super) fn read_optional(path: &Path) -> Result<Option<Zeroizing<String>>, ConfigError> {
    let file = match fs_err::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let expected = file.metadata().map_or(0, |meta| meta.len());
    let capacity = usize::try_from(expected.min(MAX_CONFIG_FILE_BYTES) + 1).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            limit_bytes: MAX_CONFIG_FILE_BYTES,
        });
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Some(Zeroizing::new(text))),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = Zeroizing::new(err.into_bytes());
            let line = 1 + bytes.iter().take(valid).filter(|&&b| b == b'\n').count();
            Err(ConfigError::NotUtf8 {
                path: path.to_owned(),
                line,
            })
        }
    }
}

/// Expands a leading `~/` (or a lone `~`) against `home`, as the AWS CLI and s3cmd do for
/// paths they read from files and the environment. Without a home the path is kept as is.
pub(super) fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path, home) {
        ("~", Some(home)) => home.to_owned(),
        (_, Some(home)) => match path.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => PathBuf::from(path),
        },
        (_, None) => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_optional(&dir.path().join("absent")).unwrap().is_none());
    }

    #[test]
    fn reads_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg");
        fs_err::write(&path, "[default]\n").unwrap();
        assert_eq!(
            read_optional(&path).unwrap().unwrap().as_str(),
            "[default]\n"
        );
    }

    #[test]
    fn refuses_files_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let exact = usize::try_from(MAX_CONFIG_FILE_BYTES).unwrap();
        fs_err::write(&path, vec![b'#'; exact]).unwrap();
        assert!(read_optional(&path).is_ok());
        fs_err::write(&path, vec![b'#'; exact + 1]).unwrap();
        let err = read_optional(&path).unwrap_err();
        assert!(matches!(err, ConfigError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg");
        fs_err::write(&path, b"[default]\nkey = \xff\n").unwrap();
        let err = read_optional(&path).unwrap_err();
        assert!(matches!(err, ConfigError::NotUtf8 { line: 2, .. }), "{err}");
    }

    #[test]
    fn directory_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_optional(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn expands_home() {
        let home = Path::new("/home/op");
        assert_eq!(expand_home("~/.s3cfg", Some(home)), home.join(".s3cfg"));
        assert_eq!(expand_home("~", Some(home)), home);
        assert_eq!(expand_home("/etc/x", Some(home)), Path::new("/etc/x"));
        assert_eq!(expand_home("~/x", None), Path::new("~/x"));
        assert_eq!(expand_home("~other/x", Some(home)), Path::new("~other/x"));
    }
}
