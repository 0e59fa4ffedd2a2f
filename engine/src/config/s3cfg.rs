//! s3cmd's config file (`~/.s3cfg`, `s3cmd -c FILE`), read for the keys that say where and
//! as whom to connect, so an operator who followed the s3cmd runbook needs nothing new.
//!
//! Keys are read from `[default]` (and, as s3cmd does, from lines before any header); every
//! other key and section of the many `s3cmd --configure` writes is ignored. As in s3cmd, a
//! value in double quotes loses them, a value `$NAME` is read from environment variable
//! `NAME`, and an empty value means "not set".
//!
//! | key | setting |
//! | --- | --- |
//! | `access_key`, `secret_key`, `access_token` | credentials (as a unit) |
//! | `host_base` + `use_https` | endpoint `http[s]://HOST_BASE` (`use_https` defaults to true, as in s3cmd 2) |
//! | `host_bucket` | containing `%(bucket)s`: virtual-host; a plain host: path-style |
//! | `bucket_location` | region; `US` is us-east-1 and `EU` eu-west-1, as in s3cmd |
//! | `ca_certs_file` | CA bundle |
//! | `check_ssl_certificate` | TLS verification |
//!
//! Booleans are `True`/`False`, `yes`/`no`, `on`/`off` or `1`/`0`, case-insensitive.
#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::credentials::{CredentialKeys, CredentialParts};
use super::file::expand_home;
use super::ini::{self, Dialect, Ini};
use super::precedence::{Environment, Layer, Setting, endpoint_setting, env_var, region_setting};
use super::{
    AddressingStyle, BucketHostTemplate, ConfigError, Endpoint, Secret, Source, Sourced,
    TlsVerification,
};

/// A value read from the file, with its line.
struct Value {
    text: String,
    line: usize,
}

/// The file's keys, read through s3cmd's value rules.
struct S3cfg<'a> {
    path: &'a Path,
    ini: Ini,
    env: &'a dyn Environment,
}

impl S3cfg<'_> {
    /// The last non-empty `key` in `[default]` or before any header, unquoted and with
    /// `$NAME` replaced from the environment.
    fn get(&self, key: &str) -> Option<Value> {
        let entry = self
            .ini
            .last_entry(|section| section.is_none_or(|name| name == "default"), key)?;
        let raw = entry.value.as_str();
        let unquoted = raw
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or(raw);
        let text = match unquoted.strip_prefix('$') {
            Some(name) => env_var(self.env, name)?,
            None => unquoted.to_owned(),
        };
        (!text.is_empty()).then_some(Value {
            text,
            line: entry.line,
        })
    }

    fn source(&self, line: usize) -> Source {
        Source::S3cfg {
            path: self.path.to_owned(),
            line,
        }
    }

    /// A boolean key; `Some(Err)` for a value s3cmd would not accept either.
    fn boolean(&self, key: &'static str) -> Option<Result<Sourced<bool>, ConfigError>> {
        let value = self.get(key)?;
        let parsed = match value.text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        };
        Some(match parsed {
            Some(flag) => Ok(Sourced::new(flag, self.source(value.line))),
            None => Err(ConfigError::InvalidValue {
                origin: Box::new(self.source(value.line)),
                key,
                value: value.text,
                reason: "expected True or False",
            }),
        })
    }
}

