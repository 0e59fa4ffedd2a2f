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
    /// Most requests in flight at once: the ceiling of the adaptive limit, which grows while the
    /// gateway keeps up and shrinks when it throttles (503 SlowDown, 429, 5xx, timeouts) or
    /// slows down. Default 64. `haul bench` takes a list to sweep, e.g. 1,4,16,64 (its default).
    #[arg(long, global = true, value_name = "N", value_parser = parse_levels)]
    pub(crate) concurrency: Option<Levels>,
    /// Fewest requests in flight the adaptive limit may fall to (default 1); equal to
    /// --concurrency gives a fixed limit.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) min_concurrency: Option<u32>,
    /// Where the adaptive limit starts (default 16, or --concurrency if lower).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) start_concurrency: Option<u32>,
    /// Seconds to wait for a TCP (and TLS) connection.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) connect_timeout: u64,
    /// Seconds to read a whole answer that haul reads in full (listings, error answers; not
    /// object data, nor copies, multipart completions and batch deletes, which gateways keep
    /// open while they work: those have the 60 s idle timeout only). A gateway that sends
    /// slower is timed out and the request retried.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) answer_timeout: u64,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Machine-readable output: one JSON object per line.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No progress display (bar on a terminal, periodic lines otherwise, `progress` events
    /// with --json); results, errors and the summary are still printed.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

impl GlobalArgs {
    /// `--concurrency` for every command but `haul bench`: its one value, or 64.
    pub(crate) fn concurrency(&self) -> u32 {
        self.concurrency
            .as_ref()
            .and_then(|l| l.0.iter().copied().max())
            .unwrap_or(64)
    }
}

/// `--concurrency N[,N…]`: ascending, distinct, each 1..=4096.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Levels(pub(crate) Vec<u32>);

pub(crate) fn parse_levels(s: &str) -> Result<Levels, String> {
    let mut levels = Vec::new();
    for item in s.split(',').map(str::trim) {
        let n: u32 = item.parse().map_err(|_| {
            format!(
                "{item:?} is not a number of requests (examples: 64, or 1,4,16,64 for haul bench)"
            )
        })?;
        if !(1..=4096).contains(&n) {
            return Err(format!("{n} is out of range 1..=4096"));
        }
        levels.push(n);
    }
    levels.sort_unstable();
    levels.dedup();
    Ok(Levels(levels))
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
    /// Remove an object, or with --recursive every object under a prefix.
    #[command(
        after_help = "Examples:\n  haul rm s3://db_wal/dumps/old.sql\n  haul rm --recursive --dry-run s3://registry/docker/registry/v2/repositories/test/\n  haul rm -r --exclude '*.manifest' s3://scratch/run-7"
    )]
    Rm(RmArgs),
    /// Copy one object or file, in either direction; `-` is stdin or stdout.
    #[command(
        after_help = "Examples:\n  haul cp dump_all.sql s3://db_wal/dumps/dump_all.sql\n  haul cp s3://db_wal/dumps/dump_all.sql .\n  pg_dumpall | haul cp - s3://db_wal/dumps/today.sql\n  haul cp --recursive registry s3://registry"
    )]
    Cp(CpArgs),
    /// Make a destination hold what a source holds, moving only what differs.
    #[command(
        after_help = "Examples:\n  haul sync s3://db_wal ./db_wal\n  haul sync ./registry s3://registry --delete\n  haul sync --dry-run --exclude '*.tmp' ./logs s3://store-logs/logs/\n  haul sync s3://registry s3://registry --dest-endpoint http://new-cluster:7480 --dest-profile new"
    )]
    Sync(SyncArgs),
    /// List or abort unfinished multipart uploads (what a crash leaves on the gateway).
    #[command(subcommand)]
    Multipart(MultipartCommand),
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
    /// Build, show, diff and verify BLAKE3 content manifests (proof of what a backup holds).
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Stream a directory as a tar archive to S3, a file or stdout, and back.
    #[command(subcommand)]
    Tar(TarCommand),
    /// Measure a gateway: throughput, operations per second, latency percentiles, errors and
    /// throttles per operation, object size and concurrency, and the concurrency at which
    /// throughput stops growing or throttling begins (the knee).
    ///
    /// Each step runs N workers sending one request after the other, for --duration or
    /// --objects operations; nothing is retried, so throttles (503/429) and errors are counted
    /// as the gateway gave them. Objects are written under a unique prefix
    /// (haul-bench-TIME-RANDOM/) that is removed at the end, after Ctrl-C too.
    #[command(
        after_help = "Examples:\n  haul bench s3://bench\n  haul bench s3://bench/tmp/ --ops put,get,stat --size 4KiB,1MiB,64MiB --concurrency 1,4,16,64,256 --duration 10s\n  haul bench s3://bench --ops mixed --mix get=45,stat=30,put=15,delete=10 --adaptive --concurrency 8,32,128\n  haul bench s3://bench --ops get --size 1MiB --objects 2000 --json report.json"
    )]
    Bench(BenchArgs),
    /// Back up the buckets and directories a plan names into a new backup set, all at once,
    /// with a BLAKE3 manifest of each bucket copy and an index of each archive.
    ///
    /// The plan is a TOML file (docs/backup.md has a commented example for the Deis
    /// runbook). A set is `DEST/sets/UTC-TIME/` with `buckets/NAME/` (the copy),
    /// `buckets/NAME.manifest`, `archives/NAME.tar.gz` and its `.index`, and `set.json`,
    /// written last. So far a local destination only. Exit codes: 0 the set is complete (files that
    /// changed while archived are listed as warnings, as GNU tar's); 1 a part failed (the set
    /// says which); 2-5 and 130 as for every command.
    #[command(
        after_help = "Examples:\n  haul backup deis-backup.toml\n  haul backup ls /srv/backups/deis\n  haul backup show /srv/backups/deis/sets/20261206T031500Z\n  haul backup verify /srv/backups/deis/sets/20261206T031500Z",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Backup(BackupArgs),
    /// Restore a backup set: make the buckets that do not exist, sync the set's copies into
    /// them, extract the archives (owners restored as root, as `tar -xzpf --same-owner`),
    /// then check everything against the set's manifests and indexes and report.
    ///
    /// The target gateway is the usual configuration (--endpoint, --profile, AWS_*
    /// variables): a new cluster has new keys. Each archive goes where --archive-dir says, or
    /// with --in-place back to the directory it was made from. A rerun after an interruption continues:
    /// objects already in place are skipped, multipart uploads resume from their parts, and
    /// a directory that already matches its archive is not extracted again. Exit codes: 0
    /// everything restored and verified; 1 a part failed or something differs (each
    /// difference named); 2-5 and 130 as for every command.
    #[command(
        after_help = "Examples:\n  haul restore /srv/backups/deis/sets/20261206T031500Z --in-place --endpoint http://new-cluster:7480 --profile new\n  haul restore SET --archive-dir store=/var/lib/deis/store.restored\n  haul restore s3://backups/deis/sets/20261206T031500Z --set-endpoint http://backup-store:7480 --set-profile backup --endpoint http://new-cluster:7480 --profile new"
    )]
    Restore(RestoreArgs),
}

