//! `haul ls`.

use anyhow::Result;
use engine::client::ListPager;
use engine::s3::{BucketName, ObjectEntry};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::{Location, client, parse_location};
use crate::args::{GlobalArgs, LsArgs};
use crate::output::Out;

pub(crate) async fn run(g: &GlobalArgs, a: &LsArgs) -> Result<()> {
    let client = client(g)?;
    let mut out = Out::new(g.json);
    let Some(target) = &a.target else {
        for b in client.list_buckets().await? {
            let created = b
                .created
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default();
            out.line(&format!("{:<25} s3://{}", created, b.name.as_str()))?;
            out.record(&json!({"bucket": b.name.as_str(), "created": created}))?;
        }
        out.flush()?;
        return Ok(());
    };
    let Location::S3 {
        bucket,
        key: prefix,
    } = parse_location(target)?
    else {
        return Err(
            engine::Error::Usage(format!("{target:?}: expected s3://BUCKET[/PREFIX]")).into(),
        );
    };
    if a.recursive {
        // Every object, by up to --list-fanout streams merged back into key order.
        let mut pages =
            engine::client::list_in_order(&client, &bucket, &prefix, list_fanout(a.list_fanout));
        let mut last: Option<String> = None;
        while let Some(page) = pages.recv().await {
            for o in &page? {
                if let Some(prev) = &last
                    && prev.as_bytes() >= o.key.as_str().as_bytes()
                {
                    return Err(engine::Error::Integrity {
                        what: format!(
                            "listing s3://{}/{prefix}: keys out of order ({prev:?} then {:?})",
                            bucket.as_str(),
                            o.key.as_str()
                        ),
                    }
                    .into());
                }
                object_line(&mut out, &bucket, o)?;
                last = Some(o.key.as_str().to_owned());
            }
        }
    } else {
        let mut pager = ListPager::new(&client, &bucket, &prefix, Some("/"));
        while let Some(page) = pager.next_page().await? {
            for p in &page.common_prefixes {
                out.line(&format!("{:>31} s3://{}/{p}", "PRE", bucket.as_str()))?;
                out.record(&json!({"prefix": p}))?;
            }
            for o in &page.objects {
                object_line(&mut out, &bucket, o)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn object_line(out: &mut Out, bucket: &BucketName, o: &ObjectEntry) -> Result<()> {
    let when = o.last_modified.format(&Rfc3339).unwrap_or_default();
    out.line(&format!(
        "{:<20} {:>10} s3://{}/{}",
        when,
        o.size,
        bucket.as_str(),
        o.key.as_str()
    ))?;
    out.record(&json!({
        "key": o.key.as_str(),
        "size": o.size,
        "last_modified": when,
        "etag": o.etag.as_ref().map(|e| e.unquoted().to_owned()),
    }))?;
    Ok(())
}

/// `--list-fanout N` as given (always up to N streams), or the adaptive default.
pub(super) fn list_fanout(given: Option<u32>) -> engine::client::ListFanout {
    given.map_or_else(engine::client::ListFanout::default, |n| {
        engine::client::ListFanout::Fixed(n as usize)
    })
}
