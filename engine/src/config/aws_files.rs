//! The AWS shared files, `~/.aws/credentials` and `~/.aws/config`, read the way the AWS CLI
//! reads them, for the settings haul uses.
//!
//! - Profiles: `[NAME]` in the credentials file; `[profile NAME]` in the config file, where
//!   the default profile may also be `[default]`.
//! - Credentials (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`) come
//!   from the credentials file's profile if it mentions any of them, else from the config
//!   file's; never some from each.
//! - From the config file's profile: `region`, `ca_bundle`, `endpoint_url`, and the nested
//!   block `s3 =` with indented `addressing_style` and `endpoint_url`. The endpoint is the
//!   first of: `[services NAME]`'s `s3 = endpoint_url` (when the profile says
//!   `services = NAME`), the profile's `s3 = endpoint_url`, the profile's `endpoint_url`:
//!   the service-specific setting wins, as in the AWS SDKs.
//! - Roles, SSO, `credential_process` and web identity are not implemented: a profile chosen
//!   by name that relies on them is an error; the default profile relying on them is skipped
//!   with a warning, so a `~/.s3cfg` below it still works.
//! - A missing file is no error (the AWS CLI does the same), except that a profile chosen by
//!   name must exist in one of the two.
#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::credentials::{CredentialKeys, CredentialParts};
use super::file::{expand_home, read_optional};
use super::ini::{self, Dialect, Entry, Ini};
use super::precedence::{Layer, addressing_setting, endpoint_setting, region_setting};
use super::{ConfigError, Secret, Source, Sourced};

/// The two files' locations (from `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` or
/// under `~/.aws/`); `None` when there is neither a variable nor a home directory.
#[derive(Debug, Clone)]
pub(super) struct AwsPaths {
    pub(super) config: Option<PathBuf>,
    pub(super) credentials: Option<PathBuf>,
}

/// Profile keys that get credentials some way haul does not implement.
const UNSUPPORTED_CREDENTIAL_KEYS: [&str; 6] = [
    "credential_process",
    "role_arn",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "credential_source",
];

/// One parsed file.
struct Parsed {
    path: PathBuf,
    ini: Ini,
}

