//! Listing fan-out (issue 10, item 2) against the real gateways and haul's synthetic one: a
//! bucket listed by several streams over its prefixes comes back exactly as one stream lists
//! it — the same keys, in the same order — and a sync planned from it is the same plan.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use crate::cases::{Case, mb};
use crate::gateway::Gateway;
use crate::haul::{Haul, binary, unique_bucket};

/// Cases that start their own (synthetic) gateway.
pub(crate) const STANDALONE: &[crate::cases::Standalone] = &[
    (
        "issue_10_synthetic_listing_fanout_lists_every_key_once_in_order",
        synthetic_fanout,
    ),
    (
        "issue_3_default_listing_fans_out_only_where_it_gains",
        synthetic_fanout_only_where_it_gains,
    ),
];

pub(crate) const ALL: &[Case] = &[Case {
    name: "issue_10_listing_fanout_lists_what_one_stream_lists",
    run: fanout_lists_what_one_stream_lists,
    only: None,
}];

/// Keys of a registry-like tree, with the orderings that trip a merge (`a-b` before `a/b`
/// before `a0`), a chain of single sub-prefixes, objects beside prefixes, and one prefix
/// with more than a page of entries directly under it (its delimiter listing is truncated).
fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..600u32 {
        let d = format!("{:08x}", i.wrapping_mul(2_654_435_761));
        keys.push(format!(
            "docker/registry/v2/blobs/sha256/{}/{d}/data",
            &d[..2]
        ));
    }
    for r in 0..30 {
        keys.push(format!(
            "docker/registry/v2/repositories/repo{r:02}/_layers/sha256/{r:08x}/link"
        ));
    }
    for i in 0..1_100 {
        keys.push(format!("flat/{i:05}"));
    }
    keys.extend(
        ["a-b", "a/b", "a/c/d", "a0", "top.txt", "z/y/x/w/v"]
            .into_iter()
            .map(str::to_owned),
    );
    keys.sort();
    keys
}

/// The keys `haul ls -r [--list-fanout N] URL` prints, in its order.
fn listed(gw: &Gateway, url: &str, fanout: Option<u32>) -> Result<Vec<String>> {
    let fanout = fanout.map(|n| n.to_string());
    let mut args = vec!["--json", "ls", "-r"];
    if let Some(n) = &fanout {
        args.extend(["--list-fanout", n]);
    }
    args.push(url);
    let out = Haul::new(gw, &args)?.ok()?;
    String::from_utf8(out)?
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            v["key"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no key in {l}"))
        })
        .collect()
}

fn fanout_lists_what_one_stream_lists(gw: &Gateway) -> Result<()> {
    let b = unique_bucket("fanout");
    mb(gw, &b)?;
    let src = tempfile::tempdir()?;
    let keys = keys();
    for k in &keys {
        let p = src.path().join(k);
        fs_err::create_dir_all(p.parent().context("parent")?)?;
        fs_err::write(&p, k.as_bytes())?;
    }
    let url = format!("s3://{b}/");
    Haul::new(
        gw,
        &["sync", "-q", src.path().to_str().context("path")?, &url],
    )?
    .ok()?;

    let one = listed(gw, &url, Some(1))?;
    ensure!(
        one == keys,
        "one stream listed {} keys, not the tree's {}",
        one.len(),
        keys.len()
    );
    // An explicit fan-out always fans out; the default decides by the first page.
    for fanout in [Some(2), Some(8), Some(64), None] {
        let many = listed(gw, &url, fanout)?;
        ensure!(
            many == one,
            "--list-fanout {fanout:?} listed {} keys, {} of them in a different place",
            many.len(),
            many.iter().zip(&one).filter(|(a, b)| a != b).count()
        );
    }
    // Below a prefix, and on a prefix that is not a directory boundary.
    for prefix in [
        "docker/registry/",
        "docker/registry/v2/blobs/sha256/1",
        "fl",
    ] {
        let sub = format!("{url}{prefix}");
        let want: Vec<_> = keys
            .iter()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for fanout in [Some(1), Some(8), None] {
            ensure!(
                listed(gw, &sub, fanout)? == want,
                "{sub} with --list-fanout {fanout:?} differs from the tree"
            );
        }
    }
    // A sync from the bucket plans the same downloads with one stream and with eight.
    let dst = tempfile::tempdir()?;
    let d = dst.path().to_str().context("path")?;
    let plan = |fanout: &str| -> Result<Vec<String>> {
        let out = Haul::new(gw, &["sync", "--dry-run", "--list-fanout", fanout, &url, d])?.ok()?;
        Ok(String::from_utf8(out)?
            .lines()
            .filter(|l| l.starts_with("(dry run)"))
            .map(str::to_owned)
            .collect())
    };
    let (one_plan, many_plan) = (plan("1")?, plan("8")?);
    ensure!(
        one_plan == many_plan && one_plan.len() == keys.len(),
        "the dry-run plans differ or are short: {} and {} lines for {} keys",
        one_plan.len(),
        many_plan.len(),
        keys.len()
    );
    Haul::new(gw, &["rb", "--force", &format!("s3://{b}")])?.ok()?;
    Ok(())
}

