//! `~/.s3cfg`, `~/.aws/config` and `~/.aws/credentials`: the target `config_ini`.
//!
//! The syntax, in both dialects: a file that parses is written back by [`render`] (each
//! section, entry, nested entry and continuation on its own line, at the line it was read
//! from) and parses to the same sections and entries, line numbers included; every line
//! number points at a line that holds what was read from it; an error names a line of the
//! file that is neither blank nor a comment.
//!
//! The meaning, through `config::resolve` with the input as each of the three files in a
//! temporary home: no panic; a malformed line is reported with the line and reason the
//! syntax gives for that file's dialect; and with every secret in the file (`secret_key`,
//! `access_token`, `aws_secret_access_key`, `aws_session_token`) replaced by a marker, the
//! marker appears in no error, hint, `Debug` output or `haul config show` row.

use std::fmt::Write as _;
use std::path::Path;

use engine::config::ini::{self, Dialect, Entry, Ini};
use engine::config::{ConfigError, Overrides, resolve};

/// Stands for a secret in the files `resolve` reads.
const CANARY: &str = "haul-fuzz-secret-5e2a";

/// Keys whose values are secrets, in either tool's spelling.
const SECRET_KEYS: &[&str] = &[
    "secret_key",
    "access_token",
    "aws_secret_access_key",
    "aws_session_token",
];

/// The `config_ini` target.
pub fn config_ini(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for dialect in [Dialect::S3cmd, Dialect::Aws] {
            syntax(text, dialect);
        }
    }
    meaning(data);
}

/// The file's lines as the parser numbers them (from 1), without the byte order mark and
/// line ends.
fn lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

fn syntax(text: &str, dialect: Dialect) {
    let lines = lines(text);
    let line = |n: usize| -> &str {
        lines
            .get(n.wrapping_sub(1))
            .unwrap_or_else(|| panic!("line {n} of a {}-line file", lines.len()))
            .trim()
    };
    let ini = match ini::parse(text, dialect) {
        Ok(ini) => ini,
        Err(e) => {
            let at = line(e.line);
            assert!(
                !at.is_empty() && !at.starts_with(['#', ';']),
                "{dialect:?}: error {e} on a blank or comment line"
            );
            return;
        }
    };
    let check_entry = |e: &Entry| {
        let (key, value) = line(e.line)
            .split_once('=')
            .unwrap_or_else(|| panic!("{dialect:?}: entry {:?} at a line without `=`", e.key));
        assert_eq!(key.trim(), e.key, "{dialect:?}: key at line {}", e.line);
        let first = e.value.split('\n').next().unwrap_or_default();
        assert_eq!(value.trim(), first, "{dialect:?}: value at line {}", e.line);
    };
    let mut last = 0;
    for s in &ini.sections {
        if let Some(name) = &s.name {
            assert!(s.line > last, "{dialect:?}: sections out of order");
            assert!(
                line(s.line).starts_with('['),
                "{dialect:?}: section {name:?}"
            );
            last = s.line;
        }
        for e in &s.entries {
            assert!(e.line > last, "{dialect:?}: entries out of order");
            check_entry(e);
            if dialect == Dialect::S3cmd {
                assert!(
                    e.nested.is_empty() && !e.value.contains('\n'),
                    "{dialect:?}: {e:?}"
                );
            }
            assert!(e.nested.is_empty() || e.value.is_empty(), "{e:?}");
            last = e.line;
            for n in &e.nested {
                assert!(n.line > last, "{dialect:?}: nested entries out of order");
                check_entry(n);
                assert!(n.nested.is_empty());
                last = n.line;
            }
        }
    }
    let written = render(&ini, dialect);
    let again = ini::parse(&written, dialect).unwrap_or_else(|e| {
        panic!("{dialect:?}: a file written back does not parse: {e}\n{written}")
    });
    assert_eq!(
        again, ini,
        "{dialect:?}: a file written back reads differently:\n{written}"
    );
}

