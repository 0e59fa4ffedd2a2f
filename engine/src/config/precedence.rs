//! Precedence: flags, then environment, then the AWS files, then `~/.s3cfg`, then defaults.
//!
//! Each source becomes a [`Layer`]; every setting is taken from the first layer that has it,
//! except credentials, which are taken whole from the first layer that mentions any part of
//! them; a profile named by a flag (`--profile`, a backup plan's `source_profile` /
//! `destination_profile`) passes over the environment's keys, as botocore does for an
//! explicit profile: the user named the keys to use. A value is checked only if it is the one that wins, so a bad value a flag overrides
//! does not stop haul; a malformed *line* in a file that exists is always an error.

use std::path::{Path, PathBuf};

use super::credentials::{CredentialKeys, CredentialParts};
use super::file::{expand_home, read_optional};
use super::{
    AddressingStyle, BucketHostTemplate, ConfigError, Endpoint, ResolvedConfig, Secret, Source,
    Sourced, TlsVerification, aws_files, s3cfg,
};

/// Where the environment's layer is in `resolve`'s list.
const ENV_LAYER: usize = 1;

/// The region used when no source names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Settings given as command-line flags: the highest precedence. `None` means "not given".
///
/// The CLI's flags are expected to be spelled as the [`Source::Flag`] names used here:
/// `--endpoint`, `--access-key-id`, `--secret-access-key`, `--session-token`,
/// `--region`, `--profile`, `--addressing`, `--config`, `--ca-bundle`, `--no-verify-ssl`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--endpoint URL`.
    pub endpoint_url: Option<String>,
    /// `--access-key-id ID`.
    pub access_key_id: Option<String>,
    /// `--secret-access-key KEY`.
    pub secret_access_key: Option<Secret>,
    /// `--session-token TOKEN`.
    pub session_token: Option<Secret>,
    /// `--region NAME`.
    pub region: Option<String>,
    /// `--profile NAME`: which AWS profile to read.
    pub profile: Option<String>,
    /// `--addressing path|virtual|auto`.
    pub addressing: Option<AddressingStyle>,
    /// `--config FILE`: an s3cmd-format file read instead of `~/.s3cfg`; it must exist.
    pub config_file: Option<PathBuf>,
    /// `--ca-bundle FILE`: PEM CA certificates to trust.
    pub ca_bundle: Option<PathBuf>,
    /// `--no-verify-ssl`: accept any TLS certificate.
    pub no_verify_ssl: bool,
}

