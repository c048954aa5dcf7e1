//! The audit trail's write side: events are queued in memory on the request
//! path and written in batches (`AppState::flush`, every two seconds), so a
//! cache hit never waits on a catalog write. Publishes write their audit row
//! inside the publish transaction instead (`Catalog::publish_version`).

use std::sync::Mutex;

use super::AuditEvent;

/// Audit rows, written in batches off the request path.
#[derive(Default)]
pub struct Auditor {
    pending: Mutex<Vec<AuditEvent>>,
}

impl Auditor {
    pub fn record(&self, event: AuditEvent) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(event);
        }
    }

    /// Everything queued so far, leaving the queue empty.
    pub fn take(&self) -> Vec<AuditEvent> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }
}