/// `haul restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The set: `DEST/sets/ID` (a directory, or s3://BUCKET/PREFIX/sets/ID on the gateway
    /// --set-endpoint names).
    #[arg(value_name = "SET")]
    pub(crate) set: String,
    #[command(flatten)]
    pub(crate) at: SetGatewayArgs,
    /// Extract the archive part NAME into DIR instead of the directory it was made from
    /// (repeatable).
    #[arg(long = "archive-dir", value_name = "NAME=DIR", value_parser = parse_archive_dir)]
    pub(crate) archive_dirs: Vec<(String, PathBuf)>,
    /// Extract every archive without --archive-dir into the directory it was made from, as
    /// the set records it (required: the set does not choose where a restore writes).
    #[arg(long)]
    pub(crate) in_place: bool,
    /// Do not restore owners (the default as root) and do not check them.
    #[arg(long)]
    pub(crate) no_same_owner: bool,
    /// Delete objects the set does not hold from the restored buckets (otherwise they are
    /// reported as differences).
    #[arg(long)]
    pub(crate) delete: bool,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

fn parse_archive_dir(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(dir)))
        }
        _ => Err(format!(
            "{s:?}: expected NAME=DIR (an archive part's name and a directory)"
        )),
    }
}

/// `haul backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    #[command(subcommand)]
    pub(crate) command: Option<BackupCommand>,
    /// The plan file.
    #[arg(value_name = "PLAN", required = true)]
    pub(crate) plan: Option<PathBuf>,
    /// Build on the newest complete set at the destination: objects unchanged since are hard
    /// links to its files (a local destination) or server-side copies of its objects (a
    /// destination bucket), and keep their hashes; only changes move. Archives are made whole
    /// each time.
    #[arg(long)]
    pub(crate) incremental: bool,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