/// `ini` as a file: everything at the line it was read from, top-level entries unindented,
/// nested entries and continuation lines indented under their key, blank lines between.
#[must_use]
pub fn render(ini: &Ini, dialect: Dialect) -> String {
    // A leading byte order mark is skipped, so a first key that starts with one stays whole.
    let mut out = String::from("\u{feff}");
    let mut at = 1;
    let mut put = |out: &mut String, line: usize, text: &str| {
        while at < line {
            out.push('\n');
            at += 1;
        }
        assert_eq!(at, line, "lines out of order");
        out.push_str(text);
    };
    for s in &ini.sections {
        if let Some(name) = &s.name {
            put(&mut out, s.line, &format!("[{name}]"));
        }
        for e in &s.entries {
            let mut values = e.value.split('\n');
            let first = values.next().unwrap_or_default();
            put(&mut out, e.line, &format!("{} = {first}", e.key));
            for (i, more) in values.enumerate() {
                assert_eq!(
                    dialect,
                    Dialect::Aws,
                    "a continuation outside the AWS dialect"
                );
                put(&mut out, e.line + 1 + i, &format!("  {more}"));
            }
            for n in &e.nested {
                put(&mut out, n.line, &format!("  {} = {}", n.key, n.value));
            }
        }
    }
    out.push('\n');
    out
}

/// The input's lines with each secret's value replaced by [`CANARY`] (and any canary the
/// input spelled out removed first).
fn with_canary(data: &[u8]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(data).into_owned();
    while text.contains(CANARY) {
        text = text.replace(CANARY, "");
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let secret = line.split_once('=').filter(|(key, _)| {
            SECRET_KEYS
                .iter()
                .any(|s| key.trim().eq_ignore_ascii_case(s))
        });
        match secret {
            Some((key, _)) => {
                let _ = writeln!(out, "{key}= {CANARY}");
            }
            None => out.push_str(line),
        }
    }
    out.into_bytes()
}

fn meaning(data: &[u8]) {
    const FILES: [(&str, Dialect); 3] = [
        (".s3cfg", Dialect::S3cmd),
        (".aws/config", Dialect::Aws),
        (".aws/credentials", Dialect::Aws),
    ];
    thread_local! {
        /// One temporary home per thread: its files are written and removed for each input.
        static HOME: tempfile::TempDir = {
            let home = tempfile::tempdir().expect("a temporary home");
            fs_err::create_dir(home.path().join(".aws")).expect("creating ~/.aws");
            home
        };
    }
    let secret = with_canary(data);
    // The marked copy is the input itself unless it names a secret; the input as is is read
    // too when it is not UTF-8 (the marked copy is).
    let mut variants = vec![secret.as_slice()];
    if std::str::from_utf8(data).is_err() {
        variants.push(data);
    }
    HOME.with(|home| {
        for (name, dialect) in FILES {
            for bytes in &variants {
                let path = home.path().join(name);
                fs_err::write(&path, bytes).expect("writing a config file");
                let result = resolve(&Overrides::default(), &|_: &str| None, Some(home.path()));
                fs_err::remove_file(&path).expect("removing a config file");
                check_resolved(&result, bytes, dialect, &path);
            }
        }
    });
}

fn check_resolved(
    result: &Result<engine::config::ResolvedConfig, ConfigError>,
    bytes: &[u8],
    dialect: Dialect,
    path: &Path,
) {
    let shown = match result {
        Ok(config) => {
            let mut shown = format!("{config:?}");
            for e in config.entries() {
                let _ = write!(shown, "\n{}: {} ({})", e.name, e.display_value, e.source);
            }
            shown
        }
        Err(err) => {
            if let ConfigError::Malformed {
                path: p,
                line,
                reason,
            } = err
            {
                assert_eq!(p, path);
                let text = std::str::from_utf8(bytes).expect("a malformed file is UTF-8");
                let syntax = ini::parse(text, dialect).expect_err("the syntax refuses it too");
                assert_eq!((*line, *reason), (syntax.line, syntax.reason), "{err}");
            }
            if let ConfigError::NotUtf8 { line, .. } = err {
                let count = bytes.split(|&b| b == b'\n').count();
                assert!((1..=count).contains(line), "{err}");
            }
            let mut shown = format!("{err}\n{err:?}\n{}", err.hint());
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                let _ = write!(shown, "\n{s}");
                source = s.source();
            }
            shown
        }
    };
    assert!(
        !shown.contains(CANARY),
        "a secret from {} reached what haul shows:\n{shown}",
        path.display()
    );
}