/// Reads both files and returns what `profile` says in them.
pub(super) fn layer(
    paths: &AwsPaths,
    profile: &Sourced<String>,
    home: Option<&Path>,
    files_read: &mut Vec<PathBuf>,
) -> Result<Layer, ConfigError> {
    let credentials = load(paths.credentials.as_deref(), files_read)?;
    let config = load(paths.config.as_deref(), files_read)?;
    let name = profile.value.as_str();

    let in_credentials = |section: Option<&str>| section == Some(name);
    let in_config = |section: Option<&str>| is_config_profile(section, name);
    let found = credentials
        .as_ref()
        .is_some_and(|file| file.ini.has_section(in_credentials))
        || config
            .as_ref()
            .is_some_and(|file| file.ini.has_section(in_config));
    let explicit = profile.source != Source::Default;
    if explicit && !found {
        let shown = |path: &Option<PathBuf>, fallback: &str| {
            path.clone().unwrap_or_else(|| PathBuf::from(fallback))
        };
        return Err(ConfigError::ProfileNotFound {
            profile: name.to_owned(),
            origin: Box::new(profile.source.clone()),
            config_path: shown(&paths.config, "~/.aws/config"),
            credentials_path: shown(&paths.credentials, "~/.aws/credentials"),
        });
    }

    let mut layer = Layer {
        credential_keys: CredentialKeys {
            access_key_id: "aws_access_key_id",
            secret_access_key: "aws_secret_access_key",
        },
        ..Layer::default()
    };

    if let Some(file) = &credentials {
        layer.credentials = credential_parts(file, in_credentials, |path, line| {
            Source::AwsCredentialsFile {
                path,
                profile: name.to_owned(),
                line,
            }
        });
    }
    let Some(file) = &config else {
        return Ok(layer);
    };
    let source = |line: usize| Source::AwsConfigFile {
        path: file.path.clone(),
        profile: name.to_owned(),
        line,
    };
    if layer.credentials.is_empty() {
        layer.credentials = credential_parts(file, in_config, |path, line| Source::AwsConfigFile {
            path,
            profile: name.to_owned(),
            line,
        });
    }
    if layer.credentials.is_empty()
        && let Some((key, entry)) = UNSUPPORTED_CREDENTIAL_KEYS
            .iter()
            .find_map(|&key| value_entry(&file.ini, in_config, key).map(|entry| (key, entry)))
    {
        if explicit {
            return Err(ConfigError::UnsupportedCredentialSource {
                path: file.path.clone(),
                profile: name.to_owned(),
                line: entry.line,
                key,
            });
        }
        tracing::warn!(
            path = %file.path.display(),
            profile = name,
            line = entry.line,
            key,
            "ignoring a profile that gets credentials in a way haul does not support"
        );
    }

    layer.region = value_entry(&file.ini, in_config, "region")
        .map(|entry| region_setting(&entry.value, source(entry.line), "region"));
    layer.ca_bundle = value_entry(&file.ini, in_config, "ca_bundle")
        .map(|entry| Sourced::new(expand_home(&entry.value, home), source(entry.line)));

    let s3_block = file.ini.last_entry(in_config, "s3");
    layer.addressing = s3_block
        .and_then(|block| nested_value(block, "addressing_style"))
        .map(|entry| addressing_setting(&entry.value, source(entry.line), "addressing_style"));

    let services_endpoint = value_entry(&file.ini, in_config, "services").and_then(|services| {
        let wanted = |section: Option<&str>| is_services_section(section, &services.value);
        file.ini
            .last_entry(wanted, "s3")
            .and_then(|block| nested_value(block, "endpoint_url"))
    });
    layer.endpoint = services_endpoint
        .or_else(|| s3_block.and_then(|block| nested_value(block, "endpoint_url")))
        .or_else(|| value_entry(&file.ini, in_config, "endpoint_url"))
        .map(|entry| endpoint_setting(&entry.value, source(entry.line), "endpoint_url"));
    Ok(layer)
}

/// Reads and parses one file, `None` when there is no path or no file.
fn load(path: Option<&Path>, files_read: &mut Vec<PathBuf>) -> Result<Option<Parsed>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let ini = ini::parse(&text, Dialect::Aws).map_err(|err| ConfigError::Malformed {
        path: path.to_owned(),
        line: err.line,
        reason: err.reason,
    })?;
    files_read.push(path.to_owned());
    Ok(Some(Parsed {
        path: path.to_owned(),
        ini,
    }))
}

/// Whether a config-file section header belongs to profile `name`.
fn is_config_profile(section: Option<&str>, name: &str) -> bool {
    let Some(section) = section else {
        return false;
    };
    if name == "default" && section == "default" {
        return true;
    }
    section
        .strip_prefix("profile")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .is_some_and(|rest| rest.trim() == name)
}

/// Whether a config-file section header is `[services NAME]`.
fn is_services_section(section: Option<&str>, name: &str) -> bool {
    section
        .and_then(|section| section.strip_prefix("services"))
        .filter(|rest| rest.starts_with([' ', '\t']))
        .is_some_and(|rest| rest.trim() == name)
}

/// The last non-empty entry named `key` in the profile's sections.
fn value_entry<'a>(
    ini: &'a Ini,
    wanted: impl Fn(Option<&str>) -> bool,
    key: &str,
) -> Option<&'a Entry> {
    ini.last_entry(wanted, key)
        .filter(|entry| !entry.value.is_empty())
}

/// The last non-empty nested entry named `key` under `block`.
fn nested_value<'a>(block: &'a Entry, key: &str) -> Option<&'a Entry> {
    block
        .nested_entry(key)
        .filter(|entry| !entry.value.is_empty())
}

