//! `haul config show`.

use anyhow::Result;

use super::resolve;
use crate::args::GlobalArgs;
use crate::output::Out;

pub(crate) fn show(g: &GlobalArgs) -> Result<()> {
    let cfg = resolve(g)?;
    let mut out = Out::new(g.json);
    let entries = cfg.entries();
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for e in &entries {
        out.line(&format!(
            "{:<width$}  {:<40}  ({})",
            e.name, e.display_value, e.source
        ))?;
        out.record(&serde_json::json!({
            "name": e.name,
            "value": e.display_value,
            "source": e.source.to_string(),
        }))?;
    }
    if cfg.is_anonymous() {
        out.line("(no credentials found: requests are sent unsigned)")?;
    }
    out.flush()?;
    Ok(())
}
