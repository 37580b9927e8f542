//! The `SourceAudit` status as plain data: from the previous status, the source, the policy
//! decision and the verification outcome. Applying it is the controller's job.
//!
//! Continuity rules: a could-not-tell outcome keeps the previous verdict's evidence (for the
//! same digest) so an outage never looks like "unsigned"; a condition's `lastTransitionTime`
//! moves only when its status changes (kstatus). Every field is then bounded ([`bounds`]):
//! registry content and a tenant-writable previous status are untrusted text.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::bounds;
use super::decide::Decision;
use super::enforced::{enforced_given_formats, flux_agrees};
use super::evidence;
use super::source::FluxSource;
use crate::api::{
    AuditedSource, LastVerdict, SourceAuditStatus, SourceKind, SourceReady, VerdictCacheKey,
};
use crate::engine::attest::built_from::first_built_from;
use crate::engine::Evaluation;
use crate::vocabulary::{self as vocab, types, Judgement, Status};

/// What verification produced for the source's current revision.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Signatures were judged: freshly, or the in-memory cached evaluation for the same key
    /// (always recomputed into the status: another source sharing the key may have re-checked
    /// it since this status was written). An evaluation that could not decide (a discovery cut
    /// short) is reported like a registry error: `Verified=Unknown`, the last evidence kept.
    Evaluated {
        /// The digest verified.
        digest: String,
        /// The combined evaluation.
        evaluation: Evaluation,
        /// The verdict-cache key it was computed for (`status.verdictCache`).
        key: VerdictCacheKey,
        /// When the registry was asked (`status.lastVerifiedTime`).
        checked: Time,
    },
    /// The previous (sealed) status still holds for this key and its re-check is not due (after
    /// a restart the status is the cache).
    Unchanged,
    /// Could not tell: `Verified=Unknown` (`RegistryUnavailable`, `PolicyInvalid`, …); the
    /// previous evidence for the same artifact is kept.
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
    /// The source is a chart from an HTTP Helm repository (judged by its `.prov`).
    pub http_chart: bool,
}

/// Everything the status is computed from, besides the previous status.
#[derive(Debug, Clone)]
pub struct AuditInput<'a> {
    /// The source as just read.
    pub source: &'a FluxSource,
    /// The policies applied.
    pub decision: &'a Decision,
    /// The verification outcome.
    pub outcome: &'a Outcome,
    /// Where the artifact is (a chart's resolved tag reference).
    pub location: &'a Location,
    /// The `SourceAudit`'s own generation.
    pub generation: Option<i64>,
    /// The time to stamp.
    pub now: &'a Time,
}

/// The note for a chart's digest, which Flux does not record.
pub fn helm_digest_note(reference: &str) -> String {
    format!("resolved by the auditor from {reference}; Flux resolves the tag itself and records only the version")
}

/// The condition of type `type_` saying `judgement`, its `lastTransitionTime` set to `now`
/// (moved back by [`compute`] while the status is unchanged).
pub fn condition(
    type_: &str,
    judgement: &Judgement,
    observed_generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: judgement.status.as_str().to_string(),
        reason: judgement.reason.to_string(),
        message: judgement.message.clone(),
        observed_generation,
        last_transition_time: now.clone(),
    }
}

/// The verification outcome as the status rules see it: an evaluation that could not decide
/// becomes a failure (see [`Outcome::Evaluated`]).
enum Judged<'a> {
    Evaluated {
        digest: &'a str,
        evaluation: &'a Evaluation,
    },
    Unchanged,
    Failed {
        digest: Option<&'a str>,
        judgement: Judgement,
    },
}

fn judged(outcome: &Outcome) -> Judged<'_> {
    match outcome {
        Outcome::Evaluated {
            digest, evaluation, ..
        } if evaluation.verdict.is_indeterminate() => Judged::Failed {
            digest: Some(digest),
            judgement: evaluation.verdict.judgement(evaluation.message.clone()),
        },
        Outcome::Evaluated {
            digest, evaluation, ..
        } => Judged::Evaluated { digest, evaluation },
        Outcome::Unchanged => Judged::Unchanged,
        Outcome::Unknown { judgement, digest } => Judged::Failed {
            digest: digest.as_deref(),
            judgement: judgement.clone(),
        },
    }
}

/// Computes the new status from the previous one.
pub fn compute(previous: Option<&SourceAuditStatus>, input: &AuditInput) -> SourceAuditStatus {
    let mut status = compute_judged(previous, input, judged(input.outcome));
    if let Outcome::Evaluated { key, checked, .. } = input.outcome {
        // The full key (with the repository) and when the registry was really asked: a
        // verdict from the in-memory cache is as old as its check, not as this audit.
        status.verdict_cache = Some(key.clone());
        status.last_verified_time = Some(checked.clone());
        bounds::bound_cache_key(&mut status);
    }
    status
}

