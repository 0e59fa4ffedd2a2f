//! Access keys for `SigV4`.
//!
//! The secret and the session token are held in [`zeroize::Zeroizing`] buffers, wiped when
//! the credentials are dropped, and `Debug` never prints them (as in rusty-s3's
//! `src/credentials/mod.rs`). Where credentials come from (flags, environment, AWS files,
//! `~/.s3cfg`) is the `config` module's business.

use std::fmt;

use zeroize::Zeroizing;

/// An access key id, its secret and an optional session token.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl Credentials {
    /// Credentials from their parts; `session_token` is for temporary (STS) credentials.
    #[must_use]
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: session_token.map(Zeroizing::new),
        }
    }

    /// The access key id (not secret: it appears in every `Authorization` header).
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret, for the signer only.
    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token, for the signer only.
    pub(crate) fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref().map(String::as_str)
    }

    /// Whether a session token is present.
    #[must_use]
    pub fn has_session_token(&self) -> bool {
        self.session_token.is_some()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_or_token() {
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            Some("FwoGZXIvYXdzEXAMPLETOKEN".to_owned()),
        );
        let shown = format!("{creds:?} {creds:#?}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!shown.contains("wJalrXUtnFEMI"));
        assert!(!shown.contains("FwoGZXIvYXdzEXAMPLETOKEN"));
        assert!(creds.has_session_token());
        assert_eq!(creds.session_token(), Some("FwoGZXIvYXdzEXAMPLETOKEN"));
    }
}
