//! What one discovery may spend, and on whose behalf: its byte budget (every manifest, index and
//! blob it reads is charged here, so a hostile registry cannot make one artifact cost 64
//! bundles × 16 MiB plus as many payloads), and the [`Call`] its requests are made for (their
//! purpose, a metric label, and whether the host's request budget may refuse them).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Why a registry request is made (the `purpose` label of the request metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Reading signatures: a first check, or a re-check that found something changed.
    Discover,
    /// Asking whether what a verdict was judged from changed (HEADs, the referrers listing).
    Recheck,
    /// Reading the legacy `.att` attestation tag.
    Attestation,
    /// Resolving a tag to a digest (a HelmChart's version).
    Resolve,
}

impl Purpose {
    /// Every purpose (a bounded label set).
    pub const ALL: [Purpose; 4] = [
        Purpose::Discover,
        Purpose::Recheck,
        Purpose::Attestation,
        Purpose::Resolve,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Discover => "discover",
            Purpose::Recheck => "recheck",
            Purpose::Attestation => "attestation",
            Purpose::Resolve => "resolve",
        }
    }
}

/// On whose behalf requests are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    /// What for.
    pub(crate) purpose: Purpose,
    /// A re-check of a verdict already given: its manifest GETs may be refused by the host's
    /// request budget (the verdict is then kept, as overdue). A first check never is.
    pub(crate) deferrable: bool,
}

impl Call {
    /// A first check's requests (never refused by a budget).
    pub(crate) const DISCOVER: Call = Call {
        purpose: Purpose::Discover,
        deferrable: false,
    };
}

/// Bytes a discovery may still read, shared by its concurrent reads (and by views of it made
/// for another purpose, [`Budget::for_purpose`]); never goes below zero.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    total: u64,
    left: Arc<AtomicU64>,
    call: Call,
    /// Manifest GETs made under this budget (all views): what the discovery cost.
    manifest_gets: Arc<AtomicU32>,
}

impl Budget {
    /// A budget of `total` bytes for a first check's requests.
    pub(crate) fn new(total: usize) -> Self {
        Budget::with_call(total, Call::DISCOVER)
    }

    /// A budget of `total` bytes for requests made for `call`.
    pub(crate) fn with_call(total: usize, call: Call) -> Self {
        Budget {
            total: total as u64,
            left: Arc::new(AtomicU64::new(total as u64)),
            call,
            manifest_gets: Arc::default(),
        }
    }

    /// A budget that never runs out (reads outside a discovery, e.g. resolving a tag).
    pub(crate) fn unlimited() -> Self {
        Budget::new(usize::MAX)
    }

    /// The same bytes, spent for another purpose (the `.att` reads of a discovery).
    pub(crate) fn for_purpose(&self, purpose: Purpose) -> Self {
        Budget {
            call: Call {
                purpose,
                ..self.call
            },
            ..self.clone()
        }
    }

    /// What its requests are made for.
    pub(crate) fn call(&self) -> Call {
        self.call
    }

    /// Counts a manifest GET made under this budget.
    pub(crate) fn count_manifest_get(&self) {
        self.manifest_gets.fetch_add(1, Ordering::Relaxed);
    }

    /// Manifest GETs made under this budget so far.
    pub(crate) fn manifest_gets(&self) -> u32 {
        self.manifest_gets.load(Ordering::Relaxed)
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

    #[test]
    fn a_view_for_another_purpose_spends_the_same_bytes() {
        let b = Budget::new(10);
        let att = b.for_purpose(Purpose::Attestation);
        assert!(att.take(7));
        assert_eq!(b.left(), 3);
        assert_eq!(att.call().purpose, Purpose::Attestation);
        assert_eq!(b.call(), Call::DISCOVER);
        let labels: std::collections::BTreeSet<_> =
            Purpose::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(labels.len(), Purpose::ALL.len());
    }
}