/// `haul backup ls|show`.
#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// List the sets at a destination, oldest first, with their state and size.
    Ls {
        /// The destination (the plan's `destination`): a directory or s3://BUCKET[/PREFIX].
        dest: String,
        #[command(flatten)]
        at: SetGatewayArgs,
    },
    /// Show one set: its parts, their sizes and warnings.
    Show {
        /// The set: `DEST/sets/ID` (a directory, or s3://BUCKET/PREFIX/sets/ID).
        set: String,
        #[command(flatten)]
        at: SetGatewayArgs,
    },
    /// Check a set where it lies: every bucket copy rehashed against its manifest, every
    /// archive read against its index. Exit code 1 when anything differs.
    Verify {
        /// The set: `DEST/sets/ID` (a directory, or s3://BUCKET/PREFIX/sets/ID).
        set: String,
        #[command(flatten)]
        at: SetGatewayArgs,
        #[command(flatten)]
        transfer: TransferArgs,
    },
}

/// The gateway holding backup sets given as s3:// URLs.
#[derive(Debug, Args)]
pub(crate) struct SetGatewayArgs {
    /// Endpoint of the gateway that holds an s3:// set (default: the usual configuration).
    #[arg(long, value_name = "URL")]
    pub(crate) set_endpoint: Option<String>,
    /// Profile of its keys (~/.aws/credentials, ~/.aws/config).
    #[arg(long, value_name = "NAME")]
    pub(crate) set_profile: Option<String>,
}

/// `haul bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// s3://BUCKET[/PREFIX] to work in (the bucket must exist), and with --json, optionally
    /// the FILE the JSON report goes to (`--json FILE`; without one it goes to stdout).
    #[arg(required = true, num_args = 1..=2, value_name = "TARGET")]
    pub(crate) positional: Vec<String>,
    /// Operations, each run as its own group: put, get, stat, list, delete, mixed.
    #[arg(long, value_delimiter = ',', default_value = "put,get")]
    pub(crate) ops: Vec<String>,
    /// Weights of `mixed`, as OP=WEIGHT pairs.
    #[arg(
        long,
        value_name = "OP=W,…",
        default_value = "get=45,stat=30,put=15,delete=10"
    )]
    pub(crate) mix: String,
    /// Object sizes, one group each (KiB, MiB, GiB are binary; KB, MB, GB decimal).
    #[arg(long, value_delimiter = ',', default_value = "1MiB", value_parser = parse_size)]
    pub(crate) size: Vec<u64>,
    /// How long each step runs (e.g. 500ms, 10s, 2m). Default 10s.
    #[arg(long, value_parser = parse_duration, conflicts_with = "objects")]
    pub(crate) duration: Option<std::time::Duration>,
    /// Operations per step, instead of a duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) objects: Option<u64>,
    /// Objects larger than this are multipart uploads of parts this size (5MiB..=1GiB).
    #[arg(long, default_value = "16MiB", value_parser = parse_size)]
    pub(crate) part_size: u64,
    /// Objects prepared for get, stat, list, delete and mixed (default: 1 GiB worth, 16 to
    /// 1,000 objects; list 1,000; delete the step's --objects, else 10,000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) pool: Option<u64>,
    /// After the sweep, run each group once more under haul's adaptive congestion controller
    /// (ceiling: the highest --concurrency) and report where it settled.
    #[arg(long)]
    pub(crate) adaptive: bool,
}

/// Parses durations like `500ms`, `10s`, `2m`, `1h` (a bare number is seconds).
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 500ms, 10s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= 7 * 86_400)
        .ok_or_else(|| format!("{s:?}: a duration above 0 and at most 7 days"))
}

/// `haul tar push|pull`.
#[derive(Debug, Subcommand)]
pub(crate) enum TarCommand {
    /// Archive DIR (tar, gzip by default) straight into an object, a file or stdout.
    ///
    /// Files that change while read are archived as of their size when their entry was
    /// started and listed as "file changed as we read it"; files that vanish are skipped with
    /// a warning. Exit codes: 0 done; 1 done with warnings (the archive is valid); 2 failed
    /// (nothing usable written; an upload is aborted); 3, 4, 5 and 130 as for every command.
    #[command(
        after_help = "Examples:\n  haul tar push /var/lib/deis/store s3://backups/store.tar.gz\n  haul tar push --compress zstd ./logs logs.tar.zst\n  haul tar push ./logs - | tar -tzvf -"
    )]
    Push(TarPushArgs),
    /// Extract an archive (an object, a file or stdin) into DIR, never writing outside it.
    ///
    /// gzip, zstd and plain tar are recognised by their first bytes. Refused, each with its
    /// rule named: `..` components (parent-dir), absolute paths (absolute-path), anything
    /// under a symlink (through-symlink), symlinks that point outside DIR (symlink-outside),
    /// hardlinks to anything not already inside DIR (hardlink-outside), device nodes
    /// without --allow-devices (device), setuid/setgid modes without --allow-setid (setid).
    /// Files are written under a temporary name and renamed when complete.
    #[command(
        after_help = "Examples:\n  haul tar pull s3://backups/store.tar.gz /var/lib/deis/store\n  haul tar pull store.tar.gz ./restore\n  tar -czpf - ./logs | haul tar pull - ./restore"
    )]
    Pull(TarPullArgs),
    /// Check an archive against its index without extracting it.
    ///
    /// Reads the archive once: every entry's path, type, offsets, size, mode, owner, mtime,
    /// link target and content BLAKE3, the compressed blocks' seek points and the totals are
    /// compared with the index. Exit codes: 0 the archive matches; 1 differences (listed);
    /// 2 the archive or the index is corrupt, truncated or missing.
    #[command(
        after_help = "Examples:\n  haul tar verify s3://backups/store.tar.gz\n  haul tar verify store.tar.gz --index elsewhere/store.tar.gz.index"
    )]
    Verify(TarVerifyArgs),
}

