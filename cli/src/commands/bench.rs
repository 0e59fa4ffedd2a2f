//! `haul bench`: a gateway's throughput, latency and breaking point, as a table and as JSON.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use engine::bench::{
    BenchReport, BenchSpec, GroupReport, Latency, Live, Mix, OpFigures, OpKind, StepReport, Stop,
    Workload,
};
use serde_json::{Value, json};

use super::{Location, client_config, parse_location, resolve};
use crate::args::{BenchArgs, GlobalArgs};
use crate::output::{ExitWith, Out, human_bytes};

/// The sweep when --concurrency is not given.
const DEFAULT_LEVELS: [usize; 4] = [1, 4, 16, 64];
/// A step's length when neither --duration nor --objects is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// Part sizes accepted: the S3 minimum, and 1 GiB so that one part buffer stays small.
const PART_SIZES: std::ops::RangeInclusive<u64> = (5 << 20)..=(1 << 30);

pub(crate) async fn run(g: &GlobalArgs, a: &BenchArgs) -> Result<()> {
    let (spec, json_file) = spec(g, a)?;
    let cfg = resolve(g)?;
    let base = client_config(g, &cfg)?;
    let terminal = std::io::stderr().is_terminal();
    let quiet = g.quiet;
    // On a terminal the line is redrawn every second; elsewhere a line every 5 s of a phase.
    let mut last_plain: Option<(String, u64, usize, Duration)> = None;
    let mut live = move |l: &Live| {
        if quiet {
            return;
        }
        if !terminal {
            // The adaptive step's limit moves: it is not part of what names the step.
            let level = if l.adaptive { 0 } else { l.concurrency };
            let same = last_plain.as_ref().is_some_and(|(p, size, c, t)| {
                *p == l.phase
                    && *size == l.size
                    && *c == level
                    && l.elapsed >= *t
                    && l.elapsed < *t + PLAIN_EVERY
            });
            if same {
                return;
            }
            last_plain = Some((l.phase.clone(), l.size, level, l.elapsed));
        }
        live_line(l, terminal);
    };
    let prefix = engine::bench::run_prefix(&spec);
    if !quiet {
        eprintln!(
            "haul bench: working under s3://{}/{prefix} (removed at the end)",
            spec.bucket.as_str()
        );
    }
    let result = engine::bench::run(&base, &spec, &prefix, &mut live).await;
    if terminal && !quiet {
        eprint!("\r\x1b[K");
    }
    let report = result?;
    let value = report_json(&spec, &report);
    let mut out = Out::new(false);
    if g.json && json_file.is_none() {
        out.line(&value.to_string())?;
    } else {
        for line in table(&spec, &report) {
            out.line(&line)?;
        }
    }
    out.flush()?;
    if let Some(path) = json_file {
        write_json(&path, &value)?;
    }
    if report.interrupted {
        return Err(engine::Error::Interrupted.into());
    }
    if report.cleanup.failed > 0 {
        return Err(ExitWith {
            code: 1,
            message: format!(
                "{} objects or uploads under {} could not be removed: {}",
                report.cleanup.failed,
                report.prefix,
                report.cleanup.first_error.as_deref().unwrap_or("unknown")
            ),
        }
        .into());
    }
    Ok(())
}

