//! The verdict cache shared by every verification of one process (the controller's reconciles,
//! or one `audit` run): definite verdicts by (registry, repository, digest, policy fingerprint,
//! trust-root fingerprint), each with when it was found and when the registry was last asked,
//! so that [`super::schedule`] can say when it must be asked again.
//!
//! A cached result is both halves of a verdict, the signatures' and the attestations': it is
//! cached only when both are definite ([`definite`]), re-checked on the reverify interval only
//! when both hold ([`holds`]), and its backoff starts over when either changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use super::pacing;
use super::schedule::Intervals;
use crate::api::VerdictCacheKey;
use crate::engine::{Evaluation, Verdict};
use crate::vocabulary::Status;

/// Above this many entries the cache starts over: digests of old revisions pile up otherwise,
/// and a miss costs only one verification.
const MAX_CACHED: usize = 10_000;

/// One cached definite verdict.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The combined evaluation.
    pub evaluation: Evaluation,
    /// When this verdict was first found for this key (Unix seconds).
    pub since: i64,
    /// When the registry was last asked (Unix seconds).
    pub checked: i64,
}

/// Whether `e` is a fact about the artifact that may be cached and scheduled: its signature
/// verdict is definite and so is its `Attested` judgement (an indeterminate one — a fault on
/// the `.att` tag, a spent byte budget, a CEL deadline — must be retried, never kept).
pub fn definite(e: &Evaluation) -> bool {
    !e.verdict.is_indeterminate()
        && e.attested
            .as_ref()
            .is_none_or(|a| a.judgement.status != Status::Unknown)
}

/// Whether `e` holds: `Verified` and `Attested=True` (`NotRequired` included). Only such a result
/// waits a whole reverify interval for its re-check; any other definite one backs off from a
/// minute, whichever half failed.
pub fn holds(e: &Evaluation) -> bool {
    e.verdict == Verdict::Verified
        && e.attested
            .as_ref()
            .is_none_or(|a| a.judgement.status == Status::True)
}

/// What a re-check must find again for a result's backoff to go on growing: the signature
/// verdict and the `Attested` status and reason.
fn state(e: &Evaluation) -> (Verdict, Option<(Status, &'static str)>) {
    (
        e.verdict,
        e.attested
            .as_ref()
            .map(|a| (a.judgement.status, a.judgement.reason)),
    )
}

impl Entry {
    /// Whether the result holds (see [`holds`]).
    pub fn holds(&self) -> bool {
        holds(&self.evaluation)
    }

    /// How long until the registry must be asked again about the verdict of `key` (zero when
    /// due): its schedule, spread by [`pacing`].
    pub fn due_in(&self, key: &VerdictCacheKey, now: i64, iv: Intervals) -> Duration {
        pacing::due_in(key, self.holds(), self.since, self.checked, now, iv)
    }
}

/// What the cache holds for a key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A verdict that may be used without asking the registry.
    Fresh(Entry),
    /// A verdict whose re-check is due: ask the registry.
    Due(Entry),
    /// Nothing: ask the registry.
    Miss,
}

/// Verdicts by key: an unchanged source costs no registry request until its re-check is due,
/// and sources sharing an artifact (same repository, same policies) share its verification.
pub struct VerdictCache {
    entries: Mutex<HashMap<VerdictCacheKey, Entry>>,
    flights: Mutex<HashMap<VerdictCacheKey, Arc<tokio::sync::Mutex<()>>>>,
    intervals: Intervals,
}

impl Default for VerdictCache {
    fn default() -> Self {
        Self::new(Intervals::default())
    }
}

impl VerdictCache {
    /// An empty cache whose entries are re-checked on the schedule of `intervals`.
    pub fn new(intervals: Intervals) -> Self {
        Self {
            entries: Mutex::default(),
            flights: Mutex::default(),
            intervals,
        }
    }

