//! The INI dialects of `~/.aws/config`, `~/.aws/credentials` and `~/.s3cfg`, parsed into
//! sections and entries that remember their line numbers.
//!
//! Owns the syntax only: which keys mean what is decided by `aws_files` and `s3cfg`, and
//! reading the bytes from disk (with its size bound) by `file`. This module is public so
//! that the fuzz crate can drive [`parse`] directly.
//!
//! The grammar, shared by both dialects:
//!
//! - a UTF-8 byte order mark at the start is skipped; `\r\n` line ends are accepted;
//! - blank lines and lines whose first non-blank character is `#` or `;` are ignored (there
//!   are no inline comments: `secret = ab#cd` keeps the `#`, as Python's `configparser`
//!   and s3cmd do);
//! - `[name]` opens a section; the name is trimmed and kept as written;
//! - `key = value` and `key=value` add an entry; key and value are trimmed, the value may be
//!   empty; keys compare ASCII case-insensitively;
//! - anything else is malformed and reported with its line number.
//!
//! [`Dialect::Aws`] adds the indentation rule of Python's `configparser`, which the AWS CLI
//! and SDKs follow: a line indented deeper than the `key =` line before it continues that
//! entry. Under a key with an empty value (`s3 =`) each continuation line is a nested
//! `key = value` entry; under a key with a value it is appended to the value after a newline.
//! [`Dialect::S3cmd`] has no continuations (s3cmd reads every line on its own), so an
//! indented `key = value` line is a key of its own there.
#![deny(clippy::indexing_slicing)]

use zeroize::Zeroize;

/// Which tool's reading rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `~/.aws/config` and `~/.aws/credentials`: indented lines continue the entry above.
    Aws,
    /// s3cmd's `~/.s3cfg`: every line stands alone.
    S3cmd,
}

/// A parsed file: its sections in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in the order they appear. Entries written before the first header are kept
    /// in a leading section whose `name` is `None`.
    pub sections: Vec<Section>,
}

/// One `[name]` section (or the entries before the first header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The trimmed text between the brackets; `None` for entries before any header.
    pub name: Option<String>,
    /// 1-based line of the header (1 for the leading unnamed section).
    pub line: usize,
    /// Entries in file order; a key written twice appears twice.
    pub entries: Vec<Entry>,
}

/// One `key = value` line, with the nested block under it in the AWS dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written, trimmed.
    pub key: String,
    /// The value, trimmed; continuation lines are joined with `\n`.
    pub value: String,
    /// 1-based line of the `key =` line.
    pub line: usize,
    /// Indented `key = value` lines under an empty-valued key (AWS dialect only).
    pub nested: Vec<Entry>,
}

/// A line that is none of the forms the grammar allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct IniError {
    /// 1-based line number.
    pub line: usize,
    /// What was expected there.
    pub reason: &'static str,
}

impl Ini {
    /// The last entry named `key` (ASCII case-insensitive) in any section whose name passes
    /// `wanted`, so that a key or section written twice resolves to the later one, as s3cmd
    /// does.
    pub fn last_entry(&self, wanted: impl Fn(Option<&str>) -> bool, key: &str) -> Option<&Entry> {
        self.sections
            .iter()
            .filter(|section| wanted(section.name.as_deref()))
            .flat_map(|section| section.entries.iter())
            .rfind(|entry| entry.key.eq_ignore_ascii_case(key))
    }

    /// Whether any section's name passes `wanted`.
    pub fn has_section(&self, wanted: impl Fn(Option<&str>) -> bool) -> bool {
        self.sections
            .iter()
            .any(|section| section.name.is_some() && wanted(section.name.as_deref()))
    }
}

