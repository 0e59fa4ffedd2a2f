//! `haul backup` / `haul restore`: the runbook as one verifiable, resumable command
//! (`docs/backup.md`). So far: the plan file ([`plan`]) and `haul backup PLAN` to a local
//! directory ([`run()`]), a set read back ([`set`]), `haul restore` and `haul backup verify`
//! ([`restore()`], [`verify()`]); incremental sets and S3 destinations are being built.

pub mod plan;
pub mod restore;
mod run;
pub mod set;
pub mod store;

pub use plan::{ArchivePart, BucketPart, Destination, Plan, PlanError};
pub use restore::{PartCheck, RestoreOptions, SetCheck, restore, verify};
pub use run::{BackupOptions, PartReport, SET_FORMAT, SetReport, list_sets, run};
pub use store::{S3Dir, SetAt, Store};
