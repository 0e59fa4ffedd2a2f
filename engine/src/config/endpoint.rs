//! Where requests go: the validated endpoint URL, the addressing style, and s3cmd's
//! bucket-host template.
//!
//! These are plain values; `s3` builds request URLs from them and `transport` connects.
#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The URL scheme of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP, as on a gateway without TLS (the runbook's RGW).
    Http,
    /// HTTPS, certificates verified unless `TlsVerification::Disabled`.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// An S3 endpoint: `http://` or `https://`, a host, an optional port, and no path.
///
/// Built only through [`Endpoint::parse`] (or the AWS default), so a value of this type is
/// always usable as the base of a request URL. The host is lowercased; an IPv6 host keeps
/// its brackets (`[::1]`), as it appears in a URL and a `Host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
}

/// Why a string is not an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `scheme://` prefix.
    #[error("missing scheme: expected http:// or https://")]
    MissingScheme,
    /// A scheme other than http or https.
    #[error("unsupported scheme `{0}`: expected http or https")]
    UnsupportedScheme(String),
    /// Nothing between `://` and the path.
    #[error("missing host")]
    MissingHost,
    /// A host with characters no DNS name or IP address has.
    #[error("invalid host `{0}`")]
    InvalidHost(String),
    /// A port that is not a number in 1..=65535.
    #[error("invalid port `{0}`: expected a number from 1 to 65535")]
    InvalidPort(String),
    /// `user:password@` in the URL.
    #[error("user name or password in the url; credentials are separate settings")]
    HasUserinfo,
    /// A path other than `/`: haul adds the bucket and key itself.
    #[error("path `{0}` after the host; the endpoint is scheme, host and port only")]
    HasPath(String),
    /// A `?query` or `#fragment`.
    #[error("query or fragment in the url")]
    HasQuery,
}

impl Endpoint {
    /// Parses `http[s]://HOST[:PORT][/]`. The scheme is case-insensitive.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] saying which part is wrong.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let (scheme, rest) = url.split_once("://").ok_or(EndpointError::MissingScheme)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            return Err(EndpointError::UnsupportedScheme(scheme.to_owned()));
        };
        if rest.contains(['?', '#']) {
            return Err(EndpointError::HasQuery);
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (host, port) = split_authority(authority)?;
        if !path.is_empty() && path != "/" {
            return Err(EndpointError::HasPath(path.to_owned()));
        }
        Ok(Self { scheme, host, port })
    }

    /// AWS S3's regional endpoint, used when nothing names one:
    /// `https://s3.REGION.amazonaws.com` (`.amazonaws.com.cn` for `cn-` regions).
    ///
    /// `region` must already be a valid region name (see `precedence::region_setting`); it becomes part of the
    /// host as is.
    pub(super) fn aws(region: &str) -> Self {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        Self {
            scheme: Scheme::Https,
            host: format!("s3.{}.{suffix}", region.to_ascii_lowercase()),
            port: None,
        }
    }

    /// The scheme.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lowercased; an IPv6 address in brackets.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port when the URL names one.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host` or `host:port`, as in a `Host` header.
    #[must_use]
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether the host is an IP address or `localhost`: such a host has no DNS names under
    /// it, so virtual-host requests to it cannot work.
    #[must_use]
    pub fn is_ip_or_localhost(&self) -> bool {
        self.host.starts_with('[')
            || self.host.parse::<Ipv4Addr>().is_ok()
            || self.host == "localhost"
            || self.host.ends_with(".localhost")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Splits `host[:port]` or `[v6]:port` and validates both parts.
fn split_authority(authority: &str) -> Result<(String, Option<u16>), EndpointError> {
    if authority.contains('@') {
        return Err(EndpointError::HasUserinfo);
    }
    if authority.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (address, after) = v6
            .split_once(']')
            .ok_or_else(|| EndpointError::InvalidHost(authority.to_owned()))?;
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(EndpointError::InvalidHost(authority.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| EndpointError::InvalidHost(authority.to_owned()))?,
            ),
        };
        (format!("[{}]", address.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(EndpointError::MissingHost);
        }
        let valid = host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if !valid {
            return Err(EndpointError::InvalidHost(host.to_owned()));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => return Err(EndpointError::InvalidPort(text.to_owned())),
        },
    };
    Ok((host, port))
}