/// The environment, read through a trait so that tests need not change the process's.
///
/// Any `Fn(&str) -> Option<String>` is one; [`ProcessEnvironment`] reads the real one. A
/// variable set to the empty string counts as unset, as in the AWS CLI.
pub trait Environment {
    /// The value of variable `name`, `None` when unset or not UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

impl<F> Environment for F
where
    F: Fn(&str) -> Option<String>,
{
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process's real environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Reads a variable, treating the empty string as unset.
pub(super) fn env_var(env: &dyn Environment, name: &str) -> Option<String> {
    env.var(name).filter(|value| !value.is_empty())
}

/// The flag names [`Source::Flag`] shows; the CLI's flags are spelled the same.
mod flag {
    pub(super) const ENDPOINT: &str = "--endpoint";
    pub(super) const ACCESS_KEY_ID: &str = "--access-key-id";
    pub(super) const SECRET_ACCESS_KEY: &str = "--secret-access-key";
    pub(super) const SESSION_TOKEN: &str = "--session-token";
    pub(super) const REGION: &str = "--region";
    pub(super) const PROFILE: &str = "--profile";
    pub(super) const ADDRESSING: &str = "--addressing";
    pub(super) const CONFIG: &str = "--config";
    pub(super) const CA_BUNDLE: &str = "--ca-bundle";
    pub(super) const NO_VERIFY_SSL: &str = "--no-verify-ssl";
}

/// Environment variables haul reads, by the setting they feed.
mod var {
    pub(super) const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    pub(super) const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    pub(super) const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    pub(super) const REGION: &str = "AWS_REGION";
    pub(super) const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
    pub(super) const ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
    pub(super) const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    pub(super) const PROFILE: &str = "AWS_PROFILE";
    pub(super) const CONFIG_FILE: &str = "AWS_CONFIG_FILE";
    pub(super) const SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
    pub(super) const CA_BUNDLE: &str = "AWS_CA_BUNDLE";
    pub(super) const HAUL_CONFIG: &str = "HAUL_CONFIG";
}

/// A setting one layer offers: `None` when the layer does not set it, `Some(Err)` when it
/// sets it to something invalid (reported only if this layer wins).
pub(super) type Setting<T> = Option<Result<Sourced<T>, ConfigError>>;

/// What one source says.
#[derive(Debug, Default)]
pub(super) struct Layer {
    pub(super) endpoint: Setting<Endpoint>,
    pub(super) region: Setting<String>,
    pub(super) addressing: Setting<AddressingStyle>,
    /// s3cmd only: kept when this layer also wins endpoint and addressing.
    pub(super) bucket_host: Option<Sourced<BucketHostTemplate>>,
    pub(super) credentials: CredentialParts,
    pub(super) credential_keys: CredentialKeys,
    pub(super) ca_bundle: Option<Sourced<PathBuf>>,
    pub(super) tls_verification: Setting<TlsVerification>,
}

/// Checks an endpoint URL from `source`, where the user wrote it as `key`.
pub(super) fn endpoint_setting(
    value: &str,
    source: Source,
    key: &'static str,
) -> Result<Sourced<Endpoint>, ConfigError> {
    match Endpoint::parse(value) {
        Ok(endpoint) => Ok(Sourced::new(endpoint, source)),
        Err(err) => Err(ConfigError::InvalidEndpoint {
            origin: Box::new(source),
            key,
            value: value.to_owned(),
            source: err,
        }),
    }
}

/// Checks a region name: letters, digits, `-`, `_` and `.` (AWS regions and Ceph zonegroup
/// names), because it becomes part of the signing scope and of the default endpoint's host.
pub(super) fn region_setting(
    value: &str,
    source: Source,
    key: &'static str,
) -> Result<Sourced<String>, ConfigError> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !value.starts_with('.')
        && !value.ends_with('.')
        && !value.contains("..");
    if valid {
        Ok(Sourced::new(value.to_owned(), source))
    } else {
        Err(ConfigError::InvalidValue {
            origin: Box::new(source),
            key,
            value: value.to_owned(),
            reason: "a region is letters, digits, `-`, `_` and `.`, like us-east-1",
        })
    }
}

/// Checks an addressing style (`path`, `virtual`, `auto`).
pub(super) fn addressing_setting(
    value: &str,
    source: Source,
    key: &'static str,
) -> Result<Sourced<AddressingStyle>, ConfigError> {
    match value.parse::<AddressingStyle>() {
        Ok(style) => Ok(Sourced::new(style, source)),
        Err(_) => Err(ConfigError::InvalidValue {
            origin: Box::new(source),
            key,
            value: value.to_owned(),
            reason: "expected path, virtual or auto",
        }),
    }
}

/// Resolves every setting from `overrides` (flags), `env`, the AWS files and the s3cmd
/// file, with `home` as the user's home directory (`None`: no default files are read).
///
/// # Errors
///
/// A [`ConfigError`] naming the file and line, variable or flag, when:
/// - a config file that exists cannot be read, is over `MAX_CONFIG_FILE_BYTES`, is not
///   UTF-8, or has a malformed line;
/// - `--config` or `HAUL_CONFIG` names a file that does not exist;
/// - `--profile` or `AWS_PROFILE` names a profile that neither AWS file has, or that gets
///   credentials in a way haul does not support;
/// - the winning value of a setting is invalid (endpoint URL, region, addressing style,
///   s3cmd boolean);
/// - the source that gives credentials gives an access key id without a secret, or a secret
///   or token without an access key id.
pub fn resolve(
    overrides: &Overrides,
    env: &dyn Environment,
    home: Option<&Path>,
) -> Result<ResolvedConfig, ConfigError> {
    let profile = if let Some(name) = overrides.profile.clone().filter(|p| !p.is_empty()) {
        Sourced::new(name, Source::Flag(flag::PROFILE))
    } else if let Some(name) = env_var(env, var::PROFILE) {
        Sourced::new(name, Source::Env(var::PROFILE))
    } else {
        Sourced::new("default".to_owned(), Source::Default)
    };

    let mut files_read = Vec::new();
    let aws_paths = aws_files::AwsPaths {
        config: env_var(env, var::CONFIG_FILE)
            .map(|path| expand_home(&path, home))
            .or_else(|| home.map(|home| home.join(".aws").join("config"))),
        credentials: env_var(env, var::SHARED_CREDENTIALS_FILE)
            .map(|path| expand_home(&path, home))
            .or_else(|| home.map(|home| home.join(".aws").join("credentials"))),
    };
    let aws = aws_files::layer(&aws_paths, &profile, home, &mut files_read)?;
    let s3cmd = s3cmd_layer(overrides, env, home, &mut files_read)?;
    let mut layers = [flag_layer(overrides), env_layer(env, home), aws, s3cmd];
    let s3cmd_index = layers.len() - 1;

    let (endpoint_layer, endpoint) = take_first(&mut layers, |layer| layer.endpoint.take());
    let (addressing_layer, addressing) = take_first(&mut layers, |layer| layer.addressing.take());
    let (_, region) = take_first(&mut layers, |layer| layer.region.take());
    let (_, tls_verification) = take_first(&mut layers, |layer| layer.tls_verification.take());
    let (_, ca_bundle) = take_first(&mut layers, |layer| layer.ca_bundle.take());

    let region = region
        .transpose()?
        .unwrap_or_else(|| Sourced::new(DEFAULT_REGION.to_owned(), Source::Default));
    let endpoint = endpoint
        .transpose()?
        .unwrap_or_else(|| Sourced::new(Endpoint::aws(&region.value), Source::Default));
    let addressing = addressing
        .transpose()?
        .unwrap_or_else(|| Sourced::new(AddressingStyle::Auto, Source::Default));
    let tls_verification = tls_verification
        .transpose()?
        .unwrap_or_else(|| Sourced::new(TlsVerification::Enabled, Source::Default));
    let bucket_host =
        if endpoint_layer == Some(s3cmd_index) && addressing_layer == Some(s3cmd_index) {
            layers
                .get_mut(s3cmd_index)
                .and_then(|layer| layer.bucket_host.take())
        } else {
            None
        };

    // An explicit profile's keys win over AWS_ACCESS_KEY_ID (the environment layer).
    let explicit_profile = matches!(profile.source, Source::Flag(_));
    let credentials = layers
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| !(explicit_profile && *i == ENV_LAYER))
        .map(|(_, layer)| layer)
        .find(|layer| !layer.credentials.is_empty())
        .and_then(|layer| std::mem::take(&mut layer.credentials).into_unit(&layer.credential_keys))
        .transpose()?;

