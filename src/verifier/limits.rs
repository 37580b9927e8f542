//! Per-registry concurrency limits: on top of the global bound on verifications, no single
//! registry gets more than N discoveries at once, so one slow or rate-limiting registry cannot
//! take every verification slot, and a large fleet does not hammer one registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A semaphore per key (registry host), created on first use.
pub struct PerKeyLimiter {
    per_key: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PerKeyLimiter {
    /// At most `per_key` (at least 1) holders per key.
    pub fn new(per_key: usize) -> Self {
        Self {
            per_key: per_key.max(1),
            semaphores: Mutex::default(),
        }
    }

    /// Waits for a slot for `key`; the slot is released when the permit is dropped.
    pub async fn acquire(&self, key: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut map = self.semaphores.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_key)))
                .clone()
        };
        // The semaphore is never closed, so acquiring cannot fail.
        semaphore
            .acquire_owned()
            .await
            .expect("per-registry semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_busy_registry_waits_while_another_proceeds() {
        let limits = PerKeyLimiter::new(2);
        let _a1 = limits.acquire("slow.example").await;
        let _a2 = limits.acquire("slow.example").await;
        // A third slot on the same registry must wait…
        let third =
            tokio::time::timeout(Duration::from_millis(100), limits.acquire("slow.example")).await;
        assert!(
            third.is_err(),
            "a third concurrent discovery on one registry must wait"
        );
        // …while another registry is not held up.
        let other =
            tokio::time::timeout(Duration::from_secs(5), limits.acquire("fast.example")).await;
        assert!(other.is_ok());
    }

    #[tokio::test]
    async fn a_released_slot_is_reused() {
        let limits = PerKeyLimiter::new(1);
        let first = limits.acquire("r").await;
        drop(first);
        let again = tokio::time::timeout(Duration::from_secs(5), limits.acquire("r")).await;
        assert!(again.is_ok());
    }
}