impl Drop for Entry {
    /// Values include secret keys: zero them rather than leave them in freed memory.
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl Entry {
    /// The last nested entry named `key` (ASCII case-insensitive).
    #[must_use]
    pub fn nested_entry(&self, key: &str) -> Option<&Entry> {
        self.nested
            .iter()
            .rfind(|entry| entry.key.eq_ignore_ascii_case(key))
    }
}

/// Parses `text` under `dialect`.
///
/// Never panics, whatever the input (a property test and a fuzz target hold it to that).
///
/// # Errors
///
/// [`IniError`] for the first line that is not blank, a comment, a section header, a
/// `key = value` line or (AWS dialect) a continuation line.
pub fn parse(text: &str, dialect: Dialect) -> Result<Ini, IniError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<Section> = Vec::new();
    // Indentation of the last `key =` line of the current section: a deeper line continues
    // it (AWS dialect).
    let mut open_indent: Option<usize> = None;

    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            // Blank and comment lines do not end a continuation, as in configparser.
            continue;
        }
        let indent = line.len() - line.trim_start().len();

        if dialect == Dialect::Aws
            && open_indent.is_some_and(|parent| indent > parent)
            && let Some(entry) = sections
                .last_mut()
                .and_then(|section| section.entries.last_mut())
        {
            continue_entry(entry, trimmed, line_no)?;
            continue;
        }

        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = section_name(rest).map_err(|reason| IniError {
                line: line_no,
                reason,
            })?;
            let name = name.trim();
            if name.is_empty() {
                return Err(IniError {
                    line: line_no,
                    reason: "empty section name `[]`",
                });
            }
            sections.push(Section {
                name: Some(name.to_owned()),
                line: line_no,
                entries: Vec::new(),
            });
            open_indent = None;
            continue;
        }

        let entry = key_value(trimmed, line_no)?;
        if sections.is_empty() {
            sections.push(Section {
                name: None,
                line: 1,
                entries: Vec::new(),
            });
        }
        if let Some(section) = sections.last_mut() {
            section.entries.push(entry);
        }
        open_indent = Some(indent);
    }
    Ok(Ini { sections })
}

/// The name inside `[name]`, given the text after `[`. Like Python's `configparser` the
/// name ends at the last `]`; after it only a comment may follow.
fn section_name(rest: &str) -> Result<&str, &'static str> {
    let close = rest
        .rfind(']')
        .ok_or("section header without a closing `]`")?;
    let (name, after) = rest.split_at(close);
    let after = after.get(1..).unwrap_or_default().trim();
    if after.is_empty() || after.starts_with(['#', ';']) {
        Ok(name)
    } else {
        Err("text after the section header's `]`")
    }
}

/// Adds a continuation line to `entry`: a nested entry under an empty value, else more value.
fn continue_entry(entry: &mut Entry, trimmed: &str, line_no: usize) -> Result<(), IniError> {
    if entry.value.is_empty() {
        let nested = key_value(trimmed, line_no).map_err(|_| IniError {
            line: line_no,
            reason: "expected `key = value` in the indented block",
        })?;
        entry.nested.push(nested);
    } else {
        entry.value.push('\n');
        entry.value.push_str(trimmed);
    }
    Ok(())
}

