//! Provenance: where a setting came from, shown by `haul config show` and named in errors.

use std::fmt;
use std::path::PathBuf;

/// Where one setting's value came from, highest precedence first.
///
/// `Display` is what `haul config show` and error messages print: `flag --region`,
/// `env AWS_PROFILE`, `/home/op/.aws/config line 7 (profile ceph)`,
/// `/home/op/.s3cfg line 12`, `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, by its name including the dashes (`--endpoint`).
    Flag(&'static str),
    /// An environment variable, by name.
    Env(&'static str),
    /// `~/.aws/config` (or `AWS_CONFIG_FILE`).
    AwsConfigFile {
        /// The file read.
        path: PathBuf,
        /// The profile whose section held the key.
        profile: String,
        /// 1-based line of the key.
        line: usize,
    },
    /// `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`).
    AwsCredentialsFile {
        /// The file read.
        path: PathBuf,
        /// The profile whose section held the key.
        profile: String,
        /// 1-based line of the key.
        line: usize,
    },
    /// An s3cmd config: `~/.s3cfg`, `--config FILE` or `HAUL_CONFIG`.
    S3cfg {
        /// The file read.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// Nothing set it; haul's built-in default applies.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(name) => write!(f, "flag {name}"),
            Self::Env(name) => write!(f, "env {name}"),
            Self::AwsConfigFile {
                path,
                profile,
                line,
            }
            | Self::AwsCredentialsFile {
                path,
                profile,
                line,
            } => write!(f, "{} line {line} (profile {profile})", path.display()),
            Self::S3cfg { path, line } => write!(f, "{} line {line}", path.display()),
            Self::Default => f.write_str("default"),
        }
    }
}

/// A setting together with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The setting.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Sourced<T> {
    /// Pairs `value` with `source`.
    pub fn new(value: T, source: Source) -> Self {
        Self { value, source }
    }

    /// Transforms the value, keeping the source.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: f(self.value),
            source: self.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_origin() {
        assert_eq!(Source::Flag("--endpoint").to_string(), "flag --endpoint");
        assert_eq!(
            Source::Env("AWS_ACCESS_KEY_ID").to_string(),
            "env AWS_ACCESS_KEY_ID"
        );
        assert_eq!(
            Source::S3cfg {
                path: "/home/op/.s3cfg".into(),
                line: 12
            }
            .to_string(),
            "/home/op/.s3cfg line 12"
        );
        assert_eq!(
            Source::AwsConfigFile {
                path: "/home/op/.aws/config".into(),
                profile: "ceph".into(),
                line: 3
            }
            .to_string(),
            "/home/op/.aws/config line 3 (profile ceph)"
        );
        assert_eq!(Source::Default.to_string(), "default");
    }
}