fn compute_judged(
    previous: Option<&SourceAuditStatus>,
    input: &AuditInput,
    outcome: Judged,
) -> SourceAuditStatus {
    let source = input.source;
    let url = input.location.url.clone().or_else(|| match source.kind {
        SourceKind::OciRepository => Some(source.url.clone()),
        SourceKind::HelmChart => None,
    });
    let digest_note = input
        .location
        .chart_reference
        .as_deref()
        .map(helm_digest_note);
    let empty = SourceAuditStatus::default();
    let prev = previous.unwrap_or(&empty);
    let mut status = SourceAuditStatus {
        source: Some(AuditedSource {
            kind: source.kind,
            name: source.name.clone(),
            url,
        }),
        flux_revision: source.artifact_revision.clone(),
        source_generation: source.generation,
        digest_note,
        policies: input.decision.names(),
        observed_generation: input.generation,
        source_ready: Some(source_ready(prev.source_ready.as_ref(), source, input.now)),
        ..SourceAuditStatus::default()
    };
    let (verified, attested) = match outcome {
        Judged::Evaluated { digest, evaluation } => {
            status.digest = Some(digest.to_string());
            status.signer = evidence::decisive_signer(evaluation);
            (status.signatures, status.signatures_omitted) =
                evidence::listed_signatures(evaluation);
            status.suggested_verify = evidence::suggestion(evaluation);
            status.flux_compatibility = evaluation
                .flux_compatibility
                .iter()
                .map(evidence::note)
                .collect();
            status.last_verified_time = Some(input.now.clone());
            status.verdict_cache = Some(input.decision.cache_key(digest));
            let attested = match &evaluation.attested {
                Some(a) => {
                    (status.attestations, status.attestations_omitted) =
                        evidence::listed_attestations(&a.evidence);
                    // Only from attestations verified under an identity: under a source's own
                    // any-signer `spec.verify` anyone could have written the provenance.
                    let named = input
                        .decision
                        .to_evaluate()
                        .first()
                        .is_some_and(|(_, p, _)| p.names_a_signer());
                    status.built_from = named.then(|| first_built_from(&a.evidence)).flatten();
                    a.judgement.clone()
                }
                None => not_judged(input.decision),
            };
            (
                evaluation.verdict.judgement(evaluation.message.clone()),
                attested,
            )
        }
        Judged::Unchanged => {
            keep_evidence(&mut status, prev);
            (
                previous_condition(prev, types::VERIFIED).unwrap_or_else(|| {
                    vocab::verified_unknown(vocab::reasons::ARTIFACT_NOT_READY, "no cached verdict")
                }),
                // The cache key covers the requirements: the previous judgement still holds.
                previous_condition(prev, types::ATTESTED)
                    .unwrap_or_else(|| not_judged(input.decision)),
            )
        }
        Judged::Failed { digest, judgement } => {
            let same_artifact = match digest {
                Some(d) => prev.digest.as_deref() == Some(d),
                None => {
                    prev.flux_revision.is_some() && prev.flux_revision == source.artifact_revision
                }
            };
            let (reason, mut message) = (judgement.reason, judgement.message);
            if same_artifact {
                keep_evidence(&mut status, prev);
                // The previous condition when it was a verdict, else the verdict the previous
                // could-not-tell kept: a second outage in a row still says what was known.
                let last = previous_condition(prev, types::VERIFIED)
                    .filter(|j| j.status != Status::Unknown)
                    .or_else(|| kept_verdict(prev));
                status.last_verdict = last.map(|last| {
                    message = format!("{message}; last verdict {}: {}", last.reason, last.message);
                    LastVerdict {
                        status: last.status.as_str().to_string(),
                        reason: last.reason.to_string(),
                        message: last.message,
                    }
                });
            } else {
                status.digest = digest.map(str::to_string);
            }
            let attested = attested_after_failure(input.decision, reason, &message);
            // Always Unknown: whatever the failure said, it is not a verdict on the artifact.
            (vocab::verified_unknown(reason, message), attested)
        }
    };
    let has_bundle = status.signatures.iter().any(|s| s.format == "bundle");
    let revision = source.artifact_revision.as_deref().unwrap_or("(none)");
    let ready = readiness(revision, &verified, &attested);
    let judged = [
        (types::READY, ready),
        (types::VERIFIED, verified.clone()),
        (
            types::ENFORCED,
            enforced_given_formats(source, input.decision, has_bundle),
        ),
        (types::FLUX_AGREES, flux_agrees(source, verified.status)),
        (types::ATTESTED, attested),
    ];
    status.conditions = judged
        .iter()
        .map(|(t, j)| {
            stamp(
                &prev.conditions,
                condition(t, j, input.generation, input.now),
            )
        })
        .collect();
    super::display::fill(&mut status);
    let decisive = condition_reason(&status, types::VERIFIED);
    bounds::bound(&mut status, decisive.as_deref());
    status
}

fn condition_reason(status: &SourceAuditStatus, type_: &str) -> Option<String> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.reason.clone())
}

