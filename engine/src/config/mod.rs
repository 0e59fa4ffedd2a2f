//! Connection settings (endpoint, region, addressing, credentials, TLS) gathered from
//! flags, the environment, the AWS shared files and s3cmd's `~/.s3cfg`, each with where it
//! came from.
//!
//! [`resolve`] applies this precedence, highest first, setting by setting:
//!
//! 1. flags, passed in as [`Overrides`];
//! 2. the environment, passed in as an [`Environment`]: `AWS_ACCESS_KEY_ID`,
//!    `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` then `AWS_DEFAULT_REGION`,
//!    `AWS_ENDPOINT_URL_S3` then `AWS_ENDPOINT_URL`, `AWS_CA_BUNDLE`; `AWS_PROFILE`,
//!    `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE` and `HAUL_CONFIG` choose what the
//!    next layers read;
//! 3. `~/.aws/credentials` and `~/.aws/config`, for the profile from `--profile`,
//!    `AWS_PROFILE` or `default`;
//! 4. an s3cmd file: `--config FILE`, `HAUL_CONFIG`, or `~/.s3cfg`;
//! 5. defaults: region `us-east-1`, AWS's regional endpoint, [`AddressingStyle::Auto`],
//!    TLS verification on.
//!
//! Credentials are the exception to "setting by setting": access key id, secret and session
//! token come together from the highest source that mentions any of them, never an access
//! key from one place and a secret from another. No credentials anywhere is allowed and
//! means anonymous requests ([`ResolvedConfig::is_anonymous`]).
//!
//! Every value is a [`Sourced`] carrying its [`Source`] (flag, variable, file and line,
//! default) for `haul config show` ([`ResolvedConfig::entries`]) and for errors. Secrets are
//! [`Secret`]s: zeroed on drop, redacted in `Debug`, never in `Display` or entries.
//!
//! What this module does not do: it imports nothing else from the engine (the CLI turns
//! these plain values into `s3` and `transport` types), never changes the process
//! environment, and implements no role, SSO or instance-metadata credentials. File syntax is
//! in [`ini`]; the meaning of each file's keys in `aws_files.rs` and `s3cfg.rs`; the
//! precedence in `precedence.rs`. Read `precedence.rs` next.

mod aws_files;
mod credentials;
mod endpoint;
mod error;
mod file;
pub mod ini;
mod precedence;
mod resolved;
mod s3cfg;
mod secret;
mod source;

pub use credentials::Credentials;
pub use endpoint::{
    AddressingStyle, BucketHostTemplate, Endpoint, EndpointError, ParseAddressingStyleError,
    Scheme, is_dns_compatible_bucket,
};
pub use error::ConfigError;
pub use file::MAX_CONFIG_FILE_BYTES;
pub use precedence::{DEFAULT_REGION, Environment, Overrides, ProcessEnvironment, resolve};
pub use resolved::{ConfigEntry, REDACTED, ResolvedConfig, TlsVerification};
pub use secret::Secret;
pub use source::{Source, Sourced};

#[cfg(test)]
mod fixture;
