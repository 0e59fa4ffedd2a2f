//! What the user sees: result lines (human or NDJSON on stdout), errors with hints and exit
//! codes (stderr), and [`progress`] while a transfer runs.

pub(crate) mod progress;

use std::io::Write;

use engine::ErrorKind;

/// Exit codes, documented in `haul --help` and the README.
pub(crate) const EXIT_FAILURE: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_NOT_FOUND: u8 = 3;
pub(crate) const EXIT_AUTH: u8 = 4;
pub(crate) const EXIT_NETWORK: u8 = 5;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// The exit code for an error.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(status) = e.downcast_ref::<ExitWith>() {
        return status.code;
    }
    match e.downcast_ref::<engine::Error>().map(engine::Error::kind) {
        Some(ErrorKind::Usage | ErrorKind::Config) => EXIT_USAGE,
        Some(ErrorKind::NotFound) => EXIT_NOT_FOUND,
        Some(ErrorKind::Auth) => EXIT_AUTH,
        Some(ErrorKind::Network) => EXIT_NETWORK,
        Some(ErrorKind::Interrupted) => EXIT_INTERRUPTED,
        Some(ErrorKind::Integrity | ErrorKind::Other) | None => EXIT_FAILURE,
    }
}

/// Prints `haul: error: …` with the cause chain joined by `: `, and a hint when one is known.
pub(crate) fn report_error(e: &anyhow::Error) {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    error_line(&line);
    let hint = e
        .downcast_ref::<engine::Error>()
        .and_then(engine::Error::hint)
        .map(str::to_owned)
        .or_else(|| {
            e.downcast_ref::<engine::Error>().and_then(|err| match err {
                engine::Error::Config(c) => Some(c.hint()),
                _ => None,
            })
        });
    if let Some(h) = hint.filter(|h| !h.is_empty()) {
        let _ = writeln!(std::io::stderr(), "hint: {h}");
    }
}

/// An outcome with its own exit code, for commands that follow another tool's convention
/// (`haul tar`: 1 done with warnings, 2 failed, as GNU tar). Attach it as context.
#[derive(Debug)]
pub(crate) struct ExitWith {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitWith {}

/// One error line on stderr.
pub(crate) fn error_line(msg: &str) {
    let _ = writeln!(std::io::stderr(), "haul: error: {msg}");
}

/// Whether the error is a closed stdout (`haul ls | head`).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes result lines to stdout, human-readable or as JSON objects, one per line.
pub(crate) struct Out {
    json: bool,
    stdout: std::io::BufWriter<std::io::Stdout>,
}

impl Out {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            stdout: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    /// A human line (ignored with `--json`).
    pub(crate) fn line(&mut self, text: &str) -> std::io::Result<()> {
        if !self.json {
            writeln!(self.stdout, "{text}")?;
        }
        Ok(())
    }

    /// A JSON object line (ignored without `--json`).
    pub(crate) fn record(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        if self.json {
            writeln!(self.stdout, "{value}")?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.stdout.flush()
    }
}

/// Human byte counts: `1.5 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
