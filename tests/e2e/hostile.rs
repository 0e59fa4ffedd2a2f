//! Issue 9, item 5: hostile listings. haul against `haul gateway synthetic --hostile MODE`,
//! whose every ListObjects answer is hostile: a 100 MiB page, a page that never ends, a
//! continuation token that never advances, an XML entity bomb, a page dripped one byte a
//! second. Each command that lists a bucket (`ls -r`, `sync` from it, `manifest build` of it)
//! must end by itself with a clear error naming the problem, within bounded memory and time
//! (`Haul::bounded`), and a sync must leave its destination as it found it (empty: no file,
//! no temporary file), a manifest build no file beside its output.
//!
//! `ls -r` and `sync` run with `--list-fanout 1` (one `ListPager` stream) and `--list-fanout
//! 8` (delimiter discovery first, `client::fanout`), whose paths differ; `manifest build` of
//! a bucket lists with the default (a plain first page, then discovery where the listing is
//! longer), through its own consumer.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::cases::Standalone;
use crate::haul::Bounded;
use crate::listing::Synthetic;

pub(crate) const STANDALONE: &[Standalone] = &[
    ("issue_9_hostile_listing_huge_page_ls", || ls(&HUGE_PAGE)),
    ("issue_9_hostile_listing_huge_page_sync", || {
        sync(&HUGE_PAGE)
    }),
    ("issue_9_hostile_listing_huge_page_manifest_build", || {
        manifest_build(&HUGE_PAGE)
    }),
    ("issue_9_hostile_listing_endless_page_ls", || {
        ls(&ENDLESS_PAGE)
    }),
    ("issue_9_hostile_listing_endless_page_sync", || {
        sync(&ENDLESS_PAGE)
    }),
    (
        "issue_9_hostile_listing_endless_page_manifest_build",
        || manifest_build(&ENDLESS_PAGE),
    ),
    ("issue_9_hostile_listing_token_loop_ls", || ls(&TOKEN_LOOP)),
    ("issue_9_hostile_listing_token_loop_sync", || {
        sync(&TOKEN_LOOP)
    }),
    ("issue_9_hostile_listing_token_loop_manifest_build", || {
        manifest_build(&TOKEN_LOOP)
    }),
    ("issue_9_hostile_listing_token_cycle_ls", || {
        ls(&TOKEN_CYCLE)
    }),
    ("issue_9_hostile_listing_token_cycle_sync", || {
        sync(&TOKEN_CYCLE)
    }),
    ("issue_9_hostile_listing_empty_pages_ls", || {
        ls(&EMPTY_PAGES)
    }),
    ("issue_9_hostile_listing_empty_pages_sync", || {
        sync(&EMPTY_PAGES)
    }),
    ("issue_9_hostile_listing_entity_bomb_ls", || {
        ls(&ENTITY_BOMB)
    }),
    ("issue_9_hostile_listing_entity_bomb_sync", || {
        sync(&ENTITY_BOMB)
    }),
    ("issue_9_hostile_listing_entity_bomb_manifest_build", || {
        manifest_build(&ENTITY_BOMB)
    }),
    ("issue_9_hostile_listing_slow_drip_ls", || ls(&SLOW_DRIP)),
    ("issue_9_hostile_listing_slow_drip_sync", || {
        sync(&SLOW_DRIP)
    }),
    ("issue_9_hostile_listing_slow_drip_manifest_build", || {
        manifest_build(&SLOW_DRIP)
    }),
];

/// A hang guard, not a speed test: every case here but the slow drip ends in a second or two on
/// loopback, the slow drip in 25-45 s (its retries' backoff); a run past this is a hang and is
/// killed.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// README "Exit codes": 1 failure.
const EXIT_FAILURE: i32 = 1;

/// Objects in the hostile gateway's bucket. Its hostile answers ignore them; what matters is
/// that a normal listing of it would be a few small pages.
const OBJECTS: u64 = 2_000;

/// What one hostile mode must end with.
struct Hostile {
    /// `--hostile MODE`.
    mode: &'static str,
    /// The exit code (README "Exit codes").
    code: i32,
    /// What stderr must say (case-insensitive): the problem, named.
    needle: &'static str,
    /// Peak RSS bound in MiB, with the reason in the constant's comment.
    max_rss_mib: u64,
    /// Flags every haul run of this mode adds.
    flags: &'static [&'static str],
}

/// The 100 MiB page: haul reads at most its 16 MiB cap for an XML answer
/// (`client::MAX_XML_BODY_BYTES`) of it and refuses the answer without retrying it. Measured
/// peaks: 27-31 MiB (the binary's ~12 MiB and the capped buffer); 48 MiB leaves margin and is
/// half the page, which a reader that held it would need whole.
const HUGE_PAGE: Hostile = Hostile {
    mode: "huge-page",
    code: EXIT_FAILURE,
    needle: "body exceeds 16777216 bytes",
    max_rss_mib: 48,
    flags: &[],
};

/// The page that never ends: the same cap ends it, with the same peaks and bound as
/// [`HUGE_PAGE`]; a reader without a cap would grow for as long as it ran.
const ENDLESS_PAGE: Hostile = Hostile {
    mode: "endless-page",
    code: EXIT_FAILURE,
    needle: "body exceeds 16777216 bytes",
    max_rss_mib: 48,
    flags: &[],
};