    if let Some(credentials) = &credentials {
        warn_on_mixed_files(&credentials.access_key_id.source, &endpoint.source);
    }

    Ok(ResolvedConfig {
        profile,
        endpoint,
        region,
        addressing,
        bucket_host,
        credentials,
        ca_bundle,
        tls_verification,
        files_read,
    })
}

/// The first layer's value for one setting, and that layer's index.
fn take_first<T>(
    layers: &mut [Layer],
    mut take: impl FnMut(&mut Layer) -> Option<T>,
) -> (Option<usize>, Option<T>) {
    for (index, layer) in layers.iter_mut().enumerate() {
        if let Some(value) = take(layer) {
            return (Some(index), Some(value));
        }
    }
    (None, None)
}

/// Credentials from the AWS files with an endpoint from `~/.s3cfg` (or the reverse) is a
/// legal result of the precedence rules, and a likely cause of "access denied": say so.
fn warn_on_mixed_files(credentials: &Source, endpoint: &Source) {
    let aws_file = |source: &Source| {
        matches!(
            source,
            Source::AwsConfigFile { .. } | Source::AwsCredentialsFile { .. }
        )
    };
    let s3cfg_file = |source: &Source| matches!(source, Source::S3cfg { .. });
    if (aws_file(credentials) && s3cfg_file(endpoint))
        || (s3cfg_file(credentials) && aws_file(endpoint))
    {
        tracing::warn!(
            credentials_from = %credentials,
            endpoint_from = %endpoint,
            "credentials and endpoint come from different config files"
        );
    }
}

