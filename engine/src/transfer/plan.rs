//! Part planning: how an object of known length is cut into multipart parts or ranges.
//! Pure arithmetic, property-tested.

/// Smallest part S3 accepts, except the last (the S3 multipart limits page; RGW's
/// `rgw_multipart_min_part_size` defaults to the same).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts in one multipart upload (S3 limit; RGW's `rgw_multipart_part_upload_limit`).
pub const MAX_PARTS: u64 = 10_000;

/// A part plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The body limit is below the S3 minimum part size, so no multipart upload can pass it.
    #[error(
        "the body size limit {limit_bytes} B is below the 5 MiB S3 minimum part size: raise the \
         limit on the router or proxy in front of the gateway (nginx client_max_body_size)"
    )]
    BodyLimitTooSmall {
        /// The limit in force.
        limit_bytes: u64,
    },
    /// Even the largest allowed parts cannot carry the object in 10,000 parts.
    #[error(
        "an object of {len_bytes} B needs parts of {needed_bytes} B to fit in 10,000 parts, \
         above the limit of {limit_bytes} B"
    )]
    TooLarge {
        /// Object length.
        len_bytes: u64,
        /// Part size that would be needed.
        needed_bytes: u64,
        /// The largest part size allowed.
        limit_bytes: u64,
    },
}

/// One part or range: 1-based number, byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// 1-based part number.
    pub number: u32,
    /// Offset of the first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// How an object of `len` bytes is cut into parts of `part_size` bytes (the last may be
/// shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    len: u64,
    part_size: u64,
}

impl PartPlan {
    /// Plans a multipart upload: `requested` part size clamped to 5 MiB..5 GiB and to
    /// `max_body`, rounded down to whole KiB (so that parts start on BLAKE3 chunk bounds and
    /// can be hashed apart), raised (in whole MiB) when the object would otherwise need more
    /// than 10,000 parts.
    ///
    /// # Errors
    /// When `max_body` is below 5 MiB, or the object cannot fit in 10,000 parts of the largest
    /// allowed size.
    pub fn multipart(len: u64, requested: u64, max_body: Option<u64>) -> Result<Self, PlanError> {
        let ceiling = max_body.map_or(MAX_PART_BYTES, |m| m.min(MAX_PART_BYTES));
        if ceiling < MIN_PART_BYTES {
            return Err(PlanError::BodyLimitTooSmall {
                limit_bytes: ceiling,
            });
        }
        // The floor is a whole number of KiB, so rounding down stays above it.
        let mut part_size = requested.clamp(MIN_PART_BYTES, ceiling) / 1024 * 1024;
        if len.div_ceil(part_size) > MAX_PARTS {
            const MIB: u64 = 1024 * 1024;
            let needed = len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
            if needed > ceiling {
                return Err(PlanError::TooLarge {
                    len_bytes: len,
                    needed_bytes: needed,
                    limit_bytes: ceiling,
                });
            }
            part_size = needed.max(MIN_PART_BYTES);
        }
        Ok(Self { len, part_size })
    }

    /// Plans ranged reads of `chunk` bytes (at least 1) over `len` bytes; no S3 part limits.
    #[must_use]
    pub fn ranges(len: u64, chunk: u64) -> Self {
        Self {
            len,
            part_size: chunk.max(1),
        }
    }

    /// Bytes planned in all.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Nothing to upload.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes per part (the last may be shorter).
    #[must_use]
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// Number of parts (at least one, even for an empty object).
    #[must_use]
    pub fn count(&self) -> u32 {
        u32::try_from(self.len.div_ceil(self.part_size).max(1)).unwrap_or(u32::MAX)
    }

    /// The parts in order.
    pub fn parts(&self) -> impl Iterator<Item = Part> + use<> {
        let (len, size) = (self.len, self.part_size);
        (0..self.count()).map(move |i| {
            let offset = u64::from(i) * size;
            Part {
                number: i + 1,
                offset,
                len: size.min(len - offset.min(len)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn small_limits() {
        assert_eq!(
            PartPlan::multipart(100 * MIB, 16 * MIB, Some(4 * MIB)),
            Err(PlanError::BodyLimitTooSmall {
                limit_bytes: 4 * MIB
            })
        );
        let p = PartPlan::multipart(64 * MIB, 16 * MIB, None).unwrap();
        assert_eq!(p.count(), 4);
        let p = PartPlan::multipart(100_000 * MIB, 5 * MIB, None).unwrap();
        assert!(p.count() <= 10_000);
        assert_eq!(PartPlan::multipart(0, 8 * MIB, None).unwrap().count(), 1);
    }

    proptest! {
        #[test]
        fn plans_cover_every_byte_once_within_limits(
            len in 0u64..(60 * 1024 * 1024 * 1024 * 1024),
            requested in 0u64..(6 * 1024 * MIB),
            max_body in proptest::option::of(0u64..(6 * 1024 * MIB)),
        ) {
            match PartPlan::multipart(len, requested, max_body) {
                Ok(plan) => {
                    let parts: Vec<_> = plan.parts().collect();
                    prop_assert!(parts.len() as u64 <= MAX_PARTS);
                    prop_assert_eq!(parts.len() as u32, plan.count());
                    let mut next = 0u64;
                    for (i, p) in parts.iter().enumerate() {
                        prop_assert_eq!(p.number as usize, i + 1);
                        prop_assert_eq!(p.offset, next);
                        prop_assert_eq!(p.offset % 1024, 0);
                        next += p.len;
                        prop_assert!(p.len <= MAX_PART_BYTES);
                        if let Some(m) = max_body { prop_assert!(p.len <= m); }
                        if i + 1 < parts.len() { prop_assert!(p.len >= MIN_PART_BYTES); }
                    }
                    prop_assert_eq!(next, len);
                }
                Err(PlanError::BodyLimitTooSmall { limit_bytes }) => {
                    prop_assert!(limit_bytes < MIN_PART_BYTES);
                }
                Err(PlanError::TooLarge { len_bytes, .. }) => {
                    prop_assert!(len_bytes > MAX_PARTS * MIN_PART_BYTES);
                }
            }
        }

        #[test]
        fn ranges_cover_every_byte_once(len in 0u64..10_000_000, chunk in 0u64..100_000) {
            let plan = PartPlan::ranges(len, chunk);
            let mut next = 0;
            for p in plan.parts() {
                prop_assert_eq!(p.offset, next);
                next += p.len;
            }
            prop_assert_eq!(next, len);
        }
    }
}
