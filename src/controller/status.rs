//! From what a reconcile found to the `SourceAudit` status: maps the shell's owned [`Outcome`]
//! onto the pure `audit::status::compute_status`, which owns every status rule (evidence kept
//! on Unknown, kstatus transition times, Enforced, FluxAgrees).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{SourceAuditStatus, SourceKind, VerdictCacheKey};
use crate::audit::decide::Decision;
use crate::audit::source::FluxSource;
use crate::audit::status::{self as pure, compute_status, helm_digest_note, AuditInput};
use crate::engine::Evaluation;
use crate::vocabulary::Judgement;

/// What the reconcile found for the source's current revision.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Signatures were judged: freshly, or the in-memory cached evaluation for the same key
    /// (always recomputed into the status: another source sharing the key may have re-checked
    /// it since this status was written).
    Evaluated {
        /// The digest verified.
        digest: String,
        /// The combined evaluation.
        evaluation: Evaluation,
        /// The verdict-cache key it was computed for.
        key: VerdictCacheKey,
        /// When the registry was asked (`status.lastVerifiedTime`).
        checked: Time,
    },
    /// The previous (sealed) status still holds for this key and its re-check is not due (after
    /// a restart the status is the cache).
    Unchanged,
    /// Could not tell: `Verified=Unknown`; the previous evidence is kept.
    Unknown {
        /// The `Verified=Unknown` judgement.
        judgement: Judgement,
        /// The digest, when it was known.
        digest: Option<String>,
    },
}

/// Where the artifact is, for the status: the source URL, or for a chart the tag resolved.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// `oci://host/repo` or `oci://host/repo/chart:version`.
    pub url: Option<String>,
    /// For a HelmChart, the resolved reference (its digest is not recorded by Flux).
    pub chart_reference: Option<String>,
}

/// The new status, given the previous one.
pub fn compute(
    source: &FluxSource,
    decision: &Decision,
    outcome: &Outcome,
    location: &Location,
    previous: Option<&SourceAuditStatus>,
    audit_generation: Option<i64>,
    now: &Time,
) -> SourceAuditStatus {
    // An evaluation that could not decide (a discovery cut short: a listed signature object
    // unreadable, wrong bytes for its digest, the byte budget spent) is a failed check like a
    // registry error, so the last verification's evidence stays in the status.
    let undecided = match outcome {
        Outcome::Evaluated { evaluation, .. } if evaluation.verdict.is_indeterminate() => Some(
            crate::vocabulary::verified(evaluation.verdict, evaluation.message.clone()),
        ),
        _ => None,
    };
    let outcome = match (outcome, &undecided) {
        (Outcome::Evaluated { digest, .. }, Some(j)) => pure::Outcome::Failed {
            digest: Some(digest.as_str()),
            reason: j.reason,
            message: j.message.clone(),
        },
        (
            Outcome::Evaluated {
                digest, evaluation, ..
            },
            None,
        ) => pure::Outcome::Evaluated { digest, evaluation },
        (Outcome::Unchanged, _) => pure::Outcome::Cached,
        (Outcome::Unknown { judgement, digest }, _) => pure::Outcome::Failed {
            digest: digest.as_deref(),
            reason: judgement.reason,
            message: judgement.message.clone(),
        },
    };
    let url = location.url.clone().or_else(|| match source.kind {
        SourceKind::OciRepository => Some(source.url.clone()),
        SourceKind::HelmChart => None,
    });
    compute_status(
        previous,
        &AuditInput {
            source,
            url,
            digest_note: location.chart_reference.as_deref().map(helm_digest_note),
            decision,
            outcome,
            generation: audit_generation,
            now,
        },
    )
}

/// A condition of a status, by type.
pub fn condition<'a>(s: &'a SourceAuditStatus, type_: &str) -> Option<&'a Condition> {
    s.conditions.iter().find(|c| c.type_ == type_)
}