/// `haul tar verify`.
#[derive(Debug, Args)]
pub(crate) struct TarVerifyArgs {
    /// s3://bucket/key, a file, or - for stdin (then --index is needed).
    pub(crate) source: String,
    /// The index: s3://bucket/key or a file (default: the archive's name with `.index`).
    #[arg(long)]
    pub(crate) index: Option<String>,
    /// `--part-size` is the size of the ranges read ahead, `--memory` bounds them.
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

/// Compression of a pushed archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressArg {
    /// gzip on every core (independent 1 MiB members of one stream), what `tar -xzf` reads.
    Gzip,
    /// zstd on every core (independent 1 MiB frames of one stream), what `tar --zstd -xf`
    /// reads.
    Zstd,
    /// A plain tar stream.
    None,
}

/// `haul tar push`.
#[derive(Debug, Args)]
pub(crate) struct TarPushArgs {
    /// The directory to archive.
    pub(crate) dir: PathBuf,
    /// s3://bucket/key, a file, or - for stdout.
    pub(crate) dest: String,
    /// Compression of the stream.
    #[arg(long, value_enum, default_value_t = CompressArg::Gzip)]
    pub(crate) compress: CompressArg,
    /// Where to write the index (every entry's offsets, size and BLAKE3, which `tar verify`
    /// and `tar pull --only` read): s3://bucket/key or a file. Default: the archive's name
    /// with `.index` appended; none when the archive goes to stdout.
    #[arg(long, conflicts_with = "no_index")]
    pub(crate) index: Option<String>,
    /// Write no index.
    #[arg(long)]
    pub(crate) no_index: bool,
    /// Store extended attributes (every namespace), as PAX `SCHILY.xattr.*` records that
    /// `tar --xattrs -x` restores.
    #[arg(long)]
    pub(crate) xattrs: bool,
    /// Leave out entries whose path (relative to DIR) matches GLOB, and everything under an
    /// excluded directory (repeatable; `*` within a segment, `**` across, a pattern without
    /// `/` also matches the name at any depth: `--exclude '*.tmp' --exclude cache`).
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

/// `haul tar pull`.
#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each is one independent command-line switch"
)]
pub(crate) struct TarPullArgs {
    /// s3://bucket/key, a file, or - for stdin.
    pub(crate) source: String,
    /// The directory to extract into (created if missing).
    pub(crate) dir: PathBuf,
    /// Restore owners from the archive's numeric uid/gid (the default when run as root, as
    /// GNU tar).
    #[arg(long, overrides_with = "no_same_owner")]
    pub(crate) same_owner: bool,
    /// Leave files owned by the user running haul (the default when not root).
    #[arg(long)]
    pub(crate) no_same_owner: bool,
    /// Create character and block device nodes.
    #[arg(long)]
    pub(crate) allow_devices: bool,
    /// Keep setuid and setgid bits (and, with --xattrs-all, `security.capability`).
    #[arg(long)]
    pub(crate) allow_setid: bool,
    /// Restore the archive's extended attributes of the `user.` namespace (as GNU tar's
    /// --xattrs); one the filesystem refuses is a warning (exit 1).
    #[arg(long)]
    pub(crate) xattrs: bool,
    /// Restore extended attributes of every namespace (`trusted.` and `security.` need root;
    /// `security.capability` also needs --allow-setid).
    #[arg(long)]
    pub(crate) xattrs_all: bool,
    /// Restore only these entries (a directory: everything under it). With the archive's
    /// index, only the compressed blocks they lie in are read, and each file is checked
    /// against the index's BLAKE3; without one, the whole archive is read.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub(crate) only: Vec<PathBuf>,
    /// The index for --only: s3://bucket/key or a file (default: the archive's name with
    /// `.index`, used when it exists).
    #[arg(long)]
    pub(crate) index: Option<String>,
    /// `--part-size` is the size of the ranges read ahead (4 in flight), `--memory` bounds them.
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

/// `haul ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// s3://bucket[/prefix]; none lists the buckets.
    pub(crate) target: Option<String>,
    /// List every object under the prefix, not one level.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// With --recursive: list by up to N streams at once, one per prefix found by delimiter
    /// listings (merged back into key order); 1 lists with one stream. Without it, up to 8
    /// streams when the first page shows the listing gains from them, else one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) list_fanout: Option<u32>,
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

/// `haul rm`.
#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// s3://bucket/key; with --recursive s3://bucket[/prefix], a prefix taken as a directory
    /// (s3://b/logs removes logs/…, never logs2 or logs.txt).
    pub(crate) target: String,
    /// Remove every object under the prefix (haul's `.haul/` manifests there included), in
    /// DeleteObjects batches of 1,000.
    #[arg(short, long)]
    pub(crate) recursive: bool,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --recursive: leave out keys matching GLOB (relative to the prefix; the last
    /// matching rule wins).
    #[arg(long, value_name = "GLOB", requires = "recursive")]
    pub(crate) exclude: Vec<String>,
    /// With --recursive: take part keys matching GLOB even if an earlier --exclude matched.
    #[arg(long, value_name = "GLOB", requires = "recursive")]
    pub(crate) include: Vec<String>,
    /// With --recursive: list by up to N streams at once (as `ls -r`); without it, up to 8
    /// when the first page shows the listing gains from them.
    #[arg(long, value_name = "N", requires = "recursive", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) list_fanout: Option<u32>,
    /// The --exclude/--include rules in command-line order (filled after parsing).
    #[arg(skip)]
    pub(crate) rules: Vec<(bool, String)>,
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
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
}

/// How objects are cut into parts and how much memory their bytes may take (cp, sync).
#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// Objects larger than this use multipart uploads and parallel ranged downloads.
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) multipart_threshold: u64,
    /// Part size for multipart uploads and ranged downloads (5MiB..5GiB; raised automatically
    /// to stay within 10,000 parts).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) part_size: u64,
    /// Most bytes of object data held in memory at once.
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE")]
    pub(crate) memory: u64,
    /// Largest request body a router or proxy in front of the gateway accepts (bigger files go
    /// as multipart uploads with parts that fit); learned from a 413 when not given.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub(crate) max_body: Option<u64>,
    /// Write downloads through the page cache instead of directly to the disk (direct I/O is
    /// used for objects over 1 MiB where the filesystem has it; keep the data cached when it
    /// is read again at once).
    #[arg(long)]
    pub(crate) no_direct_io: bool,
}

