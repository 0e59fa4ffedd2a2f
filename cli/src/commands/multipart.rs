//! `haul multipart ls|abort`: what interrupted uploads left on the gateway.

use std::time::SystemTime;

use anyhow::Result;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{Location, client, parse_location};
use crate::args::{GlobalArgs, MultipartCommand};
use crate::output::{Out, human_bytes};

pub(crate) async fn run(g: &GlobalArgs, m: &MultipartCommand) -> Result<()> {
    let (target, older_than, abort) = match m {
        MultipartCommand::Ls { target } => (target, None, false),
        MultipartCommand::Abort { target, older_than } => (target, *older_than, true),
    };
    let Location::S3 { bucket, key } = parse_location(target)? else {
        return Err(
            engine::Error::Usage(format!("{target:?}: expected s3://BUCKET[/PREFIX]")).into(),
        );
    };
    let client = client(g)?;
    let prefix = (!key.is_empty()).then_some(key.as_str());
    let uploads = client.list_multipart_uploads(&bucket, prefix).await?;
    let mut out = Out::new(g.json);
    let now = SystemTime::now();
    let mut aborted = 0u64;
    for u in uploads {
        let started = u.initiated.map(SystemTime::from);
        let age = started.and_then(|t| now.duration_since(t).ok());
        if let Some(min) = older_than
            && age.is_none_or(|a| a < min)
        {
            continue;
        }
        let when = u
            .initiated
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "-".to_owned());
        // What the upload holds already (what a rerun of the same sync will keep).
        let (parts, bytes) = if abort {
            (None, None)
        } else {
            match client.list_parts(&bucket, &u.key, &u.upload_id).await {
                Ok(p) => (Some(p.len()), Some(p.iter().map(|x| x.size).sum::<u64>())),
                Err(e) => {
                    tracing::warn!("{e}");
                    (None, None)
                }
            }
        };
        if abort {
            client
                .abort_multipart_upload(&bucket, &u.key, &u.upload_id)
                .await?;
            aborted += 1;
        }
        let held = match (parts, bytes) {
            (Some(p), Some(b)) => format!("{p:>5} parts {:>10}  ", human_bytes(b)),
            _ => String::new(),
        };
        out.line(&format!(
            "{}{when:<25} {held}s3://{}/{}  {}",
            if abort { "aborted " } else { "" },
            bucket.as_str(),
            u.key.as_str(),
            u.upload_id.as_str()
        ))?;
        out.record(&json!({
            "key": u.key.as_str(), "upload_id": u.upload_id.as_str(), "initiated": when,
            "age_seconds": age.map(|a| a.as_secs()), "aborted": abort,
            "parts": parts, "bytes": bytes,
        }))?;
    }
    if abort {
        out.line(&format!("{aborted} uploads aborted"))?;
    }
    out.flush()?;
    Ok(())
}
