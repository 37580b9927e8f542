//! Registry tokens (and the AWS identity credentials they are made with) from the cloud, kept
//! until shortly before they expire: one fetch per key at a time (concurrent audits of sources
//! on one registry wait for the same token), and a token whose expiry is unknown or already
//! past used once and never kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::error::CloudError;
use super::identity::RegistryToken;

/// Above this many keys (registries) the cache starts over.
const MAX_KEYS: usize = 256;
/// A token is renewed when this share of its lifetime is left …
const RENEW_SHARE: u32 = 10;
/// … but at least this long and at most that long before it expires.
const MIN_SLACK: Duration = Duration::from_secs(10);
const MAX_SLACK: Duration = Duration::from_secs(300);

type Slot<T> = Arc<tokio::sync::Mutex<Option<(T, Instant)>>>;

/// A credential that says when it expires (`None`: unknown).
pub(super) trait Expiring: Clone {
    /// When the cloud says it expires.
    fn expires(&self) -> Option<SystemTime>;
}

impl Expiring for RegistryToken {
    fn expires(&self) -> Option<SystemTime> {
        self.expires
    }
}

pub(super) struct TokenCache<T = RegistryToken> {
    slots: Mutex<HashMap<String, Slot<T>>>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        TokenCache {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Expiring> TokenCache<T> {
    /// The token for `key`, from the cache while it is fresh, else from `fetch`.
    pub(super) async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Result<T, CloudError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, CloudError>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() >= MAX_KEYS && !slots.contains_key(key) {
                slots.clear();
            }
            slots.entry(key.to_string()).or_default().clone()
        };
        let mut held = slot.lock().await;
        if let Some((token, until)) = held.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        *held = None;
        let token = fetch().await?;
        if let Some(until) = keep_until(token.expires(), SystemTime::now(), Instant::now()) {
            *held = Some((token.clone(), until));
        }
        Ok(token)
    }
}

/// Until when a token expiring at `expires` may be reused, seen at `now`: `None` when it must
/// not be kept at all.
pub(super) fn keep_until(
    expires: Option<SystemTime>,
    now: SystemTime,
    now_instant: Instant,
) -> Option<Instant> {
    let lifetime = expires?.duration_since(now).ok()?;
    let slack = (lifetime / RENEW_SHARE).clamp(MIN_SLACK, MAX_SLACK);
    let keep = lifetime.checked_sub(slack)?;
    (!keep.is_zero()).then(|| now_instant + keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn token(expires: Option<SystemTime>) -> RegistryToken {
        RegistryToken {
            username: "u".into(),
            password: "p".into(),
            expires,
        }
    }

    #[test]
    fn tokens_are_kept_until_shortly_before_they_expire() {
        let now = SystemTime::now();
        let i = Instant::now();
        let h = Duration::from_secs(3600);
        // 12 h (ECR): renewed 5 minutes before.
        assert_eq!(
            keep_until(Some(now + 12 * h), now, i),
            Some(i + 12 * h - MAX_SLACK)
        );
        // 1 h (GCP): 6 minutes is over the cap, so 5.
        assert_eq!(keep_until(Some(now + h), now, i), Some(i + h - MAX_SLACK));
        // 60 s: renewed 10 s before.
        assert_eq!(
            keep_until(Some(now + Duration::from_secs(60)), now, i),
            Some(i + Duration::from_secs(50))
        );
        // Too short, past or unknown: not kept.
        assert_eq!(keep_until(Some(now + Duration::from_secs(5)), now, i), None);
        assert_eq!(keep_until(Some(now - h), now, i), None);
        assert_eq!(keep_until(None, now, i), None);
    }

    #[tokio::test]
    async fn one_fetch_serves_every_caller_while_fresh_and_expired_tokens_are_fetched_again() {
        let cache: TokenCache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
        for _ in 0..3 {
            cache
                .get_or_fetch("a", || async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Ok(token(Some(in_an_hour)))
                })
                .await
                .unwrap();
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Already expired (moto's ECR tokens are): fetched every time.
        for _ in 0..2 {
            cache
                .get_or_fetch("b", || async {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    Ok(token(Some(SystemTime::UNIX_EPOCH)))
                })
                .await
                .unwrap();
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
        // A failed fetch is not kept either.
        let err = cache
            .get_or_fetch("c", || async {
                Err(CloudError::NoIdentity {
                    provider: super::super::error::Provider::Gcp,
                    detail: "x".into(),
                })
            })
            .await;
        assert!(err.is_err());
        let ok = cache
            .get_or_fetch("c", || async { Ok(token(Some(in_an_hour))) })
            .await;
        assert!(ok.is_ok());
    }
}