/// The run as the engine takes it, and the JSON report's file.
fn spec(g: &GlobalArgs, a: &BenchArgs) -> Result<(BenchSpec, Option<PathBuf>)> {
    let usage = |m: String| anyhow::Error::from(engine::Error::Usage(m));
    let (targets, files): (Vec<&String>, Vec<&String>) =
        a.positional.iter().partition(|p| p.starts_with("s3://"));
    let [target] = targets[..] else {
        return Err(usage(
            "haul bench takes one s3://BUCKET[/PREFIX] (and, after --json, a FILE)".to_owned(),
        ));
    };
    let json_file = match files[..] {
        [] => None,
        [f] if g.json && f == "-" => None,
        [f] if g.json => Some(PathBuf::from(f)),
        [f] => {
            return Err(usage(format!(
                "{f:?}: an extra argument; a JSON report file goes after --json"
            )));
        }
        _ => {
            return Err(usage(
                "haul bench takes one s3://BUCKET[/PREFIX] and at most one FILE".to_owned(),
            ));
        }
    };
    let Location::S3 { bucket, key } = parse_location(target)? else {
        return Err(usage(format!("{target:?}: expected s3://BUCKET[/PREFIX]")));
    };
    let prefix = if key.is_empty() || key.ends_with('/') {
        key
    } else {
        format!("{key}/")
    };
    let mut workloads = Vec::new();
    for op in &a.ops {
        let w = match op.trim() {
            "mixed" => {
                Workload::Mixed(Mix::parse(&a.mix).map_err(|e| usage(format!("--mix: {e}")))?)
            }
            other => Workload::Single(OpKind::parse(other).ok_or_else(|| {
                usage(format!(
                    "--ops: {other:?} is not one of put, get, stat, list, delete, mixed"
                ))
            })?),
        };
        if !workloads.contains(&w) {
            workloads.push(w);
        }
    }
    if !PART_SIZES.contains(&a.part_size) {
        return Err(usage(format!(
            "--part-size {}: must be 5 MiB to 1 GiB",
            human_bytes(a.part_size)
        )));
    }
    for &size in &a.size {
        if size.div_ceil(a.part_size) > 10_000 {
            return Err(usage(format!(
                "--size {}: more than 10,000 parts of --part-size {}",
                human_bytes(size),
                human_bytes(a.part_size)
            )));
        }
    }
    let levels = g.concurrency.as_ref().map_or_else(
        || DEFAULT_LEVELS.to_vec(),
        |l| l.0.iter().map(|&n| n as usize).collect(),
    );
    let stop = match (a.objects, a.duration) {
        (Some(n), _) => Stop::Operations(n),
        (None, d) => Stop::Duration(d.unwrap_or(DEFAULT_DURATION)),
    };
    Ok((
        BenchSpec {
            bucket,
            prefix,
            workloads,
            sizes: a.size.clone(),
            levels,
            adaptive: a.adaptive,
            stop,
            part_size: a.part_size,
            pool: a.pool,
        },
        json_file,
    ))
}

fn live_line(l: &Live, terminal: bool) {
    let rate = |n: f64| {
        let s = l.elapsed.as_secs_f64();
        if s > 0.0 { n / s } else { 0.0 }
    };
    let level = if l.adaptive {
        format!("adaptive, limit {}", l.concurrency)
    } else {
        format!("×{}", l.concurrency)
    };
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_sign_loss,
        reason = "display only; rates are never negative"
    )]
    let line = format!(
        "{} {} {level}  {:.0} s  {} ops  {:.1} ops/s  {}/s  errors {}  throttles {}",
        l.phase,
        human_bytes(l.size),
        l.elapsed.as_secs_f64(),
        l.ops,
        rate(l.ops as f64),
        human_bytes(rate(l.bytes as f64) as u64),
        l.errors,
        l.throttles
    );
    let mut err = std::io::stderr().lock();
    let _ = if terminal {
        write!(err, "\r{line}\x1b[K")
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 10_000.0 {
        format!("{v:.1}ms")
    } else {
        format!("{:.2}s", v / 1000.0)
    }
}

fn mib(bytes_per_sec: f64) -> f64 {
    bytes_per_sec / (1024.0 * 1024.0)
}

