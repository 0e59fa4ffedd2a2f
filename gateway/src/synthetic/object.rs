//! Object contents and ETags: `size` bytes of BLAKE3's extendable output for the key, and the
//! quoted-less lowercase hex MD5 of those bytes, as S3 computes a single-part ETag.

use md5::{Digest as _, Md5};

/// The generated objects' size and, for size 0, the one ETag they all share.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    size: u64,
    /// The ETag of `size` bytes when every object has the same content (size 0).
    shared_etag: Option<String>,
}

impl Objects {
    /// Objects of `size` bytes each.
    pub(crate) fn new(size: u64) -> Self {
        let shared_etag = (size == 0).then(|| md5_hex(&[]));
        Self { size, shared_etag }
    }

    /// Every object's size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The content of the object `key`.
    pub(crate) fn content(&self, key: &str) -> Vec<u8> {
        let mut out = vec![0u8; usize::try_from(self.size).unwrap_or(0)];
        blake3::Hasher::new()
            .update(key.as_bytes())
            .finalize_xof()
            .fill(&mut out);
        out
    }

    /// The ETag of the object `key`, without quotes.
    pub(crate) fn etag(&self, key: &str) -> String {
        match &self.shared_etag {
            Some(etag) => etag.clone(),
            None => md5_hex(&self.content(key)),
        }
    }
}

/// Lowercase hex MD5 of `data`.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Lowercase hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        let empty = Objects::new(0);
        assert_eq!(empty.etag("a"), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(empty.content("a").is_empty());
        let some = Objects::new(100);
        let body = some.content("a");
        assert_eq!(body.len(), 100);
        assert_ne!(body, some.content("b"));
        assert_eq!(some.etag("a"), md5_hex(&body));
    }
}