/// The flags' layer.
fn flag_layer(overrides: &Overrides) -> Layer {
    Layer {
        endpoint: overrides
            .endpoint_url
            .as_deref()
            .map(|url| endpoint_setting(url, Source::Flag(flag::ENDPOINT), flag::ENDPOINT)),
        region: overrides
            .region
            .as_deref()
            .map(|region| region_setting(region, Source::Flag(flag::REGION), flag::REGION)),
        addressing: overrides
            .addressing
            .map(|style| Ok(Sourced::new(style, Source::Flag(flag::ADDRESSING)))),
        bucket_host: None,
        credentials: CredentialParts {
            access_key_id: overrides
                .access_key_id
                .clone()
                .map(|id| Sourced::new(id, Source::Flag(flag::ACCESS_KEY_ID))),
            secret_access_key: overrides
                .secret_access_key
                .clone()
                .map(|secret| Sourced::new(secret, Source::Flag(flag::SECRET_ACCESS_KEY))),
            session_token: overrides
                .session_token
                .clone()
                .map(|token| Sourced::new(token, Source::Flag(flag::SESSION_TOKEN))),
        },
        credential_keys: CredentialKeys {
            access_key_id: flag::ACCESS_KEY_ID,
            secret_access_key: flag::SECRET_ACCESS_KEY,
        },
        ca_bundle: overrides
            .ca_bundle
            .clone()
            .map(|path| Sourced::new(path, Source::Flag(flag::CA_BUNDLE))),
        tls_verification: overrides.no_verify_ssl.then(|| {
            Ok(Sourced::new(
                TlsVerification::Disabled,
                Source::Flag(flag::NO_VERIFY_SSL),
            ))
        }),
    }
}

/// The environment's layer.
fn env_layer(env: &dyn Environment, home: Option<&Path>) -> Layer {
    let first = |names: &[&'static str]| {
        names
            .iter()
            .find_map(|&name| env_var(env, name).map(|value| (name, value)))
    };
    Layer {
        endpoint: first(&[var::ENDPOINT_URL_S3, var::ENDPOINT_URL])
            .map(|(name, url)| endpoint_setting(&url, Source::Env(name), name)),
        region: first(&[var::REGION, var::DEFAULT_REGION])
            .map(|(name, region)| region_setting(&region, Source::Env(name), name)),
        addressing: None,
        bucket_host: None,
        credentials: CredentialParts {
            access_key_id: env_var(env, var::ACCESS_KEY_ID)
                .map(|id| Sourced::new(id, Source::Env(var::ACCESS_KEY_ID))),
            secret_access_key: env_var(env, var::SECRET_ACCESS_KEY).map(|secret| {
                Sourced::new(Secret::new(secret), Source::Env(var::SECRET_ACCESS_KEY))
            }),
            session_token: env_var(env, var::SESSION_TOKEN)
                .map(|token| Sourced::new(Secret::new(token), Source::Env(var::SESSION_TOKEN))),
        },
        credential_keys: CredentialKeys {
            access_key_id: var::ACCESS_KEY_ID,
            secret_access_key: var::SECRET_ACCESS_KEY,
        },
        ca_bundle: env_var(env, var::CA_BUNDLE)
            .map(|path| Sourced::new(expand_home(&path, home), Source::Env(var::CA_BUNDLE))),
        tls_verification: None,
    }
}

