//! The engine's public error: every layer's error wrapped with the context a user needs (the
//! operation, bucket, key, local path), and a [`ErrorKind`] the CLI maps to exit codes.

use std::fmt;
use std::path::PathBuf;

use crate::s3::{self, S3ErrorCode};
use crate::transport::{FailureKind, TransportError};

/// What kind of failure an [`Error`] is, for exit codes and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad arguments or an invalid combination of them.
    Usage,
    /// A configuration file or value is missing or malformed.
    Config,
    /// The bucket, object or upload does not exist.
    NotFound,
    /// The gateway refused the credentials or the access.
    Auth,
    /// The gateway could not be reached, timed out, or TLS failed.
    Network,
    /// What arrived does not match what was expected (length, checksum).
    Integrity,
    /// The run was interrupted.
    Interrupted,
    /// Anything else.
    Other,
}

/// Which object or bucket an operation was about, rendered once (` s3://bucket/key`) and
/// boxed, so that errors stay small on the hot path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target(Option<Box<str>>);

impl Target {
    /// A bucket.
    #[must_use]
    pub fn bucket(bucket: &str) -> Self {
        Self(Some(format!("s3://{bucket}").into()))
    }

    /// An object.
    #[must_use]
    pub fn object(bucket: &str, key: &str) -> Self {
        Self(Some(format!("s3://{bucket}/{key}").into()))
    }

    /// The same target with a detail appended (`(part 3)`).
    #[must_use]
    pub fn with_detail(self, detail: &str) -> Self {
        match self.0 {
            Some(t) => Self(Some(format!("{t} {detail}").into())),
            None => Self(Some(detail.into())),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(t) => write!(f, " {t}"),
            None => Ok(()),
        }
    }
}