/// `haul gateway synthetic` as a child process, stopped (SIGTERM, by its id) on drop.
pub(crate) struct Synthetic {
    child: Child,
    pub(crate) endpoint: String,
}

impl Synthetic {
    /// `objects` keys in `layout`; with `hostile`, every listing answered in that
    /// `--hostile` mode.
    pub(crate) fn start(objects: u64, layout: &str, hostile: Option<&str>) -> Result<Self> {
        let mut child = Command::new(binary()?)
            .args(["gateway", "synthetic", "--objects", &objects.to_string()])
            .args(["--layout", layout])
            .args(
                hostile
                    .map(|mode| ["--hostile", mode])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning haul gateway synthetic")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(endpoint) = line.trim().strip_prefix("endpoint=") else {
            let _ = child.kill();
            bail!("haul gateway synthetic printed {line:?}, not endpoint=URL");
        };
        Ok(Self {
            endpoint: endpoint.to_owned(),
            child,
        })
    }

    /// `haul ARGS…` against this gateway (it takes any credentials).
    pub(crate) fn haul(&self, args: &[&str]) -> Result<Haul> {
        Ok(Haul::bare(args)?
            .env("AWS_ACCESS_KEY_ID", "synthetic")
            .env("AWS_SECRET_ACCESS_KEY", "synthetic")
            .env("AWS_ENDPOINT_URL", &self.endpoint))
    }
}

impl Drop for Synthetic {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SIGTERM to the child this process started, by its id: it stops gracefully.
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.child.wait();
    }
}

/// The synthetic gateway's generated buckets, registry and flat, list the same by one stream
/// and by several, with every key once and in order.
pub(crate) fn synthetic_fanout() -> Result<()> {
    for (layout, objects) in [("registry", 20_000u64), ("flat", 2_500)] {
        let gw = Synthetic::start(objects, layout, None)?;
        let list = |fanout: &str| -> Result<Vec<u8>> {
            gw.haul(&["ls", "-r", "--list-fanout", fanout, "s3://registry/"])?
                .ok()
        };
        let one = list("1")?;
        let lines = one.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count();
        ensure!(
            lines as u64 == objects,
            "{layout}: one stream listed {lines} of {objects} keys"
        );
        for fanout in ["8", "64"] {
            ensure!(
                list(fanout)? == one,
                "{layout}: --list-fanout {fanout} differs"
            );
        }
    }
    Ok(())
}

/// Without `--list-fanout`, a listing fans out only where that saves round trips: a registry
/// whose prefixes hold less than a page each is listed by one stream (about one request per
/// page, after the first page and discovery), one whose prefixes hold more by a stream per
/// prefix (exactly `--list-fanout 8`'s requests, and the first page). Request counts from the
/// summary of `sync --dry-run --json`; every plan the same.
pub(crate) fn synthetic_fanout_only_where_it_gains() -> Result<()> {
    for (objects, fans_out) in [(20_000u64, false), (300_000, true)] {
        let gw = Synthetic::start(objects, "registry", None)?;
        let dst = tempfile::tempdir()?;
        let d = dst.path().to_str().context("path")?;
        let run = |fanout: Option<&str>| -> Result<(u64, Vec<String>)> {
            let mut args = vec!["--json", "sync", "--dry-run"];
            args.extend(fanout.map(|n| ["--list-fanout", n]).into_iter().flatten());
            args.extend(["s3://registry/", d]);
            let out = gw.haul(&args)?.ok()?;
            let summary = crate::cases::summary(&out)?;
            let planned = summary["transferred"].as_u64().unwrap_or(0);
            ensure!(
                planned == objects,
                "{objects} objects, --list-fanout {fanout:?}: {planned} planned ({summary})"
            );
            let lists = crate::cases::list_requests(&summary, "source");
            // The plan: the keys of the `planned` events, in order.
            let plan: Vec<String> = String::from_utf8(out)?
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["event"] == "planned")
                .filter_map(|v| v["key"].as_str().map(str::to_owned))
                .collect();
            Ok((lists, plan))
        };
        let (one, one_plan) = run(Some("1"))?;
        let (eight, eight_plan) = run(Some("8"))?;
        let (auto, auto_plan) = run(None)?;
        let pages = objects.div_ceil(1000);
        ensure!(
            (pages..=pages + 1).contains(&one) && eight > 256,
            "{objects} objects: {one} requests by one stream, {eight} by eight"
        );
        ensure!(
            one_plan.len() as u64 == objects && one_plan == eight_plan && one_plan == auto_plan,
            "{objects} objects: the dry-run plans differ"
        );
        if fans_out {
            ensure!(
                auto == eight + 1,
                "{objects} objects in 1,000+ key prefixes: the default sent {auto} listing \
                 requests, fan-out by eight {eight} (+1 expected)"
            );
        } else {
            ensure!(
                auto <= one + 10,
                "{objects} objects in prefixes of under a page: the default sent {auto} \
                 listing requests, one stream {one}"
            );
        }
        eprintln!(
            "e2e: {objects} objects: listing requests by one stream {one}, by eight {eight}, \
             default {auto}"
        );
    }
    Ok(())
}