/// Parses an s3cmd file's `text` (read from `path`) into its layer.
pub(super) fn layer(
    path: &Path,
    text: &str,
    env: &dyn Environment,
    home: Option<&Path>,
) -> Result<Layer, ConfigError> {
    let ini = ini::parse(text, Dialect::S3cmd).map_err(|err| ConfigError::Malformed {
        path: path.to_owned(),
        line: err.line,
        reason: err.reason,
    })?;
    let file = S3cfg { path, ini, env };

    let secret = |key| {
        file.get(key)
            .map(|value| Sourced::new(Secret::new(value.text), file.source(value.line)))
    };
    let credentials = CredentialParts {
        access_key_id: file
            .get("access_key")
            .map(|value| Sourced::new(value.text, file.source(value.line))),
        secret_access_key: secret("secret_key"),
        session_token: secret("access_token"),
    };

    let host_base = file.get("host_base").map(|value| Value {
        text: strip_scheme(&value.text).to_owned(),
        line: value.line,
    });
    let endpoint = host_base
        .as_ref()
        .map(|host_base| endpoint(&file, host_base));

    let (addressing, bucket_host) = match file.get("host_bucket") {
        None => (None, None),
        Some(value) => addressing(&file, &value, host_base.as_ref()),
    };

    let region = file.get("bucket_location").map(|value| {
        let region = match value.text.to_ascii_uppercase().as_str() {
            "US" => "us-east-1".to_owned(),
            "EU" => "eu-west-1".to_owned(),
            _ => value.text.clone(),
        };
        region_setting(&region, file.source(value.line), "bucket_location")
    });

    let tls_verification = file
        .boolean("check_ssl_certificate")
        .map(|parsed| parsed.map(|flag| flag.map(verification)));

    let ca_bundle = file
        .get("ca_certs_file")
        .map(|value| Sourced::new(expand_home(&value.text, home), file.source(value.line)));

    Ok(Layer {
        endpoint,
        region,
        addressing,
        bucket_host,
        credentials,
        credential_keys: CredentialKeys {
            access_key_id: "access_key",
            secret_access_key: "secret_key",
        },
        ca_bundle,
        tls_verification,
    })
}

/// The endpoint from `host_base` and `use_https`. An invalid `use_https` next to a
/// `host_base` is reported only if this endpoint wins, like any other invalid value.
fn endpoint(file: &S3cfg<'_>, host_base: &Value) -> Result<Sourced<Endpoint>, ConfigError> {
    let scheme = match file.boolean("use_https").transpose()? {
        Some(use_https) if !use_https.value => "http",
        _ => "https",
    };
    let url = format!("{scheme}://{}", host_base.text);
    endpoint_setting(&url, file.source(host_base.line), "host_base")
}

/// `check_ssl_certificate`'s meaning.
fn verification(verify: bool) -> TlsVerification {
    if verify {
        TlsVerification::Enabled
    } else {
        TlsVerification::Disabled
    }
}

/// The addressing style from `host_bucket`, and the template when it names a host other than
/// `bucket.` + `host_base`.
fn addressing(
    file: &S3cfg<'_>,
    host_bucket: &Value,
    host_base: Option<&Value>,
) -> (
    Setting<AddressingStyle>,
    Option<Sourced<BucketHostTemplate>>,
) {
    let source = file.source(host_bucket.line);
    let template_text = strip_scheme(&host_bucket.text).to_ascii_lowercase();
    if !template_text.contains(BucketHostTemplate::PLACEHOLDER) {
        // A plain host: s3cmd puts the bucket in the path. This is how the runbook's
        // `host_bucket = deis-store.example.com` asks for path-style.
        return (Some(Ok(Sourced::new(AddressingStyle::Path, source))), None);
    }
    let template = BucketHostTemplate::new(&template_text);
    let plain = host_base.map(|base| {
        format!(
            "{}.{}",
            BucketHostTemplate::PLACEHOLDER,
            base.text.trim_end_matches('/').to_ascii_lowercase()
        )
    });
    if plain.as_deref() == Some(template.as_str()) {
        return (
            Some(Ok(Sourced::new(AddressingStyle::VirtualHost, source))),
            None,
        );
    }
    // Check the template yields a usable authority for an example bucket name.
    let rendered = format!("http://{}", template.render("bucket"));
    if Endpoint::parse(&rendered).is_err() {
        return (
            Some(Err(ConfigError::InvalidValue {
                origin: Box::new(source),
                key: "host_bucket",
                value: host_bucket.text.clone(),
                reason: "expected `%(bucket)s.HOST[:PORT]` or a plain HOST[:PORT]",
            })),
            None,
        );
    }
    (
        Some(Ok(Sourced::new(
            AddressingStyle::VirtualHost,
            source.clone(),
        ))),
        Some(Sourced::new(template, source)),
    )
}

/// s3cmd accepts `host_base` and `host_bucket` with a scheme and drops it (the scheme comes
/// from `use_https`).
fn strip_scheme(host: &str) -> &str {
    let lower = host.to_ascii_lowercase();
    if lower.starts_with("https://") {
        host.get("https://".len()..).unwrap_or(host)
    } else if lower.starts_with("http://") {
        host.get("http://".len()..).unwrap_or(host)
    } else {
        host
    }
}

