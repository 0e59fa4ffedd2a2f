//! The result of resolution: every setting with its source, and the rows of
//! `haul config show`.

use std::fmt;
use std::path::PathBuf;

use super::{AddressingStyle, BucketHostTemplate, Credentials, Endpoint, Source, Sourced};

/// Whether the server's TLS certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVerification {
    /// Verify the chain and the host name (the default).
    Enabled,
    /// Accept any certificate (`--no-verify-ssl`, s3cmd's `check_ssl_certificate = False`).
    Disabled,
}

impl fmt::Display for TlsVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        })
    }
}

/// Every connection setting haul uses, each with where it came from.
///
/// `Debug` never shows a secret (see [`super::Secret`]); [`ResolvedConfig::entries`] gives
/// the redacted rows for `haul config show`.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The AWS profile whose sections were read (`default` unless chosen).
    pub profile: Sourced<String>,
    /// Where requests go. When nothing names an endpoint this is AWS S3's regional endpoint
    /// for `region`, with [`Source::Default`].
    pub endpoint: Sourced<Endpoint>,
    /// The signing region.
    pub region: Sourced<String>,
    /// Path or virtual-host addressing; `Auto` lets the client decide per bucket.
    pub addressing: Sourced<AddressingStyle>,
    /// s3cmd's `host_bucket` template, present only when it names a host other than
    /// `bucket.` + the endpoint's authority, and only when the endpoint and the addressing
    /// both came from that same s3cmd file. For a DNS-compatible bucket with virtual-host
    /// addressing, the client sends the request to `render(bucket)` instead of
    /// `bucket.<endpoint host>`.
    pub bucket_host: Option<Sourced<BucketHostTemplate>>,
    /// Static credentials; `None` means requests go unsigned (anonymous).
    pub credentials: Option<Credentials>,
    /// A PEM bundle of CA certificates to trust instead of the system's.
    pub ca_bundle: Option<Sourced<PathBuf>>,
    /// Whether TLS certificates are verified.
    pub tls_verification: Sourced<TlsVerification>,
    /// The config files that existed and were read, in precedence order.
    pub files_read: Vec<PathBuf>,
}

/// One row of `haul config show`: a setting's name, its value as safe to print, and where it
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The setting, spelled as in `~/.aws/config` where it exists there (`endpoint_url`,
    /// `addressing_style`).
    pub name: &'static str,
    /// The value to print. Secrets appear only as `(set, redacted)`.
    pub display_value: String,
    /// Where the value came from.
    pub source: Source,
}

/// What `haul config show` prints in place of a secret.
pub const REDACTED: &str = "(set, redacted)";

impl ResolvedConfig {
    /// Whether requests will be unsigned because no source gave credentials.
    #[must_use]
    pub fn is_anonymous(&self) -> bool {
        self.credentials.is_none()
    }

    /// The rows of `haul config show`, in a fixed order. Secret values never appear.
    #[must_use]
    pub fn entries(&self) -> Vec<ConfigEntry> {
        fn row<T: fmt::Display>(name: &'static str, setting: &Sourced<T>) -> ConfigEntry {
            ConfigEntry {
                name,
                display_value: setting.value.to_string(),
                source: setting.source.clone(),
            }
        }
        fn redacted<T>(name: &'static str, setting: &Sourced<T>) -> ConfigEntry {
            ConfigEntry {
                name,
                display_value: REDACTED.to_owned(),
                source: setting.source.clone(),
            }
        }

        let mut rows = vec![
            row("profile", &self.profile),
            row("endpoint_url", &self.endpoint),
            row("region", &self.region),
            row("addressing_style", &self.addressing),
        ];
        if let Some(template) = &self.bucket_host {
            rows.push(row("host_bucket", template));
        }
        match &self.credentials {
            Some(credentials) => {
                rows.push(row("access_key_id", &credentials.access_key_id));
                rows.push(redacted(
                    "secret_access_key",
                    &credentials.secret_access_key,
                ));
                if let Some(token) = &credentials.session_token {
                    rows.push(redacted("session_token", token));
                }
            }
            None => rows.push(ConfigEntry {
                name: "credentials",
                display_value: "none (requests are sent unsigned)".to_owned(),
                source: Source::Default,
            }),
        }
        rows.push(match &self.ca_bundle {
            Some(path) => ConfigEntry {
                name: "ca_bundle",
                display_value: path.value.display().to_string(),
                source: path.source.clone(),
            },
            None => ConfigEntry {
                name: "ca_bundle",
                display_value: "(not set)".to_owned(),
                source: Source::Default,
            },
        });
        rows.push(row("tls_verification", &self.tls_verification));
        rows
    }
}
