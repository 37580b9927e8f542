//! The data of the Secrets audits read, kept between audits while it is known to be current,
//! so that an audit no longer costs one GET per Secret it needs (at start-up, every source
//! reads the same policy Secrets; at steady state, every no-op reconcile re-read them).
//!
//! The controller may only `get` Secrets by name (see `controller::secret_poll` for why: no
//! list, no watch), so nothing pushes changes. Instead an entry is usable only while it was
//! *confirmed* within a TTL: `--secret-poll-interval` (the bound the controller already promises
//! for reflecting a Secret change), or the resync when shorter (which re-read every Secret before
//! this cache, so a short resync still picks a change up within about two resyncs):
//!
//! - a quorum GET confirms what it returned as of the instant the GET *started*;
//! - the Secret poller, which reads every named Secret's `resourceVersion` once per interval,
//!   confirms an entry of the same version as of the instant its read started, and drops one of
//!   another version (or presence against absence) before it triggers the re-audits, so those
//!   re-audits GET the new data.
//!
//! The race this guards against: an audit's GET returns version V1, meanwhile the poller sees V2
//! and drops the entry, then the audit inserts V1. The poller's last observation of each key
//! (version, and the instant it was *recorded*, after its answer arrived) is kept, and an insert
//! is refused when the poller recorded another version after the GET started.
//!
//! Staleness: a Secret changed just before a poll read it from the API server's watch cache
//! (which may lag etcd by a moment) can be confirmed at its old version; the next poll sees the
//! new one, drops the entry and re-audits its users, as the poller alone already did. A Secret
//! the poller does not read (a HelmRepository's pull Secret) is re-read at most one TTL after
//! the GET that cached it. A TTL of zero (polling off) caches nothing: every read is a GET, as
//! is every read of `provenance-auditor audit`, which has no cache.
//!
//! Secret data is never logged: `Debug` prints counts only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `(namespace, name)` of a Secret.
pub type SecretKey = (String, String);

/// A Secret's data, by key.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// What a GET found: `None` for a Secret that does not exist (404), else its `resourceVersion`
/// and data.
pub type Found = Option<(String, Arc<SecretData>)>;

/// One Secret as last read.
struct Entry {
    /// `None`: the Secret did not exist.
    found: Found,
    /// When the data was last known to be current.
    confirmed: Instant,
}

impl Entry {
    fn version(&self) -> Option<&str> {
        self.found.as_ref().map(|(v, _)| v.as_str())
    }
}

/// What the poller last saw of a key.
struct Observation {
    /// `None`: absent.
    version: Option<String>,
    /// When that observation was recorded (its answer had arrived).
    recorded: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<SecretKey, Entry>,
    observed: HashMap<SecretKey, Observation>,
}

/// Secret data by `(namespace, name)`, usable while confirmed within the TTL (see the module).
pub struct SecretCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SecretCache {
    // By hand: the derived one would print the Secrets' data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("SecretCache")
            .field("ttl", &self.ttl)
            .field("entries", &inner.entries.len())
            .field("observed", &inner.observed.len())
            .finish()
    }
}

impl SecretCache {
    /// A cache whose entries are usable `ttl` after their last confirmation (the Secret poll
    /// interval; zero caches nothing).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::default(),
        }
    }

    /// The entry's data at `now` if confirmed within the TTL: `Some(None)` for a Secret known
    /// not to exist, `None` when it must be read.
    pub fn get(&self, key: &SecretKey, now: Instant) -> Option<Option<Arc<SecretData>>> {
        let inner = self.lock();
        let e = inner.entries.get(key)?;
        self.fresh(e.confirmed, now)
            .then(|| e.found.as_ref().map(|(_, d)| d.clone()))
    }

    /// Records what a quorum GET that started at `started` found. Refused (false) when the
    /// poller recorded another version since the GET started (the GET may predate a change the
    /// poller already acted on), or when the cache holds something confirmed later.
    pub fn insert(&self, key: SecretKey, started: Instant, found: Found) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut inner = self.lock();
        let version = found.as_ref().map(|(v, _)| v.as_str());
        if let Some(o) = inner.observed.get(&key) {
            if o.recorded >= started && o.version.as_deref() != version {
                return false;
            }
        }
        if let Some(e) = inner.entries.get_mut(&key) {
            if e.confirmed > started {
                // A later confirmation of the same version stands; of another, it is newer.
                return e.version() == version;
            }
        }
        inner.entries.insert(
            key,
            Entry {
                found,
                confirmed: started,
            },
        );
        true
    }

    /// The poller read `version` (`None`: absent) of `key` with a read that started at
    /// `started`, and recorded it at `now`: confirms an entry of that version, drops one of
    /// another.
    pub fn observe(
        &self,
        key: &SecretKey,
        version: Option<String>,
        started: Instant,
        now: Instant,
    ) {
        let mut inner = self.lock();
        match inner.entries.get_mut(key) {
            Some(e) if e.version() == version.as_deref() => {
                e.confirmed = e.confirmed.max(started);
            }
            Some(_) => {
                inner.entries.remove(key);
            }
            None => {}
        }
        inner.observed.insert(
            key.clone(),
            Observation {
                version,
                recorded: now,
            },
        );
    }

    /// The version the poller last saw of `key`: `None` when it has not read it (yet),
    /// `Some(None)` when it saw no such Secret.
    pub fn observed(&self, key: &SecretKey) -> Option<Option<String>> {
        self.lock().observed.get(key).map(|o| o.version.clone())
    }

    /// After a poll: forgets the observations of Secrets no longer `named`, and the entries no
    /// longer usable at `now` (the cache holds only what audits read recently).
    pub fn sweep(&self, named: &BTreeSet<SecretKey>, now: Instant) {
        let mut inner = self.lock();
        inner.observed.retain(|k, _| named.contains(k));
        let ttl = self.ttl;
        inner
            .entries
            .retain(|_, e| now.saturating_duration_since(e.confirmed) < ttl);
    }

    fn fresh(&self, confirmed: Instant, now: Instant) -> bool {
        now.saturating_duration_since(confirmed) < self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[path = "secret_cache_tests.rs"]
mod tests;
