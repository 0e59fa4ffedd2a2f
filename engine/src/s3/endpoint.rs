//! Where requests go: scheme, host, port, region, and how a bucket is addressed.
//!
//! The runbook's gateway is plain HTTP with path-style URLs (`http://rgw:7480/db_wal/key`),
//! AWS prefers virtual-host URLs (`https://bucket.s3.amazonaws.com/key`). [`Endpoint`] holds
//! the choice and [`Endpoint::bucket_target`] applies it per bucket, falling back to
//! path-style where a bucket cannot be a host name.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::encoding::encode_path;
use super::names::{BucketName, ObjectKey, truncate_for_message};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (the runbook's RGW has no TLS).
    Http,
    /// HTTP over TLS.
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

    /// 80 or 443.
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// How a bucket appears in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addressing {
    /// `http://host/bucket/key`: works for every bucket name, and is what RGW, s3cmd
    /// (`host_bucket` without `%(bucket)s`) and most on-premises gateways use.
    PathStyle,
    /// `http://bucket.host/key`, used only where the bucket name can be a DNS label (see
    /// [`Endpoint::bucket_target`]).
    VirtualHost,
}

/// What was wrong with an endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointProblem {
    /// No `http://` or `https://` in front.
    MissingScheme,
    /// A scheme other than `http` or `https`.
    UnsupportedScheme(String),
    /// `user:password@` in the URL: credentials come from the credentials settings.
    UserInfo,
    /// A path after the host: the bucket is given separately.
    Path(String),
    /// A query or fragment after the host.
    Query,
    /// No host after the scheme.
    MissingHost,
    /// A host name with characters host names cannot have.
    InvalidHost(String),
    /// A port that is not a number in `1..=65535`.
    InvalidPort(String),
    /// An empty region, or one with whitespace, control characters or `/`.
    InvalidRegion(String),
}

impl fmt::Display for EndpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScheme => f.write_str("it needs a scheme, http:// or https://"),
            Self::UnsupportedScheme(s) => {
                write!(f, "scheme {s:?} is not supported, use http or https")
            }
            Self::UserInfo => f.write_str(
                "credentials in the URL are not accepted, give them as access and secret keys",
            ),
            Self::Path(p) => write!(
                f,
                "a path ({p:?}) is not allowed, give the bucket and key separately"
            ),
            Self::Query => f.write_str("a query or fragment is not allowed"),
            Self::MissingHost => f.write_str("it has no host"),
            Self::InvalidHost(h) => write!(f, "host {h:?} is not a valid host name or address"),
            Self::InvalidPort(p) => write!(f, "port {p:?} is not a number from 1 to 65535"),
            Self::InvalidRegion(r) => write!(f, "region {r:?} is not a valid region name"),
        }
    }
}

/// An endpoint URL that could not be used; names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {input:?}: {problem}")]
pub struct EndpointError {
    /// The URL as given (cut to 300 bytes).
    pub input: String,
    /// What is wrong with it.
    pub problem: EndpointProblem,
}

/// A gateway to talk to: where, over what, how buckets are addressed, and the region to
/// sign for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    addressing: Addressing,
    region: String,
}

/// Where a bucket's requests go: the authority (also the `Host` header) and the path prefix
/// in front of `/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketTarget {
    /// `host[:port]` for path-style, `bucket.host[:port]` for virtual-host.
    pub authority: String,
    /// `/bucket` (encoded) for path-style, empty for virtual-host.
    pub path_prefix: String,
    /// The addressing actually used, after any fall-back to path-style.
    pub addressing: Addressing,
}

