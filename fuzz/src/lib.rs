//! haul's fuzz targets, as plain functions.
//!
//! Each target is a `pub fn NAME(data: &[u8])` that feeds the bytes to one of the engine's
//! readers of hostile input and asserts what must hold, panicking when it does not:
//! properties of what was read, not only "no panic" (see each module). The libFuzzer
//! binaries in `fuzz_targets/` only call these functions (`scripts/fuzz.sh` runs them on the
//! pinned stable toolchain), and `tests/replay.rs` runs every target over every file of
//! `corpus/NAME/` and `regressions/NAME/` with plain `cargo test`, so every input ever found
//! to crash stays a test.
//!
//! Most targets read each input twice: as the bytes a gateway or a file could hold, and as
//! a description ([`input::Input`]) from which the target writes a well-formed document
//! whose parse it knows in advance; see `listing` for the pattern.

pub mod input;
pub mod xml;

mod config;
mod errors;
mod headers;
mod listing;
mod manifest;
mod paths;
mod responses;
mod sealed;
mod tar_index;
mod tar_unpack;

pub use config::config_ini;
pub use errors::error_xml;
pub use headers::content_range;
pub use listing::list_objects;
pub use manifest::manifest_read;
pub use paths::key_to_path;
pub use responses::{
    complete_multipart_upload, copy_object, create_multipart_upload, delete_objects, list_buckets,
    list_multipart_uploads, list_parts,
};
pub use tar_index::tar_index;
pub use tar_unpack::tar_unpack;

/// A target: its name (the binary in `fuzz_targets/`, the folder under `corpus/` and
/// `regressions/`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    ("list_objects", list_objects),
    ("list_buckets", list_buckets),
    ("create_multipart_upload", create_multipart_upload),
    ("list_parts", list_parts),
    ("list_multipart_uploads", list_multipart_uploads),
    ("complete_multipart_upload", complete_multipart_upload),
    ("copy_object", copy_object),
    ("delete_objects", delete_objects),
    ("error_xml", error_xml),
    ("content_range", content_range),
    ("key_to_path", key_to_path),
    ("config_ini", config_ini),
    ("manifest_read", manifest_read),
    ("tar_index", tar_index),
    ("tar_unpack", tar_unpack),
];
