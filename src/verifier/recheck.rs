//! A due verdict re-checked cheaply, and what a paused registry means for a verdict: the steps
//! of [`super::pipeline`]'s `find` between "the verdict is due" and "read everything".
//!
//! - A verdict this source already has (its sealed status holds a verdict for this digest) is a
//!   *re-check*: it waits for its turn on its registry ([`super::pacing::Pacer`]) and for room
//!   in the registry's request budget; anything else is a first check, which goes first.
//! - A due verdict whose discovery is remembered ([`super::remembered`]) is re-checked with
//!   [`RegistryClient::recheck`]: unchanged, the cached evaluation (judged from exactly those
//!   bytes, under the same key) is checked again as of now; changed, everything is read again.
//! - A registry that asked us to back off is `Unknown/RegistryUnavailable` until its pause ends
//!   (the message says until when), and the source is audited again then. A re-check its
//!   budget cannot afford is `Unknown/RecheckOverdue`: the status keeps the last verdict's
//!   evidence and `lastVerifiedTime`, no longer vouched for, until the budget has room again.
//!   `Verified=True` thus always means "checked within its interval"; an overdue verdict is
//!   reported like an outage, not re-used silently (fail closed).

use std::time::{Duration, Instant, SystemTime};

use super::cache::Entry;
use super::found::Found;
use super::mode::Verifier;
use crate::api::{SourceAuditStatus, VerdictCacheKey};
use crate::audit::status::Outcome;
use crate::cluster::{self, time};
use crate::engine::registry_verdict;
use crate::registry::{
    DiscoverOptions, ImageRef, PauseCause, Recheck, RegistryClient, RegistryError,
};
use crate::vocabulary::{self as vocab, reasons};

/// What a full read of a repository's signatures is expected to cost in manifest GETs when the
/// last one is not remembered (the referrers tag, one referrer, the `.sig` tag).
const EXPECTED_MANIFEST_GETS: u32 = 3;

/// Whether judging `digest` re-checks a verdict the source already has (its sealed previous
/// status gave one for this digest), rather than checking it for the first time.
pub fn is_recheck(previous: Option<&SourceAuditStatus>, digest: &str) -> bool {
    previous.is_some_and(|p| p.digest.as_deref() == Some(digest) && p.last_verified_time.is_some())
}

impl Verifier {
    /// `Some(wait)` when the re-check of `key` must wait for its turn on its registry.
    pub(super) fn paced(&self, image: &ImageRef, key: &VerdictCacheKey) -> Option<Duration> {
        let wait = self.pacer.admit(&image.registry, key, Instant::now());
        if wait.is_some() {
            self.recheck_metric("paced");
        }
        wait
    }

    /// The due verdict `due` of `key` re-checked against what it was judged from: `Some` when
    /// that settles it (unchanged, a fault, or no budget for reading everything again), `None`
    /// when everything must be read.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn recheck_due(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &str,
        key: &VerdictCacheKey,
        due: Option<Entry>,
        options: DiscoverOptions,
        started: Instant,
    ) -> Option<Found> {
        let remembered = self.remembered.get(key);
        if let (Some(entry), Some(seen)) = (due, remembered.as_ref()) {
            let asked = client
                .recheck(&image.registry, &image.repository, digest, seen, options)
                .await;
            match asked {
                Ok(Recheck::Unchanged) => {
                    self.recheck_metric("unchanged");
                    self.verification(entry.evaluation.verdict, started);
                    let checked = cluster::now().0.as_second();
                    let entry = self.cache.insert(key.clone(), entry.evaluation, checked);
                    let due = entry.due_in(key, checked, self.cache.intervals());
                    let outcome = Outcome::Evaluated {
                        digest: digest.to_string(),
                        evaluation: entry.evaluation,
                        key: key.clone(),
                        checked: time(checked),
                    };
                    return Some(Found::Scheduled(outcome, due));
                }
                Ok(Recheck::Changed(what)) => {
                    self.recheck_metric("changed");
                    tracing::debug!(artifact = %image, digest, what, "re-check: changed, reading everything");
                }
                Err(e) => {
                    self.recheck_metric("failed");
                    return Some(self.failed(&e, digest, started));
                }
            }
        }
        if !options.within_budget {
            return None;
        }
        let expected = remembered.map_or(EXPECTED_MANIFEST_GETS, |s| s.manifest_gets);
        let throttle = &client.options().throttle;
        match throttle.admits(&image.registry, expected, Instant::now()) {
            Ok(()) => None,
            Err(e) => Some(self.failed(&e, digest, started)),
        }
    }

    /// What a registry error means for the verdict (see the module docs); a pause is audited
    /// again when it ends.
    pub(super) fn failed(&self, e: &RegistryError, digest: &str, started: Instant) -> Found {
        let unknown = |judgement| Outcome::Unknown {
            judgement,
            digest: Some(digest.to_string()),
        };
        match e {
            RegistryError::Paused { cause, until, .. } => {
                let wait = until
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                let judgement = match cause {
                    PauseCause::Budget => {
                        self.recheck_metric("overdue");
                        vocab::verified_unknown(
                            reasons::RECHECK_OVERDUE,
                            format!("the re-check is overdue: {e}"),
                        )
                    }
                    PauseCause::BackOff => registry_verdict(e).judgement(e.to_string()),
                };
                // Nothing was asked: not a verification.
                Found::Scheduled(unknown(judgement), wait)
            }
            e => {
                let verdict = registry_verdict(e);
                self.verification(verdict, started);
                Found::Outcome(unknown(verdict.judgement(e.to_string())))
            }
        }
    }

    fn recheck_metric(&self, result: &'static str) {
        if let Some(w) = self.watched() {
            w.metrics.recheck(result);
        }
    }
}

#[cfg(test)]
#[path = "recheck_tests.rs"]
mod tests;
