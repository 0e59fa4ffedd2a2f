//! One module per command: validate the typed arguments into engine settings, call the engine,
//! hand the results to `output`.

mod backup;
mod bench;
mod bucket;
mod config;
mod cp;
mod demo;
mod gateway;
mod ls;
mod manifest;
mod multipart;
mod rm;
mod sync;
mod tar;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use engine::client::{Client, ClientConfig};
use engine::config::{AddressingStyle, Overrides, ProcessEnvironment, ResolvedConfig};
use engine::congestion::{Backoff, ControllerConfig};
use engine::s3::{self, Addressing, BucketName, Credentials, Endpoint};
use engine::transport::{TlsOptions, TransportConfig};

use crate::args::{AddressingArg, Cli, Command, GatewayCommand, GlobalArgs};

/// Runs the command.
pub(crate) async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    if !matches!(cli.command, Command::Bench(_))
        && g.concurrency.as_ref().is_some_and(|l| l.0.len() > 1)
    {
        return Err(engine::Error::Usage(
            "--concurrency takes one number here (a list is for haul bench's sweep)".to_owned(),
        )
        .into());
    }
    match cli.command {
        Command::Ls(a) => ls::run(g, &a).await,
        Command::Mb(a) => bucket::make(g, &a.bucket).await,
        Command::Rb(a) => bucket::remove(g, &a.bucket, a.force).await,
        Command::Rm(a) => rm::run(g, &a).await,
        Command::Cp(a) => cp::run(g, &a).await,
        Command::Sync(a) => sync::run(g, &a).await,
        Command::Multipart(m) => multipart::run(g, &m).await,
        Command::Config(crate::args::ConfigCommand::Show) => config::show(g),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "haul", &mut std::io::stdout());
            Ok(())
        }
        Command::Gateway(GatewayCommand::Serve(a)) => gateway::serve(&a).await,
        Command::Gateway(GatewayCommand::FaultProxy(a)) => gateway::fault_proxy(&a).await,
        Command::Gateway(GatewayCommand::Synthetic(a)) => gateway::synthetic(&a).await,
        Command::Demo(a) => demo::run(g, &a).await,
        Command::Manifest(m) => manifest::run(g, m).await,
        Command::Tar(t) => tar::run(g, &t).await,
        Command::Bench(a) => bench::run(g, &a).await,
        Command::Backup(a) => backup::run(g, &a).await,
        Command::Restore(a) => backup::restore(g, &a).await,
    }
}

/// The flags that feed configuration resolution.
fn overrides(g: &GlobalArgs) -> Overrides {
    Overrides {
        endpoint_url: g.endpoint.clone(),
        region: g.region.clone(),
        profile: g.profile.clone(),
        addressing: g.addressing.map(|a| match a {
            AddressingArg::Path => AddressingStyle::Path,
            AddressingArg::Virtual => AddressingStyle::VirtualHost,
            AddressingArg::Auto => AddressingStyle::Auto,
        }),
        config_file: g.config.clone(),
        ca_bundle: g.ca_bundle.clone(),
        no_verify_ssl: g.no_verify_ssl,
        ..Overrides::default()
    }
}

/// Settings from flags, environment and files.
fn resolve(g: &GlobalArgs) -> Result<ResolvedConfig> {
    resolve_with(g, None, None)
}

/// Settings with one side's own endpoint and profile (sync between two gateways).
fn resolve_with(
    g: &GlobalArgs,
    endpoint: Option<&str>,
    profile: Option<&str>,
) -> Result<ResolvedConfig> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut o = overrides(g);
    if let Some(ep) = endpoint {
        o.endpoint_url = Some(ep.to_owned());
    }
    if let Some(p) = profile {
        o.profile = Some(p.to_owned());
    }
    let resolved = engine::config::resolve(&o, &ProcessEnvironment, home.as_deref())
        .map_err(engine::Error::Config)?;
    Ok(resolved)
}

/// A client for the configured gateway.
fn client(g: &GlobalArgs) -> Result<Client> {
    let cfg = resolve(g)?;
    client_for(g, &cfg)
}

/// A client for `cfg`, with the global flags' limits.
fn client_for(g: &GlobalArgs, cfg: &ResolvedConfig) -> Result<Client> {
    Ok(Client::new(
        client_config(g, cfg)?,
        engine::progress::silent(),
    )?)
}

