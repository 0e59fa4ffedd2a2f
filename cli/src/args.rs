//! What the user typed: clap definitions, nothing else. `commands` turns these into engine
//! requests after validating them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// haul: a parallel S3 object-sync engine and CLI, gentle on the gateway.
#[derive(Debug, Parser)]
#[command(
    name = "haul",
    version,
    about,
    long_about = "haul copies objects between local directories and S3-compatible gateways \
                  (Ceph RADOS Gateway first), in parallel, with bounded memory.\n\n\
                  Settings come from flags, then the environment (AWS_ACCESS_KEY_ID, \
                  AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_PROFILE, ...), then the AWS \
                  shared config files, then an s3cmd ~/.s3cfg: an operator who set up s3cmd \
                  needs no new configuration. `haul config show` prints what is in effect.",
    after_help = "Exit codes: 0 success; 1 failure; 2 usage or configuration error; \
                  3 not found (bucket or object); 4 access denied or bad credentials; \
                  5 network (cannot connect, timeout, TLS); 130 interrupted."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags that apply to every command.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Gateway URL, e.g. http://127.0.0.1:7480 (else AWS_ENDPOINT_URL, the AWS config, or
    /// host_base in ~/.s3cfg).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Signing region (else AWS_REGION, the AWS config, bucket_location in ~/.s3cfg,
    /// us-east-1).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// Profile of the AWS shared config and credentials files.
    #[arg(long, global = true)]
    pub(crate) profile: Option<String>,
    /// An s3cmd-format config file to read instead of ~/.s3cfg.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// URL style: path (http://host/bucket/key), virtual (http://bucket.host/key) or auto
    /// (path for IP addresses, localhost and bucket names that are not DNS names).
    #[arg(long, global = true, value_enum)]
    pub(crate) addressing: Option<AddressingArg>,
    /// Extra trusted CA certificates (PEM) for https endpoints.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ca_bundle: Option<PathBuf>,
    /// Do not verify the gateway's TLS certificate (insecure; prints a warning).
    #[arg(long, global = true)]
    pub(crate) no_verify_ssl: bool,
    /// Most requests in flight at once.
    #[arg(long, global = true, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) concurrency: u32,
    /// Seconds to wait for a TCP (and TLS) connection.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) connect_timeout: u64,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// Addressing style as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AddressingArg {
    /// http://host/bucket/key
    Path,
    /// http://bucket.host/key
    Virtual,
    /// path for IP addresses, localhost and non-DNS bucket names; virtual otherwise.
    Auto,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List buckets, or objects under s3://bucket[/prefix].
    #[command(
        after_help = "Examples:\n  haul ls\n  haul ls s3://registry/docker/\n  haul ls --recursive s3://db_wal"
    )]
    Ls(LsArgs),
    /// Make a bucket.
    #[command(after_help = "Example:\n  haul mb s3://db_wal")]
    Mb(BucketArg),
    /// Remove a bucket (refuses a non-empty one unless --force).
    #[command(after_help = "Examples:\n  haul rb s3://scratch\n  haul rb --force s3://scratch")]
    Rb(RbArgs),
    /// Copy one object or file, in either direction; `-` is stdin or stdout.
    #[command(
        after_help = "Examples:\n  haul cp dump_all.sql s3://db_wal/dumps/dump_all.sql\n  haul cp s3://db_wal/dumps/dump_all.sql .\n  pg_dumpall | haul cp - s3://db_wal/dumps/today.sql\n  haul cp --recursive registry s3://registry"
    )]
    Cp(CpArgs),
    /// Show the effective configuration and where each setting came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    #[command(after_help = "Example:\n  haul completions bash > /etc/bash_completion.d/haul")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run haul's embedded S3 gateway (a real S3 server on a local directory).
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Run the quickstart: a sample store synced to an embedded gateway and back, verified.
    #[command(after_help = "Example:\n  haul demo")]
    Demo(DemoArgs),
}

/// `haul ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// s3://bucket[/prefix]; none lists the buckets.
    pub(crate) target: Option<String>,
    /// List every object under the prefix, not one level.
    #[arg(short, long)]
    pub(crate) recursive: bool,
}

/// A bucket URL.
#[derive(Debug, Args)]
pub(crate) struct BucketArg {
    /// s3://bucket
    pub(crate) bucket: String,
}

/// `haul rb`.
#[derive(Debug, Args)]
pub(crate) struct RbArgs {
    /// s3://bucket
    pub(crate) bucket: String,
    /// Delete every object and abort every multipart upload first.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `haul cp`.
#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Source: a file, s3://bucket/key, or - for stdin.
    pub(crate) source: String,
    /// Destination: a file or directory, s3://bucket/key (or a prefix ending in /), or - for
    /// stdout.
    pub(crate) dest: String,
    /// Copy a directory tree or every object under a prefix.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// Objects at least this large use multipart uploads and parallel ranged downloads.
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) multipart_threshold: u64,
    /// Part size for multipart uploads and ranged downloads (5MiB..5GiB; raised automatically
    /// to stay within 10,000 parts).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) part_size: u64,
    /// Most bytes held in memory for parts in flight.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) memory: u64,
}

/// `haul config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print every effective setting with its source; the secret is never shown.
    #[command(after_help = "Example:\n  haul config show")]
    Show,
}

/// `haul gateway …`.
#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCommand {
    /// Serve a directory as S3 on loopback until interrupted; prints `endpoint=URL` first.
    #[command(
        after_help = "Example:\n  HAUL_GATEWAY_SECRET_KEY=devsecret haul gateway serve --root /tmp/s3 --access-key dev"
    )]
    Serve(GatewayServeArgs),
}

/// `haul gateway serve`.
#[derive(Debug, Args)]
pub(crate) struct GatewayServeArgs {
    /// Directory holding the buckets.
    #[arg(long)]
    pub(crate) root: PathBuf,
    /// Address to listen on; port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,
    /// Access key clients sign with.
    #[arg(long, default_value = "haul-demo")]
    pub(crate) access_key: String,
    /// Secret key clients sign with (read from the environment so it stays out of `ps`).
    #[arg(
        long,
        env = "HAUL_GATEWAY_SECRET_KEY",
        hide_env_values = true,
        default_value = "haul-demo-secret"
    )]
    pub(crate) secret_key: String,
}

/// `haul demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Work directory (default: a new temporary directory, removed afterwards).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Scale of the sample store: number of registry blobs.
    #[arg(long, default_value_t = 400)]
    pub(crate) blobs: u32,
}

/// Parses sizes like `5MiB`, `16M`, `1GiB`, `4096`, `1.5GiB` (binary units; `KB`/`MB`/`GB`
/// are decimal, as in s5cmd and rclone).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 5MiB, 64M, 1GiB, 4096)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "ki" | "kib" => 1024.0,
        "m" | "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    let bytes = (value * mult).round();
    if !(0.0..=1.8e19).contains(&bytes) {
        return Err(format!("size {s:?} is out of range"));
    }
    #[allow(clippy::cast_sign_loss, reason = "range checked just above")]
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MiB").unwrap(), 5 * 1024 * 1024);
        assert_eq!(parse_size("16M").unwrap(), 16 * 1024 * 1024);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5XB").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