/// How a bucket is named in a request URL.
///
/// `Auto` is the default, and the client decides per bucket with
/// [`AddressingStyle::uses_path_style`]: path-style (`http://host/bucket/key`) when the
/// endpoint host is an IP address or `localhost` (no DNS names exist under it), when the
/// bucket name is not DNS-compatible (upper case, `_`, longer than 63 characters … as the
/// runbook's `db_wal`), or when the scheme is https and the bucket name has a dot (a
/// wildcard certificate covers one label only); virtual-host (`http://bucket.host/key`)
/// otherwise, as AWS recommends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingStyle {
    /// Always `host/bucket/key`.
    Path,
    /// `bucket.host/key` for DNS-compatible bucket names; other names fall back to path
    /// style, as s3cmd and the AWS SDKs do.
    VirtualHost,
    /// Decide per bucket and endpoint (see the type's documentation).
    Auto,
}

impl AddressingStyle {
    /// The spelling of `addressing_style` in `~/.aws/config`: `path`, `virtual` or `auto`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::VirtualHost => "virtual",
            Self::Auto => "auto",
        }
    }

    /// The concrete style for `endpoint` before any bucket is known: `Auto` becomes `Path`
    /// for an IP-address or `localhost` host and `VirtualHost` otherwise. A client that
    /// takes one style per endpoint (and falls back to path style per bucket for names that
    /// cannot be DNS labels) uses this.
    #[must_use]
    pub fn for_endpoint(self, endpoint: &Endpoint) -> Self {
        match self {
            Self::Auto if endpoint.is_ip_or_localhost() => Self::Path,
            Self::Auto => Self::VirtualHost,
            style => style,
        }
    }

    /// Whether requests for `bucket` on `endpoint` use path style under this setting.
    #[must_use]
    pub fn uses_path_style(self, endpoint: &Endpoint, bucket: &str) -> bool {
        match self {
            Self::Path => true,
            Self::VirtualHost => !is_dns_compatible_bucket(bucket),
            Self::Auto => {
                endpoint.is_ip_or_localhost()
                    || !is_dns_compatible_bucket(bucket)
                    || (endpoint.scheme() == Scheme::Https && bucket.contains('.'))
            }
        }
    }
}