fn keep_evidence(status: &mut SourceAuditStatus, prev: &SourceAuditStatus) {
    status.digest = prev.digest.clone();
    status.signer = prev.signer.clone();
    status.signatures = prev.signatures.clone();
    status.signatures_omitted = prev.signatures_omitted;
    status.suggested_verify = prev.suggested_verify.clone();
    status.flux_compatibility = prev.flux_compatibility.clone();
    status.last_verified_time = prev.last_verified_time.clone();
    status.last_verdict = prev.last_verdict.clone();
    status.verdict_cache = prev.verdict_cache.clone();
    status.attestations = prev.attestations.clone();
    status.attestations_omitted = prev.attestations_omitted;
    status.built_from = prev.built_from.clone();
}

/// A judgement of `type_` read back from a previous status (the reason re-interned from the
/// vocabulary: a reason the vocabulary does not know for that type is not read back).
fn read_back(type_: &str, status: &str, reason: &str, message: &str) -> Option<Judgement> {
    let reason = vocab::known_reason(type_, reason)?;
    Some(Judgement::new(Status::parse(status), reason, message))
}

/// The previous condition of `type_`, as a judgement.
fn previous_condition(prev: &SourceAuditStatus, type_: &str) -> Option<Judgement> {
    let c = prev.conditions.iter().find(|c| c.type_ == type_)?;
    read_back(type_, &c.status, &c.reason, &c.message)
}

/// The definite verdict a previous could-not-tell status kept (an `Unknown` is not one).
fn kept_verdict(prev: &SourceAuditStatus) -> Option<Judgement> {
    let v = prev.last_verdict.as_ref()?;
    read_back(types::VERIFIED, &v.status, &v.reason, &v.message)
        .filter(|j| j.status != Status::Unknown)
}

/// `Attested` when nothing judged the attestations: nothing to judge when no policy requires
/// any, else not known yet.
fn not_judged(decision: &Decision) -> Judgement {
    if decision.required_attestations().is_empty() {
        Judgement::new(
            Status::True,
            vocab::reasons::ATTESTATION_NOT_REQUIRED,
            "no policy requires an attestation",
        )
    } else {
        Judgement::new(
            Status::Unknown,
            vocab::reasons::ARTIFACT_NOT_READY,
            "the attestations have not been judged yet",
        )
    }
}

/// `Attested` when the verification could not be done: `NotRequired` stays a fact when the
/// (valid, fully known) policies require nothing; otherwise Unknown for the same reason.
fn attested_after_failure(decision: &Decision, reason: &'static str, message: &str) -> Judgement {
    let known_policies = decision.invalid.is_empty() && reason != vocab::reasons::INPUT_UNAVAILABLE;
    if known_policies && decision.required_attestations().is_empty() {
        return not_judged(decision);
    }
    let reason = if vocab::is_known_reason(types::ATTESTED, reason) {
        reason
    } else {
        vocab::reasons::REGISTRY_UNAVAILABLE
    };
    Judgement::new(Status::Unknown, reason, message)
}

/// `Ready`: the audit of the current revision is complete (`Verified` known, and `Attested`
/// known) and its required attestations hold. `Attested=False` is a definite finding, like
/// `Verified=False`, but unlike a signature verdict it is what the platform team asked the
/// artifact to prove, so it makes `Ready=False` with its own reason (not `Progressing`:
/// nothing is in progress, waiting will not change it).
fn readiness(revision: &str, verified: &Judgement, attested: &Judgement) -> Judgement {
    match (verified.status, attested.status) {
        (Status::Unknown, _) => vocab::progressing(format!(
            "revision {revision} not audited: {}",
            verified.reason
        )),
        (_, Status::Unknown) => vocab::progressing(format!(
            "revision {revision} not audited: attestations {}",
            attested.reason
        )),
        (_, Status::False) => Judgement::new(
            Status::False,
            attested.reason,
            format!(
                "revision {revision} audited: {}, but a required attestation fails: {}",
                verified.reason, attested.message
            ),
        ),
        _ => vocab::ready(format!("revision {revision} audited: {}", verified.reason)),
    }
}

/// kstatus: keep the previous `lastTransitionTime` while the status is unchanged.
fn stamp(previous: &[Condition], mut c: Condition) -> Condition {
    if let Some(p) = previous
        .iter()
        .find(|p| p.type_ == c.type_ && p.status == c.status)
    {
        c.last_transition_time = p.last_transition_time.clone();
    }
    c
}

/// Continuity of the source's own `Ready`: `since` moves and `transitions` counts only when
/// its status changes; `since` is Flux's `lastTransitionTime` when readable, else `now`.
fn source_ready(previous: Option<&SourceReady>, source: &FluxSource, now: &Time) -> SourceReady {
    let current = source
        .ready
        .as_ref()
        .map_or("Unknown", |c| Status::parse(&c.status).as_str());
    let flux_since = source
        .ready
        .as_ref()
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(|t| t.parse().ok())
        .map(Time);
    match previous {
        Some(p) if p.status == current => p.clone(),
        Some(p) => SourceReady {
            status: current.into(),
            since: Some(flux_since.unwrap_or_else(|| now.clone())),
            transitions: p.transitions + 1,
        },
        None => SourceReady {
            status: current.into(),
            since: Some(flux_since.unwrap_or_else(|| now.clone())),
            transitions: 0,
        },
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "status_attested_tests.rs"]
mod attested_tests;
