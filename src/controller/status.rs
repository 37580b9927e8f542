//! Builds the `SourceAudit` status from what a reconcile found.
//!
//! A local adapter until `audit::compute_status` lands (helper-4 is writing it, pure, in
//! `src/audit`): the shape of [`Outcome`] is what the reconcile shell can provide, so switching
//! over means replacing [`compute`]'s body with a call. Kept pure for the same reason.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::source_audit::{
    CiClaimsStatus, CompatibilityNote, SignatureStatus, SignerStatus, SuggestedVerifyStatus,
    TlogStatus,
};
use crate::api::{AuditedSource, OidcIdentity, SourceAuditStatus, SourceReady, VerdictCacheKey};
use crate::audit::decide::Decision;
use crate::audit::enforced::{enforced, flux_agrees};
use crate::audit::source::FluxSource;
use crate::engine::suggest::SuggestedVerify;
use crate::engine::{Evaluation, SignatureEvidence, Verdict};
use crate::vocabulary::{self as vocab, types, Judgement, Status};

/// What the reconcile found for the source's current revision.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Signatures were judged (freshly, or the cached evaluation for the same key).
    Evaluated {
        /// The digest verified.
        digest: String,
        /// The combined evaluation.
        evaluation: Evaluation,
        /// The verdict-cache key it was computed for.
        key: VerdictCacheKey,
        /// Whether the registry was asked (sets `lastVerifiedTime`).
        fresh: bool,
    },
    /// The previous status still holds for this key (restart: cache rebuilt from the status).
    Unchanged,
    /// Could not tell: `Verified=Unknown`; the previous evidence is kept.
    Unknown {
        /// The `Verified=Unknown` judgement.
        judgement: Judgement,
        /// The digest, when it was known.
        digest: Option<String>,
    },
}

/// The new status, given the previous one (whose evidence an `Unknown` keeps).
pub fn compute(
    source: &FluxSource,
    decision: &Decision,
    outcome: &Outcome,
    previous: Option<&SourceAuditStatus>,
    audit_generation: Option<i64>,
    now: &Time,
) -> SourceAuditStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let (verified, signatures): (Judgement, &[SignatureEvidence]) = match outcome {
        Outcome::Evaluated {
            digest,
            evaluation,
            key,
            fresh,
        } => {
            status.digest = Some(digest.clone());
            status.signatures = evaluation.signatures.iter().map(signature_status).collect();
            status.signer = deciding_signer(evaluation);
            status.suggested_verify =
                SuggestedVerify::from_evidence(&evaluation.signatures).map(|s| suggested(&s));
            status.flux_compatibility = evaluation
                .flux_compatibility
                .iter()
                .map(|n| CompatibilityNote {
                    code: n.code.to_string(),
                    message: n.message.clone(),
                })
                .collect();
            status.verdict_cache = Some(key.clone());
            if *fresh || status.last_verified_time.is_none() {
                status.last_verified_time = Some(now.clone());
            }
            (
                vocab::verified(evaluation.verdict, evaluation.message.clone()),
                &evaluation.signatures,
            )
        }
        Outcome::Unchanged => {
            let v = previous
                .and_then(|p| condition(p, types::VERIFIED))
                .map(|c| {
                    (
                        Status::parse(&c.status),
                        c.reason.clone(),
                        c.message.clone(),
                    )
                });
            let (st, reason, message) =
                v.unwrap_or((Status::Unknown, String::new(), String::new()));
            let reason = vocab::REASONS[0]
                .1
                .iter()
                .find(|r| **r == reason)
                .copied()
                .unwrap_or(vocab::reasons::PROGRESSING);
            (Judgement::new(st, reason, message), &[])
        }
        Outcome::Unknown { judgement, digest } => {
            if status.digest.is_none() {
                status.digest = digest.clone();
            }
            (judgement.clone(), &[])
        }
    };
    status.source = Some(AuditedSource {
        kind: source.kind,
        name: source.name.clone(),
        url: (!source.url.is_empty()).then(|| source.url.clone()),
    });
    status.flux_revision = source.artifact_revision.clone();
    status.policies = decision.names();
    status.observed_generation = audit_generation;
    status.source_ready = source_ready(source, previous);
    let ready = if verified.status == Status::Unknown {
        vocab::progressing(format!("audit incomplete: {}", verified.reason))
    } else {
        vocab::ready(format!(
            "audited revision {}",
            status.flux_revision.clone().unwrap_or_default()
        ))
    };
    let new = [
        (types::VERIFIED, verified.clone()),
        (types::ENFORCED, enforced(source, decision, signatures)),
        (types::FLUX_AGREES, flux_agrees(source, verified.status)),
        (types::READY, ready),
    ];
    let old = status.conditions.clone();
    status.conditions = new
        .iter()
        .map(|(t, j)| {
            let mut c = j.condition(t, audit_generation, now);
            // lastTransitionTime moves only when the status does (Kubernetes convention).
            if let Some(prev) = old.iter().find(|p| p.type_ == *t && p.status == c.status) {
                c.last_transition_time = prev.last_transition_time.clone();
            }
            c
        })
        .collect();
    status
}