impl fmt::Display for AddressingStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An addressing style that is not `path`, `virtual` or `auto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown addressing style `{0}`: expected path, virtual or auto")]
pub struct ParseAddressingStyleError(pub String);

impl FromStr for AddressingStyle {
    type Err = ParseAddressingStyleError;

    /// Accepts `path`, `virtual` (or `virtual-host`) and `auto`, ASCII case-insensitive.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "path" => Ok(Self::Path),
            "virtual" | "virtual-host" | "virtual_host" => Ok(Self::VirtualHost),
            "auto" => Ok(Self::Auto),
            _ => Err(ParseAddressingStyleError(text.to_owned())),
        }
    }
}

/// Whether `bucket` can be the first label(s) of a host name: 3 to 63 characters of
/// `a-z 0-9 . -`, starting and ending with a letter or digit, no empty label, no label
/// starting or ending with `-`, and not an IPv4 address (the S3 bucket naming rules).
#[must_use]
pub fn is_dns_compatible_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && bucket.parse::<Ipv4Addr>().is_err()
}

/// s3cmd's `host_bucket` template, such as `%(bucket)s.objects.example.com`, kept only when it
/// names a host other than `bucket.` + the endpoint's authority (otherwise plain
/// virtual-host addressing already means the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketHostTemplate {
    template: String,
}

impl BucketHostTemplate {
    /// The placeholder s3cmd replaces with the bucket name.
    pub const PLACEHOLDER: &'static str = "%(bucket)s";

    /// Wraps a template that contains [`Self::PLACEHOLDER`], lowercased (s3cmd lowercases it
    /// too).
    pub(super) fn new(template: &str) -> Self {
        Self {
            template: template.to_ascii_lowercase(),
        }
    }

    /// The `host[:port]` for a virtual-host request to `bucket`.
    #[must_use]
    pub fn render(&self, bucket: &str) -> String {
        self.template.replace(Self::PLACEHOLDER, bucket)
    }

    /// The template as written (lowercased).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for BucketHostTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_endpoints() {
        for (text, shown, authority) in [
            (
                "http://127.0.0.1:7480",
                "http://127.0.0.1:7480",
                "127.0.0.1:7480",
            ),
            (
                "https://S3.Example.COM/",
                "https://s3.example.com",
                "s3.example.com",
            ),
            (
                "HTTP://gw_1.internal:80",
                "http://gw_1.internal:80",
                "gw_1.internal:80",
            ),
            ("http://[::1]:9000", "http://[::1]:9000", "[::1]:9000"),
            (
                "https://[2001:DB8::1]",
                "https://[2001:db8::1]",
                "[2001:db8::1]",
            ),
        ] {
            let endpoint = Endpoint::parse(text).unwrap();
            assert_eq!(endpoint.to_string(), shown);
            assert_eq!(endpoint.authority(), authority);
        }
    }

    #[test]
    fn rejects_invalid_endpoints() {
        for (text, expected) in [
            ("127.0.0.1:7480", EndpointError::MissingScheme),
            ("ftp://host", EndpointError::UnsupportedScheme("ftp".into())),
            ("http://", EndpointError::MissingHost),
            ("http:///x", EndpointError::MissingHost),
            ("http://:80", EndpointError::MissingHost),
            (
                "http://host/bucket",
                EndpointError::HasPath("/bucket".into()),
            ),
            ("http://host//", EndpointError::HasPath("//".into())),
            ("http://host?x=1", EndpointError::HasQuery),
            ("http://u:p@host", EndpointError::HasUserinfo),
            ("http://host:0", EndpointError::InvalidPort("0".into())),
            (
                "http://host:99999",
                EndpointError::InvalidPort("99999".into()),
            ),
            ("http://host:+80", EndpointError::InvalidPort("+80".into())),
            ("http://host:", EndpointError::InvalidPort(String::new())),
            ("http://ho st", EndpointError::InvalidHost("ho st".into())),
            (
                "http://host..com",
                EndpointError::InvalidHost("host..com".into()),
            ),
            ("http://[zz]:1", EndpointError::InvalidHost("[zz]:1".into())),
            ("http://[::1]x", EndpointError::InvalidHost("[::1]x".into())),
        ] {
            assert_eq!(Endpoint::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn aws_default_endpoint() {
        assert_eq!(
            Endpoint::aws("us-east-1").to_string(),
            "https://s3.us-east-1.amazonaws.com"
        );
        assert_eq!(
            Endpoint::aws("cn-north-1").to_string(),
            "https://s3.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn auto_addressing_rule() {
        let ip = Endpoint::parse("http://127.0.0.1:7480").unwrap();
        let local = Endpoint::parse("http://localhost:9000").unwrap();
        let dns = Endpoint::parse("https://s3.example.com").unwrap();
        let plain = Endpoint::parse("http://gw.example.com").unwrap();
        let auto = AddressingStyle::Auto;
        assert!(auto.uses_path_style(&ip, "registry"));
        assert!(auto.uses_path_style(&local, "registry"));
        assert!(!auto.uses_path_style(&dns, "registry"));
        assert!(auto.uses_path_style(&dns, "db_wal"));
        assert!(auto.uses_path_style(&dns, "my.bucket"));
        assert!(!auto.uses_path_style(&plain, "my.bucket"));
        assert!(AddressingStyle::Path.uses_path_style(&dns, "registry"));
        assert!(!AddressingStyle::VirtualHost.uses_path_style(&ip, "registry"));
        assert!(AddressingStyle::VirtualHost.uses_path_style(&dns, "db_wal"));
        assert_eq!(auto.for_endpoint(&ip), AddressingStyle::Path);
        assert_eq!(auto.for_endpoint(&dns), AddressingStyle::VirtualHost);
        assert_eq!(
            AddressingStyle::Path.for_endpoint(&dns),
            AddressingStyle::Path
        );
    }

    #[test]
    fn dns_compatible_bucket_names() {
        for ok in ["abc", "registry", "my-bucket.v2", &"a".repeat(63)] {
            assert!(is_dns_compatible_bucket(ok), "{ok}");
        }
        for bad in [
            "ab",
            "db_wal",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_compatible_bucket(bad), "{bad}");
        }
    }

    #[test]
    fn addressing_style_parses() {
        assert_eq!("PATH".parse(), Ok(AddressingStyle::Path));
        assert_eq!("virtual".parse(), Ok(AddressingStyle::VirtualHost));
        assert_eq!("auto".parse(), Ok(AddressingStyle::Auto));
        assert!("dns".parse::<AddressingStyle>().is_err());
    }

    #[test]
    fn template_renders() {
        let template = BucketHostTemplate::new("%(bucket)s.S3.example.com:8080");
        assert_eq!(template.render("logs"), "logs.s3.example.com:8080");
    }
}