impl Endpoint {
    /// Parses `http[s]://host[:port]` (an optional trailing `/` is fine). An explicit
    /// default port (`:80` on http, `:443` on https) is dropped, since it is not sent in
    /// `Host`.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] naming the input when the URL has no or another scheme, user
    /// info, a path, a query or fragment, a bad host or port, or when `region` is empty or
    /// holds whitespace, control characters or `/`.
    pub fn parse(url: &str, addressing: Addressing, region: &str) -> Result<Self, EndpointError> {
        let fail = |problem| EndpointError {
            input: truncate_for_message(url),
            problem,
        };
        let trimmed = url.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| fail(EndpointProblem::MissingScheme))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(fail(EndpointProblem::UnsupportedScheme(other.to_owned()))),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['?', '#']) {
            return Err(fail(EndpointProblem::Query));
        }
        if let Some(slash) = rest.find('/') {
            let path = rest.get(slash..).unwrap_or_default();
            return Err(fail(EndpointProblem::Path(path.to_owned())));
        }
        if rest.contains('@') {
            return Err(fail(EndpointProblem::UserInfo));
        }
        if rest.is_empty() {
            return Err(fail(EndpointProblem::MissingHost));
        }
        let (host, port) = split_host_port(rest).map_err(fail)?;
        let port = port.filter(|p| *p != scheme.default_port());
        if region.is_empty()
            || region
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(fail(EndpointProblem::InvalidRegion(region.to_owned())));
        }
        Ok(Self {
            scheme,
            host,
            port,
            addressing,
            region: region.to_owned(),
        })
    }

    /// http or https.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lowercase; IPv6 addresses keep their brackets (`[::1]`).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port when it is not the scheme's default.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The addressing asked for (see [`Endpoint::bucket_target`] for the one used).
    #[must_use]
    pub fn addressing(&self) -> Addressing {
        self.addressing
    }

    /// The region requests are signed for (`us-east-1` for most RGW setups, or the
    /// zonegroup's api name).
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }

    /// `host[:port]`, as sent in `Host` for requests that name no bucket (`ListBuckets`).
    #[must_use]
    pub fn authority(&self) -> String {
        with_port(&self.host, self.port)
    }

    /// The addressing used for `bucket`: virtual-host only when asked for *and* the name can
    /// be a host name label. It falls back to path-style when
    /// - the bucket is not DNS-compatible ([`BucketName::is_dns_compatible`]: `db_wal`,
    ///   uppercase, `..`), since `db_wal.host` is not a valid host name;
    /// - the name has dots and the scheme is https, since `a.b.host` does not match a
    ///   `*.host` certificate (AWS documents the same limitation);
    /// - the endpoint is an IP address, which cannot take a bucket label in front.
    #[must_use]
    pub fn addressing_for(&self, bucket: &BucketName) -> Addressing {
        let virtual_host_possible = bucket.is_dns_compatible()
            && !(self.scheme == Scheme::Https && bucket.as_str().contains('.'))
            && !self.host_is_ip();
        match self.addressing {
            Addressing::VirtualHost if virtual_host_possible => Addressing::VirtualHost,
            _ => Addressing::PathStyle,
        }
    }

    /// The authority and path prefix for requests on `bucket`.
    #[must_use]
    pub fn bucket_target(&self, bucket: &BucketName) -> BucketTarget {
        match self.addressing_for(bucket) {
            Addressing::VirtualHost => BucketTarget {
                authority: with_port(&format!("{}.{}", bucket.as_str(), self.host), self.port),
                path_prefix: String::new(),
                addressing: Addressing::VirtualHost,
            },
            Addressing::PathStyle => BucketTarget {
                authority: self.authority(),
                path_prefix: format!("/{}", encode_path(bucket.as_str())),
                addressing: Addressing::PathStyle,
            },
        }
    }

    /// The absolute URI (without query) and the `Host` value for a request on the service,
    /// a bucket, or an object.
    pub(crate) fn locate(
        &self,
        bucket: Option<&BucketName>,
        key: Option<&ObjectKey>,
    ) -> (String, String) {
        let (authority, path) = match bucket {
            None => (self.authority(), "/".to_owned()),
            Some(bucket) => {
                let target = self.bucket_target(bucket);
                let path = match key {
                    Some(key) => format!("{}/{}", target.path_prefix, encode_path(key.as_str())),
                    None if target.path_prefix.is_empty() => "/".to_owned(),
                    None => target.path_prefix,
                };
                (target.authority, path)
            }
        };
        (
            format!("{}://{authority}{path}", self.scheme.as_str()),
            authority,
        )
    }

    fn host_is_ip(&self) -> bool {
        self.host.starts_with('[') || self.host.parse::<Ipv4Addr>().is_ok()
    }
}

