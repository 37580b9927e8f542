//! In-memory state shared by reconciles: per-source failure counts, and the resourceVersion of
//! each `SourceAudit` as last written (the verdict cache is [`crate::verifier::cache`]).

use std::collections::HashMap;
use std::sync::Mutex;

/// Consecutive indeterminate or failed audits per source, for exponential backoff.
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records an audit of `key`; returns the consecutive failures so far (0 after a success).
    pub fn record(&self, key: &str, failed: bool) -> u32 {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            let n = m.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        } else {
            m.remove(key);
            0
        }
    }

    /// Forgets a deleted source.
    pub fn forget(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The `resourceVersion` each `SourceAudit` had when this controller last wrote or read it (by
/// `namespace/name`): the audit store is read instead of a GET only when it holds that version
/// (or the controller never touched the audit), so a store that has not yet seen the
/// controller's own write is never taken for the audit's state.
#[derive(Default)]
pub struct Written {
    versions: Mutex<HashMap<String, String>>,
}

impl Written {
    /// Records the version a write returned or a read found.
    pub fn record(&self, key: &str, version: Option<String>) {
        let mut m = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        match version {
            Some(v) => m.insert(key.to_string(), v),
            None => m.remove(key),
        };
    }

    /// Whether a stored copy at `version` (`None`: the store has no copy) may stand for the
    /// audit: it is the version last written, or this controller never wrote the audit.
    pub fn is_current(&self, key: &str, version: Option<&str>) -> bool {
        let m = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(key) {
            None => true,
            Some(written) => version == Some(written.as_str()),
        }
    }
}

/// Exponential backoff after `failures` consecutive failures: 2 s, 4 s, … capped at 5 min.
pub fn backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_secs(2u64.saturating_pow(failures.min(9)))
        .min(std::time::Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_grow_until_a_success_resets_them() {
        let b = Backoff::default();
        assert_eq!(b.record("a", true), 1);
        assert_eq!(b.record("a", true), 2);
        assert_eq!(b.record("b", true), 1);
        assert_eq!(b.record("a", false), 0);
        assert_eq!(b.record("a", true), 1);
    }

    #[test]
    fn only_the_version_last_written_stands_for_an_audit_once_written() {
        let w = Written::default();
        assert!(
            w.is_current("ns/a", None),
            "never written: the store says it all"
        );
        assert!(w.is_current("ns/a", Some("7")));
        w.record("ns/a", Some("8".into()));
        assert!(!w.is_current("ns/a", None), "written, not yet in the store");
        assert!(!w.is_current("ns/a", Some("7")), "the store lags the write");
        assert!(w.is_current("ns/a", Some("8")));
        assert!(!w.is_current("ns/a", Some("9")), "someone else wrote since");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1).as_secs(), 2);
        assert_eq!(backoff(2).as_secs(), 4);
        assert_eq!(backoff(30).as_secs(), 300);
    }
}
