//! S3 error bodies: any status and body give an error value, never a panic, and the message
//! is bounded.
#![no_main]

use engine::s3::S3Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let err = S3Error::from_response(status, &http::HeaderMap::new(), body);
    assert_eq!(err.status, status);
    assert!(
        err.message
            .as_ref()
            .is_none_or(|m| m.chars().count() <= 1024)
    );
    let _ = err.to_string();
});
