//! `haul backup PLAN`, `haul backup ls DEST`, `haul backup show SET`, `haul backup verify SET`,
//! `haul restore SET`.

use std::path::Path;

use anyhow::Result;
use engine::backup::{self, BackupOptions};
use serde_json::json;

use super::{client_config, resolve_with};
use crate::args::{BackupArgs, BackupCommand, GlobalArgs, RestoreArgs};
use crate::output::progress::Reporter;
use crate::output::{ExitWith, Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, a: &BackupArgs) -> Result<()> {
    match &a.command {
        Some(BackupCommand::Ls { dest }) => return ls(g, dest),
        Some(BackupCommand::Show { set }) => return show(g, set),
        Some(BackupCommand::Verify { set }) => return verify(g, set).await,
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
    let result = backup::run(&plan, &client, &opts, &progress.sink()).await;
    progress.finish();
    let set = result?;
    let mut out = Out::new(g.json);
    for p in &set.parts {
        let status = match &p.error {
            Some(e) => format!("FAILED: {e}"),
            None if p.kind == "bucket" => format!(
                "{} objects, {}; {} downloaded ({}), {} unchanged from the base set; in {:.1} s",
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
        set.dir.display(),
        set.base
            .as_ref()
            .map(|b| format!(" (incremental on {b})"))
            .unwrap_or_default()
    ))?;
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
        "dir": set.dir.display().to_string(),
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

fn ls(g: &GlobalArgs, dest: &Path) -> Result<()> {
    let mut out = Out::new(g.json);
    for (id, json) in backup::list_sets(dest)? {
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

fn show(g: &GlobalArgs, set: &Path) -> Result<()> {
    let path = set.join("set.json");
    let text = fs_err::read(&path)
        .map_err(|e| engine::Error::Usage(format!("{e}: not a complete set")))?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| engine::Error::Usage(format!("{}: {e}", path.display())))?;
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

async fn verify(g: &GlobalArgs, dir: &Path) -> Result<()> {
    let set = backup::set::open(dir, false)?;
    let checked = backup::verify(&set).await;
    report(g, &checked, "every part matches its manifest or index")
}

pub(crate) async fn restore(g: &GlobalArgs, a: &RestoreArgs) -> Result<()> {
    let set = backup::set::open(&a.set, false)?;
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
