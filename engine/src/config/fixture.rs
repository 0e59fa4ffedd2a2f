//! Test fixture: a temporary home directory, a fake environment and flags, resolved
//! together. Used by the tests of `resolve`, `aws_files` and `s3cfg`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ConfigError, Overrides, ResolvedConfig, resolve};

/// A home directory with files in it, an environment, and flags.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    pub(super) overrides: Overrides,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            env: BTreeMap::new(),
            overrides: Overrides::default(),
        }
    }

    pub(super) fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `relative` under the home directory and returns the full path.
    pub(super) fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(&path, text).unwrap();
        path
    }

    pub(super) fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    pub(super) fn resolve(&self) -> Result<ResolvedConfig, ConfigError> {
        let env = |name: &str| self.env.get(name).cloned();
        resolve(&self.overrides, &env, Some(self.dir.path()))
    }
}
