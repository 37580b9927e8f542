//! What one verification found for a source ([`Found`]): the outcome, and when the source must
//! be audited again.

use std::time::Duration;

use crate::audit::status::Outcome;

/// What `Verifier::find` ([`super::pipeline`]) found: an outcome, with when to audit the
/// source again if it must be sooner than the resync; or a re-check waiting for its turn.
pub enum Found {
    /// An outcome; the source is audited again at the resync (or on its failure backoff).
    Outcome(Outcome),
    /// An outcome, and when to audit again (its verdict's re-check, or a registry's pause).
    Scheduled(Outcome, Duration),
    /// Its turn on the registry comes in this long ([`super::pacing::Pacer`]): nothing changes
    /// until then.
    Deferred(Duration),
}

impl Found {
    /// The outcome and when to audit again (a deferral: unchanged, at its turn).
    pub fn split(self) -> (Outcome, Option<Duration>) {
        match self {
            Found::Outcome(o) => (o, None),
            Found::Scheduled(o, due) => (o, Some(due)),
            Found::Deferred(wait) => (Outcome::Unchanged, Some(wait)),
        }
    }
}