fn group_title(g: &GroupReport) -> String {
    let t = match &g.workload {
        Workload::Single(OpKind::List) => "list (pages of up to 1,000 keys)".to_owned(),
        Workload::Single(OpKind::Delete) => "delete (empty objects)".to_owned(),
        Workload::Single(k) => format!("{} {}", k.name(), human_bytes(g.size)),
        Workload::Mixed(m) => format!(
            "mixed {} ({})",
            human_bytes(g.size),
            m.weights
                .iter()
                .map(|(o, w)| format!("{}={w}", o.name()))
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    if g.prepared > 0 {
        format!("{t}, {} objects prepared", g.prepared)
    } else {
        t
    }
}

const HEADER: &str = "    conc       ops/s      MiB/s      p50      p90      p99    p99.9      max  ttfb p50  ttfb p99   errors throttles";

fn op_row(label: &str, f: &OpFigures, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let (ops, bytes) = (f.ops as f64 / secs, f.bytes as f64 / secs);
    let (t50, t99) = f
        .ttfb
        .map_or(("-".to_owned(), "-".to_owned()), |t| (ms(t.p50), ms(t.p99)));
    let l = &f.latency;
    format!(
        "{label:>8} {ops:>11.1} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>8} {t50:>9} {t99:>9} {:>8} {:>9}",
        mib(bytes),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        f.errors,
        f.throttles
    )
}

fn step_rows(step: &StepReport, label: &str, mixed: bool) -> Vec<String> {
    let mut rows = Vec::new();
    if mixed {
        let dash = "-";
        rows.push(format!(
            "{label:>8} {:>11.1} {:>10.1} {dash:>8} {dash:>8} {dash:>8} {dash:>8} {dash:>8} {dash:>9} {dash:>9} {:>8} {:>9}",
            step.ops_per_sec(),
            mib(step.bytes_per_sec()),
            step.total_errors(),
            step.total_throttles()
        ));
        for f in &step.ops {
            rows.push(op_row(&format!("{} ", f.op.name()), f, step.elapsed));
        }
    } else if let Some(f) = step.ops.first() {
        rows.push(op_row(label, f, step.elapsed));
    }
    if step.unfinished > 0 {
        rows.push(format!(
            "{:>8} ({} operations still in flight after the grace period were abandoned: the gateway stopped answering)",
            "", step.unfinished
        ));
    }
    if step.pool_exhausted {
        rows.push(format!(
            "{:>8} (the objects prepared ran out after {:.1} s)",
            "",
            step.elapsed.as_secs_f64()
        ));
    }
    for f in &step.ops {
        if let Some(e) = &f.first_error {
            rows.push(format!("{:>8} first {} failure: {e}", "", f.op.name()));
        }
    }
    rows
}

fn table(spec: &BenchSpec, r: &BenchReport) -> Vec<String> {
    let mut lines = vec![format!(
        "haul bench {} ({}; latency from request to last byte, ttfb to the response headers)",
        r.prefix,
        match spec.stop {
            Stop::Duration(d) => format!("{:.1} s per step", d.as_secs_f64()),
            Stop::Operations(n) => format!("{n} operations per step"),
        }
    )];
    for g in &r.groups {
        let mixed = matches!(g.workload, Workload::Mixed(_));
        lines.push(String::new());
        lines.push(group_title(g));
        lines.push(HEADER.to_owned());
        for step in &g.steps {
            lines.extend(step_rows(step, &step.concurrency.to_string(), mixed));
        }
        if let Some(step) = &g.adaptive {
            lines.extend(step_rows(step, "adaptive", mixed));
        }
        if let Some(k) = g.knee {
            let at = g
                .steps
                .iter()
                .find(|s| s.concurrency == k.concurrency)
                .map(|s| {
                    if s.total_bytes() > 0 {
                        format!(
                            "{:.1} MiB/s, {:.1} ops/s",
                            mib(s.bytes_per_sec()),
                            s.ops_per_sec()
                        )
                    } else {
                        format!("{:.1} ops/s", s.ops_per_sec())
                    }
                })
                .unwrap_or_default();
            lines.push(format!(
                "  knee: concurrency {} ({}): {at}",
                k.concurrency,
                k.reason.describe()
            ));
        }
        if let Some(a) = g.adaptive.as_ref().and_then(|s| s.adaptive) {
            lines.push(format!(
                "  adaptive (ceiling {}): settled at {} (second half {}..{}, last {}), {} congestion signals (503/429, 5xx, timeouts)",
                a.ceiling, a.settled, a.range.0, a.range.1, a.last, a.throttles
            ));
        }
    }
    lines.push(String::new());
    let requests: u64 = r.requests.values().sum();
    lines.push(format!(
        "{requests} requests in all ({}); {} objects removed, {} uploads aborted{}",
        r.requests
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.cleanup.deleted,
        r.cleanup.aborted,
        if r.cleanup.failed > 0 {
            format!(
                "; {} NOT removed: {}",
                r.cleanup.failed,
                r.cleanup.first_error.as_deref().unwrap_or("unknown")
            )
        } else {
            String::new()
        }
    ));
    if r.interrupted {
        lines.push("interrupted: the groups above are what finished".to_owned());
    }
    lines
}

fn latency_json(l: &Latency) -> Value {
    let m = |d: Duration| d.as_secs_f64() * 1000.0;
    json!({
        "count": l.count, "mean": m(l.mean), "p50": m(l.p50), "p90": m(l.p90),
        "p99": m(l.p99), "p99_9": m(l.p999), "max": m(l.max),
    })
}

fn step_json(s: &StepReport) -> Value {
    json!({
        "concurrency": s.concurrency,
        "elapsed_s": s.elapsed.as_secs_f64(),
        "ops": s.total_ops(),
        "bytes": s.total_bytes(),
        "errors": s.total_errors(),
        "throttles": s.total_throttles(),
        "ops_per_sec": s.ops_per_sec(),
        "mib_per_sec": mib(s.bytes_per_sec()),
        "pool_exhausted": s.pool_exhausted,
        "unfinished": s.unfinished,
        "adaptive": s.adaptive.map(|a| json!({
            "ceiling": a.ceiling, "settled": a.settled, "min": a.range.0, "max": a.range.1,
            "last": a.last, "throttles": a.throttles,
        })),
        "per_op": s.ops.iter().map(|f| json!({
            "op": f.op.name(),
            "ops": f.ops,
            "bytes": f.bytes,
            "listed": f.listed,
            "errors": f.errors,
            "throttles": f.throttles,
            "latency_ms": latency_json(&f.latency),
            "ttfb_ms": f.ttfb.as_ref().map(latency_json),
            "first_error": f.first_error,
        })).collect::<Vec<_>>(),
    })
}

fn report_json(spec: &BenchSpec, r: &BenchReport) -> Value {
    json!({
        "type": "bench",
        "prefix": r.prefix,
        "stop": match spec.stop {
            Stop::Duration(d) => json!({"duration_s": d.as_secs_f64()}),
            Stop::Operations(n) => json!({"operations": n}),
        },
        "part_size": spec.part_size,
        "groups": r.groups.iter().map(|g| json!({
            "workload": g.workload.name(),
            "mix": match &g.workload {
                Workload::Mixed(m) => Some(m.weights.iter().map(|(o, w)| (o.name().to_owned(), *w)).collect::<std::collections::BTreeMap<_, _>>()),
                Workload::Single(_) => None,
            },
            "size": g.size,
            "prepared": g.prepared,
            "steps": g.steps.iter().map(step_json).collect::<Vec<_>>(),
            "knee": g.knee.map(|k| json!({"concurrency": k.concurrency, "reason": k.reason.name()})),
            "adaptive": g.adaptive.as_ref().map(step_json),
        })).collect::<Vec<_>>(),
        "requests": r.requests,
        "prepared_bytes": r.prepared_bytes,
        "cleanup": {
            "deleted": r.cleanup.deleted, "aborted": r.cleanup.aborted,
            "failed": r.cleanup.failed, "first_error": r.cleanup.first_error,
        },
        "interrupted": r.interrupted,
    })
}

/// Writes the report under a temporary name, then renames it into place.
fn write_json(path: &PathBuf, value: &Value) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| engine::Error::Usage(format!("{}: not a file name", path.display())))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    fs_err::write(&tmp, text)?;
    fs_err::rename(&tmp, path)?;
    Ok(())
}