impl TransferArgs {
    /// The engine's transfer options for these flags (progress silent; callers set it).
    pub(crate) fn options(&self) -> engine::transfer::TransferOptions {
        engine::transfer::TransferOptions {
            multipart_threshold: self.multipart_threshold,
            part_size: self.part_size,
            max_body: engine::transfer::BodyLimit::new(self.max_body),
            direct_io: !self.no_direct_io,
            ..engine::transfer::TransferOptions::default()
        }
    }
}

/// `haul sync`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools, reason = "each is a command-line flag")]
pub(crate) struct SyncArgs {
    /// Source: a directory or s3://bucket[/prefix].
    pub(crate) source: String,
    /// Destination: a directory or s3://bucket[/prefix].
    pub(crate) dest: String,
    /// Delete what the source lacks from the destination (after every transfer succeeded).
    #[arg(long)]
    pub(crate) delete: bool,
    /// Refuse to delete more than N entries (a guard against syncing from the wrong place).
    #[arg(long, value_name = "N", requires = "delete")]
    pub(crate) max_delete: Option<u64>,
    /// Print what would be transferred and deleted; move nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Leave out keys matching GLOB (relative to the root; the last matching rule wins).
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,
    /// Take part keys matching GLOB even if an earlier --exclude matched.
    #[arg(long, value_name = "GLOB")]
    pub(crate) include: Vec<String>,
    /// Compare sizes only, not modification times.
    #[arg(long, conflicts_with = "checksum")]
    pub(crate) size_only: bool,
    /// Compare content: entries of equal size are hashed (MD5 against the ETag) and move only
    /// if their bytes differ.
    #[arg(long)]
    pub(crate) checksum: bool,
    /// Follow symlinks in a local source (else they are skipped with a warning), and write
    /// through symlinked directories in a local destination (else such a download is refused).
    #[arg(long)]
    pub(crate) follow_symlinks: bool,
    /// List a bucket by up to N streams at once, one per prefix found by delimiter listings
    /// (merged back into key order); 1 lists with one stream. Without it, up to 8 streams
    /// when the first page shows the listing gains from them, else one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) list_fanout: Option<u32>,
    /// After the sync, write the BLAKE3 manifest of the local side next to the backup, under
    /// `.haul/manifests/<UTC time>.manifest` of the destination (needs a local side; the hash
    /// cache makes a nightly run read only changed files). `.haul/` is never synced.
    #[arg(long)]
    pub(crate) manifest: bool,
    /// With --manifest: how many manifests to keep at the destination (the newest).
    #[arg(long, value_name = "N", default_value_t = 14, requires = "manifest", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) keep_manifests: u64,
    /// With --manifest: hash every file, without the hash cache.
    #[arg(long, requires = "manifest")]
    pub(crate) no_hash_cache: bool,
    /// Sync only shard K of N (0 <= K < N): the keys whose stable hash falls in it, on both
    /// sides (deletes too). N runs with K = 0..N-1, on as many machines, together do the whole
    /// sync; with --manifest each writes `<UTC time>.shard-K-of-N.manifest`, joined by `haul
    /// manifest merge`.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<engine::sync::Shard>,
    /// With --manifest: the run this sync belongs to, recorded in the manifest (the shards of
    /// one run share it, e.g. a Kubernetes Job's UID), so that `haul manifest merge` refuses
    /// parts of different runs.
    #[arg(long, value_name = "ID", requires = "manifest", value_parser = parse_run_id)]
    pub(crate) run_id: Option<String>,
    #[command(flatten)]
    pub(crate) transfer: TransferArgs,
    /// Gateway of an s3:// source, when it differs from --endpoint (cluster to cluster).
    #[arg(long, value_name = "URL")]
    pub(crate) source_endpoint: Option<String>,
    /// AWS profile for the source's credentials.
    #[arg(long)]
    pub(crate) source_profile: Option<String>,
    /// Gateway of an s3:// destination, when it differs from --endpoint.
    #[arg(long, value_name = "URL")]
    pub(crate) dest_endpoint: Option<String>,
    /// AWS profile for the destination's credentials.
    #[arg(long)]
    pub(crate) dest_profile: Option<String>,
    /// The --exclude/--include rules in command-line order (filled after parsing).
    #[arg(skip)]
    pub(crate) rules: Vec<(bool, String)>,
}

