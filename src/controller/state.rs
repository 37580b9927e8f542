//! In-memory state shared by reconciles: per-source failure counts (the verdict cache is
//! [`crate::verifier::cache`]).

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
    fn backoff_doubles_and_is_capped() {
        use super::super::reconcile::backoff;
        assert_eq!(backoff(1).as_secs(), 2);
        assert_eq!(backoff(2).as_secs(), 4);
        assert_eq!(backoff(30).as_secs(), 300);
    }
}
