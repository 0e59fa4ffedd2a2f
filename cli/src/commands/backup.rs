//! `haul backup PLAN`, `haul backup ls DEST`, `haul backup show SET`, `haul backup verify SET`,
//! `haul restore SET`.

use anyhow::Result;
use engine::backup::store::{S3Dir, SetAt, Store};
use engine::backup::{self, BackupOptions, Destination};
use serde_json::json;

use super::{Location, client_config, parse_location, resolve_with};
use crate::args::{BackupArgs, BackupCommand, GlobalArgs, RestoreArgs, SetGatewayArgs};
use crate::output::progress::Reporter;
use crate::output::{ExitWith, Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, a: &BackupArgs) -> Result<()> {
    match &a.command {
        Some(BackupCommand::Ls { dest, at }) => return ls(g, dest, at).await,
        Some(BackupCommand::Show { set, at }) => return show(g, set, at).await,
        Some(BackupCommand::Verify { set, at, transfer }) => {
            return verify(g, set, at, transfer).await;
        }
        None => {}
    }
    let Some(plan_path) = &a.plan else {
        return Err(
            engine::Error::Usage("haul backup PLAN: the plan file is missing".into()).into(),
        );
    };
    let plan = backup::plan::read(plan_path).map_err(|e| engine::Error::Usage(e.to_string()))?;
    let cfg = resolve_with(
        g,
        plan.source_endpoint.as_deref(),
        plan.source_profile.as_deref(),
    )?;
    let mut config = client_config(g, &cfg)?;
    // The plan's ceiling, unless --concurrency was given.
    if let (Some(c), None) = (plan.concurrency, &g.concurrency) {
        config.controller = engine::congestion::ControllerConfig::with_ceiling(c as usize);
    }
    let parallel = config.controller.ceiling;
    let client = engine::client::Client::new(config, engine::progress::silent())?;
    let store = match &plan.destination {
        Destination::Local(dir) => Store::Local(dir.clone()),
        Destination::S3 {
            bucket,
            prefix,
            endpoint,
            profile,
        } => {
            // The destination's own gateway and keys; by default the source's.
            let cfg = resolve_with(
                g,
                endpoint.as_deref().or(plan.source_endpoint.as_deref()),
                profile.as_deref().or(plan.source_profile.as_deref()),
            )?;
            let dest =
                engine::client::Client::new(client_config(g, &cfg)?, engine::progress::silent())?;
            Store::S3(S3Dir::new(dest, bucket.clone(), prefix))
        }
    };
    let progress = Reporter::start(g.json, g.quiet);
    progress.watch(client.limiter());
    let opts = BackupOptions {
        transfer: engine::transfer::TransferOptions {
            progress: progress.sink(),
            ..a.transfer.options()
        },
        parallel,
        memory_bytes: a.transfer.memory,
        incremental: a.incremental,
    };
    let result = backup::run(&plan, &client, &store, &opts, &progress.sink()).await;
    progress.finish();
    let set = result?;
    let mut out = Out::new(g.json);
    for p in &set.parts {
        let status = match &p.error {
            Some(e) => format!("FAILED: {e}"),
            None if p.kind == "bucket" => format!(
                "{} objects, {}; {} copied ({}), {} unchanged from the base set; in {:.1} s",
                p.entries,
                human_bytes(p.bytes),
                p.moved,
                human_bytes(p.moved_bytes),
                p.reused,
                p.seconds
            ),
            None => format!(
                "{} entries, {} in {:.1} s",
                p.entries,
                human_bytes(p.bytes),
                p.seconds
            ),
        };
        out.line(&format!(
            "{} {}: {} -> {} ({}): {status}",
            p.kind, p.name, p.source, p.path, p.proof
        ))?;
        for w in &p.warnings {
            crate::output::error_line(&format!("warning: {}: {w}", p.name));
        }
    }
    out.line(&format!(
        "set {} {} at {}{}",
        set.id,
        set.state,
        set.location,
        set.base
            .as_ref()
            .map(|b| format!(" (incremental on {b})"))
            .unwrap_or_default()
    ))?;
    if let Some(e) = &set.prune_error {
        crate::output::error_line(&format!("warning: removing older sets: {e}"));
    }
    if !set.pruned.is_empty() {
        out.line(&format!(
            "removed {} older set(s) beyond keep = {}: {}",
            set.pruned.len(),
            plan.keep,
            set.pruned.join(", ")
        ))?;
    }
    out.record(&json!({
        "event": "summary", "set": set.id, "state": set.state, "base": set.base,
        "dir": set.location,
        "parts": serde_json::to_value(&set.parts)?,
        "warnings": set.warnings(),
        "pruned": set.pruned,
    }))?;
    out.flush()?;
    if set.state != "complete" {
        return Err(ExitWith {
            code: 1,
            message: format!(
                "set {} is incomplete: {}",
                set.id,
                set.parts
                    .iter()
                    .filter_map(|p| p.error.as_ref().map(|e| format!("{}: {e}", p.name)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
        .into());
    }
    Ok(())
}

/// The gateway holding s3:// sets: `--set-endpoint` / `--set-profile`, else the usual one.
fn set_client(g: &GlobalArgs, at: &SetGatewayArgs) -> Result<engine::client::Client> {
    let cfg = resolve_with(g, at.set_endpoint.as_deref(), at.set_profile.as_deref())?;
    Ok(engine::client::Client::new(
        client_config(g, &cfg)?,
        engine::progress::silent(),
    )?)
}

/// A destination: a directory or `s3://bucket/prefix`.
fn store(g: &GlobalArgs, dest: &str, at: &SetGatewayArgs) -> Result<Store> {
    Ok(match parse_location(dest)? {
        Location::Local(p) => Store::Local(p),
        Location::S3 { bucket, key } => Store::S3(S3Dir::new(set_client(g, at)?, bucket, &key)),
        Location::Stdio => {
            return Err(engine::Error::Usage("a backup destination cannot be stdin".into()).into());
        }
    })
}

/// A set: `DEST/sets/ID` as a directory or `s3://bucket/prefix/sets/ID`.
fn set_at(g: &GlobalArgs, set: &str, at: &SetGatewayArgs) -> Result<SetAt> {
    Ok(match store(g, set, at)? {
        Store::Local(p) => SetAt::Local(p),
        Store::S3(d) => SetAt::S3(d),
    })
}

async fn ls(g: &GlobalArgs, dest: &str, at: &SetGatewayArgs) -> Result<()> {
    let mut out = Out::new(g.json);
    for (id, json) in store(g, dest, at)?.list_sets().await? {
        let state = json
            .as_ref()
            .and_then(|j| j["state"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "incomplete (no set.json)".to_owned());
        let bytes: u64 = json
            .as_ref()
            .and_then(|j| j["parts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|p| p["bytes"].as_u64().unwrap_or(0))
            .sum();
        out.line(&format!("{id}  {state:<10} {:>10}", human_bytes(bytes)))?;
        out.record(&json!({"set": id, "state": state, "bytes": bytes}))?;
    }
    out.flush()?;
    Ok(())
}

async fn show(g: &GlobalArgs, set: &str, at: &SetGatewayArgs) -> Result<()> {
    // Any state: `show` is how a failed set is looked at.
    let opened = backup::set::open(&set_at(g, set, at)?, true).await?;
    let json = serde_json::to_value(&opened.report)?;
    let mut out = Out::new(g.json);
    if g.json {
        out.record(&json)?;
    } else {
        out.line(&format!(
            "set {} ({}), haul {}, {} .. {}",
            json["id"].as_str().unwrap_or("?"),
            json["state"].as_str().unwrap_or("?"),
            json["haul"].as_str().unwrap_or("?"),
            json["started"].as_str().unwrap_or("?"),
            json["finished"].as_str().unwrap_or("?"),
        ))?;
        for p in json["parts"].as_array().into_iter().flatten() {
            out.line(&format!(
                "  {} {}: {} entries, {} -> {} ({}){}",
                p["kind"].as_str().unwrap_or("?"),
                p["name"].as_str().unwrap_or("?"),
                p["entries"].as_u64().unwrap_or(0),
                human_bytes(p["bytes"].as_u64().unwrap_or(0)),
                p["path"].as_str().unwrap_or("?"),
                p["proof"].as_str().unwrap_or("?"),
                p["error"]
                    .as_str()
                    .map(|e| format!(" FAILED: {e}"))
                    .unwrap_or_default(),
            ))?;
            for w in p["warnings"].as_array().into_iter().flatten() {
                out.line(&format!("    warning: {}", w.as_str().unwrap_or("?")))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

async fn verify(
    g: &GlobalArgs,
    set: &str,
    at: &SetGatewayArgs,
    transfer: &crate::args::TransferArgs,
) -> Result<()> {
    let set = backup::set::open(&set_at(g, set, at)?, false).await?;
    let parallel = super::controller_config(g).ceiling;
    let checked = backup::verify(&set, &transfer.options(), parallel, transfer.memory).await;
    report(g, &checked, "every part matches its manifest or index")
}

pub(crate) async fn restore(g: &GlobalArgs, a: &RestoreArgs) -> Result<()> {
    let set = backup::set::open(&set_at(g, &a.set, &a.at)?, false).await?;
    let cfg = super::resolve(g)?;
    let config = client_config(g, &cfg)?;
    let parallel = config.controller.ceiling;
    let client = engine::client::Client::new(config, engine::progress::silent())?;
    let progress = Reporter::start(g.json, g.quiet);
    progress.watch(client.limiter());
    let opts = backup::RestoreOptions {
        transfer: engine::transfer::TransferOptions {
            progress: progress.sink(),
            ..a.transfer.options()
        },
        parallel,
        memory_bytes: a.transfer.memory,
        archive_dirs: a.archive_dirs.clone(),
        in_place: a.in_place,
        owners: !a.no_same_owner && super::tar::running_as_root(),
        delete: a.delete,
    };
    let result = backup::restore(&set, &client, &opts, &progress.sink()).await;
    progress.finish();
    report(g, &result?, "restored and verified, nothing differs")
}

/// Prints a restore's or verify's report, part by part, and fails with exit code 1 unless
/// every part is clean.
fn report(g: &GlobalArgs, checked: &backup::SetCheck, done: &str) -> Result<()> {
    let mut out = Out::new(g.json);
    for p in &checked.parts {
        let status = match &p.error {
            Some(e) => format!("FAILED: {e}"),
            None if p.different > 0 => format!("{} DIFFERENCES", p.different),
            None => "ok".to_owned(),
        };
        let moved = if p.moved > 0 {
            format!(
                ", {} {} ({})",
                p.moved,
                if p.kind == "bucket" {
                    "objects uploaded"
                } else {
                    "entries extracted"
                },
                human_bytes(p.moved_bytes)
            )
        } else {
            String::new()
        };
        out.line(&format!(
            "{} {} -> {}: {}{moved}, {} checked in {:.1} s: {status}",
            p.kind, p.name, p.target, p.action, p.checked, p.seconds
        ))?;
        for d in &p.differences {
            out.line(&format!("  differs: {d}"))?;
        }
        if p.different > p.differences.len() as u64 {
            out.line(&format!(
                "  … and {} more",
                p.different - p.differences.len() as u64
            ))?;
        }
        for w in &p.warnings {
            crate::output::error_line(&format!("warning: {}: {w}", p.name));
        }
        out.record(&json!({"event": "part", "part": serde_json::to_value(p)?}))?;
    }
    let clean = checked.is_clean();
    out.line(&format!(
        "set {}: {}",
        checked.set,
        if clean {
            done.to_owned()
        } else {
            "NOT clean".to_owned()
        }
    ))?;
    out.record(&json!({"event": "summary", "set": checked.set, "clean": clean,
        "different": checked.parts.iter().map(|p| p.different).sum::<u64>(),
        "failed": checked.parts.iter().filter(|p| p.error.is_some()).map(|p| p.name.clone()).collect::<Vec<_>>()}))?;
    out.flush()?;
    if !clean {
        let bad: Vec<String> = checked
            .parts
            .iter()
            .filter(|p| !p.is_clean())
            .map(|p| match &p.error {
                Some(e) => format!("{}: {e}", p.name),
                None => format!("{}: {} differences", p.name, p.different),
            })
            .collect();
        return Err(ExitWith {
            code: 1,
            message: format!("set {}: {}", checked.set, bad.join("; ")),
        }
        .into());
    }
    Ok(())
}
