//! The audit trail's write side: events are queued in memory on the request
//! path and written in batches (`AppState::flush`, every two seconds), so a
//! cache hit never waits on a catalog write. Publishes write their audit row
//! inside the publish transaction instead (`Catalog::publish_version`).
//!
//! Anyone can make refused requests, so the queue is bounded: refusals of
//! anonymous callers are counted per (registry, action) and written as one
//! row per batch, and past [`MAX_PENDING`] events the rest are counted and
//! reported in one row instead of queued.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::AuditEvent;

/// The most events queued between two flushes.
pub const MAX_PENDING: usize = 10_000;

/// Audit rows, written in batches off the request path.
#[derive(Default)]
pub struct Auditor {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    events: Vec<AuditEvent>,
    /// Anonymous refusals: (registry, action) → (first event, count).
    anonymous: BTreeMap<(Option<String>, String), (AuditEvent, u64)>,
    dropped: u64,
}

impl Auditor {
    pub fn record(&self, event: AuditEvent) {
        let Ok(mut p) = self.pending.lock() else { return };
        if event.outcome == "denied" && event.principal.as_deref() == Some("anonymous") {
            let key = (event.registry.clone(), event.action.clone());
            if let Some((_, n)) = p.anonymous.get_mut(&key) {
                *n += 1;
                return;
            }
            if p.anonymous.len() < MAX_PENDING {
                p.anonymous.insert(key, (event, 1));
                return;
            }
        } else if p.events.len() < MAX_PENDING {
            p.events.push(event);
            return;
        }
        p.dropped += 1;
    }

    /// Everything queued so far, leaving the queue empty.
    pub fn take(&self) -> Vec<AuditEvent> {
        let Ok(mut p) = self.pending.lock() else { return Vec::new() };
        let Pending { mut events, anonymous, dropped } = std::mem::take(&mut *p);
        drop(p);
        for (_, (mut first, n)) in anonymous {
            if n > 1 {
                let detail = first.detail.take().unwrap_or_default();
                first.detail = Some(format!("{detail} ({n} anonymous requests like it in this interval)"));
            }
            events.push(first);
        }
        if dropped > 0
            && let Some(last) = events.last()
        {
            events.push(AuditEvent {
                at: last.at,
                registry: None,
                action: "audit-overflow".into(),
                package: None,
                version: None,
                principal: None,
                outcome: "dropped".into(),
                detail: Some(format!("{dropped} audit events were not recorded: the queue was full")),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(principal: &str, outcome: &str) -> AuditEvent {
        AuditEvent {
            at: 1,
            registry: Some("r".into()),
            action: "publish".into(),
            package: Some("p".into()),
            version: None,
            principal: Some(principal.into()),
            outcome: outcome.into(),
            detail: Some("authentication required".into()),
        }
    }

    #[test]
    fn anonymous_refusals_are_counted_and_the_queue_is_bounded() {
        let a = Auditor::default();
        for _ in 0..100_000 {
            a.record(event("anonymous", "denied"));
        }
        let rows = a.take();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].detail.as_deref().unwrap_or("").contains("100000 anonymous requests"), "{:?}", rows[0].detail);
        for _ in 0..(MAX_PENDING + 5) {
            a.record(event("bob", "denied"));
        }
        let rows = a.take();
        assert_eq!(rows.len(), MAX_PENDING + 1);
        assert!(rows[MAX_PENDING].detail.as_deref().unwrap_or("").contains("5 audit events were not recorded"));
        assert!(a.take().is_empty());
    }
}
