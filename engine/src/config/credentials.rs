//! Static credentials, taken as a unit from one source.

use super::{ConfigError, Secret, Source, Sourced};

/// An access key id with its secret and optional session token, all from one source.
///
/// `Debug` is safe to print: the secret and token are [`Secret`]s, whose `Debug` is
/// redacted. There is no `Display`.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access key id (not secret: it names the key, as in AWS's own logs).
    pub access_key_id: Sourced<String>,
    /// The secret access key.
    pub secret_access_key: Sourced<Secret>,
    /// The session token of temporary credentials.
    pub session_token: Option<Sourced<Secret>>,
}

/// Whatever one source says about credentials, before it is checked for completeness.
#[derive(Debug, Default)]
pub(super) struct CredentialParts {
    pub(super) access_key_id: Option<Sourced<String>>,
    pub(super) secret_access_key: Option<Sourced<Secret>>,
    pub(super) session_token: Option<Sourced<Secret>>,
}

/// How one source spells its credential keys, for the "add X" part of an error.
#[derive(Debug)]
pub(super) struct CredentialKeys {
    pub(super) access_key_id: &'static str,
    pub(super) secret_access_key: &'static str,
}

impl CredentialParts {
    /// Whether the source says anything about credentials at all.
    pub(super) fn is_empty(&self) -> bool {
        self.access_key_id.is_none()
            && self.secret_access_key.is_none()
            && self.session_token.is_none()
    }

    /// The unit this source provides: `None` when it names no credential at all, an error
    /// when it names some parts but not an access key id with its secret.
    pub(super) fn into_unit(
        self,
        keys: &CredentialKeys,
    ) -> Option<Result<Credentials, ConfigError>> {
        let incomplete = |origin: Source, present: &'static str, missing: &'static str| {
            Some(Err(ConfigError::IncompleteCredentials {
                origin: Box::new(origin),
                present,
                missing,
            }))
        };
        match (
            self.access_key_id,
            self.secret_access_key,
            self.session_token,
        ) {
            (None, None, None) => None,
            (Some(access_key_id), Some(secret_access_key), session_token) => {
                Some(Ok(Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token,
                }))
            }
            (Some(id), None, _) => {
                incomplete(id.source, "the access key id", keys.secret_access_key)
            }
            (None, Some(secret), _) => {
                incomplete(secret.source, "the secret access key", keys.access_key_id)
            }
            (None, None, Some(token)) => {
                incomplete(token.source, "a session token", keys.access_key_id)
            }
        }
    }
}

impl Default for CredentialKeys {
    /// Generic wording, for a layer that never sets credentials.
    fn default() -> Self {
        Self {
            access_key_id: "an access key id",
            secret_access_key: "a secret access key",
        }
    }
}