/// The s3cmd file's layer: `--config`, else `HAUL_CONFIG` (both must exist), else
/// `~/.s3cfg` (may be absent).
fn s3cmd_layer(
    overrides: &Overrides,
    env: &dyn Environment,
    home: Option<&Path>,
    files_read: &mut Vec<PathBuf>,
) -> Result<Layer, ConfigError> {
    let (path, named_by) = if let Some(path) = &overrides.config_file {
        (path.clone(), Some(Source::Flag(flag::CONFIG)))
    } else if let Some(path) = env_var(env, var::HAUL_CONFIG) {
        (
            expand_home(&path, home),
            Some(Source::Env(var::HAUL_CONFIG)),
        )
    } else if let Some(home) = home {
        (s3cfg::default_path(home), None)
    } else {
        return Ok(Layer::default());
    };
    match (read_optional(&path)?, named_by) {
        (Some(text), _) => {
            let layer = s3cfg::layer(&path, &text, env, home)?;
            files_read.push(path);
            Ok(layer)
        }
        (None, Some(origin)) => Err(ConfigError::NotFound {
            path,
            origin: Box::new(origin),
        }),
        (None, None) => Ok(Layer::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::super::{EndpointError, REDACTED};
    use super::*;

    /// What one stage of the precedence table expects: values with their sources shown.
    struct Expected {
        endpoint: (&'static str, String),
        region: (&'static str, String),
        addressing: (AddressingStyle, String),
        access_key_id: Option<(&'static str, String)>,
        ca_bundle: Option<&'static str>,
        tls: (TlsVerification, String),
    }

    /// Every layer sets every setting; peeling layers off from the top shows each one
    /// overriding the next.
    #[test]
    fn precedence_table() {
        let mut fx = Fixture::new();
        fx.write(
            ".aws/credentials",
            "[default]\naws_access_key_id = AWSKEY\naws_secret_access_key = awssecret\n",
        );
        fx.write(
            ".aws/config",
            "[default]\nregion = aws-region\nendpoint_url = http://aws-host:3\nca_bundle = /aws/ca.pem\ns3 =\n  addressing_style = virtual\n",
        );
        fx.write(
            ".s3cfg",
            "[default]\naccess_key = S3CFGKEY\nsecret_key = s3cfgsecret\nhost_base = s3cfg-host:4\nhost_bucket = s3cfg-host:4\nuse_https = False\nbucket_location = EU\nca_certs_file = /s3cfg/ca.pem\ncheck_ssl_certificate = False\n",
        );
        fx.env("AWS_ACCESS_KEY_ID", "ENVKEY")
            .env("AWS_SECRET_ACCESS_KEY", "envsecret")
            .env("AWS_REGION", "env-region")
            .env("AWS_ENDPOINT_URL", "http://env-host:2")
            .env("AWS_CA_BUNDLE", "/env/ca.pem");
        fx.overrides = Overrides {
            endpoint_url: Some("http://flag-host:1".into()),
            access_key_id: Some("FLAGKEY".into()),
            secret_access_key: Some(Secret::new("flagsecret".into())),
            session_token: None,
            region: Some("flag-region".into()),
            profile: None,
            addressing: Some(AddressingStyle::Path),
            config_file: None,
            ca_bundle: Some("/flag/ca.pem".into()),
            no_verify_ssl: true,
        };
        let home = fx.home().display().to_string();
        let aws_config = |line| format!("{home}/.aws/config line {line} (profile default)");
        let s3cfg = |line| format!("{home}/.s3cfg line {line}");

        let rows = [
            Expected {
                endpoint: ("http://flag-host:1", "flag --endpoint".into()),
                region: ("flag-region", "flag --region".into()),
                addressing: (AddressingStyle::Path, "flag --addressing".into()),
                access_key_id: Some(("FLAGKEY", "flag --access-key-id".into())),
                ca_bundle: Some("/flag/ca.pem"),
                tls: (TlsVerification::Disabled, "flag --no-verify-ssl".into()),
            },
            Expected {
                endpoint: ("http://env-host:2", "env AWS_ENDPOINT_URL".into()),
                region: ("env-region", "env AWS_REGION".into()),
                addressing: (AddressingStyle::VirtualHost, aws_config(6)),
                access_key_id: Some(("ENVKEY", "env AWS_ACCESS_KEY_ID".into())),
                ca_bundle: Some("/env/ca.pem"),
                tls: (TlsVerification::Disabled, s3cfg(9)),
            },
            Expected {
                endpoint: ("http://aws-host:3", aws_config(3)),
                region: ("aws-region", aws_config(2)),
                addressing: (AddressingStyle::VirtualHost, aws_config(6)),
                access_key_id: Some((
                    "AWSKEY",
                    format!("{home}/.aws/credentials line 2 (profile default)"),
                )),
                ca_bundle: Some("/aws/ca.pem"),
                tls: (TlsVerification::Disabled, s3cfg(9)),
            },
            Expected {
                endpoint: ("http://s3cfg-host:4", s3cfg(4)),
                region: ("eu-west-1", s3cfg(7)),
                addressing: (AddressingStyle::Path, s3cfg(5)),
                access_key_id: Some(("S3CFGKEY", s3cfg(2))),
                ca_bundle: Some("/s3cfg/ca.pem"),
                tls: (TlsVerification::Disabled, s3cfg(9)),
            },
            Expected {
                endpoint: ("https://s3.us-east-1.amazonaws.com", "default".into()),
                region: ("us-east-1", "default".into()),
                addressing: (AddressingStyle::Auto, "default".into()),
                access_key_id: None,
                ca_bundle: None,
                tls: (TlsVerification::Enabled, "default".into()),
            },
        ];

        for (stage, row) in rows.into_iter().enumerate() {
            let resolved = fx.resolve().unwrap();
            let context = format!("stage {stage}");
            let shown = |setting: &dyn std::fmt::Display, source: &Source| {
                (setting.to_string(), source.to_string())
            };
            let owned = |(value, source): (&str, String)| (value.to_owned(), source);
            assert_eq!(
                shown(&resolved.endpoint.value, &resolved.endpoint.source),
                owned(row.endpoint),
                "{context}"
            );
            assert_eq!(
                shown(&resolved.region.value, &resolved.region.source),
                owned(row.region),
                "{context}"
            );
            assert_eq!(resolved.addressing.value, row.addressing.0, "{context}");
            assert_eq!(
                resolved.addressing.source.to_string(),
                row.addressing.1,
                "{context}"
            );
            assert_eq!(
                resolved
                    .credentials
                    .as_ref()
                    .map(|c| shown(&c.access_key_id.value, &c.access_key_id.source)),
                row.access_key_id.map(owned),
                "{context}"
            );
            assert_eq!(
                resolved.ca_bundle.as_ref().map(|ca| ca.value.clone()),
                row.ca_bundle.map(PathBuf::from),
                "{context}"
            );
            assert_eq!(resolved.tls_verification.value, row.tls.0, "{context}");
            assert_eq!(
                resolved.tls_verification.source.to_string(),
                row.tls.1,
                "{context}"
            );

            match stage {
                0 => fx.overrides = Overrides::default(),
                1 => {
                    for name in [
                        "AWS_ACCESS_KEY_ID",
                        "AWS_SECRET_ACCESS_KEY",
                        "AWS_REGION",
                        "AWS_ENDPOINT_URL",
                        "AWS_CA_BUNDLE",
                    ] {
                        fx.env(name, "");
                    }
                }
                2 => {
                    fs_err::remove_file(fx.home().join(".aws/config")).unwrap();
                    fs_err::remove_file(fx.home().join(".aws/credentials")).unwrap();
                }
                3 => fs_err::remove_file(fx.home().join(".s3cfg")).unwrap(),
                _ => {}
            }
        }
    }

    #[test]
    fn env_service_specific_endpoint_and_region_order() {
        let mut fx = Fixture::new();
        fx.env("AWS_ENDPOINT_URL", "http://general:1")
            .env("AWS_ENDPOINT_URL_S3", "http://s3-only:2")
            .env("AWS_DEFAULT_REGION", "second")
            .env("AWS_REGION", "first");
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.endpoint.value.to_string(), "http://s3-only:2");
        assert_eq!(resolved.endpoint.source, Source::Env("AWS_ENDPOINT_URL_S3"));
        assert_eq!(resolved.region.source, Source::Env("AWS_REGION"));

        let mut fx = Fixture::new();
        fx.env("AWS_DEFAULT_REGION", "second");
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.region.value, "second");
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "https://s3.second.amazonaws.com"
        );
        assert_eq!(resolved.endpoint.source, Source::Default);
    }

    #[test]
    fn an_explicit_profile_passes_over_the_environment_keys() {
        let mut fx = Fixture::new();
        fx.write(
            ".aws/credentials",
            "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = d\n[backup]\naws_access_key_id = BACKUPKEY\naws_secret_access_key = b\n",
        );
        fx.env("AWS_ACCESS_KEY_ID", "ENVKEY")
            .env("AWS_SECRET_ACCESS_KEY", "envsecret");
        // No profile, or one from AWS_PROFILE: the environment's keys.
        let key_id = |fx: &Fixture| {
            fx.resolve()
                .unwrap()
                .credentials
                .unwrap()
                .access_key_id
                .value
        };
        assert_eq!(key_id(&fx), "ENVKEY");
        fx.env("AWS_PROFILE", "backup");
        assert_eq!(key_id(&fx), "ENVKEY");
        // `--profile backup`: that profile's.
        fx.overrides.profile = Some("backup".into());
        let c = fx.resolve().unwrap().credentials.unwrap();
        assert_eq!(c.access_key_id.value, "BACKUPKEY");
        assert_eq!(c.secret_access_key.value.expose(), "b");
    }

    #[test]
    fn credentials_never_mix_sources() {
        // An env access key without its secret is an error, even though the file below has
        // a complete set.
        let mut fx = Fixture::new();
        fx.write(
            ".aws/credentials",
            "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\naws_session_token = filetoken\n",
        );
        fx.env("AWS_ACCESS_KEY_ID", "ENVKEY");
        let err = fx.resolve().unwrap_err();
        assert!(
            matches!(&err, ConfigError::IncompleteCredentials { origin, missing: "AWS_SECRET_ACCESS_KEY", .. }
                if **origin == Source::Env("AWS_ACCESS_KEY_ID")),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "env AWS_ACCESS_KEY_ID sets the access key id but not AWS_SECRET_ACCESS_KEY"
        );

        // A complete env set does not pick up the file's session token.
        fx.env("AWS_SECRET_ACCESS_KEY", "envsecret");
        let credentials = fx.resolve().unwrap().credentials.unwrap();
        assert_eq!(credentials.access_key_id.value, "ENVKEY");
        assert_eq!(credentials.secret_access_key.value.expose(), "envsecret");
        assert_eq!(
            credentials.secret_access_key.source,
            Source::Env("AWS_SECRET_ACCESS_KEY")
        );
        assert!(credentials.session_token.is_none());

        // A session token in the env travels with the env keys.
        fx.env("AWS_SESSION_TOKEN", "envtoken");
        let credentials = fx.resolve().unwrap().credentials.unwrap();
        let token = credentials.session_token.unwrap();
        assert_eq!(token.value.expose(), "envtoken");
        assert_eq!(token.source, Source::Env("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn partial_credentials_are_errors_naming_the_source() {
        let mut fx = Fixture::new();
        fx.overrides.secret_access_key = Some(Secret::new("flagsecret".into()));
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "flag --secret-access-key sets the secret access key but not --access-key-id"
        );
        assert_eq!(
            err.hint(),
            "set --access-key-id too, or remove flag --secret-access-key"
        );

        let mut fx = Fixture::new();
        fx.env("AWS_SESSION_TOKEN", "stale");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "env AWS_SESSION_TOKEN sets a session token but not AWS_ACCESS_KEY_ID"
        );
    }

    #[test]
    fn no_credentials_anywhere_is_anonymous() {
        let fx = Fixture::new();
        let resolved = fx.resolve().unwrap();
        assert!(resolved.is_anonymous());
        let row = resolved
            .entries()
            .into_iter()
            .find(|entry| entry.name == "credentials")
            .unwrap();
        assert_eq!(row.display_value, "none (requests are sent unsigned)");
        assert!(resolved.files_read.is_empty());
    }

    #[test]
    fn secrets_never_printed() {
        const SECRETS: [&str; 6] = [
            "flag-SECRET-1111",
            "flag-TOKEN-2222",
            "env-SECRET-3333",
            "file-SECRET-4444",
            "file-TOKEN-5555",
            "s3cfg-SECRET-6666",
        ];
        let mut fx = Fixture::new();
        fx.write(
            ".aws/credentials",
            &format!(
                "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = {}\naws_session_token = {}\n",
                SECRETS[3], SECRETS[4]
            ),
        );
        fx.write(
            ".s3cfg",
            &format!(
                "[default]\naccess_key = S3KEY\nsecret_key = {}\n",
                SECRETS[5]
            ),
        );
        fx.env("AWS_ACCESS_KEY_ID", "ENVKEY")
            .env("AWS_SECRET_ACCESS_KEY", SECRETS[2]);
        fx.overrides.access_key_id = Some("FLAGKEY".into());
        fx.overrides.secret_access_key = Some(Secret::new(SECRETS[0].into()));
        fx.overrides.session_token = Some(Secret::new(SECRETS[1].into()));

        let mut printed = Vec::new();
        let resolved = fx.resolve().unwrap();
        printed.push(format!("{resolved:?}"));
        printed.push(format!("{:?}", fx.overrides));
        for entry in resolved.entries() {
            printed.push(format!(
                "{entry:?} {} {}",
                entry.display_value, entry.source
            ));
        }
        let rows = resolved.entries();
        let secret_row = rows.iter().find(|e| e.name == "secret_access_key").unwrap();
        assert_eq!(secret_row.display_value, REDACTED);
        let token_row = rows.iter().find(|e| e.name == "session_token").unwrap();
        assert_eq!(token_row.display_value, REDACTED);
        assert_eq!(token_row.source, Source::Flag("--session-token"));

        // Each lower layer in turn, and the errors of secret-only sources.
        fx.overrides = Overrides::default();
        printed.push(format!("{:?}", fx.resolve().unwrap()));
        fx.env("AWS_ACCESS_KEY_ID", "");
        let err = fx.resolve().unwrap_err();
        printed.push(format!("{err} {err:?} {}", err.hint()));
        fx.env("AWS_SECRET_ACCESS_KEY", "");
        printed.push(format!("{:?}", fx.resolve().unwrap()));
        fs_err::remove_file(fx.home().join(".aws/credentials")).unwrap();
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved
                .credentials
                .as_ref()
                .unwrap()
                .secret_access_key
                .value
                .expose(),
            SECRETS[5]
        );
        printed.push(format!("{resolved:?}"));

        let printed = printed.join("\n");
        for secret in SECRETS {
            assert!(!printed.contains(secret), "{secret} leaked in:\n{printed}");
        }
    }

    #[test]
    fn entries_show_every_setting_with_its_source() {
        let mut fx = Fixture::new();
        fx.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:7480");
        let rows: Vec<(String, String, String)> = fx
            .resolve()
            .unwrap()
            .entries()
            .into_iter()
            .map(|e| (e.name.to_owned(), e.display_value, e.source.to_string()))
            .collect();
        let expected = [
            ("profile", "default", "default"),
            (
                "endpoint_url",
                "http://127.0.0.1:7480",
                "env AWS_ENDPOINT_URL",
            ),
            ("region", "us-east-1", "default"),
            ("addressing_style", "auto", "default"),
            ("access_key_id", "AKIDEXAMPLE", "env AWS_ACCESS_KEY_ID"),
            ("secret_access_key", REDACTED, "env AWS_SECRET_ACCESS_KEY"),
            ("ca_bundle", "(not set)", "default"),
            ("tls_verification", "enabled", "default"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(rows, expected);
    }

    #[test]
    fn invalid_endpoint_names_its_origin_and_the_fix() {
        let mut fx = Fixture::new();
        fx.env("AWS_ENDPOINT_URL", "http://gateway:7480/bucket");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid endpoint `http://gateway:7480/bucket` from env AWS_ENDPOINT_URL"
        );
        assert!(
            err.hint()
                .starts_with("check the environment variable AWS_ENDPOINT_URL"),
            "{}",
            err.hint()
        );

        // The same bad value, overridden by a flag, is never looked at.
        fx.overrides.endpoint_url = Some("https://gateway.example.com".into());
        assert_eq!(
            fx.resolve().unwrap().endpoint.value.to_string(),
            "https://gateway.example.com"
        );

        fx.overrides.endpoint_url = Some("gateway.example.com".into());
        let err = fx.resolve().unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidEndpoint {
                source: EndpointError::MissingScheme,
                ..
            }
        ));
        assert!(err.hint().contains("--endpoint"), "{}", err.hint());
    }

    #[test]
    fn invalid_region_is_an_error() {
        let mut fx = Fixture::new();
        fx.overrides.region = Some("us east".into());
        let err = fx.resolve().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid --region `us east` from flag --region"),
            "{err}"
        );
    }

    #[test]
    fn explicit_s3cfg_must_exist_default_need_not() {
        let mut fx = Fixture::new();
        assert!(fx.resolve().is_ok(), "a missing ~/.s3cfg is fine");

        let missing = fx.home().join("nowhere.cfg");
        fx.overrides.config_file = Some(missing.clone());
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config file {} named by flag --config does not exist",
                missing.display()
            )
        );

        fx.overrides.config_file = None;
        fx.env("HAUL_CONFIG", "~/also-nowhere.cfg");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "config file {} named by env HAUL_CONFIG does not exist",
                fx.home().join("also-nowhere.cfg").display()
            )
        );
        assert!(err.hint().contains("HAUL_CONFIG"));
    }

    #[test]
    fn explicit_s3cfg_replaces_the_default_one() {
        let mut fx = Fixture::new();
        fx.write(".s3cfg", "[default]\nhost_base = default-file:1\n");
        let other = fx.write("ops/gateway.s3cfg", "[default]\nhost_base = other-file:2\n");
        fx.env("HAUL_CONFIG", other.to_str().unwrap());
        assert_eq!(
            fx.resolve().unwrap().endpoint.value.to_string(),
            "https://other-file:2"
        );
        let flag = fx.write("flag.s3cfg", "[default]\nhost_base = flag-file:3\n");
        fx.overrides.config_file = Some(flag.clone());
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.endpoint.value.to_string(), "https://flag-file:3");
        assert_eq!(resolved.files_read, vec![flag]);
    }

    #[test]
    fn no_home_reads_no_default_files() {
        let env = |_: &str| None;
        let resolved = resolve(&Overrides::default(), &env, None).unwrap();
        assert!(resolved.is_anonymous());
        assert!(resolved.files_read.is_empty());
    }

    #[test]
    fn config_error_stays_small() {
        // engine::Error wraps ConfigError, so its size is paid by every engine Result.
        assert!(
            size_of::<ConfigError>() <= 96,
            "{}",
            size_of::<ConfigError>()
        );
    }
}
