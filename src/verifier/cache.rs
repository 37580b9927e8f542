//! The verdict cache shared by every verification of one process (the controller's reconciles,
//! or one `audit` run).

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
