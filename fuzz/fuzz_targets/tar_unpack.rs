//! Archives from anywhere: unpacking arbitrary bytes into a sandbox never creates anything
//! outside it (the shape of tar-rs's own archive fuzz target).
#![no_main]

use engine::archive::xattrs::XattrRestore;
use engine::archive::{UnpackOptions, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let outer = tempfile::tempdir().expect("temp dir");
    let sandbox = outer.path().join("sandbox");
    let opts = UnpackOptions {
        same_owner: false,
        allow_devices: false,
        allow_setid: false,
        // Attributes are set on what was written, never through a path outside.
        xattrs: XattrRestore::User,
    };
    let _ = unpack(data, &sandbox, opts);
    let names: Vec<_> = std::fs::read_dir(outer.path())
        .expect("listing the temp dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.iter().all(|n| n == "sandbox"),
        "unpack wrote outside its directory: {names:?}"
    );
});