/// A condition of a status, by type.
pub fn condition<'a>(s: &'a SourceAuditStatus, type_: &str) -> Option<&'a Condition> {
    s.conditions.iter().find(|c| c.type_ == type_)
}

fn source_ready(source: &FluxSource, previous: Option<&SourceAuditStatus>) -> Option<SourceReady> {
    let ready = source.ready.as_ref()?;
    let prev = previous.and_then(|p| p.source_ready.as_ref());
    let since = ready
        .last_transition_time
        .as_deref()
        .and_then(|t| t.parse().ok())
        .map(Time);
    let transitions = match prev {
        Some(p) if p.status != ready.status => p.transitions + 1,
        Some(p) => p.transitions,
        None => 0,
    };
    Some(SourceReady {
        status: ready.status.clone(),
        since,
        transitions,
    })
}

fn deciding_signer(e: &Evaluation) -> Option<String> {
    e.signatures
        .iter()
        .find(|s| s.verdict == e.verdict)
        .or_else(|| {
            e.signatures
                .iter()
                .find(|s| s.verdict != Verdict::SignatureInvalid)
        })
        .map(|s| s.signer.describe())
}

fn signature_status(s: &SignatureEvidence) -> SignatureStatus {
    SignatureStatus {
        format: match s.format {
            crate::engine::SignatureFormat::Bundle => "bundle".into(),
            crate::engine::SignatureFormat::Legacy => "legacy".into(),
        },
        location: s.location.to_string(),
        signer: SignerStatus {
            subject: s.signer.subject.clone(),
            issuer: s.signer.issuer.clone(),
            key_fingerprint: s.signer.key_fingerprint.clone(),
            key_hint: s.signer.key_hint.clone(),
        },
        ci: s.ci.as_ref().map(|c| CiClaimsStatus {
            source_repository: c.source_repository.clone(),
            source_repository_ref: c.source_repository_ref.clone(),
            source_repository_digest: c.source_repository_digest.clone(),
            workflow: c.workflow.clone(),
            trigger: c.trigger.clone(),
            run_invocation_uri: c.run_invocation_uri.clone(),
        }),
        tlog: s.tlog.as_ref().map(|t| TlogStatus {
            log_index: i64::try_from(t.log_index).unwrap_or(i64::MAX),
            integrated_time: t.integrated_time.clone(),
        }),
        verdict: s.verdict.as_str().to_string(),
        message: s.message.clone(),
    }
}

fn suggested(s: &SuggestedVerify) -> SuggestedVerifyStatus {
    SuggestedVerifyStatus {
        provider: s.provider.to_string(),
        match_oidc_identity: s
            .match_oidc_identity
            .iter()
            .map(|i| OidcIdentity {
                issuer: i.issuer.clone(),
                subject: i.subject.clone(),
            })
            .collect(),
        key_fingerprint: s.key_fingerprint.clone(),
        yaml: s.to_yaml(),
    }
}