/// The path of the default s3cmd file under `home`.
pub(super) fn default_path(home: &Path) -> PathBuf {
    home.join(".s3cfg")
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::super::{ConfigError, Overrides};
    use super::*;

    /// `~/.s3cfg` as `s3cmd --configure` (s3cmd 2.x) writes it for a Ceph RGW on loopback,
    /// answering "No" to HTTPS as the runbook says, then edited for `host_base` and
    /// `host_bucket`. The keys are the RGW test suite's sample keys.
    const S3CMD_CONFIGURED: &str = "[default]
access_key = 0555b35654ad1656d804
access_token = 
add_encoding_exts = 
add_headers = 
bucket_location = US
ca_certs_file = 
cache_file = 
check_ssl_certificate = True
check_ssl_hostname = True
cloudfront_host = cloudfront.amazonaws.com
connection_max_age = 5
connection_pooling = True
content_disposition = 
content_type = 
default_mime_type = binary/octet-stream
delay_updates = False
delete_after = False
delete_after_fetch = False
delete_removed = False
dry_run = False
enable_multipart = True
encoding = UTF-8
encrypt = False
expiry_date = 
expiry_days = 
expiry_prefix = 
follow_symlinks = False
force = False
get_continue = False
gpg_command = /usr/bin/gpg
gpg_decrypt = %(gpg_command)s -d --verbose --no-use-agent --batch --yes --passphrase-fd %(passphrase_fd)s -o %(output_file)s %(input_file)s
gpg_encrypt = %(gpg_command)s -c --verbose --no-use-agent --batch --yes --passphrase-fd %(passphrase_fd)s -o %(output_file)s %(input_file)s
gpg_passphrase = 
guess_mime_type = True
host_base = 127.0.0.1:7480
host_bucket = 127.0.0.1:7480
human_readable_sizes = False
invalidate_default_index_on_cf = False
invalidate_default_index_root_on_cf = True
invalidate_on_cf = False
kms_key = 
limit = -1
limitrate = 0
list_allow_unordered = False
list_md5 = False
log_target_prefix = 
long_listing = False
max_delete = -1
mime_type = 
multipart_chunk_size_mb = 15
multipart_copy_chunk_size_mb = 1024
multipart_max_chunks = 10000
preserve_attrs = True
progress_meter = True
proxy_host = 
proxy_port = 0
public_url_use_https = False
put_continue = False
recursive = False
recv_chunk = 65536
reduced_redundancy = False
requester_pays = False
restore_days = 1
restore_priority = Standard
secret_key = h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q==
send_chunk = 65536
server_side_encryption = False
signature_v2 = False
signurl_use_https = False
simpledb_host = sdb.amazonaws.com
skip_existing = False
socket_timeout = 300
ssl_client_cert_file = 
ssl_client_key_file = 
stats = False
stop_on_error = False
storage_class = 
throttle_max = 100
upload_id = 
urlencoding_mode = normal
use_http_expect = False
use_https = False
use_mime_magic = True
verbosity = WARNING
website_endpoint = http://%(bucket)s.s3-website-%(location)s.amazonaws.com/
website_error = 
website_index = index.html
";

    fn line_of(text: &str, key: &str) -> usize {
        text.lines()
            .position(|line| line.starts_with(&format!("{key} =")))
            .unwrap()
            + 1
    }

    #[test]
    fn s3cmd_configure_output_for_a_loopback_rgw() {
        let fx = Fixture::new();
        let path = fx.write(".s3cfg", S3CMD_CONFIGURED);
        let resolved = fx.resolve().unwrap();
        let at = |key| Source::S3cfg {
            path: path.clone(),
            line: line_of(S3CMD_CONFIGURED, key),
        };

        assert_eq!(resolved.endpoint.value.to_string(), "http://127.0.0.1:7480");
        assert_eq!(resolved.endpoint.source, at("host_base"));
        assert_eq!(resolved.addressing.value, AddressingStyle::Path);
        assert_eq!(resolved.addressing.source, at("host_bucket"));
        assert!(resolved.bucket_host.is_none());
        assert_eq!(resolved.region.value, "us-east-1");
        assert_eq!(resolved.region.source, at("bucket_location"));
        assert_eq!(resolved.tls_verification.value, TlsVerification::Enabled);
        assert_eq!(
            resolved.tls_verification.source,
            at("check_ssl_certificate")
        );
        assert!(
            resolved.ca_bundle.is_none(),
            "an empty ca_certs_file is unset"
        );

        let credentials = resolved.credentials.as_ref().unwrap();
        assert_eq!(credentials.access_key_id.value, "0555b35654ad1656d804");
        assert_eq!(credentials.access_key_id.source, at("access_key"));
        assert_eq!(
            credentials.secret_access_key.value.expose(),
            "h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q=="
        );
        assert_eq!(credentials.secret_access_key.source, at("secret_key"));
        assert!(
            credentials.session_token.is_none(),
            "an empty access_token is unset"
        );
        assert_eq!(resolved.files_read, vec![path.clone()]);
        assert_eq!(
            resolved.endpoint.source.to_string(),
            format!(
                "{} line {}",
                path.display(),
                line_of(S3CMD_CONFIGURED, "host_base")
            )
        );
    }

    #[test]
    fn runbook_host_is_path_style_over_plain_http() {
        let fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "[default]\naccess_key = A\nsecret_key = B\nhost_base = deis-store.local3.deisapp.com\nhost_bucket = deis-store.local3.deisapp.com\nuse_https = no\n",
        );
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "http://deis-store.local3.deisapp.com"
        );
        assert_eq!(resolved.addressing.value, AddressingStyle::Path);
        assert!(
            resolved
                .addressing
                .value
                .uses_path_style(&resolved.endpoint.value, "registry")
        );
    }

    #[test]
    fn virtual_host_templates() {
        // The template s3cmd writes for AWS: virtual-host on the same host, no template kept.
        let fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "[default]\nhost_base = s3.amazonaws.com\nhost_bucket = %(bucket)s.s3.amazonaws.com\n",
        );
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "https://s3.amazonaws.com"
        );
        assert_eq!(resolved.addressing.value, AddressingStyle::VirtualHost);
        assert!(resolved.bucket_host.is_none());

        // A template naming another host is kept for the client.
        let fx = Fixture::new();
        let path = fx.write(
            ".s3cfg",
            "[default]\nhost_base = https://objects.example.com\nhost_bucket = %(bucket)s.Buckets.example.com:8443\n",
        );
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "https://objects.example.com"
        );
        assert_eq!(resolved.addressing.value, AddressingStyle::VirtualHost);
        let template = resolved.bucket_host.unwrap();
        assert_eq!(
            template.value.render("logs"),
            "logs.buckets.example.com:8443"
        );
        assert_eq!(template.source, Source::S3cfg { path, line: 3 });

        // ... but not when the endpoint comes from elsewhere: it would point at the wrong host.
        let mut fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "[default]\nhost_base = objects.example.com\nhost_bucket = %(bucket)s.buckets.example.com\n",
        );
        fx.env("AWS_ENDPOINT_URL", "http://other:9000");
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.addressing.value, AddressingStyle::VirtualHost);
        assert!(resolved.bucket_host.is_none());

        // A template that cannot be a host is an error at its line.
        let fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "[default]\nhost_base = objects.example.com\nhost_bucket = %(bucket)s/objects.example.com\n",
        );
        let err = fx.resolve().unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key: "host_bucket", origin, .. }
                if matches!(**origin, Source::S3cfg { line: 3, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let fx = Fixture::new();
        let path = fx.write(
            ".s3cfg",
            "[default]\naccess_key = A\n\n# comment\nhost_base 127.0.0.1:7480\n",
        );
        let err = fx.resolve().unwrap_err();
        assert!(
            matches!(err, ConfigError::Malformed { line: 5, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 5: expected `key = value`, a `[section]` header or a `#` comment",
                path.display()
            )
        );
        assert!(
            err.hint()
                .contains(&format!("line 5 of {}", path.display()))
        );
    }

    #[test]
    fn bad_host_base_says_what_to_fix() {
        let fx = Fixture::new();
        let path = fx.write(
            ".s3cfg",
            "[default]\nhost_base = 127.0.0.1:7480/ceph\nuse_https = False\n",
        );
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid endpoint `http://127.0.0.1:7480/ceph` from {} line 2",
                path.display()
            )
        );
        let hint = err.hint();
        assert!(
            hint.starts_with(&format!("check host_base in {} line 2", path.display())),
            "{hint}"
        );
        assert!(hint.contains("HOST[:PORT]"), "{hint}");
    }

    #[test]
    fn booleans_in_every_spelling() {
        for (text, scheme) in [
            ("True", "https"),
            ("yes", "https"),
            ("ON", "https"),
            ("1", "https"),
            ("False", "http"),
            ("NO", "http"),
            ("off", "http"),
            ("0", "http"),
        ] {
            let fx = Fixture::new();
            fx.write(
                ".s3cfg",
                &format!("[default]\nhost_base = h\nuse_https = {text}\n"),
            );
            assert_eq!(
                fx.resolve().unwrap().endpoint.value.scheme().as_str(),
                scheme,
                "{text}"
            );
        }
        let fx = Fixture::new();
        fx.write(".s3cfg", "[default]\nhost_base = h\nuse_https = maybe\n");
        let err = fx.resolve().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid use_https `maybe` from "),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with(".s3cfg line 3: expected True or False"),
            "{err}"
        );
    }

    #[test]
    fn missing_use_https_means_https() {
        let fx = Fixture::new();
        fx.write(".s3cfg", "[default]\nhost_base = gw.example.com\n");
        assert_eq!(
            fx.resolve().unwrap().endpoint.value.to_string(),
            "https://gw.example.com"
        );
    }

    #[test]
    fn bucket_location_names() {
        for (location, region) in [
            ("US", "us-east-1"),
            ("eu", "eu-west-1"),
            ("default", "default"),
            ("ap-south-1", "ap-south-1"),
        ] {
            let fx = Fixture::new();
            fx.write(
                ".s3cfg",
                &format!("[default]\nbucket_location = {location}\n"),
            );
            assert_eq!(fx.resolve().unwrap().region.value, region);
        }
    }

    #[test]
    fn check_ssl_certificate_and_ca_certs_file() {
        let fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "[default]\ncheck_ssl_certificate = False\nca_certs_file = ~/certs/ca.pem\n",
        );
        let resolved = fx.resolve().unwrap();
        assert_eq!(resolved.tls_verification.value, TlsVerification::Disabled);
        assert_eq!(
            resolved.ca_bundle.unwrap().value,
            fx.home().join("certs/ca.pem")
        );
    }

    #[test]
    fn quotes_env_references_and_other_sections() {
        let mut fx = Fixture::new();
        fx.write(
            ".s3cfg",
            "host_base = before-header:1\n[other]\naccess_key = WRONG\nsecret_key = wrong\n[default]\naccess_key = \"QUOTEDKEY\"\nsecret_key = $MY_S3_SECRET\n",
        );
        fx.env("MY_S3_SECRET", "from-env");
        let resolved = fx.resolve().unwrap();
        assert_eq!(
            resolved.endpoint.value.to_string(),
            "https://before-header:1"
        );
        let credentials = resolved.credentials.unwrap();
        assert_eq!(credentials.access_key_id.value, "QUOTEDKEY");
        assert_eq!(credentials.secret_access_key.value.expose(), "from-env");
        assert!(matches!(
            credentials.secret_access_key.source,
            Source::S3cfg { line: 7, .. }
        ));
    }

    #[test]
    fn access_key_without_secret_is_an_error() {
        let fx = Fixture::new();
        let path = fx.write(".s3cfg", "[default]\naccess_key = A\nsecret_key = \n");
        let err = fx.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 2 sets the access key id but not secret_key",
                path.display()
            )
        );
        assert_eq!(
            err.hint(),
            format!("add secret_key next to {} line 2", path.display())
        );
    }

    #[test]
    fn explicit_config_flag_is_read() {
        let mut fx = Fixture::new();
        let path = fx.write(
            "gw.cfg",
            "[default]\nhost_base = 10.0.0.5:8080\nuse_https = False\n",
        );
        fx.overrides = Overrides {
            config_file: Some(path),
            ..Overrides::default()
        };
        assert_eq!(
            fx.resolve().unwrap().endpoint.value.to_string(),
            "http://10.0.0.5:8080"
        );
    }
}
