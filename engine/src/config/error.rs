//! `ConfigError`: everything that can go wrong finding settings, each naming the file and
//! line, the environment variable or the flag at fault.

use std::io;
use std::path::PathBuf;

use super::{EndpointError, Source};

/// A setting haul could not read or accept.
///
/// Every variant names where the problem is (file and line, variable or flag); [`hint`]
/// says what to do about it. No variant ever holds a secret value.
///
/// [`hint`]: ConfigError::hint
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file exists but could not be read. The `source` (from `fs_err`) names the
    /// path and the operation.
    #[error("cannot read config file")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO failure.
        #[source]
        source: io::Error,
    },

    /// A file the user named explicitly (`--config`, `HAUL_CONFIG`) does not exist.
    #[error("config file {} named by {origin} does not exist", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
        /// The flag or variable that named it.
        origin: Box<Source>,
    },

    /// A file larger than `MAX_CONFIG_FILE_BYTES`.
    #[error("{} is larger than {limit_bytes} bytes, too large for a config file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        limit_bytes: u64,
    },

    /// A file that is not UTF-8 text.
    #[error("{} line {line} is not valid UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },

    /// A line that is not a section header, `key = value`, comment, blank or continuation.
    #[error("{} line {line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected.
        reason: &'static str,
    },

    /// A value of the wrong form (a region with spaces, `use_https = maybe`).
    #[error("invalid {key} `{value}` from {origin}: {reason}")]
    InvalidValue {
        /// Where the value came from (file and line, variable or flag).
        origin: Box<Source>,
        /// The key as the user wrote it: `use_https`, `AWS_REGION`, `--addressing`.
        key: &'static str,
        /// The rejected value (never a secret).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An endpoint URL that is not `http[s]://HOST[:PORT]`.
    #[error("invalid endpoint `{value}` from {origin}")]
    InvalidEndpoint {
        /// Where the value came from.
        origin: Box<Source>,
        /// The key as the user wrote it: `host_base`, `endpoint_url`, `AWS_ENDPOINT_URL`.
        key: &'static str,
        /// The rejected URL.
        value: String,
        /// What is wrong with it.
        #[source]
        source: EndpointError,
    },

    /// One source gives part of a credential set but not the rest (an access key id without
    /// a secret, or a secret without an access key id). Sources never mix, so the missing
    /// part is not looked for elsewhere.
    #[error("{origin} sets {present} but not {missing}")]
    IncompleteCredentials {
        /// Where the part that is present came from.
        origin: Box<Source>,
        /// `the access key id`, `the secret access key` or `the session token`.
        present: &'static str,
        /// The key the user must add there: `aws_secret_access_key`, `secret_key`, …
        missing: &'static str,
    },

    /// A profile chosen with `--profile` or `AWS_PROFILE` that neither AWS file has.
    #[error(
        "profile `{profile}` from {origin} is in neither {} nor {}",
        config_path.display(),
        credentials_path.display()
    )]
    ProfileNotFound {
        /// The profile name.
        profile: String,
        /// The flag or variable that chose it.
        origin: Box<Source>,
        /// The AWS config file looked in.
        config_path: PathBuf,
        /// The AWS credentials file looked in.
        credentials_path: PathBuf,
    },

    /// A chosen profile that gets its credentials some way haul does not implement
    /// (`role_arn`, `credential_process`, SSO, web identity).
    #[error(
        "profile `{profile}` in {} line {line} gets credentials through `{key}`, which haul does not support",
        path.display()
    )]
    UnsupportedCredentialSource {
        /// The AWS config file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// 1-based line of the key.
        line: usize,
        /// The key: `role_arn`, `credential_process`, `sso_session`, …
        key: &'static str,
    },
}

impl ConfigError {
    /// A line telling the user what to do, for the CLI to print under the error.
    #[must_use]
    pub fn hint(&self) -> String {
        match self {
            Self::Read { path, .. } => {
                format!("check that {} is a readable file", path.display())
            }
            Self::NotFound { origin, .. } => match &**origin {
                Source::Env(name) => {
                    format!("fix the path in {name}, or unset it to read ~/.s3cfg")
                }
                _ => format!("fix the path given by {origin}"),
            },
            Self::TooLarge { path, .. } => {
                format!("check that {} is the config file you meant", path.display())
            }
            Self::NotUtf8 { path, line } => format!(
                "fix line {line} of {}, or save the file as UTF-8",
                path.display()
            ),
            Self::Malformed { path, line, .. } => format!(
                "fix or remove line {line} of {}; settings are written `key = value`",
                path.display()
            ),
            Self::InvalidValue { origin, key, .. } => fix_at(origin, key),
            Self::InvalidEndpoint { origin, key, .. } => {
                let form = if *key == "host_base" {
                    "HOST[:PORT] without scheme or path; use_https picks http or https"
                } else {
                    "http://HOST[:PORT] or https://HOST[:PORT], without a path"
                };
                format!("{} ({key} takes {form})", fix_at(origin, key))
            }
            Self::IncompleteCredentials {
                origin, missing, ..
            } => match &**origin {
                Source::Flag(_) | Source::Env(_) => {
                    format!("set {missing} too, or remove {origin}")
                }
                _ => format!("add {missing} next to {origin}"),
            },
            Self::ProfileNotFound { profile, .. } => format!(
                "add a [{profile}] section to the credentials file or [profile {profile}] to the config file, or pick another profile"
            ),
            Self::UnsupportedCredentialSource { profile, .. } => format!(
                "export static keys first, e.g. `eval \"$(aws configure export-credentials --profile {profile} --format env)\"`"
            ),
        }
    }
}

/// "check KEY in FILE line N" / "check the environment variable NAME" / "check FLAG".
fn fix_at(origin: &Source, key: &str) -> String {
    match origin {
        Source::Flag(flag) => format!("check the value given to {flag}"),
        Source::Env(name) => format!("check the environment variable {name}"),
        Source::AwsConfigFile { .. } | Source::AwsCredentialsFile { .. } | Source::S3cfg { .. } => {
            format!("check {key} in {origin}")
        }
        Source::Default => format!("check {key}"),
    }
}
