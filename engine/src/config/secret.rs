//! A secret string: zeroed on drop, never printed.

use std::fmt;

use zeroize::Zeroizing;

/// A secret access key or session token.
///
/// The bytes are zeroed when the value is dropped ([`Zeroizing`]). There is no `Display`,
/// and `Debug` prints `Secret(redacted)`, so a secret cannot reach a log line or an error
/// message by formatting a struct that holds it. Read it with [`Secret::expose`] only where
/// it is used (signing).
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`; the `String` is moved, not copied, so no unzeroed copy is left behind.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret text, for signing requests.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into());
        assert_eq!(format!("{secret:?}"), "Secret(redacted)");
        assert_eq!(secret.expose(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }
}