fn with_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), EndpointProblem> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| EndpointProblem::InvalidHost(authority.to_owned()))?;
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(EndpointProblem::InvalidHost(authority.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| EndpointProblem::InvalidHost(authority.to_owned()))?,
            ),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        // Letters, digits, `-` and `.` per RFC 1123; `_` too, as container host names
        // (`minio_1`, `rgw_gateway`) have it and resolvers accept it.
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid {
            return Err(EndpointProblem::InvalidHost(host.to_owned()));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(EndpointProblem::InvalidPort(p.to_owned())),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str, addressing: Addressing) -> Endpoint {
        Endpoint::parse(url, addressing, "us-east-1").unwrap()
    }

    fn bucket(name: &str) -> BucketName {
        BucketName::new(name).unwrap()
    }

    #[test]
    fn parses_hosts_ports_and_schemes() {
        let e = ep("http://rgw.local:7480", Addressing::PathStyle);
        assert_eq!(
            (e.scheme(), e.host(), e.port()),
            (Scheme::Http, "rgw.local", Some(7480))
        );
        let e = ep("HTTPS://S3.Example.COM/", Addressing::VirtualHost);
        assert_eq!(
            (e.scheme(), e.host(), e.port()),
            (Scheme::Https, "s3.example.com", None)
        );
        assert_eq!(ep("http://h:80", Addressing::PathStyle).port(), None);
        assert_eq!(ep("https://h:443", Addressing::PathStyle).port(), None);
        assert_eq!(ep("https://h:80", Addressing::PathStyle).port(), Some(80));
        let e = ep("http://[::1]:9000", Addressing::PathStyle);
        assert_eq!((e.host(), e.port()), ("[::1]", Some(9000)));
        assert_eq!(e.authority(), "[::1]:9000");
    }

    #[test]
    fn refuses_urls_with_more_than_an_authority_and_names_them() {
        let cases = [
            ("rgw:7480", "needs a scheme"),
            ("ftp://rgw", "not supported"),
            ("http://rgw/bucket", "path"),
            ("http://rgw:7480/a/b", "path"),
            ("http://rgw?x=1", "query"),
            ("http://rgw#frag", "query"),
            ("http://user:pw@rgw", "credentials"),
            ("http://", "no host"),
            ("http://rgw:0", "port"),
            ("http://rgw:99999", "port"),
            ("http://rgw:+80", "port"),
            ("http://rg w", "host"),
            ("http://[::zz]", "host"),
        ];
        for (url, needle) in cases {
            let err = Endpoint::parse(url, Addressing::PathStyle, "us-east-1").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(needle), "{url}: {msg}");
            assert!(msg.contains(url), "{url}: {msg}");
        }
        let err = Endpoint::parse("http://rgw", Addressing::PathStyle, "").unwrap_err();
        assert!(err.to_string().contains("region"));
    }

    #[test]
    fn path_style_puts_the_bucket_in_the_path() {
        let e = ep("http://rgw:7480", Addressing::PathStyle);
        let t = e.bucket_target(&bucket("registry"));
        assert_eq!(t.authority, "rgw:7480");
        assert_eq!(t.path_prefix, "/registry");
        assert_eq!(t.addressing, Addressing::PathStyle);
    }

    #[test]
    fn virtual_host_puts_the_bucket_in_the_host() {
        let e = ep("https://s3.example.com", Addressing::VirtualHost);
        let t = e.bucket_target(&bucket("registry"));
        assert_eq!(t.authority, "registry.s3.example.com");
        assert_eq!(t.path_prefix, "");
        let e = ep("http://s3.local:8080", Addressing::VirtualHost);
        assert_eq!(
            e.bucket_target(&bucket("a.b.c")).authority,
            "a.b.c.s3.local:8080"
        );
    }

    #[test]
    fn virtual_host_falls_back_to_path_style_where_it_cannot_work() {
        let https = ep("https://s3.example.com", Addressing::VirtualHost);
        for name in ["db_wal", "DBWAL", "my.bucket"] {
            let t = https.bucket_target(&bucket(name));
            assert_eq!(t.addressing, Addressing::PathStyle, "{name}");
            assert_eq!(t.authority, "s3.example.com");
            assert_eq!(t.path_prefix, format!("/{name}"));
        }
        let ip = ep("http://10.0.0.1:7480", Addressing::VirtualHost);
        assert_eq!(
            ip.addressing_for(&bucket("registry")),
            Addressing::PathStyle
        );
    }

    #[test]
    fn locate_builds_uris_and_hosts() {
        let e = ep("http://rgw:7480", Addressing::PathStyle);
        let key = ObjectKey::new("a b/../c").unwrap();
        assert_eq!(
            e.locate(Some(&bucket("db_wal")), Some(&key)),
            (
                "http://rgw:7480/db_wal/a%20b/../c".to_owned(),
                "rgw:7480".to_owned()
            )
        );
        assert_eq!(
            e.locate(Some(&bucket("db_wal")), None).0,
            "http://rgw:7480/db_wal"
        );
        assert_eq!(e.locate(None, None).0, "http://rgw:7480/");
        let v = ep("https://s3.example.com", Addressing::VirtualHost);
        assert_eq!(
            v.locate(Some(&bucket("registry")), None),
            (
                "https://registry.s3.example.com/".to_owned(),
                "registry.s3.example.com".to_owned()
            )
        );
    }
}