/// The settings of a client for `cfg`, with the global flags' limits.
fn client_config(g: &GlobalArgs, cfg: &ResolvedConfig) -> Result<ClientConfig> {
    let ep = &cfg.endpoint.value;
    let addressing = match cfg.addressing.value.for_endpoint(ep) {
        AddressingStyle::VirtualHost => Addressing::VirtualHost,
        _ => Addressing::PathStyle,
    };
    let url = format!("{}://{}", ep.scheme().as_str(), ep.authority());
    let endpoint = Endpoint::parse(&url, addressing, &cfg.region.value)
        .map_err(|e| engine::Error::Usage(format!("endpoint {url}: {e}")))?;
    let credentials = cfg.credentials.as_ref().map(|c| {
        Credentials::new(
            c.access_key_id.value.clone(),
            c.secret_access_key.value.expose().to_owned(),
            c.session_token
                .as_ref()
                .map(|t| t.value.expose().to_owned()),
        )
    });
    let insecure = matches!(
        cfg.tls_verification.value,
        engine::config::TlsVerification::Disabled
    );
    if insecure {
        tracing::warn!(
            "TLS certificate verification is OFF (--no-verify-ssl): anyone on the path can read and change the data"
        );
    }
    let transport = TransportConfig {
        connect_timeout: Duration::from_secs(g.connect_timeout),
        answer_timeout: Duration::from_secs(g.answer_timeout),
        tls: TlsOptions {
            ca_bundle: cfg.ca_bundle.as_ref().map(|c| c.value.clone()),
            insecure_skip_verify: insecure,
            skip_system_roots: false,
        },
        ..TransportConfig::default()
    };
    Ok(ClientConfig {
        endpoint,
        credentials,
        transport,
        controller: controller_config(g),
        backoff: Backoff::default(),
    })
}

/// The `--exclude`/`--include` rules of `sync` and `rm`, in command-line order (`true`:
/// include), as a filter; a bad glob is a usage error naming it.
pub(crate) fn filter_from_rules(rules: &[(bool, String)]) -> Result<engine::sync::Filter> {
    use engine::sync::RuleKind;
    let kinds = rules.iter().map(|(include, glob)| {
        let kind = if *include {
            RuleKind::Include
        } else {
            RuleKind::Exclude
        };
        (kind, glob.as_str())
    });
    Ok(engine::sync::Filter::new(kinds).map_err(|e| engine::Error::Usage(e.to_string()))?)
}

/// This process's peak resident set size (`VmHWM`), for the summaries that prove memory
/// bounds; `None` where /proc is not available.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = fs_err::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The concurrency controller's settings from the global flags.
fn controller_config(g: &GlobalArgs) -> ControllerConfig {
    let mut c = ControllerConfig::with_ceiling(g.concurrency() as usize);
    if let Some(floor) = g.min_concurrency {
        c.floor = (floor as usize).min(c.ceiling);
    }
    if let Some(start) = g.start_concurrency {
        c.start = (start as usize).clamp(c.floor, c.ceiling);
    }
    c
}

/// `s3://bucket[/key]` or a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    S3 { bucket: BucketName, key: String },
    Local(PathBuf),
    Stdio,
}

fn parse_location(s: &str) -> Result<Location> {
    if s == "-" {
        return Ok(Location::Stdio);
    }
    if let Some(rest) = s.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = parse_bucket_name(bucket, s)?;
        return Ok(Location::S3 {
            bucket,
            key: key.to_owned(),
        });
    }
    if s.contains("://") {
        return Err(engine::Error::Usage(format!(
            "{s:?}: only s3:// URLs and local paths are understood"
        ))
        .into());
    }
    Ok(Location::Local(PathBuf::from(s)))
}

fn parse_bucket_name(name: &str, whole: &str) -> Result<BucketName> {
    s3::BucketName::new(name)
        .map_err(|e| engine::Error::Usage(format!("{whole:?}: bad bucket name: {e}")).into())
}

/// `s3://bucket` (a key is refused).
fn parse_bucket_url(s: &str) -> Result<BucketName> {
    match parse_location(s)? {
        Location::S3 { bucket, key } if key.is_empty() => Ok(bucket),
        Location::S3 { .. } => {
            Err(engine::Error::Usage(format!("{s:?}: expected s3://BUCKET without a key")).into())
        }
        _ => Err(engine::Error::Usage(format!("{s:?}: expected s3://BUCKET")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(parse_location("-").unwrap(), Location::Stdio);
        assert_eq!(
            parse_location("s3://db_wal/wal_005/x y").unwrap(),
            Location::S3 {
                bucket: BucketName::new("db_wal").unwrap(),
                key: "wal_005/x y".into()
            }
        );
        assert_eq!(
            parse_location("s3://registry").unwrap(),
            Location::S3 {
                bucket: BucketName::new("registry").unwrap(),
                key: String::new()
            }
        );
        assert!(parse_location("gs://x").is_err());
        assert!(parse_bucket_url("s3://a/b").is_err());
        assert!(parse_bucket_url("s3://").is_err());
    }
}