/// `haul multipart …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MultipartCommand {
    /// List multipart uploads in progress under s3://bucket[/prefix].
    #[command(after_help = "Example:\n  haul multipart ls s3://db_wal")]
    Ls {
        /// s3://bucket[/prefix]
        target: String,
    },
    /// Abort multipart uploads under s3://bucket[/prefix], freeing their parts.
    #[command(after_help = "Example:\n  haul multipart abort --older-than 1d s3://registry")]
    Abort {
        /// s3://bucket[/prefix]
        target: String,
        /// Only uploads started longer ago than this (e.g. 90m, 12h, 7d); the default aborts
        /// every upload, including ones another client may still be sending.
        #[arg(long, value_parser = parse_age, value_name = "AGE")]
        older_than: Option<std::time::Duration>,
    },
}

/// `haul manifest build|show|diff|verify`.
#[derive(Debug, Subcommand)]
pub(crate) enum ManifestCommand {
    /// Hash every file of DIR (or object under s3://bucket[/prefix]) into a manifest.
    #[command(
        after_help = "Examples:\n  haul manifest build ./db_wal -o db_wal.manifest\n  haul manifest build s3://registry -o registry.manifest"
    )]
    Build {
        /// A directory or s3://bucket[/prefix].
        source: String,
        /// Where to write the manifest: a file, or s3://BUCKET/KEY (built locally, uploaded
        /// once complete).
        #[arg(
            short,
            long,
            default_value = "manifest.haul",
            value_name = "FILE|S3_URL"
        )]
        output: String,
        /// Remote: take each object's hash from `x-amz-meta-blake3` (one HEAD) instead of
        /// reading it; objects without it are read.
        #[arg(long)]
        trust_metadata: bool,
        /// Local: read large files instead of memory-mapping them (for a live volume, where
        /// a file truncated while mapped would kill haul with SIGBUS).
        #[arg(long)]
        no_mmap: bool,
        /// Local: hash every file, ignoring (and not updating) the hash cache that lets a
        /// rebuild read only files whose size, mtime, inode or ctime changed. The cache lives
        /// under $HAUL_CACHE_DIR, else $XDG_CACHE_HOME/haul, else ~/.cache/haul.
        #[arg(long)]
        no_hash_cache: bool,
    },
    /// Print a manifest: its header, then one line per entry (JSON objects with --json).
    #[command(after_help = "Example:\n  haul manifest show db_wal.manifest")]
    Show {
        /// The manifest file.
        file: PathBuf,
    },
    /// List entries added, removed and changed (size or hash) from A to B; exit 1 if any.
    #[command(after_help = "Example:\n  haul manifest diff monday.manifest tuesday.manifest")]
    Diff {
        /// The older manifest.
        a: PathBuf,
        /// The newer manifest.
        b: PathBuf,
    },
    /// Join the manifests of the N shards of one sync (`haul sync --shard K/N --manifest`), or
    /// of other disjoint parts of one tree, into the manifest of the whole.
    #[command(
        after_help = "Example:\n  haul manifest merge parts/*.shard-*-of-8.manifest -o registry.manifest"
    )]
    Merge {
        /// The parts: every shard 0..N of one sync exactly once, or unsharded manifests.
        #[arg(required = true, value_name = "PART")]
        parts: Vec<PathBuf>,
        /// Where to write the merged manifest.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The source the merged manifest names, when the parts name different ones (each
        /// machine's directory).
        #[arg(long, value_name = "TEXT")]
        source: Option<String>,
        /// From parts of several runs (a glob over the manifests each shard keeps), take each
        /// shard's newest; they must then be of one run when they carry a run id.
        #[arg(long)]
        newest: bool,
    },
    /// Rehash DIR or s3://bucket[/prefix] and report missing, extra and changed entries;
    /// exit 1 on any difference.
    #[command(
        after_help = "Examples:\n  haul manifest verify db_wal.manifest ./restore/db_wal\n  haul manifest verify db_wal.manifest s3://db_wal"
    )]
    Verify {
        /// The manifest file.
        manifest: PathBuf,
        /// A directory or s3://bucket[/prefix].
        target: String,
        /// Local: read large files instead of memory-mapping them.
        #[arg(long)]
        no_mmap: bool,
    },
}

