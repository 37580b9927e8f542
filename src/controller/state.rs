//! In-memory state shared by reconciles: the verdict cache and per-source failure counts.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::VerdictCacheKey;
use crate::engine::Evaluation;

/// Above this many entries the cache starts over: digests of old revisions pile up otherwise,
/// and a miss costs only one verification.
const MAX_CACHED: usize = 10_000;

/// Verdicts by (digest, policy fingerprint, trust-root fingerprint): an unchanged source costs
/// no registry request on resync, and sources sharing an artifact share its verification.
#[derive(Default)]
pub struct VerdictCache {
    entries: Mutex<HashMap<String, Evaluation>>,
}

impl VerdictCache {
    /// The cached evaluation for `key`.
    pub fn get(&self, key: &VerdictCacheKey) -> Option<Evaluation> {
        self.lock().get(&flat(key)).cloned()
    }

    /// Caches a definite evaluation (never an indeterminate one: that must be retried).
    pub fn insert(&self, key: VerdictCacheKey, e: Evaluation) {
        let mut m = self.lock();
        if m.len() >= MAX_CACHED {
            m.clear();
        }
        m.insert(flat(&key), e);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Evaluation>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The key as one string (`VerdictCacheKey` is an API type without `Hash`).
fn flat(k: &VerdictCacheKey) -> String {
    format!(
        "{}\n{}\n{}",
        k.digest, k.policy_fingerprint, k.trust_root_fingerprint
    )
}

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
