//! Export to a SIEM: JSON lines (the canonical bytes) or OCSF-shaped JSON.

use std::io::Write;

use time::OffsetDateTime;

use crate::error::AuditError;
use crate::event::AuditEvent;
use crate::store::AuditStore;

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One canonical event per line: hash a line to check it against a proof.
    JsonLines,
    /// One OCSF event per line (see [`crate::ocsf`]).
    Ocsf,
}

/// Streams matching events to `out`; returns how many were written.
pub fn export(
    store: &dyn AuditStore,
    out: &mut dyn Write,
    since: Option<OffsetDateTime>,
    format: Format,
) -> Result<u64, AuditError> {
    let since = since.map(|t| crate::timefmt::format(&t));
    let mut count = 0u64;
    let mut failure: Option<AuditError> = None;
    store.scan_since(since.as_deref(), &mut |entry| {
        match write_one(out, &entry.body, format) {
            Ok(()) => count += 1,
            Err(e) => failure = Some(e),
        }
        failure.is_none()
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    out.flush()?;
    Ok(count)
}

fn write_one(out: &mut dyn Write, body: &[u8], format: Format) -> Result<(), AuditError> {
    match format {
        Format::JsonLines => out.write_all(body)?,
        Format::Ocsf => {
            let ev = AuditEvent::decode(body)?;
            serde_json::to_writer(&mut *out, &crate::ocsf::to_ocsf(&ev))
                .map_err(std::io::Error::other)?;
        }
    }
    out.write_all(b"\n")?;
    Ok(())
}
