//! `--checksum`: deciding by content whether two entries of equal size hold the same bytes.
//!
//! S3 gives one content hash for free, the ETag: the MD5 of the bytes for objects sent in one
//! `PutObject`, and for multipart objects `MD5(MD5(part 1) ‖ … ‖ MD5(part N))-N`, which depends
//! on the part size the uploader chose. So:
//! - object vs object: equal ETags mean equal content (same gateway rules on both sides);
//! - file vs object with a plain-MD5 ETag: the file's MD5;
//! - file vs multipart object: the multipart ETag is recomputed from the file with the part
//!   size haul would use for it (its own uploads match); if that does not give N parts, the
//!   content cannot be compared and the entry is transferred, the safe side;
//! - an ETag missing from the listing (s3s-fs omits it) is fetched with `HeadObject`.
//!
//! Hashing reads the whole file on a blocking thread. (`x-amz-meta-blake3`, issue 5, will make
//! this independent of ETag rules.)

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::{Entry, Location};
use crate::error::Error;
use crate::local::SafeRelPath;
use crate::s3::{ETag, ObjectKey};
use crate::transfer::{PartPlan, TransferOptions, blocking_task};

/// Read size while hashing. Chosen: 1 MiB, large enough that syscalls cost nothing next to MD5.
const HASH_CHUNK_BYTES: usize = 1024 * 1024;

/// Whether `src` and `dst` (same key, same size) hold the same bytes.
///
/// # Errors
/// Local read errors and `HeadObject` failures, naming the file or object.
pub(super) async fn same_content(
    src: &Location,
    dst: &Location,
    s: &Entry,
    d: &Entry,
    opts: &TransferOptions,
) -> Result<bool, Error> {
    match (src, dst) {
        (Location::S3 { .. }, Location::S3 { .. }) => {
            let (a, b) = (etag_of(src, s).await?, etag_of(dst, d).await?);
            Ok(a.unquoted().eq_ignore_ascii_case(b.unquoted()))
        }
        (Location::Local(root), Location::S3 { .. }) => {
            let etag = etag_of(dst, d).await?;
            file_matches(root, &s.key, s.size, etag, opts).await
        }
        (Location::S3 { .. }, Location::Local(root)) => {
            let etag = etag_of(src, s).await?;
            file_matches(root, &d.key, d.size, etag, opts).await
        }
        (Location::Local(_), Location::Local(_)) => Ok(false),
    }
}

/// The ETag of an object entry: from the listing, else from `HeadObject`.
async fn etag_of(loc: &Location, e: &Entry) -> Result<ETag, Error> {
    if let Some(t) = &e.etag {
        return Ok(t.clone());
    }
    let Location::S3 {
        client,
        bucket,
        prefix,
    } = loc
    else {
        return Err(Error::Usage("a local file has no ETag".to_owned()));
    };
    let key = ObjectKey::new(format!("{prefix}{}", e.key))
        .map_err(|err| Error::Usage(err.to_string()))?;
    let meta = client.head_object(bucket, &key).await?;
    meta.etag.ok_or_else(|| Error::Integrity {
        what: format!(
            "s3://{}/{}: the gateway gives no ETag",
            bucket.as_str(),
            key.as_str()
        ),
    })
}

async fn file_matches(
    root: &Path,
    key: &str,
    size: u64,
    etag: ETag,
    opts: &TransferOptions,
) -> Result<bool, Error> {
    let path = SafeRelPath::from_key(key)?.under(root);
    if let Some(md5) = etag.md5_hex() {
        let got = blocking_task(move || file_md5(&path, None)).await?;
        return Ok(got.first().is_some_and(|h| hex::encode(h) == md5));
    }
    let Some(parts) = etag.multipart_part_count() else {
        return Ok(false);
    };
    let Ok(plan) = PartPlan::multipart(size, opts.part_size, opts.max_body.get()) else {
        return Ok(false);
    };
    if plan.count() != parts {
        tracing::debug!(
            key,
            parts,
            "multipart ETag with another part size: treated as changed"
        );
        return Ok(false);
    }
    let part_size = plan.part_size();
    let digests = blocking_task(move || file_md5(&path, Some(part_size))).await?;
    let mut outer = Md5::new();
    for d in &digests {
        outer.update(d);
    }
    let want = format!("{}-{parts}", hex::encode(outer.finalize()));
    Ok(etag.unquoted().eq_ignore_ascii_case(&want))
}

/// The MD5 of the whole file (`part_size` `None`), or of each `part_size` piece.
fn file_md5(path: &PathBuf, part_size: Option<u64>) -> Result<Vec<[u8; 16]>, Error> {
    let mut f = fs_err::File::open(path).map_err(|e| Error::local(path, e))?;
    let mut out = Vec::new();
    let mut hasher = Md5::new();
    let mut in_part = 0u64;
    let mut buf = vec![0u8; HASH_CHUNK_BYTES];
    loop {
        let want = match part_size {
            Some(p) => usize::try_from((p - in_part).min(HASH_CHUNK_BYTES as u64))
                .unwrap_or(HASH_CHUNK_BYTES),
            None => HASH_CHUNK_BYTES,
        };
        let n = f
            .read(buf.get_mut(..want).unwrap_or_default())
            .map_err(|e| Error::local(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        in_part += n as u64;
        if part_size.is_some_and(|p| in_part == p) {
            out.push(hasher.finalize_reset().into());
            in_part = 0;
        }
    }
    if part_size.is_none() || in_part > 0 {
        out.push(hasher.finalize().into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_whole_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs_err::write(&p, b"hello world").unwrap();
        let whole = file_md5(&p, None).unwrap();
        assert_eq!(hex::encode(whole[0]), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let parts = file_md5(&p, Some(5)).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(hex::encode(parts[0]), hex::encode(Md5::digest(b"hello")));
        assert_eq!(hex::encode(parts[2]), hex::encode(Md5::digest(b"d")));
    }
}
