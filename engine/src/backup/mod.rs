//! `haul backup` / `haul restore`: the runbook as one verifiable, resumable command
//! (`docs/backup.md`). So far: the plan file ([`plan`]) and `haul backup PLAN` to a local
//! directory ([`run`]); incremental sets, S3 destinations and `haul restore` are being built.

pub mod plan;
mod run;

pub use plan::{ArchivePart, BucketPart, Destination, Plan, PlanError};
pub use run::{BackupOptions, PartReport, SET_FORMAT, SetReport, list_sets, run};
