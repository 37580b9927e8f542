//! What one registry answer yields, as the verdict cache and the re-check schedule see it:
//! the combined evaluation of a discovery under a decision (what the cache stores), its cache
//! key, whether a previous status may stand in for it, and whether an outcome is worth retrying.
//! Pure.

use std::time::Duration;

use super::cache::definite;
use super::pacing;
use super::schedule::Intervals;
use crate::api::{SourceAuditStatus, VerdictCacheKey};
use crate::audit::attested::attest;
use crate::audit::decide::{combine, Decision, TrustRootInput};
use crate::audit::status::Outcome;
use crate::engine::attest::cel::off_the_async_workers;
use crate::engine::{evaluate, Evaluation, TrustRoot, Verdict};
use crate::registry::{Discovery, ImageRef};
use crate::vocabulary::{reasons, types, Judgement, Status};

/// Whether `outcome` could not tell and may tell on a retry: not a source that is not ready or
/// a policy that is invalid (only a change makes those tell), nor a re-check overdue for its
/// registry's budget (audited again when the budget has room, not on the failure backoff), but
/// a registry or input fault, of either half of the verdict.
pub fn worth_retrying(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Unknown { judgement, .. } => ![
            reasons::ARTIFACT_NOT_READY,
            reasons::POLICY_INVALID,
            reasons::RECHECK_OVERDUE,
        ]
        .contains(&judgement.reason),
        Outcome::Evaluated { evaluation, .. } => !definite(evaluation),
        Outcome::Unchanged => false,
    }
}

/// The combined evaluation of `discovery` under `decision`: every policy's signature verdict,
/// then the attestations (from the same discovery). Pure but for the time it may take (the
/// attestations' CEL conditions run off the async workers); the verdict cache stores exactly
/// this. `Err` is the could-not-tell judgement of a trust root that does not load.
pub fn evaluate_discovery(
    discovery: &Discovery,
    digest: &str,
    decision: &Decision,
) -> Result<Evaluation, Judgement> {
    let mut evaluations = vec![];
    for (name, policy, root) in decision.to_evaluate() {
        let trust = match root {
            TrustRootInput::PublicGood => TrustRoot::public_good(),
            TrustRootInput::Json { secret, json } => TrustRoot::from_json(secret, json),
        };
        let trust = trust.map_err(|e| Verdict::TrustRootError.judgement(e.to_string()))?;
        evaluations.push((
            name.to_string(),
            evaluate(discovery, digest, policy, &trust),
        ));
    }
    let mut evaluation: Evaluation = combine(evaluations);
    // Attestation signatures and CEL conditions (which wait for their evaluator thread, up
    // to its deadline) run off the async workers.
    evaluation.attested = Some(Box::new(off_the_async_workers(|| {
        attest(discovery, digest, decision)
    })));
    Ok(evaluation)
}

/// The verdict-cache key of `digest` in `image`'s repository under `decision`.
pub fn cache_key(decision: &Decision, image: &ImageRef, digest: &str) -> VerdictCacheKey {
    VerdictCacheKey {
        registry: image.registry.clone(),
        repository: image.repository.clone(),
        ..decision.cache_key(digest)
    }
}

/// When a previous (authenticated) status may stand in for a registry check: a definite result
/// (`Verified` and `Attested` both known) for the same `key` whose re-check is not due at `now`.
/// Returns how long until it is. A status without an `Attested` condition (an older one) is
/// not definite.
pub fn still_fresh(
    previous: &SourceAuditStatus,
    key: &VerdictCacheKey,
    now: i64,
    intervals: Intervals,
) -> Option<Duration> {
    let verified = previous.condition(types::VERIFIED)?;
    let attested = previous.condition(types::ATTESTED)?;
    let unknown = Status::Unknown.as_str();
    if verified.status == unknown
        || attested.status == unknown
        || previous.verdict_cache.as_ref() != Some(key)
    {
        return None;
    }
    let checked = previous.last_verified_time.as_ref()?.0.as_second();
    // The result has held (at least) since the later of its two conditions last changed.
    let since = verified
        .last_transition_time
        .0
        .as_second()
        .max(attested.last_transition_time.0.as_second())
        .min(checked);
    let holds =
        verified.status == Status::True.as_str() && attested.status == Status::True.as_str();
    (!pacing::is_due(key, holds, since, checked, now, intervals))
        .then(|| pacing::due_in(key, holds, since, checked, now, intervals))
}

#[cfg(test)]
#[path = "cache_props_tests.rs"]
mod cache_props_tests;
