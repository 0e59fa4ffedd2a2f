//! `haul backup` / `haul restore`: the runbook as one verifiable, resumable command
//! (`docs/backup.md`). So far: the plan file ([`plan`]); the commands are being built.

pub mod plan;

pub use plan::{ArchivePart, BucketPart, Destination, Plan, PlanError};