/// A run id: 1 to 128 printable ASCII characters.
pub(crate) fn parse_run_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{s:?} is not a run id: 1 to 128 printable ASCII characters without spaces"
        ));
    }
    Ok(s.to_owned())
}

/// Parses ages like `90s`, `30m`, `12h`, `7d`.
pub(crate) fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age (examples: 90m, 12h, 7d)"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in {s:?}: use s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
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
        after_help = "Examples:\n  HAUL_GATEWAY_SECRET_KEY=devsecret haul gateway serve --root /tmp/s3 --access-key dev\n  haul gateway serve --root /tmp/s3 --tls-cert cert.pem --tls-key key.pem"
    )]
    Serve(GatewayServeArgs),
    /// Put a fault-injecting proxy in front of a gateway until interrupted; prints
    /// `endpoint=URL` and `control=URL` first.
    ///
    /// Requests are forwarded unchanged (signatures stay valid); faults are switched at run
    /// time with `PUT CONTROL/__fault/mode` (JSON) and counted at `GET CONTROL/__fault/stats`.
    #[command(
        after_help = "Examples:\n  haul gateway fault-proxy --upstream http://127.0.0.1:7480\n  haul gateway fault-proxy --upstream http://127.0.0.1:7480 --mode '{\"max_concurrent\": 4}'\n  curl -X PUT -d '{\"error_rate\": 0.1, \"seed\": 7}' http://127.0.0.1:PORT/__fault/mode\n\nMode fields (all optional, all combinable): max_concurrent (503 SlowDown above N requests in flight), error_rate (500 InternalError), reset_rate (connection reset mid-request or mid-response), truncate_rate (response body cut short of its Content-Length), first_byte_delay_ms, max_body (413 EntityTooLarge above this Content-Length), max_body_reset (connection reset after this many bytes of a larger body, no answer), seed."
    )]
    FaultProxy(GatewayFaultProxyArgs),
    /// Serve a generated, read-only bucket of N objects (none stored) until interrupted;
    /// prints `endpoint=URL` first.
    ///
    /// Keys are computed from their index in S3 byte order, so any listing page costs
    /// O(page × log N) and memory does not grow with N: for scale tests and listing-speed
    /// comparisons. Signatures are not checked (loopback only). Every object was last
    /// modified at 2026-01-01T00:00:00Z; its content is --size bytes derived from its key, its
    /// ETag their MD5.
    #[command(
        after_help = "Examples:\n  haul gateway synthetic --objects 1000000\n  haul gateway synthetic --objects 1000000 --layout flat --list-delay-ms 20\n  haul gateway synthetic --objects 10 --hostile token-loop\n\nLayouts: registry (docker/registry/v2/blobs/sha256/{pp}/{digest}/data over 256 prefixes pp), flat (objects/{i:012}, no delimiter structure).\n\nHostile modes (every ListObjects V1/V2 answer; objects stay normal): huge-page (a 100 MiB page with its Content-Length), endless-page (a chunked page that never ends), token-loop (an empty truncated page whose NextContinuationToken/NextMarker is always the same), token-cycle (the same, alternating between two cursors), empty-pages (empty truncated pages for ever, each with a new cursor), entity-bomb (a billion-laughs DOCTYPE whose entity is a key), slow-drip (the normal page, one byte a second)."
    )]
    Synthetic(GatewaySyntheticArgs),
}

