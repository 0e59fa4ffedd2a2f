//! The INI reader behind ~/.s3cfg and the AWS files: never a panic; line numbers point into
//! the input.
#![no_main]

use engine::config::ini::{Dialect, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let lines = data.lines().count().max(1);
    for dialect in [Dialect::S3cmd, Dialect::Aws] {
        match parse(data, dialect) {
            Ok(ini) => {
                for s in &ini.sections {
                    for e in &s.entries {
                        assert!(e.line >= 1 && e.line <= lines);
                    }
                }
            }
            Err(e) => assert!(e.line >= 1 && e.line <= lines + 1),
        }
    }
});