/// The credential keys of one file's profile.
fn credential_parts(
    file: &Parsed,
    wanted: impl Fn(Option<&str>) -> bool + Copy,
    source: impl Fn(PathBuf, usize) -> Source,
) -> CredentialParts {
    let get = |key: &str| {
        value_entry(&file.ini, wanted, key)
            .map(|entry| (entry.value.clone(), source(file.path.clone(), entry.line)))
    };
    CredentialParts {
        access_key_id: get("aws_access_key_id").map(|(id, source)| Sourced::new(id, source)),
        secret_access_key: get("aws_secret_access_key")
            .map(|(secret, source)| Sourced::new(Secret::new(secret), source)),
        session_token: get("aws_session_token")
            .map(|(token, source)| Sourced::new(Secret::new(token), source)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::super::{AddressingStyle, ConfigError};
    use super::*;

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = defaultsecret

[prod]
aws_access_key_id = PRODKEY
aws_secret_access_key = prodsecret
aws_session_token = prodtoken
";

    const CONFIG: &str = "\
[default]
region = us-west-2

[profile prod]
region = eu-central-1
endpoint_url = https://general.example.com
s3 =
    addressing_style = path
    endpoint_url = http://10.1.2.3:7480

[profile ceph]
region = default
aws_access_key_id = CEPHKEY
aws_secret_access_key = cephsecret
";

    fn fixture() -> Fixture {
        let fx = Fixture::new();
        fx.write(".aws/credentials", CREDENTIALS);
        fx.write(".aws/config", CONFIG);
        fx
    }

    #[test]
    fn default_profile() {
        let fx = fixture();
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.profile.value, "default");
        assert_eq!(resolved.profile.source, Source::Default);
        assert_eq!(resolved.region.value, "us-west-2");
        assert_eq!(
            resolved.credentials.unwrap().access_key_id.value,
            "DEFAULTKEY"
        );
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "https://s3.us-west-2.amazonaws.com"
        );
    }

    #[test]
    fn profile_from_env_and_flag() {
        let mut fx = fixture();
        fx.env("AWS_PROFILE", "ceph");
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.profile.source, Source::Env("AWS_PROFILE"));
        assert_eq!(resolved.region.value, "default");
        // Credentials in the config file count when the credentials file lacks the profile.
        let credentials = resolved.credentials.unwrap();
        assert_eq!(credentials.access_key_id.value, "CEPHKEY");
        assert_eq!(
            credentials.access_key_id.source,
            Source::AwsConfigFile {
                path: fx.home().join(".aws/config"),
                profile: "ceph".into(),
                line: 13,
            }
        );

        // The flag beats the variable.
        fx.overrides.profile = Some("prod".into());
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.profile.source, Source::Flag("--profile"));
        let credentials = resolved.credentials.unwrap();
        assert_eq!(credentials.access_key_id.value, "PRODKEY");
        assert_eq!(
            credentials.session_token.unwrap().value.expose(),
            "prodtoken"
        );
        assert_eq!(
            credentials.secret_access_key.source.to_string(),
            format!(
                "{} line 7 (profile prod)",
                fx.home().join(".aws/credentials").display()
            )
        );
    }

    #[test]
    fn nested_s3_block() {
        let mut fx = fixture();
        fx.overrides.profile = Some("prod".into());
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.addressing.value, AddressingStyle::Path);
        assert!(matches!(
            resolved.addressing.source,
            Source::AwsConfigFile { line: 8, .. }
        ));
        // The s3-specific endpoint beats the profile's general one.
        assert_eq!(resolved.endpoint.value.to_string(), "http://10.1.2.3:7480");
        assert!(matches!(
            resolved.endpoint.source,
            Source::AwsConfigFile { line: 9, .. }
        ));
        assert_eq!(resolved.region.value, "eu-central-1");
    }

    #[test]
    fn services_section_beats_profile_endpoints() {
        let fx = Fixture::new();
        fx.write(
            ".aws/config",
            "[default]\nendpoint_url = https://general.example.com\nservices = gateways\n\n[services gateways]\ns3 =\n  endpoint_url = http://rgw.internal:8080\n",
        );
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "http://rgw.internal:8080"
        );
        assert!(matches!(
            resolved.endpoint.source,
            Source::AwsConfigFile { line: 7, .. }
        ));
    }

    #[test]
    fn profile_default_header_spelling() {
        let fx = Fixture::new();
        fx.write(
            ".aws/config",
            "[profile default]\nregion = ap-northeast-1\n",
        );
        assert_eq!(fx.resolve().unwrap().region.value, "ap-northeast-1");
    }

    #[test]
    fn credentials_file_profile_is_a_unit() {
        // The credentials file has the key and secret; the config file's token for the same
        // profile is not added to them.
        let mut fx = Fixture::new();
        fx.write(
            ".aws/credentials",
            "[x]\naws_access_key_id = K\naws_secret_access_key = S\n",
        );
        fx.write(".aws/config", "[profile x]\naws_session_token = T\n");
        fx.overrides.profile = Some("x".into());
        assert!(
            fx.resolve()
                .unwrap()
                .credentials
                .unwrap()
                .session_token
                .is_none()
        );

        // A key without a secret in the credentials file is an error at its line.
        let fx = Fixture::new();
        let path = fx.write(".aws/credentials", "[default]\naws_access_key_id = K\n");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 2 (profile default) sets the access key id but not aws_secret_access_key",
                path.display()
            )
        );
    }

    #[test]
    fn named_profile_missing_from_both_files() {
        let mut fx = fixture();
        fx.env("AWS_PROFILE", "staging");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "profile `staging` from env AWS_PROFILE is in neither {} nor {}",
                fx.home().join(".aws/config").display(),
                fx.home().join(".aws/credentials").display()
            )
        );
        assert!(err.hint().contains("[profile staging]"));

        // Even when neither file exists.
        let mut fx = Fixture::new();
        fx.overrides.profile = Some("staging".into());
        assert!(matches!(
            fx.resolve().unwrap_err(),
            ConfigError::ProfileNotFound { .. }
        ));

        // The default profile may be missing.
        let fx = Fixture::new();
        fx.write(".aws/config", "[profile other]\nregion = x\n");
        assert!(fx.resolve().is_ok());
    }

    #[test]
    fn file_locations_from_env() {
        let mut fx = Fixture::new();
        fx.write(
            "elsewhere/creds",
            "[default]\naws_access_key_id = ELSEWHERE\naws_secret_access_key = s\n",
        );
        let config = fx.write("elsewhere/config", "[default]\nregion = sa-east-1\n");
        fx.env("AWS_SHARED_CREDENTIALS_FILE", "~/elsewhere/creds")
            .env("AWS_CONFIG_FILE", config.to_str().unwrap());
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.credentials.unwrap().access_key_id.value,
            "ELSEWHERE"
        );
        assert_eq!(resolved.region.value, "sa-east-1");
        assert_eq!(
            resolved.files_read,
            vec![fx.home().join("elsewhere/creds"), config]
        );
    }

    #[test]
    fn unsupported_credential_sources() {
        let mut fx = Fixture::new();
        let path = fx.write(
            ".aws/config",
            "[profile sso]\nsso_session = corp\nregion = us-east-2\n[default]\ncredential_process = /bin/get-creds\n",
        );
        fx.write(
            ".s3cfg",
            "[default]\naccess_key = S3KEY\nsecret_key = s3secret\n",
        );
        fx.overrides.profile = Some("sso".into());
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "profile `sso` in {} line 2 gets credentials through `sso_session`, which haul does not support",
                path.display()
            )
        );
        assert!(err.hint().contains("export-credentials --profile sso"));

        // For the default profile it is only skipped, and ~/.s3cfg still provides keys.
        fx.overrides.profile = None;
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.credentials.unwrap().access_key_id.value, "S3KEY");
    }

    #[test]
    fn malformed_aws_config_names_the_line() {
        let fx = Fixture::new();
        let path = fx.write(
            ".aws/config",
            "[default]\nregion = x\ns3 =\n  path-style please\n",
        );
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 4: expected `key = value` in the indented block",
                path.display()
            )
        );
    }

    #[test]
    fn invalid_addressing_style() {
        let fx = Fixture::new();
        fx.write(".aws/config", "[default]\ns3 =\n  addressing_style = dns\n");
        let err = fx.resolve().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid addressing_style `dns` from "),
            "{err}"
        );
        assert!(
            err.hint().starts_with("check addressing_style in "),
            "{}",
            err.hint()
        );
    }
}