/// The continuation token that never advances: refused on its second appearance (and by
/// fan-out's discovery, which then lists with one stream and meets it again). Its pages are
/// empty: measured peaks 12-14 MiB, the binary's baseline; 32 MiB shows nothing accumulates.
const TOKEN_LOOP: Hostile = Hostile {
    mode: "token-loop",
    code: EXIT_FAILURE,
    needle: "the gateway returned the same page cursor twice",
    max_rss_mib: 32,
    flags: &[],
};

/// Two cursors in turn: never the cursor just asked with, so only a memory of the cursors
/// seen before (`ListPager` keeps the last 64) ends it. Measured peaks as the token loop's.
const TOKEN_CYCLE: Hostile = Hostile {
    mode: "token-cycle",
    code: EXIT_FAILURE,
    needle: "a page cursor it had already returned",
    max_rss_mib: 32,
    flags: &[],
};

/// Empty pages, each with a new cursor: ended after 10,000 in a row without a key (a few
/// seconds of requests on loopback). Nothing accumulates: the peaks stay at the baseline.
const EMPTY_PAGES: Hostile = Hostile {
    mode: "empty-pages",
    code: EXIT_FAILURE,
    needle: "pages in a row without a key",
    max_rss_mib: 32,
    flags: &[],
};

/// The billion laughs: the DOCTYPE is refused before any entity is declared. Expanded, its
/// key would be 3 GB; measured peaks 12-14 MiB, the baseline; 32 MiB shows it never was.
const ENTITY_BOMB: Hostile = Hostile {
    mode: "entity-bomb",
    code: EXIT_FAILURE,
    needle: "document type declarations are not accepted",
    max_rss_mib: 32,
    flags: &[],
};

/// README "Exit codes": 5 network (cannot connect, timeout, TLS).
const EXIT_NETWORK: i32 = 5;

/// A page dripped one byte a second never trips the body idle timeout (60 s between two
/// chunks); the whole answer's deadline (`--answer-timeout`, default 120 s; 1 s here) times it
/// out, and after the retries haul gives up with a network error. Measured peaks 11-14 MiB.
const SLOW_DRIP: Hostile = Hostile {
    mode: "slow-drip",
    code: EXIT_NETWORK,
    needle: "answer not complete after",
    max_rss_mib: 32,
    flags: &["--answer-timeout", "1"],
};

/// `haul ARGS` against a fresh hostile gateway, bounded.
fn run(gw: &Synthetic, h: &Hostile, args: &[&str]) -> Result<Bounded> {
    let args: Vec<&str> = h.flags.iter().chain(args).copied().collect();
    let out = gw.haul(&args)?.bounded(TIME_LIMIT)?;
    eprintln!(
        "haul {}: exit {:?}, peak RSS {} KiB, {:.2?}",
        args.join(" "),
        out.exit_code,
        out.peak_rss_bytes / 1024,
        out.elapsed
    );
    Ok(out)
}

/// Requires the clear failure `h` asks for, and that stderr names the bucket listed.
fn failed_clearly(h: &Hostile, out: &Bounded, what: &str) -> Result<()> {
    let stderr = out
        .failed_clearly(h.code, h.max_rss_mib, h.needle)
        .with_context(|| format!("{what} against --hostile {}", h.mode))?;
    ensure!(
        stderr.contains("s3://registry"),
        "{what} against --hostile {}: stderr does not name the bucket:\n{stderr}",
        h.mode
    );
    Ok(())
}

fn ls(h: &Hostile) -> Result<()> {
    let gw = Synthetic::start(OBJECTS, "registry", Some(h.mode))?;
    for fanout in ["1", "8"] {
        let out = run(
            &gw,
            h,
            &["ls", "-r", "--list-fanout", fanout, "s3://registry/"],
        )?;
        failed_clearly(h, &out, &format!("ls -r --list-fanout {fanout}"))?;
    }
    Ok(())
}

fn sync(h: &Hostile) -> Result<()> {
    let gw = Synthetic::start(OBJECTS, "registry", Some(h.mode))?;
    for fanout in ["1", "8"] {
        let dst = tempfile::tempdir()?;
        let d = dst.path().to_str().context("path")?;
        let out = run(
            &gw,
            h,
            &["sync", "--list-fanout", fanout, "s3://registry/", d],
        )?;
        let what = format!("sync --list-fanout {fanout}");
        failed_clearly(h, &out, &what)?;
        let left = entries(dst.path())?;
        ensure!(
            left.is_empty(),
            "{what} against --hostile {} left {left:?} in its destination",
            h.mode
        );
    }
    Ok(())
}

fn manifest_build(h: &Hostile) -> Result<()> {
    let gw = Synthetic::start(OBJECTS, "registry", Some(h.mode))?;
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("registry.manifest");
    let m = manifest.to_str().context("path")?;
    let out = run(&gw, h, &["manifest", "build", "s3://registry/", "-o", m])?;
    failed_clearly(h, &out, "manifest build")?;
    let left = entries(dir.path())?;
    ensure!(
        left.is_empty(),
        "manifest build against --hostile {} left {left:?} beside its output",
        h.mode
    );
    Ok(())
}

/// Every entry under `root`, hidden ones included, relative to it.
fn entries(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir)? {
            let path = entry?.path();
            let rel = path.strip_prefix(root)?.display().to_string();
            if path.is_dir() {
                dirs.push(path);
            }
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}
