//! Concurrency limits of verifications: a global bound, and per registry no more than N
//! discoveries at once, so a large fleet does not hammer one registry.
//!
//! The per-registry slot is taken *before* the global one ([`Limits::acquire`]): a verification
//! waiting for a slow or hung registry then waits without holding a global slot, so one registry
//! can hold at most its own N global slots and never every one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The global and per-registry bounds on verifications running at once.
pub struct Limits {
    global: Semaphore,
    per_registry: PerKeyLimiter,
}

impl Limits {
    /// At most `global` verifications at once, at most `per_registry` of them against one
    /// registry (each at least 1).
    pub fn new(global: usize, per_registry: usize) -> Self {
        Self {
            global: Semaphore::new(global.max(1)),
            per_registry: PerKeyLimiter::new(per_registry),
        }
    }

    /// Waits for a slot on `registry`, then for a global one.
    pub async fn acquire(
        &self,
        registry: &str,
    ) -> (OwnedSemaphorePermit, tokio::sync::SemaphorePermit<'_>) {
        let registry = self.per_registry.acquire(registry).await;
        // The semaphore is never closed, so acquiring cannot fail.
        let global = self
            .global
            .acquire()
            .await
            .expect("the global semaphore is never closed");
        (registry, global)
    }
}

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

    /// Issue 9 item 15: verifications queued on a hung registry must not hold global slots.
    #[tokio::test]
    async fn a_hung_registry_does_not_delay_a_healthy_one() {
        let limits = std::sync::Arc::new(Limits::new(4, 2));
        // Six verifications against a registry that never answers: two run (and hang), four
        // wait for its per-registry slots.
        let hung: Vec<_> = (0..6)
            .map(|_| {
                let limits = limits.clone();
                tokio::spawn(async move {
                    let _permits = limits.acquire("hung.example").await;
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        // Let every hung verification reach its wait.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let healthy =
            tokio::time::timeout(Duration::from_secs(5), limits.acquire("healthy.example")).await;
        assert!(
            healthy.is_ok(),
            "a healthy registry waited behind a hung one for a global slot"
        );
        for h in hung {
            h.abort();
        }
    }

    #[tokio::test]
    async fn the_global_bound_still_holds_across_registries() {
        let limits = Limits::new(2, 2);
        let _a = limits.acquire("a.example").await;
        let _b = limits.acquire("b.example").await;
        let third =
            tokio::time::timeout(Duration::from_millis(100), limits.acquire("c.example")).await;
        assert!(
            third.is_err(),
            "a third verification must wait for a global slot"
        );
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