/// Splits a trimmed `key = value` line at its first `=`.
fn key_value(trimmed: &str, line_no: usize) -> Result<Entry, IniError> {
    let Some((key, value)) = trimmed.split_once('=') else {
        return Err(IniError {
            line: line_no,
            reason: "expected `key = value`, a `[section]` header or a `#` comment",
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(IniError {
            line: line_no,
            reason: "missing key before `=`",
        });
    }
    Ok(Entry {
        key: key.to_owned(),
        value: value.trim().to_owned(),
        line: line_no,
        nested: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ini: &Ini, section: &str, key: &str) -> Option<(String, usize)> {
        ini.last_entry(|name| name == Some(section), key)
            .map(|e| (e.value.clone(), e.line))
    }

    #[test]
    fn sections_keys_comments_and_spacing() {
        let text = "# top comment\n; another\n\n[default]\nregion = eu-west-1\nkey=value\nspaced   =   out  \t\n[profile prod]\nregion=us-west-2\n";
        let ini = parse(text, Dialect::Aws).unwrap();
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(
            entry(&ini, "default", "region"),
            Some(("eu-west-1".into(), 5))
        );
        assert_eq!(entry(&ini, "default", "key"), Some(("value".into(), 6)));
        assert_eq!(entry(&ini, "default", "spaced"), Some(("out".into(), 7)));
        assert_eq!(
            entry(&ini, "profile prod", "region"),
            Some(("us-west-2".into(), 9))
        );
        assert_eq!(ini.sections[1].line, 8);
    }

    #[test]
    fn no_inline_comments_and_only_first_equals_splits() {
        let ini = parse("[default]\nsecret = ab#cd;ef=gh\n", Dialect::S3cmd).unwrap();
        assert_eq!(entry(&ini, "default", "secret").unwrap().0, "ab#cd;ef=gh");
    }

    #[test]
    fn keys_compare_case_insensitively_and_last_wins() {
        let ini = parse("[a]\nKey = 1\n[b]\nkey = x\n[a]\nkey = 2\n", Dialect::S3cmd).unwrap();
        assert_eq!(entry(&ini, "a", "KEY"), Some(("2".into(), 6)));
    }

    #[test]
    fn section_header_may_carry_a_comment() {
        let ini = parse("[ profile x ] # staging\nregion = r\n", Dialect::Aws).unwrap();
        assert_eq!(entry(&ini, "profile x", "region").unwrap().0, "r");
    }

    #[test]
    fn crlf_and_bom_are_tolerated() {
        let ini = parse("\u{feff}[default]\r\nregion = us-east-2\r\n", Dialect::Aws).unwrap();
        assert_eq!(
            entry(&ini, "default", "region"),
            Some(("us-east-2".into(), 2))
        );
    }

    #[test]
    fn aws_nested_block() {
        let text = "[profile ceph]\nregion = default\ns3 =\n    addressing_style = path\n\n    # comment inside\n    endpoint_url = http://127.0.0.1:7480\nca_bundle = /etc/ca.pem\n";
        let ini = parse(text, Dialect::Aws).unwrap();
        let s3 = ini.last_entry(|n| n == Some("profile ceph"), "s3").unwrap();
        assert_eq!(s3.value, "");
        assert_eq!(s3.nested.len(), 2);
        let style = s3.nested_entry("addressing_style").unwrap();
        assert_eq!((style.value.as_str(), style.line), ("path", 4));
        let endpoint = s3.nested_entry("endpoint_url").unwrap();
        assert_eq!(
            (endpoint.value.as_str(), endpoint.line),
            ("http://127.0.0.1:7480", 7)
        );
        assert_eq!(
            entry(&ini, "profile ceph", "ca_bundle"),
            Some(("/etc/ca.pem".into(), 8))
        );
    }

    #[test]
    fn aws_continuation_of_a_value_joins_lines() {
        let ini = parse("[x]\nkey = a\n  b\n", Dialect::Aws).unwrap();
        assert_eq!(entry(&ini, "x", "key").unwrap().0, "a\nb");
    }

    #[test]
    fn aws_nested_line_without_equals_is_an_error() {
        let err = parse("[x]\ns3 =\n  nonsense\n", Dialect::Aws).unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn s3cmd_indented_keys_stand_alone() {
        let ini = parse(
            "[default]\naccess_key = A\n  secret_key = B\n",
            Dialect::S3cmd,
        )
        .unwrap();
        assert_eq!(entry(&ini, "default", "access_key").unwrap().0, "A");
        assert_eq!(entry(&ini, "default", "secret_key").unwrap().0, "B");
    }

    #[test]
    fn indented_key_right_after_a_header_is_a_key() {
        let ini = parse("[default]\n  region = r\n  output = json\n", Dialect::Aws).unwrap();
        assert_eq!(entry(&ini, "default", "region").unwrap().0, "r");
        assert_eq!(entry(&ini, "default", "output").unwrap().0, "json");
    }

    #[test]
    fn entries_before_any_header_live_in_an_unnamed_section() {
        let ini = parse("access_key = A\n[default]\n", Dialect::S3cmd).unwrap();
        assert_eq!(ini.sections[0].name, None);
        assert_eq!(
            ini.last_entry(|name| name.is_none(), "access_key")
                .unwrap()
                .value,
            "A"
        );
    }

    #[test]
    fn malformed_lines_report_their_number() {
        for (text, line) in [
            ("[default]\nregion = x\nthis line has no equals\n", 3),
            ("[default\n", 1),
            ("\n\n[]\n", 3),
            ("[a]\n = value\n", 2),
            ("[a] junk\n", 1),
        ] {
            for dialect in [Dialect::Aws, Dialect::S3cmd] {
                let err = parse(text, dialect).unwrap_err();
                assert_eq!(err.line, line, "{text:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse(&text, Dialect::Aws);
            let _ = parse(&text, Dialect::S3cmd);
        }

        #[test]
        fn never_panics_on_ini_like_text(
            lines in proptest::collection::vec(
                "[ \t]{0,3}(\\[[a-z ]{0,6}\\]?|[a-z_]{0,5}[ ]?=?[ ]?[a-z#;=]{0,5}|[#;].{0,4}|\u{feff}|\r)",
                0..24,
            )
        ) {
            let text = lines.join("\n");
            for dialect in [Dialect::Aws, Dialect::S3cmd] {
                match parse(&text, dialect) {
                    Ok(ini) => {
                        let count = text.split('\n').count();
                        for section in &ini.sections {
                            prop_assert!(section.line >= 1 && section.line <= count);
                            for entry in &section.entries {
                                prop_assert!(entry.line >= 1 && entry.line <= count);
                            }
                        }
                    }
                    Err(err) => prop_assert!(err.line >= 1 && err.line <= text.split('\n').count()),
                }
            }
        }
    }
}