/// An engine error. Display gives one line: `operation target: cause`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered with an S3 error.
    #[error("{operation}{target}: {source}")]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// The parsed error (boxed: it carries several strings, and `Result<_, Error>` is
        /// returned on every hot path).
        #[source]
        source: Box<s3::S3Error>,
    },
    /// The exchange failed below HTTP (connect, timeout, reset, TLS).
    #[error("{operation}{target}: {source}")]
    Transport {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// The transport failure.
        #[source]
        source: TransportError,
    },
    /// The connection broke while a large request body was being sent, twice, and no body
    /// that large has passed in this run: a router or proxy with a body limit that closes the
    /// connection instead of answering 413. Transfers treat it as they treat a 413.
    #[error(
        "{operation}{target}: the connection was closed twice while a {bytes}-byte body was \
         being sent, as a router's body limit does: {source}"
    )]
    BodyCut {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// Size of the body that was cut off.
        bytes: u64,
        /// The transport failure of the last attempt.
        #[source]
        source: TransportError,
    },
    /// Building, reading or writing a manifest failed.
    #[error(transparent)]
    Manifest(Box<crate::manifest::ManifestError>),
    /// A response could not be understood.
    #[error("{operation}{target}: malformed response: {source}")]
    Parse {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// The parse failure (boxed: it carries the element path).
        #[source]
        source: Box<s3::ParseError>,
    },
    /// A request could not be built (a bad metadata value, too many keys).
    #[error("{operation}{target}: {source}")]
    Request {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// Why.
        #[source]
        source: s3::RequestError,
    },
    /// Signing failed.
    #[error("{operation}{target}: signing failed: {source}")]
    Sign {
        /// The S3 operation.
        operation: &'static str,
        /// What it was about.
        target: Target,
        /// Why.
        #[source]
        source: s3::SignError,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A key cannot become a local path.
    #[error(transparent)]
    UnsafePath(#[from] crate::local::PathError),
    /// A transfer could not be planned (part limits, body limits).
    #[error(transparent)]
    Plan(#[from] crate::transfer::PlanError),
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A name or endpoint given by the user is invalid.
    #[error("{0}")]
    Usage(String),
    /// Data did not match what the gateway said it was.
    #[error("{what}")]
    Integrity {
        /// What did not match, with the object named.
        what: String,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The kind, for exit codes.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::S3 { source, .. } => match source.code {
                S3ErrorCode::NoSuchKey
                | S3ErrorCode::NoSuchBucket
                | S3ErrorCode::NoSuchUpload
                | S3ErrorCode::NotFound => ErrorKind::NotFound,
                S3ErrorCode::AccessDenied
                | S3ErrorCode::SignatureDoesNotMatch
                | S3ErrorCode::InvalidAccessKeyId
                | S3ErrorCode::RequestTimeTooSkewed => ErrorKind::Auth,
                _ if source.status == 403 => ErrorKind::Auth,
                _ if source.status == 404 => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
            Error::Transport { source, .. } => match source.kind {
                // Not the network's fault: a local file that failed, or an answer larger than
                // haul reads (a hostile or broken gateway; the connection itself was fine).
                FailureKind::BodySource | FailureKind::TooLarge => ErrorKind::Other,
                _ => ErrorKind::Network,
            },
            Error::BodyCut { .. } => ErrorKind::Network,
            Error::Manifest(_)
            | Error::Parse { .. }
            | Error::Request { .. }
            | Error::Sign { .. }
            | Error::Local { .. }
            | Error::Plan(_) => ErrorKind::Other,
            Error::Config(_) => ErrorKind::Config,
            Error::Usage(_) => ErrorKind::Usage,
            Error::Integrity { .. } | Error::UnsafePath(_) => ErrorKind::Integrity,
            Error::Interrupted => ErrorKind::Interrupted,
        }
    }

    /// A hint for the user, where haul knows a likely fix.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::S3 { source, .. } => match source.code {
                S3ErrorCode::SignatureDoesNotMatch => Some(
                    "the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY, \
                     the AWS credentials file or secret_key in ~/.s3cfg (`haul config show` \
                     tells which is used)",
                ),
                S3ErrorCode::InvalidAccessKeyId => Some(
                    "the gateway does not know this access key: a new cluster has new keys \
                     (`deisctl config store get gateway/accessKey`)",
                ),
                S3ErrorCode::RequestTimeTooSkewed => {
                    Some("this machine's clock is off: synchronise it (NTP)")
                }
                S3ErrorCode::NoSuchBucket => Some("create it first with `haul mb s3://BUCKET`"),
                S3ErrorCode::BucketNotEmpty => Some(
                    "the bucket is not empty: `haul rb --force` deletes its objects and \
                     multipart uploads first",
                ),
                S3ErrorCode::EntityTooLarge => Some(
                    "a router or proxy limits request bodies: lower --part-size or raise the \
                     limit (deisctl config router set bodySize=100m)",
                ),
                _ => None,
            },
            Error::Transport { source, .. } => match source.kind {
                FailureKind::Connect | FailureKind::Timeout(_) => Some(
                    "check the endpoint (--endpoint, AWS_ENDPOINT_URL or host_base in \
                     ~/.s3cfg) and that the gateway is running",
                ),
                FailureKind::Tls => Some(
                    "the certificate is not trusted: pass --ca-bundle FILE, or use http:// if \
                     the gateway has no TLS",
                ),
                FailureKind::TooLarge => Some(
                    "no S3 answer is that large: the gateway is broken or is not an S3 gateway \
                     (check the endpoint)",
                ),
                _ => None,
            },
            Error::BodyCut { .. } => Some(
                "a router or proxy limits request bodies: pass --max-body (or a smaller \
                 --part-size), or raise the limit (deisctl config router set bodySize=100m)",
            ),
            _ => None,
        }
    }

    /// Whether the error is worth retrying at a higher level (a whole object transfer).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::S3 { source, .. } => matches!(source.status, 500 | 502 | 503 | 504 | 429),
            Error::Transport { source, .. } => !matches!(
                source.kind,
                FailureKind::Tls | FailureKind::BodySource | FailureKind::TooLarge
            ),
            _ => false,
        }
    }

    pub(crate) fn local(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Local {
            path: path.into(),
            source,
        }
    }
}

impl From<crate::manifest::ManifestError> for Error {
    /// A gateway error inside a manifest error comes out as itself (its exit code and hint).
    fn from(e: crate::manifest::ManifestError) -> Self {
        match e {
            crate::manifest::ManifestError::Remote(e) => *e,
            other => Error::Manifest(Box::new(other)),
        }
    }
}

/// Shorthand for engine results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(kind: FailureKind) -> Error {
        Error::Transport {
            operation: "ListObjectsV2",
            target: Target::bucket("registry"),
            source: TransportError::new(kind, "127.0.0.1:9000", "detail"),
        }
    }

    #[test]
    fn an_answer_too_large_is_not_a_network_failure() {
        let err = transport(FailureKind::TooLarge);
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(!err.is_retryable());
        assert!(err.hint().is_some_and(|h| h.contains("not an S3 gateway")));
        let msg = err.to_string();
        assert!(
            msg.starts_with("ListObjectsV2 s3://registry: response too large"),
            "{msg}"
        );
        for kind in [
            FailureKind::Connect,
            FailureKind::Timeout(crate::transport::Phase::ReceiveBody),
            FailureKind::Reset,
            FailureKind::Tls,
        ] {
            assert_eq!(transport(kind).kind(), ErrorKind::Network, "{kind:?}");
        }
        assert_eq!(transport(FailureKind::BodySource).kind(), ErrorKind::Other);
    }
}
