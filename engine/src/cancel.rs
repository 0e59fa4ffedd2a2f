//! Stopping cleanly. The CLI cancels [`token`] on the first SIGINT or SIGTERM; transfers see it,
//! stop starting new work, abort their multipart uploads (so the gateway keeps no orphaned
//! parts) and drop their temporary files, and the run ends with [`crate::Error::Interrupted`].

use std::sync::OnceLock;

pub use tokio_util::sync::CancellationToken;

/// The process's cancellation token.
pub fn token() -> &'static CancellationToken {
    static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
    TOKEN.get_or_init(CancellationToken::new)
}

/// Whether the run was cancelled.
#[must_use]
pub fn is_cancelled() -> bool {
    token().is_cancelled()
}
