//! The byte budget of one discovery: every manifest, index and blob it reads is charged here, so
//! a hostile registry cannot make one artifact cost 64 bundles × 16 MiB plus as many payloads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes a discovery may still read. Shared by its concurrent reads; never goes below zero.
#[derive(Debug)]
pub(crate) struct Budget {
    total: u64,
    left: AtomicU64,
}

impl Budget {
    /// A budget of `total` bytes.
    pub(crate) fn new(total: usize) -> Self {
        Budget {
            total: total as u64,
            left: AtomicU64::new(total as u64),
        }
    }

    /// A budget that never runs out (reads outside a discovery, e.g. resolving a tag).
    pub(crate) fn unlimited() -> Self {
        Budget::new(usize::MAX)
    }

    /// The whole budget, for messages.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Bytes still available.
    pub(crate) fn left(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }

    /// Charges `n` bytes; false (and nothing charged) when fewer than `n` are left.
    pub(crate) fn take(&self, n: usize) -> bool {
        let n = n as u64;
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_until_spent_and_never_overdraws() {
        let b = Budget::new(10);
        assert!(b.take(4) && b.take(6));
        assert!(!b.take(1));
        assert_eq!(b.left(), 0);
        let b = Budget::new(10);
        assert!(!b.take(11));
        assert_eq!(b.left(), 10, "a refused charge takes nothing");
        assert!(Budget::unlimited().take(usize::MAX / 2));
    }
}
