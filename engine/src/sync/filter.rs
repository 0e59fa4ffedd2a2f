//! `--exclude` / `--include` globs on keys relative to the sync root.
//!
//! Rules apply in the order given and the last one that matches decides, as in `aws s3 sync`:
//! `--exclude '*' --include '*.log'` keeps only logs. With no rule, everything is included.
//! `*` matches within one path segment and `**` across segments (`logs/**`); a pattern
//! without `/` also matches the file name at any depth (`*.tmp`).

use globset::GlobMatcher;

/// Keys under this prefix at the sync root are haul's own (`sync --manifest` writes there) and
/// never take part in a sync: no rule can include them, so `--delete` never removes them.
pub use crate::manifest::RESERVED_PREFIX;

/// A glob did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid {flag} pattern {pattern:?}: {reason}")]
pub struct FilterError {
    /// `--exclude` or `--include`.
    pub flag: &'static str,
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Rule {
    include: bool,
    matcher: GlobMatcher,
    /// The pattern has no `/`: also try it against the last segment.
    basename: bool,
}

/// An ordered list of include and exclude rules.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    rules: Vec<Rule>,
    /// With `--shard K/N`: only the keys of that shard take part.
    shard: Option<super::Shard>,
}

/// Whether a rule includes or excludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `--include`.
    Include,
    /// `--exclude`.
    Exclude,
}

impl Filter {
    /// Builds a filter from rules in command-line order.
    ///
    /// # Errors
    /// A pattern that is not a valid glob.
    pub fn new<'a>(
        rules: impl IntoIterator<Item = (RuleKind, &'a str)>,
    ) -> Result<Self, FilterError> {
        let mut out = Vec::new();
        for (kind, pattern) in rules {
            let flag = match kind {
                RuleKind::Include => "--include",
                RuleKind::Exclude => "--exclude",
            };
            let glob = globset::GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| FilterError {
                    flag,
                    pattern: pattern.to_owned(),
                    reason: e.kind().to_string(),
                })?;
            out.push(Rule {
                include: kind == RuleKind::Include,
                matcher: glob.compile_matcher(),
                basename: !pattern.contains('/'),
            });
        }
        Ok(Self {
            rules: out,
            shard: None,
        })
    }

    /// Whether `key` (relative to the root) takes part in the sync.
    #[must_use]
    pub fn includes(&self, key: &str) -> bool {
        !key.starts_with(RESERVED_PREFIX)
            && self.admits(key)
            && self.shard.is_none_or(|s| s.contains(key))
    }

    /// Whether the rules alone admit `path` (relative to the root; haul's reserved prefix is
    /// not special): what `haul tar push --exclude` asks of each entry.
    #[must_use]
    pub fn admits(&self, key: &str) -> bool {
        let name = key.rsplit('/').next().unwrap_or(key);
        let mut included = true;
        for rule in &self.rules {
            if rule.matcher.is_match(key) || (rule.basename && rule.matcher.is_match(name)) {
                included = rule.include;
            }
        }
        included
    }

    /// Whether there is no rule at all (and no shard).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.shard.is_none()
    }

    /// This filter, admitting only the keys of `shard` besides (`--shard K/N`).
    #[must_use]
    pub fn with_shard(mut self, shard: Option<super::Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// The shard this filter keeps to, if any.
    #[must_use]
    pub fn shard(&self) -> Option<super::Shard> {
        self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RuleKind::{Exclude, Include};

    #[test]
    fn last_matching_rule_wins() {
        let f = Filter::new([(Exclude, "*"), (Include, "*.log")]).unwrap();
        assert!(f.includes("logs/deis-registry.log"));
        assert!(f.includes("a.log"));
        assert!(!f.includes("wal_005/0000000100"));
        let f = Filter::new([(Exclude, "tmp/**"), (Exclude, "*.partial")]).unwrap();
        assert!(!f.includes("tmp/a/b"));
        assert!(!f.includes("x/y/z.partial"));
        assert!(f.includes("tmpfile"));
        assert!(f.includes("a/tmp/b"), "tmp/** is anchored at the root");
        assert!(Filter::default().includes("anything"));
    }

    #[test]
    fn bad_globs_are_named() {
        let e = Filter::new([(Exclude, "a[")]).unwrap_err();
        assert_eq!(e.pattern, "a[");
        assert_eq!(e.flag, "--exclude");
    }
}
