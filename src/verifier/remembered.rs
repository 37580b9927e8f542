//! What each cached verdict was judged from, in the registry ([`Seen`]), by the verdict's key:
//! what a due re-check asks the registry about instead of reading everything again
//! ([`crate::registry::RegistryClient::recheck`]).
//!
//! Bound to the verdict it proves: the key is the verdict cache's (registry, repository, digest,
//! policy and trust-root fingerprints), and an entry is only ever written together with the
//! cache entry judged from exactly that discovery, under the key's flight (one check per key at
//! a time). A policy change is a new key, which has nothing remembered: its first check reads
//! everything, and its verdict is computed from those bytes, never copied from another key's.
//! Bounded like the cache: above [`MAX_REMEMBERED`] entries it starts over (a miss costs one
//! full read).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::VerdictCacheKey;
use crate::registry::{Discovery, Seen};

/// What of `discovery` may stand for the verdict judged from it at later re-checks: its
/// [`Seen`], unless that verdict depends on when it was judged. Notation signatures are judged
/// as of the time of the check (`io.cncf.notary.expiry`, the certificate chain's validity), so
/// the same bytes can give another verdict later: an artifact with any is read and judged again
/// at every re-check. Cosign's judgements are fixed by the bytes (a keyless certificate is
/// checked at its transparency log's integrated time, never at the time of the check).
pub fn reusable(discovery: &Discovery) -> Option<Seen> {
    discovery
        .notation
        .is_empty()
        .then(|| discovery.seen.clone())
        .flatten()
}

/// Entries kept at once.
pub const MAX_REMEMBERED: usize = 10_000;

/// [`Seen`] by verdict key.
#[derive(Default)]
pub struct Remembered {
    entries: Mutex<HashMap<VerdictCacheKey, Seen>>,
}

impl Remembered {
    /// What the verdict of `key` was judged from, if remembered.
    pub fn get(&self, key: &VerdictCacheKey) -> Option<Seen> {
        self.lock().get(key).cloned()
    }

    /// Remembers what the verdict just cached for `key` was judged from (`None`: the discovery
    /// was incomplete, so nothing may stand for it).
    pub fn put(&self, key: &VerdictCacheKey, seen: Option<Seen>) {
        let mut m = self.lock();
        match seen {
            Some(s) => {
                if m.len() >= MAX_REMEMBERED && !m.contains_key(key) {
                    m.clear();
                }
                m.insert(key.clone(), s);
            }
            None => {
                m.remove(key);
            }
        }
    }

    /// Forgets `key` (its verdict could not be told again).
    pub fn forget(&self, key: &VerdictCacheKey) {
        self.lock().remove(key);
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VerdictCacheKey, Seen>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> VerdictCacheKey {
        VerdictCacheKey {
            registry: "r.example".into(),
            repository: "app".into(),
            digest: format!("sha256:{n:064x}"),
            policy_fingerprint: "sha256:p".into(),
            trust_root_fingerprint: "sha256:t".into(),
        }
    }

    #[test]
    fn what_a_key_was_judged_from_is_kept_for_that_key_only() {
        let r = Remembered::default();
        r.put(&key(1), Some(Seen::example(1)));
        assert_eq!(r.get(&key(1)), Some(Seen::example(1)));
        let mut new_policy = key(1);
        new_policy.policy_fingerprint = "sha256:q".into();
        assert_eq!(
            r.get(&new_policy),
            None,
            "a policy change has nothing remembered"
        );
        // An incomplete discovery replaces what was remembered with nothing.
        r.put(&key(1), None);
        assert_eq!(r.get(&key(1)), None);
        r.put(&key(2), Some(Seen::example(2)));
        r.forget(&key(2));
        assert!(r.is_empty());
    }

    #[test]
    fn a_discovery_with_a_notation_signature_is_never_reused() {
        let mut d = Discovery {
            seen: Some(Seen::example(1)),
            ..Discovery::default()
        };
        assert_eq!(reusable(&d), Some(Seen::example(1)));
        d.notation.push(crate::registry::FoundNotation {
            location: crate::registry::SignatureLocation::ReferrersApi,
            manifest_digest: format!("sha256:{:064x}", 7),
            media_type: "application/jose+json".into(),
            envelope: b"{}".to_vec(),
            scope: "r.example/app".into(),
        });
        assert_eq!(
            reusable(&d),
            None,
            "a verdict judged as of its time is judged again"
        );
        d.notation.clear();
        d.seen = None;
        assert_eq!(reusable(&d), None, "an incomplete discovery neither");
    }

    #[test]
    fn it_is_bounded() {
        let r = Remembered::default();
        for n in 0..(MAX_REMEMBERED + 5) {
            r.put(&key(n), Some(Seen::example(1)));
        }
        assert!(r.len() <= MAX_REMEMBERED);
        assert!(
            r.get(&key(MAX_REMEMBERED + 4)).is_some(),
            "the newest is kept"
        );
    }
}