    /// Waits until no other audit is checking `key` against the registry, and holds that turn
    /// until the guard is dropped. Sources sharing an artifact fall due together (their re-check
    /// times come from one entry): one of them asks the registry, the others then find the
    /// fresh verdict ([`Self::lookup`] again after the wait) instead of asking too.
    pub async fn flight(&self, key: &VerdictCacheKey) -> OwnedMutexGuard<()> {
        let turn = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            // Forget finished flights (only the map holds them) before the map grows.
            if flights.len() >= 1024 {
                flights.retain(|_, f| Arc::strong_count(f) > 1);
            }
            flights.entry(key.clone()).or_default().clone()
        };
        turn.lock_owned().await
    }

    /// The intervals of the re-check schedule.
    pub fn intervals(&self) -> Intervals {
        self.intervals
    }

    /// What the cache holds for `key` at `now` (Unix seconds).
    pub fn lookup(&self, key: &VerdictCacheKey, now: i64) -> Lookup {
        match self.lock().get(key) {
            None => Lookup::Miss,
            Some(e) if pacing::is_due(key, e.holds(), e.since, e.checked, now, self.intervals) => {
                Lookup::Due(e.clone())
            }
            Some(e) => Lookup::Fresh(e.clone()),
        }
    }

    /// Caches a definite evaluation found at `now`; an indeterminate one ([`definite`]) is
    /// not cached (it must be retried) and drops what the key held, so nothing older answers
    /// for it either. The result keeps its `since` when a re-check finds it again (both halves),
    /// so the backoff of a negative result keeps doubling.
    pub fn insert(&self, key: VerdictCacheKey, evaluation: Evaluation, now: i64) -> Entry {
        let mut m = self.lock();
        if !definite(&evaluation) {
            m.remove(&key);
            return Entry {
                evaluation,
                since: now,
                checked: now,
            };
        }
        let since = match m.get(&key) {
            Some(e) if state(&e.evaluation) == state(&evaluation) && e.since <= now => e.since,
            _ => now,
        };
        if m.len() >= MAX_CACHED && !m.contains_key(&key) {
            m.clear();
        }
        let entry = Entry {
            evaluation,
            since,
            checked: now,
        };
        m.insert(key, entry.clone());
        entry
    }

    /// Drops what the cache holds for `key`: a re-check could not tell, so the older result
    /// must not answer for it either.
    pub fn forget(&self, key: &VerdictCacheKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VerdictCacheKey, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long until `e` is due on the plain schedule (before [`pacing`] spreads it): what
    /// the bookkeeping of `since` and `checked` decides.
    fn plain_due(e: &Entry, now: i64, iv: Intervals) -> Duration {
        crate::verifier::schedule::due_in(e.holds(), e.since, e.checked, now, iv)
    }

    fn key(repository: &str) -> VerdictCacheKey {
        VerdictCacheKey {
            registry: "registry.example".into(),
            repository: repository.into(),
            digest: "sha256:aa".into(),
            policy_fingerprint: "sha256:p".into(),
            trust_root_fingerprint: "sha256:r".into(),
        }
    }

    fn evaluation(verdict: Verdict) -> Evaluation {
        Evaluation {
            verdict,
            message: String::new(),
            signatures: vec![],
            flux_compatibility: vec![],
            attested: None,
        }
    }

    /// `verdict` with an `Attested` judgement of `status` and `reason`.
    fn attested(verdict: Verdict, status: Status, reason: &'static str) -> Evaluation {
        Evaluation {
            attested: Some(Box::new(crate::engine::attest::require::Attested {
                judgement: crate::vocabulary::Judgement::new(status, reason, "test"),
                evidence: vec![],
            })),
            ..evaluation(verdict)
        }
    }

    const IV: Intervals = Intervals {
        resync: Duration::from_secs(600),
        reverify: Duration::from_secs(3600),
        first_recheck: crate::verifier::schedule::FIRST_RECHECK,
    };

    #[test]
    fn the_same_digest_in_another_repository_is_another_verdict() {
        let cache = VerdictCache::new(IV);
        cache.insert(key("signed"), evaluation(Verdict::Verified), 0);
        assert!(matches!(cache.lookup(&key("signed"), 1), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup(&key("mirror"), 1), Lookup::Miss));
        let mut other_registry = key("signed");
        other_registry.registry = "mirror.example".into();
        assert!(matches!(cache.lookup(&other_registry, 1), Lookup::Miss));
    }

    #[test]
    fn a_negative_verdict_falls_due_within_a_minute() {
        let cache = VerdictCache::new(IV);
        cache.insert(key("r"), evaluation(Verdict::Unsigned), 1_000);
        // At its jittered point of the minute (see `pacing`), at the latest after a minute.
        let due = pacing::next_check(&key("r"), false, 1_000, 1_000, IV);
        assert!((1_054..=1_060).contains(&due), "{due}");
        assert!(matches!(cache.lookup(&key("r"), due - 1), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup(&key("r"), due), Lookup::Due(_)));
    }

    #[test]
    fn a_verified_verdict_falls_due_within_the_reverify_interval() {
        let cache = VerdictCache::new(IV);
        cache.insert(key("r"), evaluation(Verdict::Verified), 0);
        // At its slot of the interval (see `pacing`), at the latest after the interval.
        let due = pacing::next_check(&key("r"), true, 0, 0, IV);
        assert!((36..=3_600).contains(&due), "{due}");
        assert!(matches!(cache.lookup(&key("r"), due - 1), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup(&key("r"), due), Lookup::Due(_)));
        assert!(matches!(cache.lookup(&key("r"), 3_600), Lookup::Due(_)));
    }

    #[tokio::test]
    async fn one_flight_per_key_at_a_time() {
        let cache = VerdictCache::new(IV);
        let first = cache.flight(&key("r")).await;
        let same = tokio::time::timeout(Duration::from_millis(100), cache.flight(&key("r"))).await;
        assert!(same.is_err(), "a second check of the same key must wait");
        let other = tokio::time::timeout(Duration::from_secs(5), cache.flight(&key("other"))).await;
        assert!(other.is_ok(), "another key must not wait");
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(5), cache.flight(&key("r"))).await;
        assert!(again.is_ok());
    }

    #[test]
    fn a_recheck_finding_the_same_verdict_keeps_doubling() {
        let cache = VerdictCache::new(IV);
        cache.insert(key("r"), evaluation(Verdict::Unsigned), 0);
        let e = cache.insert(key("r"), evaluation(Verdict::Unsigned), 60);
        assert_eq!((e.since, e.checked), (0, 60));
        let e = cache.insert(key("r"), evaluation(Verdict::Unsigned), 120);
        assert_eq!(plain_due(&e, 120, IV), Duration::from_secs(120));
        // A new verdict starts its own schedule.
        let e = cache.insert(key("r"), evaluation(Verdict::Verified), 240);
        assert_eq!((e.since, e.checked), (240, 240));
        assert_eq!(plain_due(&e, 240, IV), Duration::from_secs(3600));
    }

    #[test]
    fn an_indeterminate_attested_is_never_cached_and_drops_the_older_result() {
        use crate::vocabulary::reasons;
        let cache = VerdictCache::new(IV);
        cache.insert(
            key("r"),
            attested(Verdict::Verified, Status::True, reasons::ATTESTED),
            0,
        );
        assert!(matches!(cache.lookup(&key("r"), 10), Lookup::Fresh(_)));
        // The re-check: signatures verified, one 503 on the `.att` tag.
        let unknown = attested(
            Verdict::Verified,
            Status::Unknown,
            reasons::REGISTRY_UNAVAILABLE,
        );
        assert!(!definite(&unknown));
        cache.insert(key("r"), unknown, 3_600);
        assert!(matches!(cache.lookup(&key("r"), 3_601), Lookup::Miss));
    }

    #[test]
    fn a_missing_attestation_backs_off_like_a_failed_signature() {
        use crate::vocabulary::reasons;
        let cache = VerdictCache::new(IV);
        let missing = || {
            attested(
                Verdict::Verified,
                Status::False,
                reasons::ATTESTATION_MISSING,
            )
        };
        assert!(definite(&missing()) && !holds(&missing()));
        let e = cache.insert(key("r"), missing(), 1_000);
        assert_eq!(plain_due(&e, 1_000, IV), Duration::from_secs(60));
        assert!(matches!(cache.lookup(&key("r"), 1_060), Lookup::Due(_)));
        // Found again: 1, 1, 2 … minutes, as for `Unsigned`.
        let e = cache.insert(key("r"), missing(), 1_060);
        assert_eq!(plain_due(&e, 1_060, IV), Duration::from_secs(60));
        let e = cache.insert(key("r"), missing(), 1_120);
        assert_eq!(plain_due(&e, 1_120, IV), Duration::from_secs(120));
        // Attested at last: a result that holds, re-checked once per reverify interval.
        let e = cache.insert(
            key("r"),
            attested(Verdict::Verified, Status::True, reasons::ATTESTED),
            1_240,
        );
        assert_eq!((e.since, e.checked), (1_240, 1_240));
        assert_eq!(plain_due(&e, 1_240, IV), Duration::from_secs(3_600));
    }

    #[test]
    fn a_change_of_either_half_restarts_the_backoff() {
        use crate::vocabulary::reasons;
        let cache = VerdictCache::new(IV);
        let failed = attested(
            Verdict::Verified,
            Status::False,
            reasons::ATTESTATION_POLICY_FAILED,
        );
        cache.insert(key("r"), failed.clone(), 0);
        let e = cache.insert(key("r"), failed, 600);
        assert_eq!(e.since, 0);
        // Same signature verdict, another Attested reason: a new result.
        let e = cache.insert(
            key("r"),
            attested(
                Verdict::Verified,
                Status::False,
                reasons::ATTESTATION_MISSING,
            ),
            1_200,
        );
        assert_eq!(e.since, 1_200);
        assert_eq!(plain_due(&e, 1_200, IV), Duration::from_secs(60));
    }
}