/// `haul gateway synthetic`.
#[derive(Debug, Args)]
pub(crate) struct GatewaySyntheticArgs {
    /// Number of objects in the bucket.
    #[arg(long, value_name = "N")]
    pub(crate) objects: u64,
    /// The bucket's name.
    #[arg(long, value_name = "NAME", default_value = "registry")]
    pub(crate) bucket: String,
    /// How keys look: registry or flat.
    #[arg(long, default_value = "registry")]
    pub(crate) layout: haul_gateway::Layout,
    /// Every object's size in bytes (at most 16384).
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=16384))]
    pub(crate) size: u64,
    /// Address to listen on (loopback only); port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,
    /// Delay added before each listing answer, to emulate a gateway whose listing is slow.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub(crate) list_delay_ms: u64,
    /// Answer every listing as a broken or malicious gateway would, to test how a client ends
    /// it: huge-page, endless-page, token-loop, token-cycle, empty-pages, entity-bomb or
    /// slow-drip.
    #[arg(long, value_name = "MODE")]
    pub(crate) hostile: Option<haul_gateway::HostileMode>,
}

/// `haul gateway fault-proxy`.
#[derive(Debug, Args)]
pub(crate) struct GatewayFaultProxyArgs {
    /// The gateway to forward to (plain http://host:port).
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: String,
    /// Address S3 clients connect to; port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,
    /// Address of the control API (loopback only: it has no authentication).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) control_listen: SocketAddr,
    /// Faults from the start, as the JSON of PUT /__fault/mode, e.g. '{"error_rate": 0.1}'.
    #[arg(long, value_name = "JSON", value_parser = parse_fault_mode)]
    pub(crate) mode: Option<haul_gateway::FaultMode>,
}

/// Parses a fault mode's JSON; a refusal names every cause (the field, the JSON error).
fn parse_fault_mode(s: &str) -> Result<haul_gateway::FaultMode, String> {
    s.parse()
        .map_err(|e: haul_gateway::fault::FaultModeError| format!("{:#}", anyhow::Error::new(e)))
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
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Its subject
    /// alternative names must cover the address clients use (e.g. IP 127.0.0.1).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
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

/// Parses the command line; fills in what clap's derive cannot (the order of filter rules).
pub(crate) fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match (&mut cli.command, matches.subcommand()) {
        (Command::Sync(a), Some(("sync", m))) => a.rules = rules_in_order(m),
        (Command::Rm(a), Some(("rm", m))) => a.rules = rules_in_order(m),
        _ => {}
    }
    cli
}

/// The --exclude and --include values of a subcommand, in command-line order (`true`:
/// include).
fn rules_in_order(m: &clap::ArgMatches) -> Vec<(bool, String)> {
    let mut rules: Vec<(usize, bool, String)> = Vec::new();
    for (id, include) in [("exclude", false), ("include", true)] {
        if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) {
            rules.extend(idx.zip(vals).map(|(i, v)| (i, include, v.clone())));
        }
    }
    rules.sort_by_key(|r| r.0);
    rules.into_iter().map(|(_, inc, v)| (inc, v)).collect()
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
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("10s").unwrap().as_secs(), 10);
        assert_eq!(parse_duration("2").unwrap().as_secs(), 2);
        assert_eq!(parse_duration("1.5m").unwrap().as_secs(), 90);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn concurrency_levels() {
        assert_eq!(parse_levels("16,1, 4,4").unwrap(), Levels(vec![1, 4, 16]));
        assert!(parse_levels("0").is_err());
        assert!(parse_levels("5000").is_err());
        assert!(parse_levels("4,x").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_age("7d").unwrap().as_secs(), 604_800);
        assert!(parse_age("7").is_err());
        assert!(parse_age("d").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
